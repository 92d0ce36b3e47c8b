"""Letterbox and tensor preparation against an independent numpy/OpenCV computation, with frames whose colour
channels all differ (the comparisons with ultralytics' LetterBox and scale_boxes are in
tests/factory/test_preprocess_reference.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import SHIPPED, assert_same_detections, sample_paths
from runtime import Detector
from runtime.engines.base import InputSpec
from runtime.preprocess import InputTensor, Letterbox, as_bgr, prepare

sizes = st.tuples(st.integers(1, 1500), st.integers(1, 1500))
inputs = st.sampled_from([(320, 320), (640, 640), (160, 160), (384, 640)])

FLOAT_NCHW = InputSpec("images", (1, 3, None, None), "NCHW", np.dtype(np.float32))
FLOAT_NHWC = InputSpec("x", (1, None, None, 3), "NHWC", np.dtype(np.float32))
FLOAT16_NCHW = InputSpec("images", (1, 3, None, None), "NCHW", np.dtype(np.float16))
INT8_NHWC = InputSpec("x", (1, None, None, 3), "NHWC", np.dtype(np.int8), 0.003921568859368563, -128)  # LiteRT's
UINT8_NCHW = InputSpec("x", (1, 3, None, None), "NCHW", np.dtype(np.uint8), 1 / 255, 0)
SPECS = {"float-NCHW": FLOAT_NCHW, "float-NHWC": FLOAT_NHWC, "float16-NCHW": FLOAT16_NCHW,
         "int8-NHWC": INT8_NHWC, "uint8-NCHW": UINT8_NCHW}


def coloured_frame(shape, seed=0) -> np.ndarray:
    """Every channel different: B a horizontal ramp, G a vertical one, R (and alpha) noise."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    if len(shape) == 3 and shape[2] >= 3:
        frame[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
        frame[..., 1] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    return frame


def expected_tensor(frame: np.ndarray, spec: InputSpec, input_hw) -> np.ndarray:
    """Written out step by step: BGR channels by numpy, the resize by OpenCV's bilinear resize (what ultralytics'
    LetterBox calls), the grey 114 border, then R, G, B planes scaled to 0..1 or quantized."""
    bgr = frame[..., :3] if frame.ndim == 3 and frame.shape[2] >= 3 else np.repeat(frame.reshape(*frame.shape[:2], 1), 3, 2)
    (h, w), (ih, iw) = bgr.shape[:2], input_hw
    gain = min(ih / h, iw / w)
    nw, nh = max(round(w * gain), 1), max(round(h * gain), 1)
    resized = bgr if (nw, nh) == (w, h) else cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = round((ih - nh) / 2 - 0.1), round((iw - nw) / 2 - 0.1)
    canvas = np.full((ih, iw, 3), 114, np.uint8)
    canvas[top : top + nh, left : left + nw] = resized
    rgb = np.stack([canvas[..., 2], canvas[..., 1], canvas[..., 0]], axis=-1)
    if spec.is_quantized:
        info = np.iinfo(spec.dtype)
        values = np.clip(np.round(rgb / 255 / spec.scale + spec.zero_point), info.min, info.max).astype(spec.dtype)
    else:
        values = (rgb.astype(np.float32) / np.float32(255)).astype(spec.dtype)
    return (values.transpose(2, 0, 1) if spec.layout == "NCHW" else values)[None]


FRAME_KINDS = {"bgr": 3, "bgra": 4, "grey": None, "grey-1": 1}  # channels of the frame (None: an HxW array)
# (frame, input): the same size (no resize), a bilinear resize with a border, and the odd 3x shrink shortcut
GEOMETRIES = {"same-size": ((64, 64), (64, 64)), "resized": ((50, 83), (64, 64)), "3x": ((192, 96), (64, 64))}


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
@pytest.mark.parametrize("kind", FRAME_KINDS)
def test_tensor_planes_are_the_frames_red_green_blue(kind, spec, geometry):
    """BGR, BGRA and grey frames, through as_bgr as Detector.predict takes them: the tensor's R, G, B planes are
    the frame's channels 2, 1, 0 (grey in all three), in every layout and dtype."""
    frame_hw, input_hw = GEOMETRIES[geometry]
    channels = FRAME_KINDS[kind]
    frame = coloured_frame(frame_hw if channels is None else (*frame_hw, channels))
    ours, _ = prepare(as_bgr(frame), spec, input_hw)
    assert ours.dtype == spec.dtype
    np.testing.assert_array_equal(ours, expected_tensor(frame, spec, input_hw))


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (5, 7, 4), (5, 7, 3)])
def test_grey_and_bgra_frames_become_bgr(shape):
    frame = coloured_frame(shape, seed=3)
    out = as_bgr(frame)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    expected = frame[..., :3] if len(shape) == 3 and shape[2] >= 3 else np.dstack([frame.reshape(5, 7)] * 3)
    np.testing.assert_array_equal(out, expected)


def test_bgra_and_grey_frames_detect_what_their_bgr_frames_do():
    """Through a real model: a BGRA frame finds what its BGR channels find, a grey frame what its grey BGR does."""
    detector = Detector(SHIPPED["onnxruntime"], conf=0.1)
    frame = cv2.imread(str(sample_paths()[0]))
    bgra = np.dstack([frame, np.full(frame.shape[:2], 77, np.uint8)])
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    for other, bgr in [(bgra, frame), (grey, np.dstack([grey] * 3)), (grey[..., None], np.dstack([grey] * 3))]:
        ref = detector.predict(bgr)
        assert len(ref) > 0
        assert_same_detections(detector.predict(other), ref.xyxy, ref.confidence, ref.class_id, min_iou=0.9999,
                               max_conf_diff=1e-6)


