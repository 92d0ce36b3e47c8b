"""The factory's export-time rewrites (models/rewrites.py, models/blocks.softmax_over_maps,
models/onnx_passes.py) compute what the originals do, and the shipped models carry them: ONNX files the
written-out ASFF softmax, OpenVINO and LiteRT files the one-op form (models/export.py, WRITTEN_OUT_ASFF)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")
onnx = pytest.importorskip("onnx")

from models import blocks  # noqa: E402  (after the skips: needs torch + ultralytics)
from models.rewrites import (  # noqa: E402
    ChannelSoftmaxASFF, DepthwiseADown, LastAxisDFL, use_channel_softmax_asff, use_depthwise_adown, use_last_axis_dfl,
)
from models.onnx_passes import fold_concat_split  # noqa: E402
from ultralytics.nn.modules.block import DFL, ADown  # noqa: E402

from helpers import ARTIFACTS, ROOT, SAMPLES  # noqa: E402


def logits(*shape, scale=4.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * scale


@pytest.mark.parametrize("anchors", [21, 2100, 8400])
def test_last_axis_dfl_equals_ultralytics_dfl(anchors):
    dfl = DFL(16)
    x = logits(2, 64, anchors)
    expected = dfl(x)
    got = LastAxisDFL(dfl)(x)
    assert got.shape == expected.shape == (2, 4, anchors)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-6)


def test_use_last_axis_dfl_swaps_the_head_and_keeps_the_model_outputs():
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=3, verbose=False).eval()
    inp = logits(1, 3, 64, 64, scale=1.0).sigmoid()
    with torch.no_grad():
        before = model(inp)[0]
        assert use_last_axis_dfl(model) == 1
        after = model(inp)[0]
    assert isinstance(model.model[-1].dfl, LastAxisDFL)
    assert use_last_axis_dfl(model) == 0  # nothing left to swap
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("b, h, w", [(1, 32, 32), (2, 64, 48), (2, 33, 40), (1, 5, 4)])
@pytest.mark.parametrize("c1, c2", [(16, 32), (64, 128), (8, 8)])
def test_depthwise_adown_halves_the_resolution_as_ultralytics_adown_does(c1, c2, b, h, w):
    """This project's drop-in (models/rewrites.py) against the ADown it replaces, odd sizes included."""
    adown = ADown(c1, c2).eval()
    x = logits(b, c1, h, w)
    with torch.no_grad():
        expected, got = adown(x), DepthwiseADown(adown)(x)
    assert got.shape == expected.shape == (b, c2, h // 2, w // 2)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("k, c, hw", [(2, 16, (20, 20)), (3, 8, (7, 5)), (3, 64, (40, 40))])
def test_channel_softmax_asff_equals_asff(k, c, hw):
    asff = blocks.ASFF(k * c, c, k).eval()
    x = logits(2, k * c, *hw)
    with torch.no_grad():
        expected, got = asff(x), ChannelSoftmaxASFF(asff)(x)
    assert got.shape == expected.shape == (2, c, *hw)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("swap, kind, count", [
    (use_depthwise_adown, ADown, 4),  # the backbone's four stride-2 steps after the stem
    (use_channel_softmax_asff, blocks.ASFF, 5),  # the neck's two ASFF_2 and three ASFF_3
], ids=["adown", "asff"])
def test_export_swaps_replace_every_module_and_keep_the_light_models_outputs(swap, kind, count):
    """On the shipped trained weights and a sample image: an untrained model's features are ~1e-9 and its outputs
    are the head's biases, which no swap would change."""
    import cv2
    from ultralytics import YOLO

    model = YOLO(str(ARTIFACTS / "yolov8n-light-shapes.pt")).model.float().eval()
    image = cv2.resize(cv2.imread(str(SAMPLES / "sample_2_400x400.jpg")), (320, 320))[..., ::-1]
    inp = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        before = model(inp)[0]
        assert swap(model) == count
        after = model(inp)[0]  # the swapped layers keep ultralytics' routing (.f, .i) or this would fail
    assert not any(type(m) is kind for m in model.modules())
    assert swap(model) == 0  # nothing left to swap, and drop-ins are not wrapped again
    assert before[0, 4:].max() > 0.5  # something is detected, so the comparison below means something
    torch.testing.assert_close(after, before, atol=1e-3, rtol=1e-5)  # boxes are pixels (up to 320)


def test_the_light_models_onnx_export_has_no_average_pool(light_onnx):
    """Quantized, ADown's AveragePool ran as ONNX Runtime's slow QLinearAveragePool (2.3 of 8.5 ms)."""
    nodes = onnx.load(str(light_onnx)).graph.node
    assert "AveragePool" not in [n.op_type for n in nodes]
    attributes = [{a.name: list(a.ints) or a.i for a in n.attribute} for n in nodes if n.op_type == "Conv"]
    pools = [a for a in attributes if a["kernel_shape"] == [2, 2] and a.get("group", 1) > 1]  # depthwise 2x2
    assert len(pools) == 4 and all(a["strides"] == [1, 1] for a in pools)


def shipped_light_tflite_ops() -> list[str]:
    """Op names of the shipped light int8 TFLite graph, in order."""
    flatbuffer_utils = pytest.importorskip("ai_edge_litert.tools.flatbuffer_utils")
    model = flatbuffer_utils.read_model(str(ARTIFACTS / "yolov8n-light-shapes-320_int8.tflite"))
    return [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in model.subgraphs[0].operators]


def test_shipped_light_tflite_model_has_no_average_pool():
    """LiteRT's int8 AVERAGE_POOL_2D took 2.3 of the light model's 5.4 ms."""
    ops = shipped_light_tflite_ops()
    assert "AVERAGE_POOL_2D" not in ops and ops.count("DEPTHWISE_CONV_2D") == 4


def test_shipped_light_tflite_model_takes_the_asff_weights_as_one_softmax():
    """Written out (exp / sum), the five ASFF softmaxes made 521 ops in 9 XNNPACK partitions instead of 430 in 3,
    and the int8 model ran ~9% slower."""
    ops = shipped_light_tflite_ops()
    assert ops.count("SOFTMAX") == 6 and "EXP" not in ops  # five ASFF and the DFL's


def test_the_light_models_openvino_export_takes_the_asff_weights_as_one_softmax(light_exports):
    """Written out, the ASFF softmaxes made NNCF's int8 IR 5% larger (42 more FakeQuantize layers), no faster."""
    ov = pytest.importorskip("openvino")
    xml = next(light_exports["openvino"].glob("*.xml"))
    ops = [op.get_type_name() for op in ov.Core().read_model(str(xml)).get_ops()]
    assert ops.count("Softmax") == 6 and "Exp" not in ops  # five ASFF and the DFL's


@pytest.mark.parametrize("k", [2, 3])
def test_softmax_over_maps_equals_softmax_over_channels(k):
    z = logits(2, k, 9, 7, scale=30.0)  # large logits: the max shift must keep exp finite
    got = torch.cat(blocks.softmax_over_maps(z.split(1, 1)), 1)
    torch.testing.assert_close(got, z.softmax(1), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("path", sorted(ARTIFACTS.glob("*.onnx")), ids=lambda p: p.name)
def test_shipped_onnx_models_take_the_dfl_softmax_over_the_last_axis(path):
    """Each shipped ONNX model was exported with LastAxisDFL (ONNX Runtime's inner-axis Softmax is ~10x slower).
    The DFL's is their only Softmax (the light model's ASFF writes its own out), found by type: the int8 graphs'
    node names are compacted."""
    graph = onnx.load(str(path)).graph
    softmaxes = [n for n in graph.node if n.op_type == "Softmax"]
    assert len(softmaxes) == 1, [n.name for n in softmaxes]
    axis = next(a.i for a in softmaxes[0].attribute if a.name == "axis")
    assert axis in (-1, 3)


def concat_split_model(path: Path, split_sizes: list[int], opset: int = 17, channels=(2, 3)) -> None:
    """a (1,2,4,4) and b (1,3,4,4) (or other channels) -> Concat(axis 1) -> Split(split_sizes) -> Relu each -> outputs; the sizes are
    the Split's second input from opset 13 on, its attribute before."""
    from onnx import TensorProto, helper, numpy_helper

    import numpy as np

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, c, 4, 4]) for n, c in zip("ab", channels)]
    outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [1, c, 4, 4])
               for i, c in enumerate(split_sizes)]
    if opset >= 13:
        split = helper.make_node("Split", ["ab", "sizes"], ["s0", "s1"], axis=1)
        initializers = [numpy_helper.from_array(np.array(split_sizes, np.int64), "sizes")]
    else:
        split = helper.make_node("Split", ["ab"], ["s0", "s1"], axis=1, split=split_sizes)
        initializers = []
    nodes = [helper.make_node("Concat", ["a", "b"], ["ab"], axis=1), split,
             helper.make_node("Relu", ["s0"], ["y0"]), helper.make_node("Relu", ["s1"], ["y1"])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))


