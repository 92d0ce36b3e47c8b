"""Fixtures both test folders use: the shipped models and samples (helpers.py holds the rest)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import models.settings  # noqa: F401  (ultralytics, where a test imports it, stays offline and inside build/)
from helpers import SAMPLES, SHIPPED, sample_paths


@pytest.fixture(scope="session")
def samples() -> list[np.ndarray]:
    frames = [cv2.imread(str(p)) for p in sample_paths()]
    assert frames and all(f is not None for f in frames), f"no sample images in {SAMPLES}"
    return frames


@pytest.fixture(scope="session")
def shipped_onnx() -> Path:
    assert SHIPPED["onnxruntime"].exists()
    return SHIPPED["onnxruntime"]


@pytest.fixture(scope="session")
def yaml_models(tmp_path_factory) -> dict[str, Path]:
    """An (untrained) YOLOv8n built from its yaml, exported by ultralytics itself to ONNX and OpenVINO at 160 px."""
    YOLO = pytest.importorskip("ultralytics", reason="the export reference (absent in the arm64 lane)").YOLO

    out = tmp_path_factory.mktemp("yaml-model")
    model = YOLO("yolov8n.yaml")
    model.model.names = {0: "disc", 1: "triangle", 2: "star"}  # head keeps 80 outputs: names must not decide nc
    model.save(out / "yolov8n-yaml.pt")
    onnx_path = Path(YOLO(out / "yolov8n-yaml.pt").export(format="onnx", imgsz=160, simplify=True, verbose=False))
    ov_path = Path(YOLO(out / "yolov8n-yaml.pt").export(format="openvino", imgsz=160, verbose=False))
    return {"onnxruntime": onnx_path, "openvino": ov_path}


@pytest.fixture(scope="session")
def tiny_split(tmp_path_factory) -> Path:
    """A 12-image test split drawn by the factory's generator (numpy and OpenCV only), labels included."""
    from models.dataset import generate

    return generate(tmp_path_factory.mktemp("tiny"), seed=7, n_train=1, n_val=1, n_test=12)


@pytest.fixture(scope="session")
def light_exports(tmp_path_factory) -> dict[str, Path]:
    """The shipped light model's fp32 ONNX and OpenVINO IR at 320 px, exported by the factory as `make models-light`
    does (not shipped: only its checkpoint and int8 TFLite are)."""
    pytest.importorskip("ultralytics", reason="the factory's exporter (absent in the arm64 lane)")
    from helpers import ARTIFACTS
    from models.export import export

    out = tmp_path_factory.mktemp("light-exports")
    return export(ARTIFACTS / "yolov8n-light-shapes.pt", 320, ["onnxruntime", "openvino"], out)


@pytest.fixture(scope="session")
def light_onnx(light_exports) -> Path:
    return light_exports["onnxruntime"]
