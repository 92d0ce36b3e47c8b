"""Parity: on the same model file and frames, this runtime gives ultralytics' own predict results."""

from __future__ import annotations

import pytest

from conftest import SHIPPED, assert_same_detections
from runtime import Detector

pytest.importorskip("ultralytics")


def ultralytics_boxes(path, frame, imgsz, **kwargs):
    from ultralytics import YOLO

    boxes = YOLO(str(path), task="detect").predict(frame, imgsz=imgsz, verbose=False, **kwargs)[0].boxes
    return boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int)


def openvino_default_precision() -> str:
    """What OpenVINO picks when not told (ultralytics does not tell it on x86): bf16 on AVX512-BF16/AMX CPUs."""
    import openvino as ov

    return ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()


@pytest.mark.parametrize("engine", sorted(SHIPPED))
def test_shipped_models_match_ultralytics(engine, samples):
    # Same engine settings as the reference: for OpenVINO, its default precision (f32 is checked below).
    options = {"precision": openvino_default_precision()} if engine == "openvino" else {}
    detector = Detector(SHIPPED[engine], **options)
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
    if engine == "openvino":
        options["precision"] = openvino_default_precision()
    detector = Detector(SHIPPED[engine], **options)
    reference = {REFERENCE_KEYWORDS.get(k, k): v for k, v in options.items() if k != "precision"}
    for frame in samples[:2]:
        ours = detector.predict(frame)
        assert len(ours) >= min(options.get("max_det", 300), 5)
        assert_same_detections(ours, *ultralytics_boxes(SHIPPED[engine], frame, 320, **reference))


@pytest.mark.parametrize("model", [SHIPPED["onnxruntime"], SHIPPED["openvino"]], ids=["onnx-file", "ir-folder"])
def test_openvino_f32_default_equals_onnxruntime(model, samples):
    """OpenVINO at its default (f32) gives ONNX Runtime's fp32 boxes, from the .onnx file and from the IR export."""
    via_ort, via_ov = Detector(SHIPPED["onnxruntime"]), Detector(model, backend="openvino")
    assert via_ov.engine.name == "openvino"
    for frame in samples:
        a, b = via_ort.predict(frame), via_ov.predict(frame)
        assert_same_detections(b, a.xyxy, a.confidence, a.class_id)
