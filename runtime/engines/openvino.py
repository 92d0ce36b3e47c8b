"""OpenVINO engine (CPU plugin); reads IR (.xml/.bin, or an *_openvino_model/ folder) and .onnx."""

from __future__ import annotations

import platform
import threading
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

from runtime.engines.base import InputSpec, join_outputs, layout_of, require
from runtime.engines.settings import EngineSettings
from runtime.errors import ModelLoadError

IS_ARM = platform.machine().lower() in ("aarch64", "arm64", "armv7l", "armv8l")


def model_file(path: Path) -> Path:
    """An *_openvino_model/ folder stands for the one .xml inside it."""
    if path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        if len(xmls) != 1:
            raise ModelLoadError(path, OpenVinoEngine.name, f"expected one .xml in the folder, found {len(xmls)}")
        return xmls[0]
    return path


class OpenVinoEngine:
    name = "openvino"
    extra = "openvino"
    packages = ("openvino",)
    formats = (".xml (+ .bin)", "*_openvino_model/", ".onnx")
    live_threads = None  # its defaults hold 1.15x at 30 FPS

    @staticmethod
    def claims(path: Path) -> bool:
        return path.suffix.lower() == ".xml" or (path.is_dir() and any(path.glob("*.xml")))

    @staticmethod
    def reads(path: Path) -> bool:
        return OpenVinoEngine.claims(path) or path.suffix.lower() == ".onnx"

    @staticmethod
    def model_files(path: Path) -> list[Path]:
        """The IR's .xml and its .bin (a folder: the .xml inside it); an .onnx is one file."""
        if path.suffix.lower() == ".onnx":
            return [path] if path.is_file() else []
        xmls = sorted(path.glob("*.xml")) if path.is_dir() else [path]
        return [f for xml in xmls for f in (xml, xml.with_suffix(".bin")) if f.is_file()]

    @staticmethod
    def throughput_options(workers: int, cores: int) -> dict:
        # THROUGHPUT splits the cores into streams that run requests side by side; LATENCY runs them in turn
        return {"openvino_hint": "THROUGHPUT"}

    def __init__(self, path: Path, settings: EngineSettings):
        ov = require("openvino", self.extra)
        self.path = model_file(path)
        config = {"PERFORMANCE_HINT": settings.openvino_hint, "INFERENCE_NUM_THREADS": settings.thread_count}
        # Left alone, OpenVINO infers in f16 on ARM (lossy for detection heads: ultralytics asks for f32 there too)
        # and in bf16 on AVX512-BF16/AMX x86 CPUs, which ultralytics keeps: so do we, for the same boxes and speed.
        precision = settings.precision or ("f32" if IS_ARM else "auto")
        if precision != "auto":
            config["INFERENCE_PRECISION_HINT"] = precision
        try:
            core = ov.Core()
            self.model = core.read_model(str(self.path))
            self.compiled = core.compile_model(self.model, "CPU", config)
        except Exception as exc:
            raise ModelLoadError(self.path, self.name, load_error_reason(str(exc))) from exc
        # What the CPU computes in ("f32", "bf16", "f16"): benchmarks label their rows with it.
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type
        self.compute_precision = hint.to_string() if hasattr(hint, "to_string") else str(hint).lower()
        port = self.compiled.input(0)
        shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
        dtype = np.dtype(port.get_element_type().to_dtype())
        self.input = InputSpec(port.get_any_name() or "images", shape, layout_of(shape), dtype)
        self._local = threading.local()  # one infer request per thread: requests are not shareable

    def run(self, tensor: np.ndarray) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: tensor})
        outputs = [request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]
        return join_outputs([o.astype(np.float32, copy=False) for o in outputs])

    @staticmethod
    def read_metadata(path: Path) -> dict:
        """ultralytics writes the class labels into the IR's rt_info (the rest goes to metadata.yaml beside it)."""
        try:
            labels = ElementTree.parse(model_file(path)).getroot().find("rt_info/model_info/labels")
        except (OSError, ElementTree.ParseError, ModelLoadError):  # the engine reports a broken IR when loading
            return {}
        value = labels.get("value") if labels is not None else None
        return {"names": value.split()} if value else {}


def load_error_reason(text: str) -> str:
    """OpenVINO's message on one line without its "Exception from <source file>" / "Check '...' failed at"
    location lines, which come first and say nothing about the cause (e.g. "Incorrect weights in bin file!")."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(("Exception from ", "Check '"))]
    return " ".join(causes or lines[-1:]) or "unknown error"


ENGINE = OpenVinoEngine
