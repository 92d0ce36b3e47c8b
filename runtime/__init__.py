"""yolo-edge runtime: YOLOv8 detection on ONNX Runtime, OpenVINO and TFLite with numpy + OpenCV only."""

from runtime.detections import Detection, Detections, StageTimes
from runtime.detector import Detector, DetectorOptions
from runtime.errors import (
    DatasetError,
    EngineNotAvailableError,
    ExtraNotInstalledError,
    InvalidFrameError,
    InvalidOptionsError,
    MetadataWarning,
    ModelLoadError,
    OutputError,
    SourceError,
    YoloEdgeError,
)
from runtime.metadata import ModelMetadata

__all__ = [
    "DatasetError",
    "Detection",
    "Detections",
    "Detector",
    "DetectorOptions",
    "EngineNotAvailableError",
    "ExtraNotInstalledError",
    "InvalidFrameError",
    "InvalidOptionsError",
    "MetadataWarning",
    "ModelLoadError",
    "ModelMetadata",
    "OutputError",
    "SourceError",
    "StageTimes",
    "YoloEdgeError",
]
__version__ = "0.1.0"
