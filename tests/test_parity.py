"""Parity: on the same model file and frames, this runtime gives ultralytics' own predict results."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import SHIPPED, assert_same_detections
from runtime import Detector

pytest.importorskip("ultralytics")


def ultralytics_boxes(path, frame, imgsz, **kwargs):
    from ultralytics import YOLO

    boxes = YOLO(str(path), task="detect").predict(frame, imgsz=imgsz, verbose=False, **kwargs)[0].boxes
    return boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int)


@pytest.mark.parametrize("engine", sorted(SHIPPED))
def test_shipped_models_match_ultralytics(engine, samples):
    detector = Detector(SHIPPED[engine])
    total = 0
    for frame in samples:
        ours = detector.predict(frame)
        assert_same_detections(ours, *ultralytics_boxes(SHIPPED[engine], frame, detector.input_hw[0]))
        total += len(ours)
    assert total >= len(samples), "the trained model should find objects in the samples"


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("options", [{}, {"agnostic": True}, {"classes": [2]}, {"conf": 0.6, "iou": 0.45}])
def test_heavy_nms_matches_ultralytics(engine, options, stress_models):
    """Thousands of candidates per frame: decoding, class offsets, agnostic mode, class filter and max_det agree."""
    rng = np.random.default_rng(1)
    frame = cv2.GaussianBlur((rng.random((240, 400, 3)) * 255).astype(np.uint8), (0, 0), 3)
    ours = Detector(stress_models[engine], **options).predict(frame)
    ref = ultralytics_boxes(stress_models[engine], frame, 160, **options)
    assert len(ours) > 20
    assert_same_detections(ours, *ref)


def test_openvino_runs_onnx_files_like_onnxruntime(shipped_onnx, samples):
    """backend='openvino' on an .onnx gives the ONNX Runtime boxes (fp32 on both)."""
    via_ort, via_ov = Detector(shipped_onnx), Detector(shipped_onnx, backend="openvino")
    assert via_ov.engine.name == "openvino"
    for frame in samples:
        a, b = via_ort.predict(frame), via_ov.predict(frame)
        assert_same_detections(b, a.xyxy, a.confidence, a.class_id)
