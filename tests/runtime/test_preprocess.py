"""Letterbox and its inverse against ultralytics' LetterBox/scale_boxes, for many frame shapes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.engines.base import InputSpec
from runtime.preprocess import InputTensor, Letterbox, as_bgr, prepare

sizes = st.tuples(st.integers(1, 1500), st.integers(1, 1500))
inputs = st.sampled_from([(320, 320), (640, 640), (160, 160), (384, 640)])


def reference_tensor(frame, input_hw):
    """ultralytics' own pipeline: LetterBox, then BGR->RGB, HWC->CHW, float, /255 (as its predictor does)."""
    torch = pytest.importorskip("torch", reason="the reference pipeline (absent in the arm64 lane)")
    LetterBox = pytest.importorskip("ultralytics.data.augment").LetterBox

    canvas = LetterBox(input_hw, auto=False, stride=32)(image=frame)
    return torch.from_numpy(canvas)[None].permute(0, 3, 1, 2).flip(1).float().div_(255).numpy()


FLOAT_NCHW = InputSpec("images", (1, 3, None, None), "NCHW", np.dtype(np.float32))


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


FLOAT_NHWC = InputSpec("x", (1, None, None, 3), "NHWC", np.dtype(np.float32))


@pytest.mark.parametrize("view", ["contiguous", "crop", "mirrored", "bgra-converted"])
@pytest.mark.parametrize("spec", [FLOAT_NCHW, FLOAT_NHWC], ids=["NCHW", "NHWC"])
def test_odd_shrink_path_takes_frames_of_any_strides(view, spec):
    """The 3x path copies the frame's centre rows and picks pixels from a view of them: frames that are crops
    of wider images or mirrored views (strides that no reshape can keep) must give the reference tensor too."""
    rng = np.random.default_rng(7)
    if view == "contiguous":
        frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    elif view == "crop":
        frame = rng.integers(0, 256, (1100, 2000, 3), dtype=np.uint8)[10:1090, 40:1960]
    elif view == "mirrored":
        frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)[::-1, ::-1]
    else:
        frame = as_bgr(rng.integers(0, 256, (1080, 1920, 4), dtype=np.uint8))
    ours, _ = prepare(frame, spec, (640, 640))
    # OpenCV's own bilinear resize (what ultralytics' LetterBox calls), so this runs without torch (arm64 too).
    canvas = np.full((640, 640, 3), 114, np.uint8)
    canvas[140:500] = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_LINEAR)
    expected = canvas[None, :, :, ::-1].astype(np.float32) / np.float32(255)
    assert np.array_equal(ours, expected.transpose(0, 3, 1, 2) if spec.layout == "NCHW" else expected)


def test_reused_tensor_rewrites_the_border_when_the_frame_size_changes():
    """A wide frame then a tall one through one InputTensor equals fresh tensors for each."""
    rng = np.random.default_rng(0)
    tensor = InputTensor(FLOAT_NCHW, (64, 64))
    for shape in [(20, 60, 3), (60, 20, 3), (60, 20, 3), (64, 64, 3), (10, 10, 3)]:
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        tensor.fill(frame)
        assert np.array_equal(tensor.value(), reference_tensor(frame, (64, 64)))


@pytest.mark.parametrize("spec", [FLOAT_NCHW, InputSpec("x", (1, None, None, 3), "NHWC", np.dtype(np.float32)),
                                  InputSpec("x", (1, None, None, 3), "NHWC", np.dtype(np.int8), 1 / 255, -128),
                                  InputSpec("x", (1, 3, None, None), "NCHW", np.dtype(np.uint8), 1 / 255, 0)])
def test_reused_tensor_and_its_scratch_buffers_equal_fresh_ones(spec):
    """One InputTensor (its resize and plane buffers kept per frame size) through changing and repeated sizes
    gives what a fresh tensor gives for each frame: no pixel of an earlier frame survives."""
    rng = np.random.default_rng(1)
    tensor = InputTensor(spec, (96, 96))
    for shape in [(288, 192, 3), (288, 192, 3), (48, 96, 3), (288, 192, 3), (96, 96, 3), (30, 200, 3)]:
        frame = rng.integers(0, 256, shape, dtype=np.uint8)
        tensor.fill(frame)
        assert np.array_equal(tensor.value(), prepare(frame, spec, (96, 96))[0]), shape


