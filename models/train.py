"""Train YOLOv8n from scratch (yolov8n.yaml, no pretrained weights) on a local data yaml.

    python -m models.train --data build/dataset/data.yaml --imgsz 320 --epochs 64 \
        --out models/artifacts/yolov8n-shapes.pt

--model picks another architecture yaml, e.g. models/recipes/yolov8n-light.yaml (see models/blocks.py).
--teacher adds knowledge distillation from a trained model (models/distill.py; an experiment, not the recipe).
"""
from . import settings  # noqa: F401  (must precede ultralytics)

import argparse
import contextlib
import shutil
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="build/dataset/data.yaml")
    ap.add_argument("--model", default="yolov8n.yaml",
                    help="model yaml: an ultralytics name or a path such as models/recipes/yolov8n-light.yaml")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--time", type=float, default=None,
                    help="wall-time cap in hours; ultralytics then re-plans epochs and the LR schedule to fit it")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=0, help="0: augment in the main process (2-core CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads on a CPU (default ultralytics': all cores but one)")
    ap.add_argument("--device", default=None, help="default: first GPU if torch sees one, else cpu")
    ap.add_argument("--name", default=None, help="run name under build/runs (default <model stem>-shapes-<imgsz>)")
    ap.add_argument("--out", default=None, help="default models/artifacts/<model stem>-shapes.pt")
    ap.add_argument("--force", action="store_true", help="train even if --out exists")
    ap.add_argument("--teacher", default=None, help="trained .pt to distil from (models/distill.py)")
    ap.add_argument("--distill-weight", type=float, default=1.0, help="scale of the distillation terms")
    ap.add_argument("--resume", action="store_true",
                    help="continue the stopped run of this --name from its last.pt (same --teacher, if any)")
    args = ap.parse_args()

    stem = Path(args.model).stem  # yolov8n for the default: the baseline's names are unchanged
    out = Path(args.out or f"models/artifacts/{stem}-shapes.pt")
    if out.exists() and not args.force:
        print(f"{out} exists; skipping training (use --force to retrain)")
        return

    settings.init_ultralytics()
    import torch
    from ultralytics import YOLO

    from . import blocks

    if args.threads:
        from ultralytics.utils import torch_utils

        torch_utils.NUM_THREADS = args.threads  # the trainer's select_device sets torch's threads from it
    blocks.register()  # lets the yaml builder use models/blocks.py's blocks; no effect on ultralytics' own ones
    device = args.device or ("0" if torch.cuda.is_available() else "cpu")
    name = args.name or f"{stem}-shapes-{args.imgsz}"
    if args.resume:
        last = settings.BUILD_DIR / "runs" / name / "weights" / "last.pt"
        check_resumable(last)
        model = YOLO(str(last))
        # the run's own arguments come back from last.pt; these only say where it runs now
        options = dict(resume=True, device=device, workers=args.workers)
    else:
        model = YOLO(args.model)  # architecture only: nothing is downloaded
        options = dict(
            data=str(Path(args.data).resolve()),  # relative again in the saved weights: relativize_checkpoint
            imgsz=args.imgsz,
            epochs=args.epochs,
            time=args.time,
            batch=args.batch,
            workers=args.workers,
            device=device,
            seed=args.seed,
            deterministic=True,
            pretrained=False,
            amp=False,  # AMP's self-check downloads yolo26n.pt (fails offline); fp32 also keeps GPU and CPU runs alike
            cache=False,  # cache="ram" is flagged by ultralytics as non-deterministic; jpg decode is cheap here
            plots=False,  # plotting wants a downloaded font
            project=str(settings.BUILD_DIR / "runs"),
            name=name,
            exist_ok=True,
        )
    guidance = contextlib.nullcontext()
    if args.teacher:
        from . import distill

        teacher = distill.load_teacher(args.teacher, "cpu" if device == "cpu" else f"cuda:{device}")
        guidance = distill.distillation(teacher, args.distill_weight)
    with guidance:
        model.train(**options)
    best = Path(model.trainer.best)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(best, out)
    relativize_checkpoint(out, Path.cwd())
    print(f"copied {best} -> {out}")


def check_resumable(last: Path) -> None:
    """Exit with one line unless last.pt is a stopped run's (ultralytics would silently start over otherwise)."""
    import torch

    if not last.is_file():
        raise SystemExit(f"--resume: no {last} (nothing was trained under this --name)")
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    if ckpt.get("optimizer") is None or ckpt.get("epoch", -1) < 0:
        raise SystemExit(f"--resume: the run in {last.parent.parent} finished; nothing to resume")


def relativize_checkpoint(path: Path, root: Path) -> None:
    """Rewrite the absolute paths ultralytics keeps in a checkpoint (the data yaml and run folders in train_args and
    the model's args, the git root) relative to root: the shipped weights, and every export made from them
    ("trained on <data>"), name no machine's paths."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    prefix = str(root.resolve()).rstrip("/") + "/"

    def relative(mapping: dict) -> dict:
        out = dict(mapping)
        for key, value in mapping.items():
            if isinstance(value, str) and (value + "/").startswith(prefix):
                out[key] = value[len(prefix):].rstrip("/") or "."  # root itself -> "."
        return out

    for key in ("train_args", "git"):
        if isinstance(ckpt.get(key), dict):
            ckpt[key] = relative(ckpt[key])
    for key in ("model", "ema"):
        if isinstance(getattr(ckpt.get(key), "args", None), dict):
            ckpt[key].args = relative(ckpt[key].args)
    torch.save(ckpt, path)


if __name__ == "__main__":
    main()
