"""Shared fixtures: the shipped models and samples, and models ultralytics exports from a yaml at test time."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "models" / "artifacts"
SAMPLES = ROOT / "models" / "samples"
BUILD = ROOT / "build" / "tests"

# ultralytics (the parity reference) must never reach the network or write outside the project.
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / "build" / "ultralytics-config"))
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / "build" / "mpl"))

# Set by the arm64 lane (tests/arm64/run.sh): emulation runs convolutions ~150x slower, so loops that only add
# repetitions of what is already covered run fewer times there.
EMULATED = os.environ.get("YOLO_EDGE_EMULATED") == "1"

SHIPPED = {
    "onnxruntime": ARTIFACTS / "yolov8n-shapes-320.onnx",
    "openvino": ARTIFACTS / "yolov8n-shapes-320_openvino_model",
    "tflite": ARTIFACTS / "yolov8n-shapes-320_float32.tflite",
}


def sample_paths() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg"))


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


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (reference implementation for the tests)."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((br - tl).clip(min=0), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-12)


def assert_same_detections(ours, ref_xyxy, ref_conf, ref_cls, *, min_iou=0.99, max_conf_diff=1e-3):
    """Same count and one-to-one matches of the same class with IoU >= min_iou and close confidence."""
    assert len(ours) == len(ref_xyxy), f"{len(ours)} detections, reference has {len(ref_xyxy)}"
    if not len(ours):
        return
    iou = box_iou(np.asarray(ref_xyxy, np.float64), ours.xyxy.astype(np.float64))
    iou[np.asarray(ref_cls)[:, None] != ours.class_id[None, :]] = -1
    used = set()
    for r in np.argsort(-np.asarray(ref_conf)):
        candidates = [o for o in np.argsort(-iou[r]) if o not in used]
        best = candidates[0]
        assert iou[r, best] >= min_iou, f"reference box {ref_xyxy[r]} class {ref_cls[r]} unmatched " \
                                        f"(best IoU {iou[r, best]:.4f})"
        assert abs(float(ref_conf[r]) - float(ours.confidence[best])) <= max_conf_diff
        used.add(best)
