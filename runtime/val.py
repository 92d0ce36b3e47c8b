"""mAP of any model file on any engine, over a YOLO-format split, scored by pycocotools.

Predictions use ultralytics' validation settings (conf 0.001, IoU 0.7, max_det 300) so figures are comparable.
Needs the `[val]` extra (pycocotools, tqdm).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from runtime.detector import Detector
from runtime.engines import require
from runtime.errors import DatasetError
from runtime.metadata import read_simple_yaml
from runtime.sources import folder_sources, read_image

# ultralytics' validation settings: a low threshold so the precision-recall curve reaches high recall.
VAL_OPTIONS = {"conf": 0.001, "iou": 0.7, "max_det": 300}
SPLITS = ("train", "val", "test")


def read_data_yaml(data_yaml: Path) -> dict:
    try:
        data = read_simple_yaml(Path(data_yaml).read_text())
    except FileNotFoundError:
        raise DatasetError(f"cannot read data yaml {str(data_yaml)!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read data yaml {str(data_yaml)!r}: {getattr(exc, 'strerror', None) or exc}") \
            from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{str(data_yaml)!r} is not a YOLO data yaml") from exc
    if not any(data.get(split) for split in SPLITS):
        raise DatasetError(f"{str(data_yaml)!r} is not a YOLO data yaml: it names none of the splits {SPLITS}")
    return data


def split_images(data_yaml: Path, split: str) -> tuple[list[Path], dict[int, str]]:
    """The images of one split (its folder, searched recursively) and the class names of a YOLO data yaml."""
    data_yaml = Path(data_yaml)
    data = read_data_yaml(data_yaml)
    splits = [s for s in SPLITS if data.get(s)]
    if split not in splits:
        raise DatasetError(f"{str(data_yaml)!r} has no {split!r} split (it has: {', '.join(splits)})")
    root = Path(data.get("path") or data_yaml.parent)
    root = root if root.is_absolute() else (data_yaml.parent / root)
    folder = root / str(data[split])
    if not folder.is_dir():
        raise DatasetError(f"the {split!r} split of {str(data_yaml)!r} is not a folder: {str(folder)!r}")
    images = [source.path for source in folder_sources(folder, ["image"], recursive=True)]
    if not images:
        raise DatasetError(f"the {split!r} split of {str(data_yaml)!r} holds no images ({str(folder)!r})")
    names = data.get("names") or {}
    return images, dict(enumerate(names)) if isinstance(names, list) else names


def label_path(image: Path) -> Path:
    """YOLO convention: .../images/<split>/x.jpg -> .../labels/<split>/x.txt."""
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index("images")
    parts[index] = "labels"
    return Path(*parts).with_suffix(".txt")


def coco_ground_truth(images: list[Path], names: dict[int, str]) -> dict:
    gt = {"images": [], "annotations": [], "categories": [{"id": k, "name": v} for k, v in names.items()]}
    for image_id, path in enumerate(images):
        h, w = read_image(path).shape[:2]
        gt["images"].append({"id": image_id, "width": w, "height": h, "file_name": path.name})
        labels = label_path(path)
        rows = np.loadtxt(labels, ndmin=2) if labels.exists() and labels.stat().st_size else np.zeros((0, 5))
        for cls, cx, cy, bw, bh in rows[:, :5]:
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": image_id, "category_id": int(cls),
                                      "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    return gt


def coco_map(gt: dict, predictions: list[dict]) -> dict:
    """mAP50-95 and mAP50 from pycocotools' COCOeval (its stdout report is captured, not printed)."""
    require("pycocotools", "val")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not predictions:
        return {"map50_95": 0.0, "map50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = gt
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(predictions), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {"map50_95": float(evaluation.stats[0]), "map50": float(evaluation.stats[1])}


def predictions_for(detector: Detector, images: list[Path], progress: bool = True) -> list[dict]:
    tqdm = require("tqdm", "val").tqdm
    out = []
    for image_id, path in enumerate(tqdm(images, desc=f"val {detector.path.name}", disable=not progress)):
        det = detector.predict(path)
        for (x1, y1, x2, y2), score, cls in zip(det.xyxy.tolist(), det.confidence.tolist(), det.class_id.tolist()):
            out.append({"image_id": image_id, "category_id": int(cls), "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": score})
    return out


def validate(model: Path, data_yaml: Path, split: str = "test", progress: bool = True, **options) -> dict:
    images, names = split_images(data_yaml, split)
    detector = Detector(model, **{**VAL_OPTIONS, **options})
    gt = coco_ground_truth(images, names or detector.names)
    metrics = coco_map(gt, predictions_for(detector, images, progress))
    return {"model": str(model), "engine": detector.engine.name, "split": split, "images": len(images), **metrics}
