"""yolo-edge runtime: YOLOv8 detection on ONNX Runtime, OpenVINO and TFLite with numpy + OpenCV only."""

from runtime.detections import Detection, Detections, StageTimes
from runtime.detector import Detector, DetectorOptions
from runtime.errors import (
    EngineNotAvailableError,
    InvalidFrameError,
    InvalidOptionsError,
    ModelLoadError,
    YoloEdgeError,
)
from runtime.metadata import ModelMetadata

__all__ = [
    "Detection",
    "Detections",
    "Detector",
    "DetectorOptions",
    "EngineNotAvailableError",
    "InvalidFrameError",
    "InvalidOptionsError",
    "ModelLoadError",
    "ModelMetadata",
    "StageTimes",
    "YoloEdgeError",
]
__version__ = "0.1.0"
