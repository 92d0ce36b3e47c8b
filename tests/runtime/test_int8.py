"""The shipped int8 models load in the runtime and find what their fp32 sources find."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import ARTIFACTS, SHIPPED, box_iou
from runtime import Detector

INT8 = {
    "onnxruntime": ARTIFACTS / "yolov8n-shapes-320_int8.onnx",
    "openvino": ARTIFACTS / "yolov8n-shapes-320_int8_openvino_model",
    "tflite": ARTIFACTS / "yolov8n-shapes-320_int8.tflite",
}


def size(path):
    return sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size


@pytest.mark.parametrize("engine", sorted(INT8))
def test_int8_model_is_small_and_agrees_with_fp32(engine, samples):
    fp32, int8 = Detector(SHIPPED[engine]), Detector(INT8[engine])
    assert int8.engine.name == engine and int8.names == fp32.names and int8.input_hw == fp32.input_hw
    assert size(INT8[engine]) <= 0.30 * size(SHIPPED[engine])
    matched = total = 0
    for frame in samples:
        a, b = fp32.predict(frame), int8.predict(frame)
        total += len(a)
        if len(a) and len(b):
            iou = box_iou(a.xyxy, b.xyxy)
            iou[a.class_id[:, None] != b.class_id[None, :]] = 0
            matched += int((iou.max(axis=1) >= 0.8).sum())
    assert total >= 10 and matched >= 0.8 * total, f"{matched} of {total} fp32 boxes found by the int8 model"


def test_int8_scores_stay_close_on_strong_detections(samples):
    """Confident fp32 boxes keep their score within 0.1 through the int8 ONNX model."""
    fp32, int8 = Detector(SHIPPED["onnxruntime"], conf=0.5), Detector(INT8["onnxruntime"], conf=0.3)
    for frame in samples:
        a, b = fp32.predict(frame), int8.predict(frame)
        for det in a:
            iou = box_iou(np.array([det.xyxy]), b.xyxy)[0] if len(b) else np.zeros(0)
            assert iou.size and iou.max() > 0.8
            assert abs(b.confidence[iou.argmax()] - det.confidence) < 0.1


def test_integer_input_tflite_equals_its_float_input_twin(samples):
    """Same int8 network, once with an int8 graph input: the runtime's own input quantization (a 256-entry
    table) must give exactly what LiteRT's QUANTIZE op gives inside the float-input model."""
    from helpers import assert_same_detections

    integer_io = Detector(ARTIFACTS / "yolov8n-shapes-320_int8_io.tflite", conf=0.1)
    float_io = Detector(INT8["tflite"], conf=0.1)
    assert integer_io.engine.input.dtype == np.int8 and integer_io.engine.input.is_quantized
    for frame in samples:
        ref = float_io.predict(frame)
        assert_same_detections(integer_io.predict(frame), ref.xyxy, ref.confidence, ref.class_id)


@pytest.mark.parametrize("name", ["yolov8n-shapes-320_int8.tflite", "yolov8n-shapes-320_int8_io.tflite",
                                  "yolov8n-light-shapes-320_int8.tflite"])
def test_tflite_int8_keeps_the_box_decoding_float(name):
    """Every tensor spanning the anchors (the head's decoding, also flattened as the DFL's (4A, 16)) stays float32:
    quantized together with pixel boxes, the scores lose their resolution (docs/model-experiments.md)."""
    flatbuffer_utils = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    graph = flatbuffer_utils.read_model(str(ARTIFACTS / name)).subgraphs[0]
    anchors = int(graph.tensors[graph.outputs[0]].shape[-1])
    spanning = [t for t in graph.tensors if any(d >= anchors and d % anchors == 0 for d in t.shape)]
    flattened = [t for t in spanning if anchors not in list(t.shape)]
    assert spanning and flattened  # the (4A, 16) DFL tensors are there to check
    float32 = 0  # TensorType.FLOAT32 in the TFLite schema
    assert [t.name.decode() for t in spanning if t.type != float32] == []


COMPACTED = ["yolov8n-shapes-320_int8.onnx", "yolov8n-light-shapes-320_int8.onnx", "yolov8n-shapes-320_int8.tflite",
             "yolov8n-shapes-320_int8_io.tflite", "yolov8n-light-shapes-320_int8.tflite"]


def inner_tensor_names(path):
    """Names of every tensor that is not a graph input or output."""
    if path.suffix == ".onnx":
        onnx = pytest.importorskip("onnx")  # not in the arm64 lane
        graph = onnx.load(str(path)).graph
        io = {v.name for v in graph.input} | {v.name for v in graph.output}
        names = {t.name for t in graph.initializer} | {x for n in graph.node for x in (*n.input, *n.output)}
        return names - io - {""}
    flatbuffer_utils = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    graph = flatbuffer_utils.read_model(str(path)).subgraphs[0]
    io = set(graph.inputs) | set(graph.outputs)
    return {t.name.decode() for i, t in enumerate(graph.tensors) if i not in io}


@pytest.mark.parametrize("name", COMPACTED)
def test_shipped_int8_graphs_carry_short_names(name):
    """The int8 ONNX / TFLite files ship with compacted names (models/compact.py); the I/O names are the exporter's."""
    import re

    names = inner_tensor_names(ARTIFACTS / name)
    assert len(names) > 200 and all(re.fullmatch(r"t[0-9a-f]+", n) for n in names), sorted(names)[:5]
    assert not re.fullmatch(r"t[0-9a-f]+", Detector(ARTIFACTS / name).engine.input.name)  # the I/O keep theirs


@pytest.mark.parametrize("source", ["yolov8n-light-shapes-320.onnx", "yolov8n-shapes-320_float32.tflite"])
def test_compaction_changes_names_only(source, tmp_path, samples):
    """Compacting a real model leaves its outputs bit-equal, its metadata and I/O readable, and the file smaller."""
    from models.compact import compact

    pytest.importorskip("onnx" if source.endswith(".onnx") else "ai_edge_litert.tools.flatbuffer_utils")
    original = ARTIFACTS / source
    compacted = tmp_path / source
    compacted.write_bytes(original.read_bytes())
    compact(compacted)
    assert compacted.stat().st_size < original.stat().st_size - 20_000
    assert all(len(n) <= 4 for n in inner_tensor_names(compacted))
    before, after = Detector(original, conf=0.05), Detector(compacted, conf=0.05)
    assert after.names == before.names and after.input_hw == before.input_hw
    assert after.engine.input == before.engine.input
    tensor = np.random.default_rng(0).random(before.engine.input.shape, dtype=np.float32)
    np.testing.assert_array_equal(after.engine.run(tensor), before.engine.run(tensor))
    for frame in samples:
        a, b = before.predict(frame), after.predict(frame)
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.confidence, b.confidence)


def test_light_int8_onnx_is_within_the_size_bar():
    """The factory's int8 bar (<= 30% of the fp32 file) for the light model's ONNX pair (its fp32 TFLite and
    OpenVINO files are not shipped)."""
    assert size(ARTIFACTS / "yolov8n-light-shapes-320_int8.onnx") <= 0.30 * size(ARTIFACTS / "yolov8n-light-shapes-320.onnx")
