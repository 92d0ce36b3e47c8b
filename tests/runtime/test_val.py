"""`yolo-edge val`'s scoring: pycocotools mAP on known answers (on a generated split: tests/factory/test_val_split.py;
against ultralytics' val: tests/factory/test_val_reference.py)."""

from __future__ import annotations

import pytest

from runtime.val import coco_map, label_path

def test_label_path_follows_yolo_convention(tmp_path):
    assert label_path(tmp_path / "d" / "images" / "test" / "a.jpg") == tmp_path / "d" / "labels" / "test" / "a.txt"


def test_perfect_predictions_score_one_and_shifted_ones_less():
    """pycocotools through coco_map: predictions equal to the truth score 1, boxes shifted by a fifth of their
    width still match at IoU 0.5 but not at the strict thresholds, and no predictions score 0."""
    boxes = [(0, 1, [10, 20, 40, 30]), (0, 2, [100, 50, 60, 80]), (1, 0, [5, 5, 20, 20]), (1, 1, [50, 60, 30, 30])]
    gt = {"images": [{"id": i, "width": 200, "height": 200, "file_name": f"{i}.jpg"} for i in (0, 1)],
          "categories": [{"id": c, "name": n} for c, n in enumerate(("disc", "triangle", "star"))],
          "annotations": [{"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3],
                           "iscrowd": 0} for k, (i, c, b) in enumerate(boxes)]}
    perfect = [{"image_id": i, "category_id": c, "bbox": b, "score": 0.9} for i, c, b in boxes]
    assert coco_map(gt, perfect) == pytest.approx({"map50_95": 1.0, "map50": 1.0})
    shifted = [{**p, "bbox": [p["bbox"][0] + 0.2 * p["bbox"][2], *p["bbox"][1:]]} for p in perfect]
    scores = coco_map(gt, shifted)
    assert scores["map50"] == pytest.approx(1.0) and scores["map50_95"] < 0.8
    assert coco_map(gt, []) == {"map50_95": 0.0, "map50": 0.0}
