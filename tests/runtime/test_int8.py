"""The shipped int8 models load in the runtime and find what their fp32 sources find."""

from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest

from helpers import ARTIFACTS, SHIPPED, box_iou, matched_boxes, sample_paths, shared_detector
from runtime import Detector
from runtime.engines import model_size
from runtime.engines.base import dequantize
from runtime.preprocess import prepare

INT8 = {
    "onnxruntime": ARTIFACTS / "yolov8n-shapes-320_int8.onnx",
    "openvino": ARTIFACTS / "yolov8n-shapes-320_int8_openvino_model",
    "tflite": ARTIFACTS / "yolov8n-shapes-320_int8.tflite",
}


@pytest.mark.parametrize("engine", sorted(INT8))
def test_int8_model_is_small_and_agrees_with_fp32(engine, samples):
    """OpenVINO in f32 (as the recorded-detections test runs it: the two share the compiled models)."""
    fp32, int8 = shared_detector(SHIPPED[engine], precision="f32"), shared_detector(INT8[engine], precision="f32")
    assert int8.engine.name == engine and int8.names == fp32.names and int8.input_hw == fp32.input_hw
    assert model_size(INT8[engine]) <= 0.30 * model_size(SHIPPED[engine])
    matched, total = matched_boxes(fp32, int8, samples, min_iou=0.8)
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


COMPACTED_TFLITE = ["yolov8n-shapes-320_int8.tflite", "yolov8n-shapes-320_int8_io.tflite",
                    "yolov8n-light-shapes-320_int8.tflite"]


@pytest.mark.parametrize("name", COMPACTED_TFLITE)
def test_shipped_int8_tflite_graphs_carry_short_names(name):
    """The int8 TFLite files ship with compacted names (models/compact.py; the ONNX ones are checked in
    tests/factory, which has onnx); the I/O names are the exporter's."""
    import re

    flatbuffer_utils = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    graph = flatbuffer_utils.read_model(str(ARTIFACTS / name)).subgraphs[0]
    io = set(graph.inputs) | set(graph.outputs)
    names = {t.name.decode() for i, t in enumerate(graph.tensors) if i not in io}
    assert len(names) > 200 and all(re.fullmatch(r"t[0-9a-f]+", n) for n in names), sorted(names)[:5]
    assert not re.fullmatch(r"t[0-9a-f]+", Detector(ARTIFACTS / name).engine.input.name)  # the I/O keep theirs


def test_dequantize_is_litert_affine_mapping():
    """LiteRT's definition: real = scale * (q - zero_point)."""
    q = np.array([-128, -1, 0, 5, 127], np.int8)
    np.testing.assert_array_equal(dequantize(q, 0.5, -128), [0.0, 63.5, 64.0, 66.5, 127.5])
    np.testing.assert_array_equal(dequantize(np.array([0, 128, 255], np.uint8), 0.25, 128), [-32.0, 0.0, 31.75])
    floats = np.array([0.5, -2.0], np.float32)
    assert dequantize(floats, 0.5, 3) is floats  # float outputs pass through


# The head's two parts as int8 outputs, as a full-integer converter quantizes them: normalized xywh boxes in 0..2
# (the widest anchors reach ~1.7; 2.5 px steps at 320 px), scores as LiteRT quantizes a LOGISTIC output (1/256,
# zero point -128). Scales that float32 holds exactly, as the file stores them.
BOXES_Q, SCORES_Q = (1 / 128, -128), (1 / 256, -128)


