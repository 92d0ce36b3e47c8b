"""Score a model (any format ultralytics loads) on one split of a data yaml.

    python -m models.evaluate models/artifacts/yolov8n-shapes.pt --data build/dataset/data.yaml --split test
"""
from . import settings  # noqa: F401  (must precede ultralytics)

import argparse
from pathlib import Path


def evaluate(model_path, data, split="test", imgsz=320):
    """Return ultralytics' box metrics dict (precision, recall, mAP50, mAP50-95)."""
    settings.init_ultralytics()
    from ultralytics import YOLO

    metrics = YOLO(str(model_path), task="detect").val(
        data=str(Path(data).resolve()), split=split, imgsz=imgsz, batch=1 if Path(model_path).suffix != ".pt" else 16,
        device="cpu", workers=0, plots=False, project=str(settings.BUILD_DIR / "runs"), name="val", exist_ok=True,
    )
    return metrics.results_dict


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data", default="build/dataset/data.yaml")
    ap.add_argument("--split", default="test")
    ap.add_argument("--imgsz", type=int, default=320)
    args = ap.parse_args()
    for key, value in evaluate(args.model, args.data, args.split, args.imgsz).items():
        print(f"{key}: {value:.4f}")


if __name__ == "__main__":
    main()
