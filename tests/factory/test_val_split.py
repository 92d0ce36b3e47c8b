"""`yolo-edge val` on a split drawn by the factory's generator (which needs scikit-image's photographs)."""

from __future__ import annotations

import pytest

from helpers import SHIPPED
from runtime import Detector
from runtime.val import VAL_OPTIONS, coco_ground_truth, coco_map, predictions_for, split_images, validate


def test_ground_truth_read_from_yolo_labels_scores_one_against_itself(tiny_split):
    images, names = split_images(tiny_split, "test")
    assert len(images) == 12 and names == {0: "disc", 1: "triangle", 2: "star"}
    gt = coco_ground_truth(images, names)
    assert gt["annotations"], "the tiny split should contain objects"
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
               for a in gt["annotations"]]
    assert coco_map(gt, perfect) == pytest.approx({"map50_95": 1.0, "map50": 1.0})
    shifted = [{**p, "bbox": [p["bbox"][0] + 0.2 * p["bbox"][2], *p["bbox"][1:]]} for p in perfect]
    scores = coco_map(gt, shifted)
    assert scores["map50"] == pytest.approx(1.0) and scores["map50_95"] < 0.8
    assert coco_map(gt, []) == {"map50_95": 0.0, "map50": 0.0}


def test_val_runs_at_ultralytics_validation_settings(tiny_split):
    """conf 0.001, IoU 0.7, max_det 300 (ultralytics' val): the mAP is that of those predictions, and a detector at
    the predict default (conf 0.25) would score differently on this split."""
    assert VAL_OPTIONS == {"conf": 0.001, "iou": 0.7, "max_det": 300}
    images, names = split_images(tiny_split, "test")
    gt = coco_ground_truth(images, names)
    expected = coco_map(gt, predictions_for(Detector(SHIPPED["onnxruntime"], **VAL_OPTIONS), images, progress=False))
    at_predict_default = coco_map(gt, predictions_for(Detector(SHIPPED["onnxruntime"]), images, progress=False))
    assert at_predict_default != expected
    result = validate(SHIPPED["onnxruntime"], tiny_split, "test", progress=False)
    assert result["images"] == 12 and {k: result[k] for k in expected} == expected
