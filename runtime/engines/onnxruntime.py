"""ONNX Runtime engine (CPU execution provider)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.engines.base import InputSpec, join_outputs, layout_of, require
from runtime.engines.settings import EngineSettings
from runtime.errors import ModelLoadError

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(uint8)": np.uint8,
           "tensor(int8)": np.int8}


class OnnxRuntimeEngine:
    name = "onnxruntime"
    extra = "onnx"
    packages = ("onnxruntime",)
    formats = (".onnx",)

    @staticmethod
    def claims(path: Path) -> bool:
        return path.suffix.lower() == ".onnx"

    reads = claims

    @staticmethod
    def model_files(path: Path) -> list[Path]:
        return [path] if path.is_file() else []

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

    def embedded_metadata(self) -> dict:
        return dict(self.session.get_modelmeta().custom_metadata_map)


ENGINE = OnnxRuntimeEngine
