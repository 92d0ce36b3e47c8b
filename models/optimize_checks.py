"""yolo-edge-optimize's input checks, all made before any long work; each failure is one OptimizeError line."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import DatasetError
from runtime.val import label_path, split_images

from . import settings
from .quantize import TOOLS

INSTALL = "pip install 'yolo-edge-runtime[optimize]'"
# Always needed: the checkpoint's loader, the scorer and its progress bars.
COMMON_PACKAGES = ("torch", "ultralytics", "pycocotools", "tqdm", "matplotlib")


class OptimizeError(Exception):
    """A user error: bad input or a missing package; reported as one line, exit status 2."""


@dataclass
class Inputs:
    """What the checks found: the model's class names and the two splits' images."""
    names: dict[int, str]
    train_images: list[Path]
    scoring_images: list[Path]


def require_packages(engines: list[str], qat: bool = False, prune: bool = False) -> None:
    needed = [*COMMON_PACKAGES, *(module for engine in engines for module in TOOLS[engine]), *(["nncf"] * qat),
              *(["torch_pruning"] * prune)]
    missing = [m for m in dict.fromkeys(needed) if importlib.util.find_spec(m) is None]
    if missing:
        raise OptimizeError(f"needs {', '.join(missing)} (the [optimize] extra): {INSTALL}")


def detection_model_names(checkpoint: Path) -> dict[int, str]:
    """The class names of an ultralytics detection checkpoint; anything else is an OptimizeError."""
    if not checkpoint.is_file():
        raise OptimizeError(f"{checkpoint}: no such file")
    if checkpoint.suffix != ".pt":
        raise OptimizeError(f"{checkpoint}: expected an ultralytics .pt checkpoint")
    settings.init_ultralytics()
    from ultralytics import YOLO

    from .blocks import alias_checkout_name

    alias_checkout_name()  # the light model's checkpoints, pickled in a checkout, load from the installed package
    try:
        model = YOLO(str(checkpoint))
    except Exception as exc:  # ultralytics raises anything from pickle, torch or its own loader
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise OptimizeError(f"{checkpoint}: not an ultralytics checkpoint ({reason})") from None
    if model.task != "detect":
        raise OptimizeError(f"{checkpoint}: a {model.task} model; only detection models can be optimized")
    return {int(k): str(v) for k, v in model.names.items()}


def has_labels(image: Path) -> bool:
    try:
        return label_path(image).is_file()
    except ValueError:  # not under an images/ folder: no label path
        return False


def file_stamps(images: list[Path], labels: bool = False) -> list[str]:
    """Cache-key parts naming each image (and, with labels, its label file) by path, size and modification time: a
    re-run reuses a cached result only while none of them changed (a relabelled split too)."""
    files = [*images, *(label_path(p) for p in images if has_labels(p))] if labels else images
    return [f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]


def check_inputs(checkpoint: Path, data_yaml: Path, split: str, train_labels: bool = False) -> Inputs:
    """The checkpoint is a detection model whose classes are the data's; train has images (and labels, for QAT),
    `split` labels."""
    names = detection_model_names(checkpoint)
    try:
        train_images, data_names = split_images(data_yaml, "train")
        scoring_images, _ = split_images(data_yaml, split)
    except DatasetError as exc:
        raise OptimizeError(str(exc)) from None
    data_names = {int(k): str(v) for k, v in data_names.items()}
    if data_names != names:
        raise OptimizeError(f"the model's classes {list(names.values())} are not {data_yaml}'s names "
                            f"{list(data_names.values())}")
    for name, images, needed, purpose in ((split, scoring_images, True, "to score on"),
                                          ("train", train_images, train_labels,
                                           "to fine-tune on (--method qat, --prune)")):
        if needed and not any(has_labels(image) for image in images):
            raise OptimizeError(f"the {name!r} split of {data_yaml} has no labels {purpose} (YOLO layout: "
                                f".../labels/<split>/<image>.txt beside .../images/<split>/)")
    return Inputs(names, train_images, scoring_images)


def check_teacher(teacher: Path, names: dict[int, str]) -> None:
    """A --distill teacher is a detection checkpoint of the same classes."""
    teacher_names = detection_model_names(teacher)
    if teacher_names != names:
        raise OptimizeError(f"the teacher {teacher} detects {list(teacher_names.values())}, the model "
                            f"{list(names.values())}")


def validation_images(data_yaml: Path, inputs: Inputs) -> list[Path]:
    """What a fine-tuning validates on to pick its best epoch: the labelled val split, else 10% of the train split
    (never the split the report scores, unless that is val)."""
    try:
        val, _ = split_images(data_yaml, "val")
    except DatasetError:
        val = []
    labelled = [p for p in val if has_labels(p)]
    if labelled:
        return labelled
    train = [p for p in inputs.train_images if has_labels(p)]
    return train[:: max(1, len(train) // max(1, len(train) // 10))][: max(1, len(train) // 10)]
