"""The factory's export-time head rewrites (models/dfl.py, models/blocks.softmax_over_maps) compute what the
originals do, and the shipped ONNX models carry them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")
onnx = pytest.importorskip("onnx")

from models import blocks  # noqa: E402  (after the skips: needs torch + ultralytics)
from models.dfl import LastAxisDFL, use_last_axis_dfl  # noqa: E402
from ultralytics.nn.modules.block import DFL  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ARTIFACTS  # noqa: E402


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


@pytest.mark.parametrize("k", [2, 3])
def test_softmax_over_maps_equals_softmax_over_channels(k):
    z = logits(2, k, 9, 7, scale=30.0)  # large logits: the max shift must keep exp finite
    got = torch.cat(blocks.softmax_over_maps(z.split(1, 1)), 1)
    torch.testing.assert_close(got, z.softmax(1), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("path", sorted(ARTIFACTS.glob("*.onnx")), ids=lambda p: p.name)
def test_shipped_onnx_models_take_the_dfl_softmax_over_the_last_axis(path):
    """Each shipped ONNX model was exported with LastAxisDFL (ONNX Runtime's inner-axis Softmax is ~10x slower)."""
    graph = onnx.load(str(path)).graph
    softmaxes = [n for n in graph.node if n.op_type == "Softmax" and "/dfl/" in n.name]
    assert len(softmaxes) == 1, [n.name for n in graph.node if n.op_type == "Softmax"]
    axis = next(a.i for a in softmaxes[0].attribute if a.name == "axis")
    assert axis in (-1, 3)
