"""Letterbox and tensor preparation, exactly as ultralytics does it for exported (fixed-shape) models."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from runtime.engines.base import InputSpec
from runtime.errors import InvalidFrameError

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the model input; maps boxes back to the frame.

    The geometry is computed once per frame size (the same Letterbox serves every frame of a stream).
    """

    frame_hw: tuple[int, int]
    input_hw: tuple[int, int]

    @cached_property
    def resized_wh(self) -> tuple[int, int]:
        gain = min(self.input_hw[0] / self.frame_hw[0], self.input_hw[1] / self.frame_hw[1])
        return max(round(self.frame_hw[1] * gain), 1), max(round(self.frame_hw[0] * gain), 1)

    @cached_property
    def pad_left_top(self) -> tuple[int, int]:
        w, h = self.resized_wh
        return round((self.input_hw[1] - w) / 2 - 0.1), round((self.input_hw[0] - h) / 2 - 0.1)

    @cached_property
    def _to_frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pad offset, gain, frame size) as float32 rows for xyxy boxes, as ultralytics' scale_boxes uses them."""
        (w, h), (left, top), (frame_h, frame_w) = self.resized_wh, self.pad_left_top, self.frame_hw
        row = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731
        return (row(left, top, left, top), row(w / frame_w, h / frame_h, w / frame_w, h / frame_h),
                row(frame_w, frame_h, frame_w, frame_h))

    def boxes_to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Input-pixel xyxy boxes -> frame pixels, clipped to the frame (ultralytics' scale_boxes + clip_boxes)."""
        offset, gain, frame_size = self._to_frame
        out = np.subtract(xyxy, offset, dtype=np.float32)
        out /= gain
        return np.clip(out, 0, frame_size, out=out)

    def frame_to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Frame-pixel boxes -> input pixels (the letterbox's forward map, for tests and drawing)."""
        w, h = self.resized_wh
        left, top = self.pad_left_top
        scale = np.array([w / self.frame_hw[1], h / self.frame_hw[0]] * 2, dtype=np.float64)
        return xyxy * scale + np.array([left, top, left, top])


def as_bgr(frame) -> np.ndarray:
    """Validate a frame and bring it to HxWx3 uint8 BGR (grey and BGRA are converted)."""
    if frame is None:
        raise InvalidFrameError("frame is None; expected an HxWx3 uint8 BGR array or an image path")
    if not isinstance(frame, np.ndarray):
        raise InvalidFrameError(f"frame is {type(frame).__name__}; expected a numpy HxWx3 uint8 BGR array")
    if frame.dtype != np.uint8:
        raise InvalidFrameError(f"frame dtype is {frame.dtype}; expected uint8 (0..255 BGR)")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    elif frame.ndim != 3 or frame.shape[2] != 3:
        raise InvalidFrameError(f"frame shape is {frame.shape}; expected HxW, HxWx1, HxWx3 or HxWx4")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InvalidFrameError(f"frame is empty (shape {frame.shape})")
    return frame


def odd_shrink_factor(frame_hw: tuple[int, int], size_wh: tuple[int, int]) -> int:
    """k when the frame shrinks by the same odd integer k on both axes (1080p -> 640x360: 3), else 0.

    Then every output pixel's bilinear source point lands exactly on the centre pixel of its k x k block, so
    ultralytics' bilinear resize equals picking those centres, bit for bit (3k <= 512: OpenCV's channel limit).
    """
    (w, h), (fh, fw) = size_wh, frame_hw
    k = fw // w
    return k if k > 1 and k % 2 and fw == k * w and fh == k * h and 3 * k <= 512 else 0


class InputTensor:
    """The model's input tensor, which frames are letterboxed straight into.

    Only the resized frame's area is written per call; the grey border is written when the frame size changes.
    Pixels go through one 256-entry table: value/255 for float inputs (bit-equal to ultralytics' division),
    the quantized value for int8/uint8 inputs. One per thread: the array is reused by the next fill, and so are
    the resize and colour-plane scratch buffers (fresh ones cost ~0.1 ms a 1080p frame in page faults).
    """

    def __init__(self, spec: InputSpec, input_hw: tuple[int, int]):
        self.spec, self.input_hw = spec, tuple(input_hw)
        h, w = self.input_hw
        shape = (1, 3, h, w) if spec.layout == "NCHW" else (1, h, w, 3)
        if spec.is_quantized:
            self._lut = spec.quantize_lut()
        else:
            self._lut = np.arange(256, dtype=np.float32) / np.float32(255)
        self.array = np.empty(shape, dtype=self._lut.dtype)
        self._box: Letterbox | None = None  # the rest is set per frame size by _new_frame_size
        self._shrink = 0
        self._resized = np.empty((0, 0, 3), np.uint8)
        self._colour: list[np.ndarray] = []

    def _new_frame_size(self, frame_hw: tuple[int, int]) -> Letterbox:
        """Geometry, grey border and scratch buffers for a new frame size (kept while the size stays)."""
        box = self._box = Letterbox(frame_hw=frame_hw, input_hw=self.input_hw)
        self.array[...] = self._lut[PAD_VALUE]
        w, h = box.resized_wh
        self._shrink = odd_shrink_factor(frame_hw, (w, h))
        # The resized frame (or, for an odd shrink, the frame rows through the block centres), then its colour
        # planes in R, G, B order (NCHW) or one RGB image (NHWC).
        self._resized = np.empty((h, frame_hw[1] if self._shrink else w, 3), np.uint8)
        nchw = self.spec.layout == "NCHW"
        self._colour = [np.empty((h, w), np.uint8) for _ in range(3)] if nchw else [np.empty((h, w, 3), np.uint8)]
        return box

    def fill(self, frame: np.ndarray) -> Letterbox:
        box = self._box
        if box is None or box.frame_hw != frame.shape[:2]:
            box = self._new_frame_size(frame.shape[:2])
        w, h = box.resized_wh
        if self._shrink:
            # Copy the centre rows first (a streaming read), then pick the centre pixels' channels from the copy
            # as R, G, B planes in one call: cheaper than resizing or picking straight from a cold frame.
            k = self._shrink
            np.copyto(self._resized, frame[k // 2 :: k])
            c = 3 * (k // 2)  # the centre pixel's B in each block of k pixels, viewed as one 3k-channel pixel
            rgb = cv2.mixChannels([self._resized.reshape(h, w, 3 * k)], self._colour, [c + 2, 0, c + 1, 1, c, 2])
        else:
            if (w, h) != (frame.shape[1], frame.shape[0]):
                frame = cv2.resize(frame, (w, h), dst=self._resized, interpolation=cv2.INTER_LINEAR)
            if self.spec.layout == "NCHW":
                rgb = cv2.split(frame, self._colour[::-1])[::-1]
            else:
                rgb = [cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=self._colour[0])]
        left, top = box.pad_left_top
        if self.spec.layout == "NCHW":
            roi = self.array[0, :, top : top + h, left : left + w]
            for channel, plane in enumerate(rgb):
                cv2.LUT(plane, self._lut, dst=roi[channel])
        else:
            cv2.LUT(rgb[0], self._lut, dst=self.array[0, top : top + h, left : left + w])
        return box

    def value(self) -> np.ndarray:
        """The tensor in the engine's dtype (float16 models get a converted copy)."""
        return self.array if self.array.dtype == self.spec.dtype else self.array.astype(self.spec.dtype)


def prepare(frame: np.ndarray, spec: InputSpec, input_hw: tuple[int, int] | None = None):
    """One frame -> (a fresh input tensor, its Letterbox): for calibration, benchmarks and tests."""
    tensor = InputTensor(spec, input_hw or spec.input_hw)
    box = tensor.fill(frame)
    return tensor.value().copy(), box
