"""Post-processing against torchvision's NMS and ultralytics' own non_max_suppression (torch, ultralytics)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="the reference implementations (absent in the arm64 lane)")

from helpers import box_sets  # noqa: E402
from runtime.postprocess import canonical_head, nms, select  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(data=box_sets(max_boxes=300), threshold=st.floats(0.05, 0.95))
def test_nms_equals_torchvision(data, threshold):
    from torchvision.ops import nms as tv_nms

    boxes, scores = data
    expected = tv_nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()
    assert nms(boxes, scores, threshold).tolist() == expected.tolist()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), conf=st.sampled_from([0.25, 0.5, 0.125]), agnostic=st.booleans())
def test_select_equals_ultralytics_non_max_suppression(seed, conf, agnostic):
    """Random heads where a quarter of the scores equal conf exactly: ultralytics keeps score > conf."""
    from ultralytics.utils.nms import non_max_suppression

    rng = np.random.default_rng(seed)
    anchors, nc = 400, 3
    xy = rng.uniform(0, 320, (anchors, 2))
    wh = rng.uniform(4, 120, (anchors, 2))
    scores = rng.uniform(0, 1, (anchors, nc))  # distinct otherwise: one right NMS order
    scores[rng.random((anchors, nc)) < 0.25] = conf
    raw = np.concatenate([xy, wh, scores], 1).T[None].astype(np.float32)
    pred, *_ = canonical_head(raw, nc, (320, 320), False)
    xyxy, confidence, class_id = select(pred, conf=conf, iou=0.7, max_det=300, agnostic=agnostic)
    ref = non_max_suppression(torch.from_numpy(raw), conf, 0.7, agnostic=agnostic, max_det=300)[0].numpy()
    assert (confidence > conf).all() and len(ref) == len(confidence)
    ours = np.concatenate([xyxy, confidence[:, None], class_id[:, None]], 1)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
