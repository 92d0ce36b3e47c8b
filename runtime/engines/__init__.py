"""Engine registry: the only place that maps a model file (or a backend name) to an engine module."""

from __future__ import annotations

import importlib
from pathlib import Path

from runtime.engines.base import Engine, InputSpec
from runtime.errors import EngineNotAvailableError, ModelLoadError

# name -> module path; engine libraries are imported only when that engine loads a model.
ENGINES = {
    "onnxruntime": "runtime.engines.onnxruntime",
    "openvino": "runtime.engines.openvino",
    "tflite": "runtime.engines.tflite",
}


def engine_class(name: str) -> type[Engine]:
    return importlib.import_module(ENGINES[name]).ENGINE


def pick_engine(path: Path, backend: str | None = None) -> type[Engine]:
    """The engine named by `backend`, else the one whose module claims the file."""
    if backend is not None:
        return engine_class(backend)
    for name in ENGINES:
        cls = engine_class(name)
        if cls.claims(path):
            return cls
    raise ModelLoadError(path, "any engine", f"unknown model format; expected .onnx, .xml, "
                         f"*_openvino_model/ or .tflite (or pass backend= one of {sorted(ENGINES)})")


def require(module: str, extra: str):
    """Import an engine library or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineNotAvailableError(
            f"{module} is not installed: pip install 'yolo-edge-runtime[{extra}]' ({exc})"
        ) from exc


__all__ = ["ENGINES", "Engine", "InputSpec", "engine_class", "pick_engine", "require"]