@pytest.fixture(scope="module")
def int8_outputs_tflite(tmp_path_factory):
    """The shipped int8 model with its boxes and scores as two int8 graph outputs (scores first), each quantized by
    LiteRT's own QUANTIZE op instead of concatenated in float; its metadata zip carried over."""
    flatbuffer_utils = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    source = INT8["tflite"]
    model = flatbuffer_utils.read_model(str(source))
    graph = model.subgraphs[0]
    concat = graph.operators[-1]
    assert flatbuffer_utils.opcode_to_name(model, concat.opcodeIndex) == "CONCATENATION"
    boxes, scores = concat.inputs
    quantize = next(i for i in range(len(model.operatorCodes)) if flatbuffer_utils.opcode_to_name(model, i) == "QUANTIZE")
    outputs = []
    for name, source_tensor, (scale, zero_point) in [(b"scores_q", scores, SCORES_Q), (b"boxes_q", boxes, BOXES_Q)]:
        tensor = flatbuffer_utils.TensorT()
        tensor.name, tensor.shape, tensor.type = name, graph.tensors[source_tensor].shape, 9  # TensorType.INT8
        tensor.quantization = flatbuffer_utils.QuantizationParametersT()
        tensor.quantization.scale, tensor.quantization.zeroPoint = [scale], [zero_point]
        tensor.buffer = len(model.buffers)
        model.buffers.append(flatbuffer_utils.BufferT())
        graph.tensors.append(tensor)
        op = flatbuffer_utils.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = quantize, [source_tensor], [len(graph.tensors) - 1]
        graph.operators.append(op)
        outputs.append(len(graph.tensors) - 1)
    graph.operators.remove(concat)
    graph.outputs = outputs
    model.signatureDefs = []  # they name the old output
    path = tmp_path_factory.mktemp("int8-outputs") / "yolov8n-shapes-320_int8_outputs.tflite"
    path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    with zipfile.ZipFile(source) as appended, zipfile.ZipFile(path, "a") as archive:
        for entry in appended.namelist():
            archive.writestr(entry, appended.read(entry))
    return path


def test_int8_outputs_dequantize_to_the_float_outputs(int8_outputs_tflite):
    """The same network once with float outputs: every dequantized value lies within half a step of the float one."""
    quantized, float_out = Detector(int8_outputs_tflite), Detector(INT8["tflite"])
    details = quantized.engine.interpreter.get_output_details()
    assert [(d["dtype"], d["quantization"]) for d in details] == [(np.int8, SCORES_Q), (np.int8, BOXES_Q)]
    for path in sample_paths():
        tensor, _ = prepare(cv2.imread(str(path)), quantized.engine.input)
        got, expected = quantized.engine.run(tensor), float_out.engine.run(tensor)
        assert got.shape == expected.shape == (1, 7, 2100) and got.dtype == np.float32
        for rows, (scale, zero_point) in [(slice(0, 4), BOXES_Q), (slice(4, 7), SCORES_Q)]:
            ref = expected[0, rows]
            representable = (ref >= 0) & (ref <= (127 - zero_point) * scale)
            assert representable.mean() > 0.99
            error = np.abs(got[0, rows] - ref)[representable]
            assert error.max() <= scale / 2 * 1.001, f"{error.max()} > half a step ({scale / 2})"


def test_int8_outputs_find_what_the_float_outputs_find(int8_outputs_tflite, samples):
    """Each confident detection of the float-output twin, with its corners within what a box step allows
    (x, y half a step, w, h half a step halved) and its score within half a score step."""
    quantized, float_out = Detector(int8_outputs_tflite), Detector(INT8["tflite"])
    assert quantized.names == float_out.names and len(quantized.names) == 3
    confident = 0
    for frame in samples:
        ours, ref = quantized.predict(frame), float_out.predict(frame)
        gain = min(320 / frame.shape[0], 320 / frame.shape[1])
        corner_tolerance = 0.75 * BOXES_Q[0] * 320 / gain * 1.001
        for box, score, label in zip(ref.xyxy, ref.confidence, ref.class_id):
            if score < 0.35:  # a score near conf may land on either side of it after rounding
                continue
            corners_off = np.abs(ours.xyxy - box).max(axis=1)
            twins = (ours.class_id == label) & (corners_off <= corner_tolerance)
            twins &= np.abs(ours.confidence - score) <= SCORES_Q[0] / 2 * 1.001
            assert twins.any(), f"class {label} box {box} score {score:.3f} not found with int8 outputs"
            confident += 1
    assert confident >= 10
