"""The factory's int8 graphs: compacted names in the shipped ONNX files, and compaction (models/compact.py) changing
names only (needs onnx, and the factory's code)."""

from __future__ import annotations

import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the factory's graph tools (absent in the arm64 lane)")

from helpers import ARTIFACTS  # noqa: E402
from models.compact import compact  # noqa: E402
from runtime import Detector  # noqa: E402


def inner_tensor_names(path):
    """Names of every tensor that is not a graph input or output."""
    if path.suffix == ".onnx":
        graph = onnx.load(str(path)).graph
        io = {v.name for v in graph.input} | {v.name for v in graph.output}
        names = {t.name for t in graph.initializer} | {x for n in graph.node for x in (*n.input, *n.output)}
        return names - io - {""}
    from ai_edge_litert.tools import flatbuffer_utils

    graph = flatbuffer_utils.read_model(str(path)).subgraphs[0]
    io = set(graph.inputs) | set(graph.outputs)
    return {t.name.decode() for i, t in enumerate(graph.tensors) if i not in io}


def test_shipped_int8_onnx_graph_carries_short_names():
    """The int8 ONNX file ships with compacted names (the TFLite ones are checked in tests/runtime/test_int8.py);
    the I/O names are the exporter's."""
    path = ARTIFACTS / "yolov8n-shapes-320_int8.onnx"
    names = inner_tensor_names(path)
    assert len(names) > 200 and all(re.fullmatch(r"t[0-9a-f]+", n) for n in names), sorted(names)[:5]
    assert not re.fullmatch(r"t[0-9a-f]+", Detector(path).engine.input.name)  # the I/O keep theirs


def test_shipped_int8_onnx_weights_fit_in_7_bits():
    """x86 CPUs without VNNI saturate u8 x s8 sums with full 8-bit weights (docs/deploying.md): the shipped file is
    quantized with reduce_range, as yolo-edge-optimize does, so every conv weight lies in [-64, 63]."""
    from onnx import numpy_helper

    graph = onnx.load(str(ARTIFACTS / "yolov8n-shapes-320_int8.onnx")).graph
    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    conv_weights = [w for w in weights if w.ndim == 4]
    assert len(conv_weights) >= 60
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in conv_weights) <= 64


@pytest.mark.parametrize("source", ["light", "yolov8n-shapes-320_float32.tflite"])
def test_compaction_changes_names_only(source, tmp_path, samples, light_onnx):
    """Compacting a real model leaves its outputs bit-equal, its metadata and I/O readable, and the file smaller."""
    original = light_onnx if source == "light" else ARTIFACTS / source
    compacted = tmp_path / original.name
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
