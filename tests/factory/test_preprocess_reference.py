"""Letterbox and its inverse against ultralytics' own LetterBox and scale_boxes, for many frame shapes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="the reference pipeline (absent in the arm64 lane)")

from ultralytics.data.augment import LetterBox  # noqa: E402
from ultralytics.utils.ops import clip_boxes, scale_boxes  # noqa: E402

from runtime.engines.base import InputSpec  # noqa: E402
from runtime.preprocess import InputTensor, Letterbox, prepare  # noqa: E402

sizes = st.tuples(st.integers(1, 1500), st.integers(1, 1500))
inputs = st.sampled_from([(320, 320), (640, 640), (160, 160), (384, 640)])
FLOAT_NCHW = InputSpec("images", (1, 3, None, None), "NCHW", np.dtype(np.float32))


def reference_tensor(frame, input_hw):
    """ultralytics' own pipeline: LetterBox, then BGR->RGB, HWC->CHW, float, /255 (as its predictor does)."""
    canvas = LetterBox(input_hw, auto=False, stride=32)(image=frame)
    return torch.from_numpy(canvas)[None].permute(0, 3, 1, 2).flip(1).float().div_(255).numpy()


@settings(max_examples=60, deadline=None)
@given(frame_hw=sizes, input_hw=inputs, seed=st.integers(0, 2**16))
def test_input_tensor_equals_ultralytics_bit_for_bit(frame_hw, input_hw, seed):
    frame = np.random.default_rng(seed).integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    ours, _ = prepare(frame, FLOAT_NCHW, input_hw)
    assert np.array_equal(ours, reference_tensor(frame, input_hw))


@pytest.mark.parametrize("frame_hw, input_hw", [((1080, 1920), (640, 640)), ((960, 960), (320, 320)),
                                               ((1600, 1600), (320, 320)), ((1080, 1920), (384, 640)),
                                               ((720, 1280), (640, 640)), ((2160, 3840), (640, 640))])
def test_integer_shrink_factors_equal_ultralytics(frame_hw, input_hw):
    """The odd-factor shortcut (1080p -> 640 is 3x) and the even/other factors stay bit-equal to bilinear."""
    frame = np.random.default_rng(5).integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    ours, _ = prepare(frame, FLOAT_NCHW, input_hw)
    assert np.array_equal(ours, reference_tensor(frame, input_hw))


def test_reused_tensor_rewrites_the_border_when_the_frame_size_changes():
    """A wide frame then a tall one through one InputTensor equals ultralytics' tensor for each."""
    rng = np.random.default_rng(0)
    tensor = InputTensor(FLOAT_NCHW, (64, 64))
    for shape in [(20, 60, 3), (60, 20, 3), (60, 20, 3), (64, 64, 3), (10, 10, 3)]:
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        tensor.fill(frame)
        assert np.array_equal(tensor.value(), reference_tensor(frame, (64, 64)))


@settings(max_examples=100, deadline=None)
@given(frame_hw=sizes, input_hw=inputs, data=st.data())
def test_boxes_to_frame_equals_scale_boxes(frame_hw, input_hw, data):
    h, w = frame_hw
    xs = data.draw(st.lists(st.floats(0, w), min_size=2, max_size=2))
    ys = data.draw(st.lists(st.floats(0, h), min_size=2, max_size=2))
    box = Letterbox(frame_hw=frame_hw, input_hw=input_hw)
    in_input = box.frame_to_input(np.array([[min(xs), min(ys), max(xs), max(ys)]])).astype(np.float32)
    ref = clip_boxes(scale_boxes(input_hw, in_input.copy(), frame_hw), frame_hw)
    np.testing.assert_allclose(box.boxes_to_frame(in_input), ref, rtol=1e-5, atol=1e-3)
