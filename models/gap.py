"""The mAP50-95 gap between models on a large test split, and how much it moves from one 150-image split to the next.

The factory's test split has 150 images, so a one-point bar sits close to the split's own luck. The generator can
draw more test images from the same distribution (image i of a split depends only on the seed, the split and i, so
the first 150 are the shipped test split). This scores every model through the runtime on all of them, then on
consecutive chunks of the test split's size, and reports each model's gap to the first one (--pairs: models come
as baseline, candidate, baseline, candidate...; each candidate's gap is to the baseline before it, e.g. the two
recipes trained with a second seed).

    .venv-factory/bin/python -m models.dataset --out build/dataset-test-1500 --train 0 --val 0 --test 1500
    .venv-factory/bin/python -m models.gap build/dataset-test-1500/data.yaml BASE.onnx LIGHT.onnx --out gap.json
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from runtime import Detector
from runtime.val import VAL_OPTIONS, coco_ground_truth, coco_map, predictions_for, split_images


def subset(gt: dict, predictions: list[dict], image_ids: range) -> tuple[dict, list[dict]]:
    """Ground truth and predictions of the images with these ids only."""
    keep = set(image_ids)
    part = {**gt, "images": [i for i in gt["images"] if i["id"] in keep],
            "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]}
    return part, [p for p in predictions if p["image_id"] in keep]


def gap_report(data: Path, models: list[Path], chunk: int = 150, split: str = "test", pairs: bool = False) -> dict:
    if pairs and len(models) % 2:
        raise ValueError(f"pairs needs baseline, candidate pairs; got {len(models)} models")
    images, names = split_images(data, split)
    gt = coco_ground_truth(images, names)
    # each file scored once, however often it is listed (--pairs repeats a seed's baseline)
    predictions = {m: predictions_for(Detector(m, **VAL_OPTIONS), images) for m in dict.fromkeys(models)}
    chunks = [range(start, start + chunk) for start in range(0, len(images) - chunk + 1, chunk)]
    unique = len({m.name for m in models}) == len(models)  # else rows name the path: seeds share file names
    rows = []
    for model in models:
        full = coco_map(gt, predictions[model])["map50_95"]
        per_chunk = [coco_map(*subset(gt, predictions[model], ids))["map50_95"] for ids in chunks]
        rows.append({"model": model.name if unique else str(model), "map50_95": round(full, 4),
                     "chunks": [round(v, 4) for v in per_chunk]})
    compared = zip(rows[0::2], rows[1::2]) if pairs else ((rows[0], row) for row in rows[1:])
    for base, row in compared:
        gaps = [100 * (a - b) for a, b in zip(row["chunks"], base["chunks"])]
        row["baseline"] = base["model"]
        row["gap_points"] = round(100 * (row["map50_95"] - base["map50_95"]), 2)
        row["chunk_gap_points"] = {"mean": round(statistics.mean(gaps), 2), "sd": round(statistics.stdev(gaps), 2),
                                   "min": round(min(gaps), 2), "max": round(max(gaps), 2)}
    return {"data": str(data), "split": split, "images": len(images), "chunk": chunk, "chunks": len(chunks),
            "baseline": rows[0]["model"], "pairs": pairs, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="data.yaml whose test split is scored")
    parser.add_argument("models", type=Path, nargs="+", help="the first is the baseline (--pairs: every other one)")
    parser.add_argument("--chunk", type=int, default=150)
    parser.add_argument("--pairs", action="store_true", help="models are baseline, candidate pairs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = gap_report(args.data, args.models, args.chunk, pairs=args.pairs)
    for row in report["rows"]:
        line = f"{row['model']}: mAP50-95 {row['map50_95']:.4f}"
        spread = row.get("chunk_gap_points")
        if spread:
            line += (f", gap to {row['baseline']} {row['gap_points']:+.2f} points; per {report['chunk']} images "
                     f"{spread['mean']:+.2f} (sd {spread['sd']:.2f}, {spread['min']:+.2f} .. {spread['max']:+.2f})")
        print(line)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
