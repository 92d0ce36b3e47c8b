"""yolo-edge-optimize --prune: a checkpoint pruned in steps (models/prune.py), fine-tuned after each step with
ultralytics' own trainer (its augmentation, loss, EMA and schedule), optionally distilled from a teacher by the
factory's logit and DFL distillation (models/distill.py). ultralytics' own (`distill_model=`: the teacher's neck
features through a learnt projection) was tried first and hurt here: YOLOv8n pruned by 22% of its MACs, taught by
the unpruned YOLOv8n, validated 0.724 mAP50-95 after 8 epochs against 0.752 without a teacher (seed 0, 150 val
images, docs/model-experiments.md).

Step k of n brings the model to k/n of the asked share of the MACs (each step from the fine-tuned model of the one
before; a step whose share an earlier, coarser cut already reached only fine-tunes), so that fine-tuning recovers
from small cuts instead of one large one.
"""
from __future__ import annotations

from . import settings  # noqa: F401  (must precede ultralytics)

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ultralytics.models.yolo.detect import DetectionTrainer

from .distill import distillation, load_teacher
from .prune import macs, prune_to_macs

BATCH = 16


class PrunedTrainer(DetectionTrainer):
    """ultralytics' detection trainer on the module it is given: its own get_model would rebuild the model from the
    yaml at the unpruned widths."""

    def get_model(self, cfg=None, weights=None, verbose=True):
        return weights


@dataclass
class PruneStep:
    ratio: float  # the uniform channel ratio that step applied
    macs: int
    map50_95: float  # ultralytics' own validation of the fine-tuned step on the val split
    epochs: int


def prune_and_fine_tune(checkpoint: Path, target: float, steps: int, epochs: int, imgsz: int, data: Path,
                        seed: int, teacher: Path | None, folder: Path,
                        last_epochs: int | None = None,
                        distill_weight: float = 1.0) -> tuple[Path, list[PruneStep], int]:
    """Prune `checkpoint` until `target` of its MACs are gone, in `steps` steps of `epochs` fine-tuning epochs each
    (the last step `last_epochs`, if given: the final recovery of the pruned model), distilled from `teacher` with
    its terms scaled by `distill_weight` if a teacher is given; returns
    (folder/<stem>-pruned.pt, the steps, the MACs before)."""
    import torch
    from ultralytics import YOLO

    model = YOLO(str(checkpoint))
    before = macs(model.model.float(), imgsz)
    device = "0" if torch.cuda.is_available() else "cpu"
    guide = load_teacher(teacher, "cuda:0" if device == "0" else "cpu") if teacher is not None else None
    done, current = [], checkpoint
    for step in range(1, steps + 1):
        share = target * step / steps
        model = YOLO(str(current))
        now = macs(model.model.float(), imgsz)
        pruned, ratio, _, after = prune_to_macs(model.model.float(), 1 - (1 - share) * before / now, imgsz)
        print(f"[prune] step {step}/{steps}: channel ratio {ratio:.3f}, {after / 1e6:.0f} M MACs "
              f"({1 - after / before:.0%} fewer than the source; this step's share {share:.0%})", flush=True)
        model.model = pruned
        step_epochs = last_epochs if step == steps and last_epochs else epochs
        overrides = dict(data=str(data), imgsz=imgsz, epochs=step_epochs, batch=BATCH, workers=0, seed=seed,
                         deterministic=True, pretrained=True, amp=False, plots=False, cache=False,
                         project=str(folder / "runs"), name=f"step{step}", exist_ok=True, val=True,
                         warmup_epochs=min(1, step_epochs - 1), close_mosaic=max(1, step_epochs // 3),
                         device=device)
        with distillation(guide, distill_weight) if guide is not None else contextlib.nullcontext():
            model.train(trainer=PrunedTrainer, **overrides)
        current = Path(model.trainer.best)
        metrics = model.trainer.metrics or {}
        done.append(PruneStep(round(ratio, 4), after, round(float(metrics.get("metrics/mAP50-95(B)", 0.0)), 4),
                              step_epochs))
    dest = folder / f"{checkpoint.stem}-pruned.pt"
    dest.write_bytes(current.read_bytes())
    return dest, done, before
