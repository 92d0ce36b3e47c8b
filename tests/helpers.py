"""What the tests share besides fixtures: the shipped files, and comparisons of detections with a reference."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from models.samples import SAMPLES, sample_paths  # noqa: F401  (the one sample loader, for the tests too)
from runtime import Detector

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "models" / "artifacts"

# Set by the arm64 lane (tests/arm64/run.sh): emulation runs convolutions ~150x slower, so loops that only add
# repetitions of what is already covered run fewer times there.
EMULATED = os.environ.get("YOLO_EDGE_EMULATED") == "1"

SHIPPED = {
    "onnxruntime": ARTIFACTS / "yolov8n-shapes-320.onnx",
    "openvino": ARTIFACTS / "yolov8n-shapes-320_openvino_model",
    "tflite": ARTIFACTS / "yolov8n-shapes-320_float32.tflite",
}


def file_states(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root by relative path: (size, modification time), to show a folder was left as it was."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


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


def write_video(path: Path, frames: list[np.ndarray], fps: float = 5.0) -> None:
    """An mp4 of the frames (each resized to the first one's size)."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.resize(frame, (w, h)))
    writer.release()


def decoded_frames(path: Path) -> list[np.ndarray]:
    import cv2

    capture, frames = cv2.VideoCapture(str(path)), []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


@st.composite
def box_sets(draw, max_boxes=60):
    """Random xyxy boxes (float32) with distinct scores, so that NMS has one right order."""
    n = draw(st.integers(1, max_boxes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(1, 80, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / n + 0.01
    return boxes, scores


@functools.lru_cache(maxsize=None)
def shared_detector(model: Path, **options) -> Detector:
    """One Detector per model and options for the whole session: tests that only read from it share it (compiling
    an int8 OpenVINO model takes ~40 s under the arm64 lane's emulation)."""
    return Detector(model, **options)


def copy_alone(model: Path, folder: Path) -> Path:
    """A copy of a model file or folder in `folder`, with nothing beside it (no sidecar to lean on)."""
    import shutil

    return Path(shutil.copytree(model, folder / model.name) if model.is_dir() else shutil.copy2(model, folder))


def matched_boxes(reference: Detector, other: Detector, frames, min_iou: float = 0.5) -> tuple[int, int]:
    """(reference boxes with a same-class box of `other` at IoU >= min_iou, reference boxes) over the frames (or
    image paths)."""
    matched = total = 0
    for frame in frames:
        ref, det = reference.predict(frame), other.predict(frame)
        total += len(ref)
        if len(ref) and len(det):
            iou = box_iou(ref.xyxy, det.xyxy)
            same = ref.class_id[:, None] == det.class_id[None, :]
            matched += int(((iou >= min_iou) & same).any(axis=1).sum())
    return matched, total

