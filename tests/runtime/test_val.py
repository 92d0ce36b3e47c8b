"""`yolo-edge val`: pycocotools mAP over a YOLO split, checked on known answers (ultralytics' val, the reference, is
compared in tests/factory/test_val_reference.py)."""

from __future__ import annotations

import pytest

from helpers import SHIPPED
from runtime import Detector
from runtime.val import VAL_OPTIONS, coco_ground_truth, coco_map, label_path, predictions_for, split_images, validate

pytest.importorskip("pycocotools")


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory):
    from models.dataset import generate

    return generate(tmp_path_factory.mktemp("tiny"), seed=7, n_train=1, n_val=1, n_test=12)


def test_label_path_follows_yolo_convention(tmp_path):
    assert label_path(tmp_path / "d" / "images" / "test" / "a.jpg") == tmp_path / "d" / "labels" / "test" / "a.txt"


def test_perfect_predictions_score_one_and_shifted_ones_less(tiny_split):
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


def test_gap_report_scores_chunks_and_gaps(tiny_split):
    """models.gap: the full-split mAP equals validate's; a model against itself has no gap in any chunk; chunk
    scores are those of the chunk's images alone."""
    from models.gap import gap_report, subset

    light = SHIPPED["onnxruntime"].parent / "yolov8n-light-shapes-320.onnx"
    report = gap_report(tiny_split, [SHIPPED["onnxruntime"], SHIPPED["onnxruntime"], light], chunk=4)
    assert report["images"] == 12 and report["chunks"] == 3
    base, same, other = report["rows"]
    assert base["map50_95"] == round(validate(SHIPPED["onnxruntime"], tiny_split, "test", progress=False)["map50_95"], 4)
    assert same["gap_points"] == 0 and same["chunk_gap_points"] == {"mean": 0, "sd": 0, "min": 0, "max": 0}
    assert other["gap_points"] == round(100 * (other["map50_95"] - base["map50_95"]), 2) and len(other["chunks"]) == 3
    images, names = split_images(tiny_split, "test")
    gt = coco_ground_truth(images, names)
    part, _ = subset(gt, [], range(4, 8))
    assert {i["id"] for i in part["images"]} == {4, 5, 6, 7}
    assert all(4 <= a["image_id"] < 8 for a in part["annotations"]) and part["categories"] == gt["categories"]


def test_gap_report_pairs_compares_each_candidate_with_the_model_before_it(tiny_split):
    """--pairs (a second training seed): rows 2 and 4 are measured against rows 1 and 3, not against row 1."""
    from models.gap import gap_report

    base = SHIPPED["onnxruntime"]
    light = base.parent / "yolov8n-light-shapes-320.onnx"
    report = gap_report(tiny_split, [base, light, light, base], chunk=4, pairs=True)
    first, second, third, fourth = report["rows"]
    assert "gap_points" not in first and "gap_points" not in third
    assert second["baseline"] == str(base) and fourth["baseline"] == str(light)  # paths: the names repeat
    assert fourth["gap_points"] == round(100 * (first["map50_95"] - second["map50_95"]), 2) != 0
    assert fourth["gap_points"] == -second["gap_points"]
    with pytest.raises(ValueError, match="pairs"):
        gap_report(tiny_split, [base, light, base], chunk=4, pairs=True)
