"""imgsz on a dynamic-shape export: checked against the model's stride when the detector is built, and honoured."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import ARTIFACTS, assert_same_detections
from runtime import Detector, InvalidOptionsError
from runtime.engines import engines_reading, installed_engines

YOLO = pytest.importorskip("ultralytics").YOLO


@pytest.fixture(scope="module")
def dynamic_onnx(tmp_path_factory) -> Path:
    """The shipped trained model exported by ultralytics with a dynamic input shape."""
    weights = tmp_path_factory.mktemp("dynamic") / "yolov8n-shapes.pt"
    shutil.copy(ARTIFACTS / "yolov8n-shapes.pt", weights)
    return Path(YOLO(weights).export(format="onnx", dynamic=True, imgsz=320, verbose=False))


@pytest.mark.parametrize("imgsz", [333, (320, 330)])
def test_imgsz_off_the_stride_fails_at_construction(dynamic_onnx, imgsz):
    nearby = r"imgsz=.*multiple of the model's stride 32 \(nearby valid sizes: 320 or 352"
    with pytest.raises(InvalidOptionsError, match=nearby):
        Detector(dynamic_onnx, imgsz=imgsz)


def test_imgsz_on_the_stride_runs_at_that_size_on_every_engine(dynamic_onnx, samples):
    # rect=False: ultralytics letterboxes a dynamic model to the least padding; this runtime to the square asked for
    reference = YOLO(str(dynamic_onnx), task="detect").predict(samples[0], imgsz=416, rect=False,
                                                               verbose=False)[0].boxes
    for engine in (e for e in engines_reading(dynamic_onnx) if e in installed_engines()):
        detector = Detector(dynamic_onnx, backend=engine, imgsz=416, precision="f32")
        assert detector.input_hw == (416, 416)
        assert_same_detections(detector.predict(samples[0]), reference.xyxy.numpy(), reference.conf.numpy(),
                               reference.cls.numpy().astype(int))
