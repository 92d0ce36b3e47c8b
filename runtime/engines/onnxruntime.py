"""ONNX Runtime engine (CPU execution provider)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np

from runtime.engines.base import InputSpec, join_outputs, layout_of, require, threads_per_worker
from runtime.engines.settings import EngineSettings
from runtime.errors import ModelLoadError

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8,
           "tensor(int8)": np.int8}


class OnnxRuntimeEngine:
    name = "onnxruntime"
    extra = "onnx"
    packages = ("onnxruntime",)
    formats = (".onnx",)
    live_threads = 1  # 2 threads parked between frames: 2.3x its back-to-back time at 30 FPS, 1 thread 1.04x

    @staticmethod
    def claims(path: Path) -> bool:
        return path.suffix.lower() == ".onnx"

    reads = claims

    @staticmethod
    def model_files(path: Path) -> list[Path]:
        return [path] if path.is_file() else []

    throughput_options = staticmethod(threads_per_worker)

    def __init__(self, path: Path, settings: EngineSettings):
        ort = require("onnxruntime", self.extra)
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.thread_count
        options.inter_op_num_threads = 1
        # Spinning between ops is fast; spinning on after a run burns the cores another engine or the app needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0" if settings.ort_spinning == "off" else "1")
        if settings.ort_spinning == "within-run":
            options.add_session_config_entry("session.force_spinning_stop", "1")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/NoSuchFile types
            raise ModelLoadError(path, self.name, str(exc).strip().splitlines()[-1]) from exc
        first = self.session.get_inputs()[0]
        if first.type not in _DTYPES:
            raise ModelLoadError(path, self.name, f"unsupported input type {first.type}")
        shape = tuple(d if isinstance(d, int) else None for d in first.shape)
        self.input = InputSpec(first.name, shape, layout_of(shape), np.dtype(_DTYPES[first.type]))
        self._output_names = [o.name for o in self.session.get_outputs()]

    def run(self, tensor: np.ndarray) -> np.ndarray:
        outputs = self.session.run(self._output_names, {self.input.name: tensor})
        return join_outputs([o.astype(np.float32, copy=False) for o in outputs])

    @staticmethod
    def read_metadata(path: Path) -> dict:
        """ModelProto's metadata_props, read from the file itself (no ONNX library): whichever engine runs it."""
        try:
            with open(path, "rb") as f:
                entries = [dict(_fields(io.BytesIO(entry), {1, 2})) for _, entry in _fields(f, {_METADATA_PROPS})]
        except (OSError, ValueError):  # not an ONNX protobuf: the engine says so when it loads the file
            return {}
        return {e.get(1, b"").decode(errors="replace"): e.get(2, b"").decode(errors="replace") for e in entries}


_METADATA_PROPS = 14  # ModelProto's field number; each entry is a StringStringEntryProto (1 = key, 2 = value)


def _varint(f: BinaryIO) -> int:
    value = shift = 0
    while shift < 64:
        byte = f.read(1)
        if not byte:
            raise ValueError("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
    raise ValueError("varint too long")


def _fields(f: BinaryIO, wanted: set[int]):
    """(field number, bytes) of the wanted length-delimited fields of a protobuf message; the rest (the graph:
    nearly all of the file) is skipped by seeking past it, never read."""
    end = f.seek(0, io.SEEK_END)
    f.seek(0)
    while f.tell() < end:
        key = _varint(f)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _varint(f)
        elif wire_type in (1, 5):
            f.seek(8 if wire_type == 1 else 4, io.SEEK_CUR)
        elif wire_type == 2:
            length = _varint(f)
            if field not in wanted:
                f.seek(length, io.SEEK_CUR)
                continue
            data = f.read(length)
            if len(data) != length:
                raise ValueError("truncated field")
            yield field, data
        else:
            raise ValueError(f"wire type {wire_type} is not used by ONNX")


ENGINE = OnnxRuntimeEngine
