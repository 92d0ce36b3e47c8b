"""Parity: on the same model file and frames, this runtime gives ultralytics' own predict results."""

from __future__ import annotations

import pytest

from helpers import SHIPPED, assert_same_detections
from runtime import Detector

pytest.importorskip("ultralytics")


def ultralytics_boxes(path, frame, imgsz, **kwargs):
    from ultralytics import YOLO

    boxes = YOLO(str(path), task="detect").predict(frame, imgsz=imgsz, verbose=False, **kwargs)[0].boxes
    return boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int)


@pytest.mark.parametrize("engine", sorted(SHIPPED))
def test_shipped_models_match_ultralytics(engine, samples):
    # Defaults on both sides: for OpenVINO on this x86 CPU that is bf16 for both (f32 is checked below).
    detector = Detector(SHIPPED[engine])
    total = 0
    for frame in samples:
        ours = detector.predict(frame)
        assert_same_detections(ours, *ultralytics_boxes(SHIPPED[engine], frame, detector.input_hw[0]))
        total += len(ours)
    assert total >= len(samples), "the trained model should find objects in the samples"


# ultralytics' predict keyword for each of our options
REFERENCE_KEYWORDS = {"agnostic": "agnostic_nms"}


@pytest.mark.parametrize("engine", sorted(SHIPPED))
@pytest.mark.parametrize("options", [{}, {"agnostic": True}, {"classes": [2]}, {"conf": 0.05, "iou": 0.45},
                                     {"max_det": 7}])
def test_heavy_nms_matches_ultralytics(engine, options, samples):
    """At val-like thresholds thousands of candidates reach NMS: class offsets, agnostic mode, the class filter
    and max_det must still agree."""
    options = {"conf": 0.001, **options}
    detector = Detector(SHIPPED[engine], **options)
    reference = {REFERENCE_KEYWORDS.get(k, k): v for k, v in options.items()}
    for frame in samples[:2]:
        ours = detector.predict(frame)
        assert len(ours) >= min(options.get("max_det", 300), 5)
        assert_same_detections(ours, *ultralytics_boxes(SHIPPED[engine], frame, 320, **reference))


@pytest.mark.parametrize("model", [SHIPPED["onnxruntime"], SHIPPED["openvino"]], ids=["onnx-file", "ir-folder"])
def test_openvino_f32_equals_onnxruntime(model, samples):
    """OpenVINO asked for f32 gives ONNX Runtime's fp32 boxes, from the .onnx file and from the IR export."""
    via_ort, via_ov = Detector(SHIPPED["onnxruntime"]), Detector(model, backend="openvino", precision="f32")
    assert via_ov.engine.name == "openvino"
    for frame in samples:
        a, b = via_ort.predict(frame), via_ov.predict(frame)
        assert_same_detections(b, a.xyxy, a.confidence, a.class_id)
