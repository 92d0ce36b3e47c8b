"""Decoding and NMS against brute-force references, on hypothesis-generated boxes (the comparisons with
torchvision and ultralytics are in tests/factory/test_postprocess_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import box_sets
from runtime.postprocess import canonical_head, nms, select, select_end2end, xywh_to_xyxy


def brute_force_nms(boxes, scores, threshold):
    """Textbook greedy NMS, one pair at a time."""
    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    keep = []
    for i in sorted(range(len(scores)), key=lambda k: (-scores[k], k)):
        if all(iou(boxes[i], boxes[j]) <= threshold for j in keep):
            keep.append(i)
    return keep


@settings(max_examples=200, deadline=None)
@given(data=box_sets(), threshold=st.floats(0.05, 0.95))
def test_nms_equals_brute_force(data, threshold):
    boxes, scores = data
    assert nms(boxes, scores, threshold).tolist() == brute_force_nms(boxes, scores, threshold)


def head(boxes_xywh, scores):
    """Build a channels-first (1, 4+nc, A) head from per-anchor boxes and class scores."""
    return np.concatenate([boxes_xywh.T, scores.T], 0)[None].astype(np.float32)


def test_class_aware_keeps_overlapping_boxes_of_other_classes_and_agnostic_does_not():
    boxes = np.array([[50, 50, 20, 20], [51, 50, 20, 20], [150, 150, 30, 30]], np.float32)
    scores = np.array([[0.9, 0.0], [0.0, 0.8], [0.7, 0.0]], np.float32)
    pred, *_ = canonical_head(head(boxes, scores), 2, (320, 320), False)
    xyxy, conf, cls = select(pred, conf=0.25, iou=0.5, max_det=300)
    assert cls.tolist() == [0, 1, 0] and conf.tolist() == pytest.approx([0.9, 0.8, 0.7])
    xyxy, conf, cls = select(pred, conf=0.25, iou=0.5, max_det=300, agnostic=True)
    assert cls.tolist() == [0, 0]
    np.testing.assert_allclose(xyxy[0], [40, 40, 60, 60])
    assert select(pred, conf=0.25, iou=0.5, max_det=1)[2].tolist() == [0]
    assert select(pred, conf=0.25, iou=0.5, max_det=300, classes=(1,))[2].tolist() == [1]
    assert select(pred, conf=0.95, iou=0.5, max_det=300)[0].shape == (0, 4)


def test_layouts_agree():
    """(1, 4+nc, A), its transpose (1, A, 4+nc) and normalized boxes all decode to the same detections."""
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(20, 300, (500, 2)), rng.uniform(5, 1000, (500, 2))], 1)  # widths up to 3x the input, as garbage anchors give
    scores = rng.uniform(0, 1, (500, 3)) ** 4
    raw = head(boxes, scores)
    normalized = raw.copy()
    normalized[0, :4] /= 320
    expected = select(canonical_head(raw, 3, (320, 320), None)[0], conf=0.25, iou=0.7, max_det=300)
    for variant in (raw.transpose(0, 2, 1), normalized, normalized.transpose(0, 2, 1)):
        for nc in (3, None):
            got = select(canonical_head(variant, nc, (320, 320), None)[0], conf=0.25, iou=0.7, max_det=300)
            np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
            assert got[2].tolist() == expected[2].tolist()


def test_end2end_output_is_filtered_not_suppressed():
    rows = np.array([[10, 10, 50, 50, 0.9, 1], [11, 11, 50, 50, 0.8, 1], [0, 0, 5, 5, 0.1, 0]], np.float32)
    pred, end2end, _ = canonical_head(rows[None], 3, (320, 320), None)
    assert end2end
    xyxy, conf, cls = select_end2end(pred, conf=0.25, max_det=300)
    assert len(xyxy) == 2 and cls.tolist() == [1, 1]
    assert select_end2end(pred, conf=0.25, max_det=300, classes=[0])[0].shape == (0, 4)


@pytest.mark.parametrize("conf", [0.25, 0.5, 0.001])
def test_a_score_equal_to_conf_is_dropped(conf):
    """ultralytics keeps score > conf: a score exactly at the threshold goes, the next float32 above it stays."""
    at = np.float32(conf)
    above = np.nextafter(at, np.float32(1))
    boxes = np.array([[50, 50, 20, 20], [150, 150, 20, 20], [250, 250, 20, 20]], np.float32)
    scores = np.array([[at, 0.0], [0.0, above], [at, at]], np.float32)
    pred, *_ = canonical_head(head(boxes, scores), 2, (320, 320), False)
    xyxy, confidence, class_id = select(pred, conf=conf, iou=0.5, max_det=300)
    assert confidence.tolist() == [above] and class_id.tolist() == [1]
    np.testing.assert_allclose(xyxy, [[140, 140, 160, 160]])

    rows = np.array([[10, 10, 50, 50, at, 0], [60, 60, 90, 90, above, 2], [0, 0, 5, 5, at, 1]], np.float32)
    xyxy, confidence, class_id = select_end2end(rows, conf=conf, max_det=300)
    assert confidence.tolist() == [above] and class_id.tolist() == [2]


def test_end2end_keeps_the_first_max_det_rows_that_pass():
    """The model's rows come best first: max_det keeps the first ones above conf (as ultralytics' filter does)."""
    rows = np.array([[0, 0, 9, 9, 0.9, 0], [0, 0, 8, 8, 0.1, 1], [0, 0, 7, 7, 0.8, 2], [0, 0, 6, 6, 0.7, 1],
                     [0, 0, 5, 5, 0.6, 0]], np.float32)
    for max_det in (1, 2, 3, 4, 300):
        _, confidence, _ = select_end2end(rows, conf=0.25, max_det=max_det)
        assert confidence.tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6][:max_det])
    _, confidence, class_id = select_end2end(rows, conf=0.25, max_det=1, classes=[1])
    assert class_id.tolist() == [1] and confidence.tolist() == pytest.approx([0.7])


def test_xywh_to_xyxy():
    np.testing.assert_allclose(xywh_to_xyxy(np.array([[10, 20, 4, 6]], np.float32)), [[8, 17, 12, 23]])


def test_unexpected_output_rank_is_a_clear_error():
    with pytest.raises(ValueError, match="unexpected model output shape"):
        canonical_head(np.zeros((1, 2, 3, 4), np.float32), 3, (320, 320), None)


@settings(max_examples=50, deadline=None)
@given(data=box_sets(max_boxes=200), threshold=st.floats(0.05, 0.95), max_keep=st.integers(1, 20))
def test_nms_early_stop_is_a_prefix(data, threshold, max_keep):
    boxes, scores = data
    assert nms(boxes, scores, threshold, max_keep).tolist() == nms(boxes, scores, threshold)[:max_keep].tolist()


def raw_logits(distances, class_logits, anchors: int) -> np.ndarray:
    """(4*16+nc, A) head logits whose DFL bins put each box side at the given whole distance (in grid units)."""
    from runtime.postprocess import REG_MAX

    bins = np.full((4, REG_MAX, anchors), -30.0, np.float32)
    for side, distance in enumerate(distances):
        bins[side, distance] = 30.0
    return np.concatenate([bins.reshape(4 * REG_MAX, anchors), class_logits]).astype(np.float32)


def test_raw_head_logits_decode_to_pixel_boxes_and_sigmoid_scores():
    """A 64x96 input has 8x12 + 4x6 + 2x3 anchors at strides 8, 16, 32; sides (1, 2, 3, 4) bins from an anchor at
    (x, y) + 0.5 make a box centred at (x+1.5, y+1.5) of 4x6 strides."""
    anchors = 96 + 24 + 6
    scores = np.full((2, anchors), -8.0, np.float32)
    scores[1, 100] = 2.0  # anchor 100: level 2 (stride 16), index 4 -> grid (x=4, y=0)
    pred, end2end, normalized = canonical_head(raw_logits((1, 2, 3, 4), scores, anchors)[None], 2, (64, 96), None,
                                               stride=32)
    assert pred.shape == (6, anchors) and not end2end and normalized is False
    np.testing.assert_allclose(pred[:4, 100], [(4 + 1.5) * 16, (0 + 1.5) * 16, 4 * 16, 6 * 16], atol=1e-3)
    np.testing.assert_allclose(pred[:4, 0], [1.5 * 8, 1.5 * 8, 4 * 8, 6 * 8], atol=1e-3)
    assert pred[5, 100] == pytest.approx(1 / (1 + np.exp(-2.0)))
    xyxy, conf, cls = select(pred, conf=0.25, iou=0.7, max_det=300)
    kept, *_ = canonical_head(raw_logits((1, 2, 3, 4), scores, anchors)[None], 2, (64, 96), None, stride=32,
                              conf=0.25)
    assert kept.shape == (6, 1)  # only the anchor that can pass conf is decoded, to the same detections
    for got, want in zip(select(kept, conf=0.25, iou=0.7, max_det=300), (xyxy, conf, cls)):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="anchors fit no pyramid"):
        canonical_head(raw_logits((1, 2, 3, 4), scores[:, :-1], anchors - 1)[None], 2, (64, 96), None)