@settings(max_examples=100, deadline=None)
@given(frame_hw=sizes, input_hw=inputs, data=st.data())
def test_boxes_to_frame_equals_scale_boxes_and_inverts_letterbox(frame_hw, input_hw, data):
    h, w = frame_hw
    xs = data.draw(st.lists(st.floats(0, w), min_size=2, max_size=2))
    ys = data.draw(st.lists(st.floats(0, h), min_size=2, max_size=2))
    frame_box = np.array([[min(xs), min(ys), max(xs), max(ys)]])
    box = Letterbox(frame_hw=frame_hw, input_hw=input_hw)
    in_input = box.frame_to_input(frame_box)
    back = box.boxes_to_frame(in_input.astype(np.float32))
    np.testing.assert_allclose(back, frame_box, rtol=1e-4, atol=1e-2 * max(1.0, max(h, w) / 100))
    try:  # the reference is x86-only (the arm64 lane has no ultralytics); the inverse above is checked everywhere
        from ultralytics.utils.ops import clip_boxes, scale_boxes
    except ImportError:
        return
    ref = clip_boxes(scale_boxes(input_hw, in_input.astype(np.float32).copy(), frame_hw), frame_hw)
    np.testing.assert_allclose(back, ref, rtol=1e-5, atol=1e-3)


def test_tensor_is_rgb_scaled_nchw():
    canvas = np.zeros((4, 6, 3), np.uint8)
    canvas[..., 0], canvas[..., 2] = 255, 51  # BGR: blue 255, red 51
    tensor, _ = prepare(canvas, InputSpec("images", (1, 3, 4, 6), "NCHW", np.dtype(np.float32)))
    assert tensor.shape == (1, 3, 4, 6) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, 0], 0.2)  # R
    np.testing.assert_allclose(tensor[0, 2], 1.0)  # B


def test_tensor_nhwc_float16_and_int8():
    frame = np.full((2, 4, 3), 255, np.uint8)  # letterboxed into 4x4: rows 0 and 3 are the grey border
    nhwc16, _ = prepare(frame, InputSpec("x", (1, 4, 4, 3), "NHWC", np.dtype(np.float16)))
    assert nhwc16.shape == (1, 4, 4, 3) and nhwc16.dtype == np.float16 and float(nhwc16.max()) == 1.0
    assert float(nhwc16[0, 0, 0, 0]) == pytest.approx(114 / 255, abs=1e-3)
    q, _ = prepare(frame, InputSpec("x", (1, 4, 4, 3), "NHWC", np.dtype(np.int8), scale=1 / 255, zero_point=-128))
    assert q.dtype == np.int8 and int(q[0, 1:3].min()) == 127 and int(q[0, 0, 0, 0]) == 114 - 128
    zero, _ = prepare(frame * 0, InputSpec("x", (1, 4, 4, 3), "NHWC", np.dtype(np.int8), 1 / 255, -128))
    assert int(zero[0, 1:3].max()) == -128


def test_tensor_nchw_uint8_quantized():
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[..., 2] = 255  # red
    q, _ = prepare(frame, InputSpec("x", (1, 3, 2, 2), "NCHW", np.dtype(np.uint8), scale=1 / 255, zero_point=0))
    assert q.shape == (1, 3, 2, 2) and q.dtype == np.uint8
    assert q[0, 0].tolist() == [[255, 255], [255, 255]] and int(q[0, 1:].max()) == 0


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 4)])
def test_grey_and_bgra_frames_become_bgr(shape):
    frame = np.full(shape, 9, np.uint8)
    out = as_bgr(frame)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8 and int(out[0, 0, 0]) == 9

