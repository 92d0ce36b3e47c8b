"""The one protocol every engine implements, and the input description it reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import importlib

import numpy as np

from runtime.errors import EngineNotAvailableError


@dataclass(frozen=True)
class InputSpec:
    """What the model's input tensor wants: shape, layout, dtype and (for int inputs) quantization."""

    name: str
    shape: tuple[int | None, ...]
    layout: Literal["NCHW", "NHWC"]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def input_hw(self) -> tuple[int, int] | None:
        h, w = (self.shape[2], self.shape[3]) if self.layout == "NCHW" else (self.shape[1], self.shape[2])
        return (h, w) if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0 else None

    @property
    def is_quantized(self) -> bool:
        return np.issubdtype(self.dtype, np.integer)

    def quantize_lut(self) -> np.ndarray:
        """Pixel 0..255 -> quantized input value, for a 0..1 scaled model input."""
        scale = self.scale or 1 / 255
        info = np.iinfo(self.dtype)
        q = np.round(np.arange(256) / 255 / scale + self.zero_point)
        return q.clip(info.min, info.max).astype(self.dtype)


def layout_of(shape) -> Literal["NCHW", "NHWC"]:
    """YOLO inputs have 3 channels: NHWC when the last axis is 3 and the second is not."""
    return "NHWC" if len(shape) == 4 and shape[-1] == 3 and shape[1] != 3 else "NCHW"


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if not np.issubdtype(q.dtype, np.integer) or not scale:
        return q.astype(np.float32, copy=False)
    return (q.astype(np.float32) - zero_point) * np.float32(scale)


def join_outputs(outputs: list[np.ndarray]) -> np.ndarray:
    """Models that split boxes and scores into two tensors get one (1, 4+nc, A) or (1, A, 4+nc) array back."""
    if len(outputs) == 1:
        return outputs[0]
    anchors = max(outputs[0].shape[1:])
    axis = 1 if outputs[0].shape[2] == anchors else 2
    boxes_first = sorted(outputs, key=lambda o: o.shape[axis] != 4)
    return np.concatenate(boxes_first, axis=axis)


def threads_per_worker(workers: int, cores: int) -> dict:
    """Engine.throughput_options of an engine whose concurrent calls each run their own thread pool: a share of the
    cores each, so that no pool waits on another."""
    return {"threads": max(1, cores // workers)}


def require(module: str, extra: str):
    """Import an engine library or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineNotAvailableError(
            f"{module} is not installed: pip install 'yolo-edge-runtime[{extra}]' ({exc})"
        ) from exc


class Engine(Protocol):
    """Load a model, describe its input, run a prepared tensor, return the raw head output.

    `run` returns float32 (dequantized) in the model's own layout: (1, 4+nc, A), (1, A, 4+nc) or (1, N, 6);
    the shared post-processing brings every layout to one form. It must be safe to call from several threads.
    """

    name: ClassVar[str]  # what backend= and --backend take
    extra: ClassVar[str]  # pip install 'yolo-edge-runtime[<extra>]' installs it
    packages: ClassVar[tuple[str, ...]]  # import names that provide it (any one will do)
    formats: ClassVar[tuple[str, ...]]  # the model files it reads, for messages and help
    # Engine threads that keep inference at its back-to-back time when frames come at a camera's pace (a pool
    # that parks between frames is slow to come back); None: its defaults do (benchmarks/stream.py paced).
    live_threads: ClassVar[int | None]
    input: InputSpec

    @staticmethod
    def claims(path: Path) -> bool:
        """This is the file's own engine (the format it was exported for)."""

    @staticmethod
    def reads(path: Path) -> bool:
        """This engine can run the file (claims it, or reads its format too)."""

    @staticmethod
    def model_files(path: Path) -> list[Path]:
        """The files the model consists of on disk (for its size)."""

    @staticmethod
    def read_metadata(path: Path) -> dict:
        """The metadata a file of this engine's own format carries (names, imgsz, ...), read without the engine
        library, so that it is the same whichever engine runs the file; {} when there is none."""

    @staticmethod
    def throughput_options(workers: int, cores: int) -> dict:
        """Detector options under which `workers` threads calling run at once share `cores` best (a stream's
        engine threads, Stream(workers=...))."""

    def run(self, tensor: np.ndarray) -> np.ndarray: ...