@pytest.mark.parametrize("view", ["contiguous", "crop", "mirrored", "bgra-converted"])
@pytest.mark.parametrize("spec", [FLOAT_NCHW, FLOAT_NHWC], ids=["NCHW", "NHWC"])
def test_odd_shrink_path_takes_frames_of_any_strides(view, spec):
    """The 3x path copies the frame's centre rows and picks pixels from a view of them: frames that are crops
    of wider images or mirrored views (strides that no reshape can keep) must give the reference tensor too."""
    if view == "contiguous":
        frame = coloured_frame((1080, 1920, 3), seed=7)
    elif view == "crop":
        frame = coloured_frame((1100, 2000, 3), seed=7)[10:1090, 40:1960]
    elif view == "mirrored":
        frame = coloured_frame((1080, 1920, 3), seed=7)[::-1, ::-1]
    else:
        frame = coloured_frame((1080, 1920, 4), seed=7)
    ours, _ = prepare(as_bgr(frame), spec, (640, 640))
    assert np.array_equal(ours, expected_tensor(frame, spec, (640, 640)))


def test_reused_tensor_rewrites_the_border_when_the_frame_size_changes():
    """A wide frame then a tall one through one InputTensor equals the reference for each."""
    tensor = InputTensor(FLOAT_NCHW, (64, 64))
    for seed, shape in enumerate([(20, 60, 3), (60, 20, 3), (60, 20, 3), (64, 64, 3), (10, 10, 3)]):
        frame = coloured_frame(shape, seed)
        tensor.fill(frame)
        assert np.array_equal(tensor.value(), expected_tensor(frame, FLOAT_NCHW, (64, 64)))


@pytest.mark.parametrize("spec", [FLOAT_NCHW, FLOAT_NHWC, INT8_NHWC, UINT8_NCHW], ids=lambda s: f"{s.dtype}-{s.layout}")
def test_reused_tensor_and_its_scratch_buffers_equal_fresh_ones(spec):
    """One InputTensor (its resize and plane buffers kept per frame size) through changing and repeated sizes
    gives what a fresh tensor gives for each frame: no pixel of an earlier frame survives."""
    tensor = InputTensor(spec, (96, 96))
    for seed, shape in enumerate([(288, 192, 3), (288, 192, 3), (48, 96, 3), (288, 192, 3), (96, 96, 3), (30, 200, 3)]):
        frame = coloured_frame(shape, seed)
        tensor.fill(frame)
        assert np.array_equal(tensor.value(), expected_tensor(frame, spec, (96, 96))), shape


@settings(max_examples=100, deadline=None)
@given(frame_hw=sizes, input_hw=inputs, data=st.data())
def test_boxes_to_frame_inverts_the_letterbox(frame_hw, input_hw, data):
    h, w = frame_hw
    xs = data.draw(st.lists(st.floats(0, w), min_size=2, max_size=2))
    ys = data.draw(st.lists(st.floats(0, h), min_size=2, max_size=2))
    frame_box = np.array([[min(xs), min(ys), max(xs), max(ys)]])
    box = Letterbox(frame_hw=frame_hw, input_hw=input_hw)
    back = box.boxes_to_frame(box.frame_to_input(frame_box).astype(np.float32))
    np.testing.assert_allclose(back, frame_box, rtol=1e-4, atol=1e-2 * max(1.0, max(h, w) / 100))


def test_tensor_is_rgb_scaled_nchw():
    canvas = np.zeros((4, 6, 3), np.uint8)
    canvas[..., 0], canvas[..., 1], canvas[..., 2] = 255, 102, 51  # BGR: blue 255, green 102, red 51
    tensor, _ = prepare(canvas, InputSpec("images", (1, 3, 4, 6), "NCHW", np.dtype(np.float32)))
    assert tensor.shape == (1, 3, 4, 6) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, 0], 0.2)  # R
    np.testing.assert_allclose(tensor[0, 1], 0.4)  # G
    np.testing.assert_allclose(tensor[0, 2], 1.0)  # B


def test_tensor_nhwc_float16_and_int8():
    frame = np.zeros((2, 4, 3), np.uint8)  # letterboxed into 4x4: rows 0 and 3 are the grey border
    frame[..., 0], frame[..., 1], frame[..., 2] = 255, 51, 0  # BGR: blue 255, green 51, red 0
    nhwc16, _ = prepare(frame, InputSpec("x", (1, 4, 4, 3), "NHWC", np.dtype(np.float16)))
    assert nhwc16.shape == (1, 4, 4, 3) and nhwc16.dtype == np.float16
    assert nhwc16[0, 1:3].reshape(-1, 3).tolist() == [[0.0, np.float16(0.2), 1.0]] * 8  # R, G, B
    assert float(nhwc16[0, 0, 0, 0]) == pytest.approx(114 / 255, abs=1e-3)
    q, _ = prepare(frame, InputSpec("x", (1, 4, 4, 3), "NHWC", np.dtype(np.int8), scale=1 / 255, zero_point=-128))
    assert q.dtype == np.int8 and q[0, 1:3].reshape(-1, 3).tolist() == [[-128, 51 - 128, 127]] * 8
    assert q[0, 0].tolist() == [[114 - 128] * 3] * 4


def test_tensor_nchw_uint8_quantized():
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[..., 2], frame[..., 1] = 255, 17  # red, a little green
    q, _ = prepare(frame, InputSpec("x", (1, 3, 2, 2), "NCHW", np.dtype(np.uint8), scale=1 / 255, zero_point=0))
    assert q.shape == (1, 3, 2, 2) and q.dtype == np.uint8
    assert q[0, 0].tolist() == [[255, 255], [255, 255]] and q[0, 1].tolist() == [[17, 17], [17, 17]]
    assert int(q[0, 2].max()) == 0
