"""Letterbox and tensor preparation, exactly as ultralytics does it for exported (fixed-shape) models."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from runtime.engines.base import InputSpec
from runtime.errors import InvalidFrameError

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the model input; maps boxes back to the frame."""

    frame_hw: tuple[int, int]
    input_hw: tuple[int, int]

    @property
    def resized_wh(self) -> tuple[int, int]:
        gain = min(self.input_hw[0] / self.frame_hw[0], self.input_hw[1] / self.frame_hw[1])
        return max(round(self.frame_hw[1] * gain), 1), max(round(self.frame_hw[0] * gain), 1)

    @property
    def pad_left_top(self) -> tuple[int, int]:
        w, h = self.resized_wh
        return round((self.input_hw[1] - w) / 2 - 0.1), round((self.input_hw[0] - h) / 2 - 0.1)

    def boxes_to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Input-pixel xyxy boxes -> frame pixels, clipped to the frame (ultralytics' scale_boxes + clip_boxes)."""
        w, h = self.resized_wh
        left, top = self.pad_left_top
        out = xyxy.astype(np.float32, copy=True)
        out -= np.array([left, top, left, top], dtype=np.float32)
        out /= np.array([w / self.frame_hw[1], h / self.frame_hw[0]] * 2, dtype=np.float32)
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.frame_hw[1])
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.frame_hw[0])
        return out

    def frame_to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Frame-pixel boxes -> input pixels (the letterbox's forward map, for tests and drawing)."""
        w, h = self.resized_wh
        left, top = self.pad_left_top
        scale = np.array([w / self.frame_hw[1], h / self.frame_hw[0]] * 2, dtype=np.float64)
        return xyxy * scale + np.array([left, top, left, top])


def letterbox(frame: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect (bilinear), pad to input_hw with grey 114, centred."""
    box = Letterbox(frame_hw=frame.shape[:2], input_hw=tuple(input_hw))
    w, h = box.resized_wh
    if (w, h) != (frame.shape[1], frame.shape[0]):
        frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
    left, top = box.pad_left_top
    canvas = np.full((*box.input_hw, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + h, left : left + w] = frame
    return canvas, box


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


def to_tensor(canvas: np.ndarray, spec: InputSpec) -> np.ndarray:
    """BGR uint8 canvas -> the engine's input tensor (RGB, layout, dtype, quantization)."""
    if spec.layout == "NHWC":
        rgb = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)[None]
        if spec.is_quantized:
            return spec.quantize_lut()[rgb]
        tensor = rgb.astype(np.float32)
    else:
        # Split into planes (fast in OpenCV) and widen each into its RGB slot: one pass over the pixels.
        h, w = canvas.shape[:2]
        planar_dtype = spec.dtype if spec.is_quantized else np.float32
        tensor = np.empty((1, 3, h, w), dtype=planar_dtype)
        lut = spec.quantize_lut() if spec.is_quantized else None
        for channel, plane in enumerate(reversed(cv2.split(canvas))):
            tensor[0, channel] = plane if lut is None else lut[plane]
        if spec.is_quantized:
            return tensor
    tensor /= np.float32(255)  # divide, not multiply by 1/255: bit-equal to ultralytics' input
    return tensor if spec.dtype == np.float32 else tensor.astype(spec.dtype)
