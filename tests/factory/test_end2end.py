"""A real end2end export: ultralytics' `nms=True` ONNX export of the shipped trained YOLOv8n, whose (1, 300, 6) output
rows (x1, y1, x2, y2, score, class) went through NMS inside the model. The runtime must give ultralytics' predict
results on it, with every option that still applies after the model's own NMS."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import ARTIFACTS, assert_same_detections
from runtime import Detector

YOLO = pytest.importorskip("ultralytics", reason="the exporter and the reference (absent in the arm64 lane)").YOLO


@pytest.fixture(scope="session")
def end2end_onnx(tmp_path_factory) -> Path:
    weights = tmp_path_factory.mktemp("end2end") / "yolov8n-shapes-nms.pt"
    shutil.copy(ARTIFACTS / "yolov8n-shapes.pt", weights)
    return Path(YOLO(weights).export(format="onnx", imgsz=160, nms=True, verbose=False))


def test_the_export_is_end2end(end2end_onnx):
    detector = Detector(end2end_onnx)
    raw = detector.engine.run(np.zeros(detector.engine.input.shape, np.float32))
    assert raw.shape == (1, 300, 6) and detector.input_hw == (160, 160)


@pytest.mark.parametrize("options", [{}, {"max_det": 2}, {"max_det": 1}, {"conf": 0.5}, {"classes": [0]},
                                     {"classes": [2], "max_det": 1}],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_end2end_matches_ultralytics(end2end_onnx, options, samples):
    detector = Detector(end2end_onnx, **options)
    reference = YOLO(str(end2end_onnx), task="detect")
    limited = 0
    for frame in samples:
        ours = detector.predict(frame)
        boxes = reference.predict(frame, imgsz=160, verbose=False, **options)[0].boxes
        assert_same_detections(ours, boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int))
        limited += len(ours) == options.get("max_det")
    if "max_det" in options:  # the limit took effect somewhere, so the comparison covered it
        assert limited > 0
