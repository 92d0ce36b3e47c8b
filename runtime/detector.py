"""Detector: preprocess -> engine -> postprocess -> Detections, the same for every engine."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from runtime import postprocess
from runtime.detections import Detections, StageTimes
from runtime.engines import pick_engine
from runtime.errors import ModelLoadError
from runtime.metadata import ModelMetadata, model_metadata
from runtime.options import DetectorOptions, check_classes, input_size, validate_options
from runtime.preprocess import InputTensor, Letterbox, as_bgr
from runtime.sources import read_image

DEFAULT_IMGSZ = (640, 640)


class Detector:
    """A YOLOv8-family detector on ONNX Runtime, OpenVINO or TFLite, picked from the model file.

    >>> detector = Detector("models/artifacts/yolov8n-shapes-320.onnx")
    >>> detections = detector.predict(cv2.imread("frame.jpg"))
    """

    def __init__(self, model: str | Path, **options):
        self.options: DetectorOptions = validate_options(**options)
        self.path = Path(model)
        if not self.path.exists():
            raise ModelLoadError(self.path, self.options.backend or "any engine", "file not found")
        self.engine = pick_engine(self.path, self.options.backend)(self.path, self.options.engine_settings())
        self.metadata: ModelMetadata = model_metadata(self.path)
        self.input_hw = input_size(self.options.imgsz, self.engine.input.input_hw, self.metadata.stride,
                                   self.metadata.imgsz or DEFAULT_IMGSZ)
        self.names = self.options.names or self.metadata.names
        check_classes(self.options.classes, self.metadata.names or self.names)
        self._nc = len(self.metadata.names or self.names) or None  # the head's layout: the model's own classes
        self._local = threading.local()  # each thread letterboxes into its own input tensor
        self._normalized_boxes: bool | None = None  # learnt from the first output: a model's head never changes

    def _input_tensor(self) -> InputTensor:
        tensor = getattr(self._local, "tensor", None)
        if tensor is None:
            tensor = self._local.tensor = self.new_input_tensor()
        return tensor

    def predict(self, frame: np.ndarray | str | Path) -> Detections:
        """Detect objects in one BGR uint8 frame (or an image file)."""
        t0 = time.perf_counter()
        tensor = self._input_tensor()
        box = self.letterbox(frame, tensor)
        t1 = time.perf_counter()
        raw = self.engine.run(tensor.value())
        t2 = time.perf_counter()
        return self.detections(raw, box, (t1 - t0) * 1e3, (t2 - t1) * 1e3, t2)

    def letterbox(self, frame: np.ndarray | str | Path, tensor: InputTensor) -> Letterbox:
        """The preprocess stage: the frame (or image file) letterboxed into `tensor`, an InputTensor of this
        detector (`new_input_tensor`); returns where the frame lies in it."""
        return tensor.fill(as_bgr(read_image(frame) if isinstance(frame, (str, Path)) else frame))

    def new_input_tensor(self) -> InputTensor:
        return InputTensor(self.engine.input, self.input_hw)

    def detections(self, raw: np.ndarray, box: Letterbox, preprocess_ms: float, inference_ms: float,
                   post_start: float) -> Detections:
        """The postprocess stage: the engine's raw output for the frame at `box` as Detections (its times: the two
        stages before and this one, which began at perf_counter() `post_start`)."""
        xyxy, confidence, class_id = self._postprocess(raw, box)
        post_ms = (time.perf_counter() - post_start) * 1e3
        times = StageTimes.model_construct(preprocess=preprocess_ms, inference=inference_ms, postprocess=post_ms)
        # The arrays come typed and shaped from postprocess: skip re-validating them on the hot path.
        return Detections.model_construct(xyxy=xyxy, confidence=confidence, class_id=class_id, names=self.names,
                                          image_shape=box.frame_hw, times=times)

    def stream(self, source, policy: str | None = None, **options):
        """Detections of every frame of a camera, stream URL, video, image folder or iterable of frames, through a
        pipelined loop (runtime/stream.py): `for result in detector.stream("rtsp://..."):` or as a context
        manager. policy "latest" (live default) drops stale frames, "all" (file default) loses none. For a camera,
        build the detector with runtime.stream.live_engine_options(model, options): a multi-threaded engine
        parks between frames and runs up to 2x slower at camera pace. workers=N runs N engine threads (throughput
        on several cores): build the detector with runtime.stream.throughput_engine_options(model, options, N)."""
        from runtime.stream import Stream

        return Stream(self, source, policy=policy, **options)

    def predict_batch(self, frames) -> list[Detections]:
        """One Detections per frame; the models are batch-1, so frames run one after another."""
        return [self.predict(frame) for frame in frames]

    __call__ = predict

    def _postprocess(self, raw: np.ndarray, box: Letterbox):
        """Raw head -> (xyxy float32 (N, 4) in frame pixels, confidence float32 (N,), class_id int64 (N,))."""
        opts = self.options
        pred, end2end, self._normalized_boxes = postprocess.canonical_head(
            raw, self._nc, self.input_hw, self.metadata.end2end, self._normalized_boxes, self.metadata.stride,
            opts.conf)
        if end2end:
            xyxy, conf, cls = postprocess.select_end2end(pred, conf=opts.conf, max_det=opts.max_det,
                                                         classes=opts.classes)
        else:
            xyxy, conf, cls = postprocess.select(pred, conf=opts.conf, iou=opts.iou, max_det=opts.max_det,
                                                 classes=opts.classes, agnostic=opts.agnostic)
        return box.boxes_to_frame(xyxy), conf.astype(np.float32, copy=False), cls.astype(np.int64, copy=False)

    def __repr__(self) -> str:
        return (f"Detector({str(self.path)!r}, engine={self.engine.name}, input={self.input_hw}, "
                f"classes={len(self.names)})")
