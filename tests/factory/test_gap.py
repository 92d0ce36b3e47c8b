"""models.gap: accuracy gaps to a baseline, with their spread over chunks of the split."""

from __future__ import annotations

import pytest

from helpers import SHIPPED
from models.gap import gap_report, subset
from runtime.val import coco_ground_truth, split_images, validate

pytest.importorskip("pycocotools")


def test_gap_report_scores_chunks_and_gaps(tiny_split, light_onnx):
    """models.gap: the full-split mAP equals validate's; a model against itself has no gap in any chunk; chunk
    scores are those of the chunk's images alone."""
    report = gap_report(tiny_split, [SHIPPED["onnxruntime"], SHIPPED["onnxruntime"], light_onnx], chunk=4)
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


def test_gap_report_pairs_compares_each_candidate_with_the_model_before_it(tiny_split, light_onnx):
    """--pairs (a second training seed): rows 2 and 4 are measured against rows 1 and 3, not against row 1."""
    base = SHIPPED["onnxruntime"]
    light = light_onnx
    report = gap_report(tiny_split, [base, light, light, base], chunk=4, pairs=True)
    first, second, third, fourth = report["rows"]
    assert "gap_points" not in first and "gap_points" not in third
    assert second["baseline"] == str(base) and fourth["baseline"] == str(light)  # paths: the names repeat
    assert fourth["gap_points"] == round(100 * (first["map50_95"] - second["map50_95"]), 2) != 0
    assert fourth["gap_points"] == -second["gap_points"]
    with pytest.raises(ValueError, match="pairs"):
        gap_report(tiny_split, [base, light, base], chunk=4, pairs=True)
