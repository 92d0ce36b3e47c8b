"""Engine registry: the only list of engines. Every fact about an engine (its name, pip extra, the packages that
provide it, the files it reads) is declared by its module and derived from here.

A new engine is one module (an ENGINE class implementing base.Engine) and one line in MODULES.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from runtime.engines.base import Engine, InputSpec, require
from runtime.errors import ModelLoadError

# Engine modules import numpy only; each engine library is imported when that engine loads a model.
MODULES = (
    "runtime.engines.onnxruntime",
    "runtime.engines.openvino",
    "runtime.engines.tflite",
)


def _engine_classes() -> dict[str, type[Engine]]:
    classes = (importlib.import_module(m).ENGINE for m in MODULES)
    return {cls.name: cls for cls in classes}


_CLASSES = _engine_classes()
ENGINE_NAMES: tuple[str, ...] = tuple(_CLASSES)


def engine_class(name: str) -> type[Engine]:
    return _CLASSES[name]


def is_installed(name: str) -> bool:
    """Whether one of the packages that provide this engine can be imported (nothing is imported here)."""
    for module in _CLASSES[name].packages:
        try:
            if importlib.util.find_spec(module) is not None:
                return True
        except (ImportError, ValueError):  # ValueError: a module blocked in sys.modules (set to None)
            continue
    return False


def installed_engines() -> list[str]:
    return [name for name in ENGINE_NAMES if is_installed(name)]


def owning_engine(path: Path) -> str | None:
    """The engine a model file is for (its export format), or None for a file no engine claims."""
    return next((name for name, cls in _CLASSES.items() if cls.claims(Path(path))), None)


def engines_reading(path: Path) -> list[str]:
    """Every engine that can run this file: its own first (OpenVINO also reads .onnx)."""
    path = Path(path)
    own = owning_engine(path)
    others = [name for name, cls in _CLASSES.items() if name != own and cls.reads(path)]
    return ([own] if own else []) + others


def pick_engine(path: Path, backend: str | None = None) -> type[Engine]:
    """The engine named by `backend`, else the one whose module claims the file."""
    path = Path(path)
    if backend is not None:
        cls = _CLASSES[backend]
        if not cls.reads(path):
            raise ModelLoadError(path, backend, f"{backend} does not read this format; it reads "
                                 f"{', '.join(cls.formats)}")
        return cls
    own = owning_engine(path)
    if own is None:
        formats = ", ".join(f for cls in _CLASSES.values() for f in cls.formats)
        raise ModelLoadError(path, "any engine", f"unknown model format; expected one of {formats} "
                             f"(or pass backend= one of {list(ENGINE_NAMES)})")
    return _CLASSES[own]


def embedded_metadata(path: Path) -> dict:
    """What the model file carries, read by the reader of its format: the same whichever engine runs it."""
    own = owning_engine(Path(path))
    return _CLASSES[own].read_metadata(Path(path)) if own else {}


def model_files(path: Path) -> list[Path]:
    """The files a model consists of (an OpenVINO .xml and its .bin, a folder's model files, or the one file)."""
    path = Path(path)
    own = owning_engine(path)
    return _CLASSES[own].model_files(path) if own else ([path] if path.is_file() else [])


def model_size(path: Path) -> int:
    """A model's size on disk in bytes: every file the engine loads, and nothing else."""
    return sum(f.stat().st_size for f in model_files(path))


__all__ = ["ENGINE_NAMES", "MODULES", "Engine", "InputSpec", "embedded_metadata", "engine_class", "engines_reading",
           "installed_engines", "is_installed", "model_files", "model_size", "owning_engine", "pick_engine", "require"]
