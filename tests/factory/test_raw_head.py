"""The head exported without its decoding (models/rewrites.py use_raw_head, what --full-int8 quantizes): the
runtime's host decoding of its logits gives the boxes of the same model exported whole."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ultralytics", reason="the factory's exporter (absent in the arm64 lane)")

from helpers import ARTIFACTS, SHIPPED, sample_paths  # noqa: E402
from runtime import Detector  # noqa: E402
from runtime.postprocess import REG_MAX, anchor_grid  # noqa: E402


@pytest.fixture(scope="module")
def raw_onnx(tmp_path_factory):
    from models.export import export

    return export(ARTIFACTS / "yolov8n-shapes.pt", 320, ["onnxruntime"], tmp_path_factory.mktemp("raw"),
                  raw_head=True)["onnxruntime"]


def test_raw_head_outputs_logits_that_the_runtime_decodes_to_the_whole_exports_boxes(raw_onnx):
    raw, whole = Detector(raw_onnx, conf=0.05), Detector(SHIPPED["onnxruntime"], conf=0.05)
    assert raw.engine.run(np.zeros(raw.engine.input.shape, np.float32)).shape == (1, 4 * REG_MAX + 3, 2100)
    seen = 0
    for path in sample_paths():
        a, b = raw.predict(path), whole.predict(path)
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-2)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
        seen += len(a)
    assert seen >= 10


def test_a_names_override_of_other_length_decodes_the_same_boxes(raw_onnx):
    """The head's layout follows the model's own class count, not the names a user relabels it with."""
    own, relabelled = Detector(raw_onnx), Detector(raw_onnx, names={0: "thing"})
    a, b = own.predict(sample_paths()[0]), relabelled.predict(sample_paths()[0])
    assert len(a) >= 3
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.class_id, b.class_id)


@pytest.mark.parametrize("hw", [(320, 320), (256, 384)])
def test_anchor_grid_is_ultralytics_make_anchors(hw):
    import torch
    from ultralytics.utils.tal import make_anchors

    strides = torch.tensor([8.0, 16.0, 32.0])
    feats = [torch.zeros(1, 1, hw[0] // int(s), hw[1] // int(s)) for s in strides]
    points, per_anchor = make_anchors(feats, strides, 0.5)
    centres, got_strides = anchor_grid(hw, 32, points.shape[0])
    np.testing.assert_array_equal(centres, points.T.numpy())
    np.testing.assert_array_equal(got_strides, per_anchor[:, 0].numpy())
