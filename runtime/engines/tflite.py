"""TFLite / LiteRT engine (XNNPACK CPU delegate), float or full-integer models."""

from __future__ import annotations

import ast
import json
import re
import threading
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from runtime.engines.base import InputSpec, dequantize, join_outputs, layout_of, require, threads_per_worker
from runtime.engines.settings import EngineSettings
from runtime.errors import EngineNotAvailableError, MetadataWarning, ModelLoadError


def interpreter_class():
    """LiteRT's interpreter, or the older tflite_runtime where only that is installed."""
    try:
        return require("ai_edge_litert.interpreter", TfliteEngine.extra).Interpreter
    except EngineNotAvailableError:
        try:
            return require("tflite_runtime.interpreter", TfliteEngine.extra).Interpreter
        except EngineNotAvailableError:
            raise EngineNotAvailableError(
                "neither ai-edge-litert nor tflite-runtime is installed: pip install 'yolo-edge-runtime[tflite]'"
            ) from None


class TfliteEngine:
    name = "tflite"
    extra = "tflite"
    packages = ("ai_edge_litert", "tflite_runtime")
    formats = (".tflite",)
    live_threads = 1  # XNNPACK's 2-thread pool at 30 FPS: 1.7x its back-to-back time, 1 thread 1.03x

    @staticmethod
    def claims(path: Path) -> bool:
        return path.suffix.lower() == ".tflite"

    reads = claims

    @staticmethod
    def model_files(path: Path) -> list[Path]:
        return [path] if path.is_file() else []

    throughput_options = staticmethod(threads_per_worker)

    def __init__(self, path: Path, settings: EngineSettings):
        self.path, self._threads = path, settings.thread_count
        # An interpreter holds one set of tensors, so a call takes an idle one from this pool (or makes one when
        # every interpreter is busy): threads sharing the detector infer side by side, as with OpenVINO's infer
        # requests, and there are only as many interpreters as calls ever ran at once.
        self._idle, self._pool = [], threading.Lock()
        try:
            self.interpreter = self._new_interpreter()  # the first of the pool; its details are every one's
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError with a long text
            raise ModelLoadError(path, self.name, str(exc).strip().splitlines()[0]) from exc
        self._idle.append(self.interpreter)
        first = self.interpreter.get_input_details()[0]
        shape = tuple(int(d) for d in first["shape"])
        scale, zero_point = first["quantization"]
        self.input = InputSpec(first["name"], shape, layout_of(shape), np.dtype(first["dtype"]), scale, zero_point)
        self._input_index = first["index"]
        self._outputs = [(o["index"], *o["quantization"]) for o in self.interpreter.get_output_details()]

    def _new_interpreter(self):
        interpreter = interpreter_class()(model_path=str(self.path), num_threads=self._threads)
        interpreter.allocate_tensors()
        return interpreter

    def run(self, tensor: np.ndarray) -> np.ndarray:
        with self._pool:
            interpreter = self._idle.pop() if self._idle else None
        interpreter = interpreter or self._new_interpreter()
        try:
            interpreter.set_tensor(self._input_index, tensor)
            interpreter.invoke()
            return join_outputs([dequantize(interpreter.get_tensor(i), s, z) for i, s, z in self._outputs])
        finally:
            with self._pool:
                self._idle.append(interpreter)

    @staticmethod
    def read_metadata(path: Path) -> dict:
        """ultralytics appends a zip with metadata.json (older: a Python-literal text) to the .tflite file."""
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                entry = "metadata.json" if "metadata.json" in names else names[0]
                text = archive.read(entry).decode()
        except (zipfile.BadZipFile, IndexError, OSError, UnicodeDecodeError, zlib.error) as exc:
            if has_appended_zip(path):  # a model without metadata is fine; metadata cut short is worth a word
                warn_metadata_lost(path, f"the appended metadata zip is damaged: {exc}")
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError):
                warn_metadata_lost(path, f"{entry} is neither JSON nor a Python literal")
                return {}


# A zip local file header (signature, 26 bytes of fields) followed by ultralytics' entry name.
_METADATA_ENTRY = re.compile(rb"PK\x03\x04.{26}metadata\.", re.DOTALL)


def has_appended_zip(path: Path) -> bool:
    """Whether the end of the file holds the start of ultralytics' metadata zip (whole or not)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 65536))
            return _METADATA_ENTRY.search(f.read()) is not None
    except OSError:
        return False


def warn_metadata_lost(path: Path, why: str) -> None:
    warnings.warn(MetadataWarning(f"{path}: {why}; its class names, input size and stride are lost (classes are "
                                  "labelled class<id>: pass names= or put a <model>.json beside it)"))


ENGINE = TfliteEngine