def run_onnx(path: Path, channels=(2, 3)):
    import numpy as np
    import onnxruntime as ort

    feeds = {n: np.arange(c * 16, dtype=np.float32).reshape(1, c, 4, 4) - 9 * (i + 1)
             for i, (n, c) in enumerate(zip("ab", channels))}
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("opset", [17, 11])
@pytest.mark.parametrize("sizes,folded", [([2, 3], 1), ([3, 2], 0)])
def test_fold_concat_split_removes_only_pairs_that_undo_each_other(tmp_path, sizes, folded, opset):
    path = tmp_path / "m.onnx"
    concat_split_model(path, sizes, opset)
    expected = run_onnx(path)
    assert fold_concat_split(path) == folded
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    assert ("Concat" in ops) == (not folded) and ("Split" in ops) == (not folded)
    assert [i.name for i in graph.initializer] == ([] if folded or opset < 13 else ["sizes"])  # none left unused
    for got, want in zip(run_onnx(path), expected):
        assert (got == want).all()


def test_fold_concat_split_reads_an_old_splits_sizes_attribute(tmp_path):
    """Equal concat inputs split unequally (opset 11 keeps the sizes in an attribute): not a pair that undoes."""
    path = tmp_path / "m.onnx"
    concat_split_model(path, [1, 3], opset=11, channels=(2, 2))
    expected = run_onnx(path, channels=(2, 2))
    assert fold_concat_split(path) == 0
    for got, want in zip(run_onnx(path, channels=(2, 2)), expected):
        assert (got == want).all()


@pytest.mark.parametrize("path", sorted(ARTIFACTS.glob("*.onnx")), ids=lambda p: p.name)
def test_shipped_onnx_models_have_no_concat_split_pairs(path):
    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    pairs = [n.name for n in graph.node if n.op_type == "Split" and producer.get(n.input[0]) is not None
             and producer[n.input[0]].op_type == "Concat"]
    assert pairs == []
