"""Detector.stream: the frames of a camera, a stream URL, a video, an image folder or any iterable of frames,
through a pipelined loop of four threads joined by bounded hand-offs:

    capture + decode  ->  letterbox (preprocess)  ->  engine  ->  postprocess  ->  the caller's loop

so that the engine runs while the next frame is decoded and letterboxed and the last one decoded into boxes; with
workers=N, N engine threads infer N frames at once (throughput on many cores), results still in frame order. policy
"latest" (a live source's default)
keeps only the newest item at each hand-off: stale frames are dropped (and counted), the engine always gets the
newest frame, results never lag behind the camera. "all" (a file's default) keeps every frame in order: a stage
that is ahead waits for the next one (backpressure), so nothing is lost and memory stays flat.

A live source (camera, URL) that fails is reopened with backoff, reported as events; a file ends the stream.
close(), leaving the `with` block or breaking out of the loop stops every thread.
"""
from __future__ import annotations

import atexit
import collections
import logging
import os
import statistics
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel

from runtime.detections import Detections
from runtime.errors import SourceError
from runtime.sources import FRAME_KINDS, Source, expand_sources, read_image

Policy = Literal["latest", "all"]
POLICIES = ("latest", "all")
READ_TIMEOUT_S = 1.0  # a live source silent this long is reopened; also bounds how long close() waits on a read
OPEN_TIMEOUT_S = 5.0
BACKOFF_S = (0.2, 0.5, 1.0, 2.0)  # waits before each reopen attempt; the last repeats
WINDOW = 1024  # recent frames the metrics' medians cover (bounded: a soak must not grow memory)
POLL_S = 0.05  # how often a waiting thread looks at the stop flag
CAPTURE_EXIT_S = 2.0  # at exit, the longest wait for a capture stuck in its source (a URL read times out in 1 s)
log = logging.getLogger(__name__)
_open_streams: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_open_streams() -> None:
    """At exit, stop the streams still running and wait for their engines' calls to return: a daemon thread still
    inside an engine when the interpreter finalizes aborts the whole process (C++ terminate). A capture thread
    is waited for CAPTURE_EXIT_S at most: a user's iterable that never returns must not hang the exit, and it runs
    no engine."""
    streams = list(_open_streams)
    for stream in streams:
        stream._stop.set()
    for stream in streams:
        stream._join(None, capture_timeout=CAPTURE_EXIT_S)


@dataclass(frozen=True)
class StreamResult:
    index: int  # the frame's position in the source (dropped frames are counted too)
    timestamp: float  # time.time() at capture
    frame: np.ndarray
    detections: Detections
    age_ms: float  # from capture to Detections


@dataclass(frozen=True)
class StreamEvent:
    timestamp: float  # time.time()
    kind: Literal["opened", "lost", "reopened", "ended", "failed"]
    message: str


class StreamMetrics(BaseModel):
    """Counts since the stream started, rates over its running time, medians over the last WINDOW results."""

    seconds: float
    captured: int
    inferred: int
    delivered: int
    dropped: int  # frames captured but never inferred, or inferred but replaced before the loop took them
    reopened: int
    capture_fps: float
    inference_fps: float
    delivered_fps: float
    age_ms_median: float | None
    age_ms_p95: float | None
    preprocess_ms_median: float | None
    inference_ms_median: float | None
    postprocess_ms_median: float | None

    def summary(self) -> str:
        age = "" if self.age_ms_median is None else (f"; frame age at result {self.age_ms_median:.1f} ms median, "
                                                     f"{self.age_ms_p95:.1f} p95")
        return (f"{self.delivered} results in {self.seconds:.1f} s ({self.delivered_fps:.1f} FPS); captured "
                f"{self.captured} ({self.capture_fps:.1f} FPS), inferred {self.inferred} "
                f"({self.inference_fps:.1f} FPS), dropped {self.dropped}, reopened {self.reopened}{age}")


class Stopped(Exception):
    """The stream is closing: a waiting stage gives up."""


_END = object()  # what a hand-off yields once its producer has finished


class Handoff:
    """A bounded queue between two threads. latest=True: put replaces the oldest waiting item (on_drop is called with
    it); else put waits for room. get waits for an item, returns _END after finish(). Once stop is set both raise
    Stopped, items waiting or not."""

    def __init__(self, size: int, latest: bool, stop: threading.Event, on_drop=None):
        self._items: collections.deque = collections.deque()
        self._size, self._latest, self._stop, self._on_drop = size, latest, stop, on_drop
        self._ready = threading.Condition()
        self._finished = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._ready:
            if self._stop.is_set():  # a closing stream hands nothing on: no stage starts more work
                raise Stopped
            while len(self._items) >= self._size:
                if self._latest:
                    old = self._items.popleft()
                    self.dropped += 1
                    if self._on_drop:
                        self._on_drop(old)
                    continue
                if self._stop.is_set():
                    raise Stopped
                self._ready.wait(POLL_S)
            self._items.append(item)
            self._ready.notify_all()

    def get(self):
        with self._ready:
            while not self._items or self._stop.is_set():
                if self._stop.is_set():  # even with items waiting: each would cost its stage one more call
                    raise Stopped
                if self._finished:
                    return _END
                self._ready.wait(POLL_S)
            item = self._items.popleft()
            self._ready.notify_all()
            return item

    def finish(self) -> None:
        with self._ready:
            self._finished = True
            self._ready.notify_all()


@dataclass
class _Frame:
    index: int
    timestamp: float
    captured: float  # perf_counter() at capture
    frame: np.ndarray
    tensor: object = None  # the InputTensor it was letterboxed into
    box: object = None
    preprocess_ms: float = 0.0


def live_engine_options(model, options: dict) -> dict:
    """Detector options for a model that will read a live source: at a camera's pace the engine idles between
    frames and a multi-threaded pool parks, so each engine's `live_threads` (docs/streams.md), unless the options
    already set threads."""
    from runtime.engines import pick_engine

    if options.get("threads") is not None:
        return options
    threads = pick_engine(Path(model), options.get("backend")).live_threads
    return options if threads is None else {**options, "threads": threads}


def throughput_engine_options(model, options: dict, workers: int) -> dict:
    """Detector options for a model that `workers` engine threads of a stream will share (Stream(workers=...)): its
    engine's throughput_options (ONNX Runtime and LiteRT: a share of the cores each; OpenVINO: its THROUGHPUT
    hint), under the options already given."""
    from runtime.engines import pick_engine
    from runtime.engines.settings import physical_cores

    if workers == 1:
        return options
    return {**pick_engine(Path(model), options.get("backend")).throughput_options(workers, physical_cores()),
            **options}


def default_policy(source) -> Policy:
    return "latest" if isinstance(source, Source) and source.live else "all"


def as_source(source) -> Source | Iterable:
    """A Source for a name (camera index, device, URL, file, folder); any other iterable is taken as frames."""
    if isinstance(source, (str, Path, int)):
        return Source.of(source)
    if isinstance(source, Source) or (isinstance(source, Iterable) and not isinstance(source, np.ndarray)):
        return source
    raise SourceError(f"cannot stream from {type(source).__name__}: give a camera index, a device, a URL, a video, "
                      f"an image folder or an iterable of frames")


def open_capture(source: Source, decoder_threads: int) -> cv2.VideoCapture:
    """cv2.VideoCapture of a camera, URL or video, with open and read timeouts (FFmpeg) so that a dead source
    fails instead of hanging; RTSP over TCP unless OPENCV_FFMPEG_CAPTURE_OPTIONS says otherwise. The decoder gets
    the cores the engine leaves (FFmpeg would take them all, and slow the engine's)."""
    target = source.capture_target()
    threads = [cv2.CAP_PROP_N_THREADS, decoder_threads] if hasattr(cv2, "CAP_PROP_N_THREADS") else []
    if source.kind == "url":
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(READ_TIMEOUT_S * 1000), *threads]
        capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
    elif source.kind == "video":
        capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, threads)
        if not capture.isOpened():  # a container FFmpeg does not read: whatever backend does
            capture = cv2.VideoCapture(target)
    else:
        capture = cv2.VideoCapture(target)
    if source.kind in ("camera", "url"):
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where the backend allows: no stale frames queued inside it
    return capture


class Stream:
    """The pipelined loop over one source; iterate it for StreamResults, in frame order. Use it in a `with` block
    (or call close()) so that its threads stop and the capture is released."""

    def __init__(self, detector, source, policy: Policy | None = None, max_frames: int | None = None,
                 queue_size: int = 2, reopen: bool = True, workers: int = 1):
        self.detector = detector
        self.source = as_source(source)
        self.policy: Policy = policy or default_policy(self.source)
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.max_frames, self.reopen, self.workers = max_frames, reopen, workers
        if isinstance(self.source, Source) and self.source.kind in ("video", "image") and not \
                self.source.path.is_file():
            raise SourceError(f"cannot read {self.source.name!r}: no such file")
        self.events: collections.deque[StreamEvent] = collections.deque(maxlen=256)
        self._stop = threading.Event()
        latest = self.policy == "latest"
        size = 1 if latest else queue_size
        # a tensor for each engine thread to read, one waiting for them, one being filled
        self._tensors = Handoff(workers + 2, False, self._stop)
        for _ in range(workers + 2):
            self._tensors.put(detector.new_input_tensor())
        self._captured = Handoff(size, latest, self._stop)
        self._prepared = Handoff(size, latest, self._stop, on_drop=lambda f: self._tensors.put(f.tensor))
        self._inferred = Handoff(size, latest, self._stop)
        self._results = Handoff(size, latest, self._stop)
        self._error: BaseException | None = None
        self._counts = collections.Counter()
        self._recent = {k: collections.deque(maxlen=WINDOW) for k in ("age", "pre", "infer", "post")}
        self._started = time.perf_counter()
        self._capture: cv2.VideoCapture | None = None
        self._engines_running, self._counting = workers, threading.Lock()
        self._reordering = workers > 1 and not latest  # results wait for earlier frames: see _in_frame_order
        stages = (self._capture_frames, self._letterbox_frames, *[self._infer_frames] * workers, self._decode_boxes)
        self._threads = [threading.Thread(target=self._guarded, args=(stage,), name=f"stream-{stage.__name__}",
                                          daemon=True) for stage in stages]
        _open_streams.add(self)
        for thread in self._threads:
            thread.start()

    # -- the caller's side ------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[StreamResult]:
        try:
            while True:
                try:
                    item = self._results.get()
                except Stopped:
                    break
                if item is _END:
                    break
                self._counts["delivered"] += 1
                yield item
                if self.max_frames is not None and self._counts["delivered"] >= self.max_frames:
                    break
        finally:
            self.close()
        if self._error is not None:
            raise self._error

    def close(self, timeout: float | None = 1.0) -> None:
        """Stop every thread and release the capture, waiting at most `timeout` seconds in all (None: until they
        have stopped, which takes at most the engine call under way)."""
        self._stop.set()
        self._join(timeout)

    def _join(self, timeout: float | None, capture_timeout: float | None = None) -> None:
        """Wait for the threads, `timeout` seconds in all (None: no limit), the capture's `capture_timeout` at most."""
        deadline = None if timeout is None else time.perf_counter() + timeout
        for thread in self._threads:
            if thread is threading.current_thread():
                continue
            limit = None if deadline is None else max(0.0, deadline - time.perf_counter())
            if thread is self._threads[0] and capture_timeout is not None:  # the capture thread
                limit = capture_timeout if limit is None else min(limit, capture_timeout)
            thread.join(limit)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def metrics(self) -> StreamMetrics:
        seconds = max(time.perf_counter() - self._started, 1e-9)
        c = self._counts
        dropped = sum(h.dropped for h in (self._captured, self._prepared, self._inferred, self._results)) + c["stale"]

        def median(key):
            values = list(self._recent[key])
            return round(statistics.median(values), 2) if values else None

        ages = sorted(self._recent["age"])
        return StreamMetrics(
            seconds=round(seconds, 3), captured=c["captured"], inferred=c["inferred"], delivered=c["delivered"],
            dropped=dropped, reopened=c["reopened"], capture_fps=round(c["captured"] / seconds, 2),
            inference_fps=round(c["inferred"] / seconds, 2), delivered_fps=round(c["delivered"] / seconds, 2),
            age_ms_median=median("age"), age_ms_p95=round(ages[int(0.95 * (len(ages) - 1))], 2) if ages else None,
            preprocess_ms_median=median("pre"), inference_ms_median=median("infer"),
            postprocess_ms_median=median("post"))

    # -- the three stages ---------------------------------------------------------------------------------------------

    def _guarded(self, stage) -> None:
        """Run one stage; an error ends the stream and is raised in the caller's loop."""
        try:
            stage()
        except Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001  (handed to the caller's thread)
            if self._error is None:
                self._error = exc
            self._event("failed", f"{type(exc).__name__}: {exc}")
            self._stop.set()

    def _decoder_threads(self) -> int:
        from runtime.engines.settings import physical_cores

        return max(1, physical_cores() - self.workers * self.detector.options.engine_settings().thread_count)

    def _event(self, kind, message: str) -> None:
        self.events.append(StreamEvent(time.time(), kind, message))
        log.log(logging.WARNING if kind in ("lost", "reopened", "failed") else logging.INFO, message)

    def _capture_frames(self) -> None:
        index = 0
        try:
            for frame in self._frames():
                if self._stop.is_set():
                    break
                self._counts["captured"] += 1
                self._captured.put(_Frame(index, time.time(), time.perf_counter(), frame))
                index += 1
                if self.policy == "all" and self.max_frames is not None and index >= self.max_frames:
                    break  # (with "latest", frames are dropped: the loop counts its results instead)
        finally:
            self._captured.finish()
            if self._capture is not None:
                self._capture.release()

    def _letterbox_frames(self) -> None:
        try:
            while (item := self._captured.get()) is not _END:
                item.tensor = self._tensors.get()  # (waiting for a free tensor is the engine's time, not this one's)
                start = time.perf_counter()
                item.box = self.detector.letterbox(item.frame, item.tensor)
                item.preprocess_ms = (time.perf_counter() - start) * 1e3
                self._prepared.put(item)
        finally:
            self._prepared.finish()

    def _infer_frames(self) -> None:
        """One engine thread (of `workers`); the last one to stop ends the next stage."""
        try:
            while (item := self._prepared.get()) is not _END:
                start = time.perf_counter()
                raw = self.detector.engine.run(item.tensor.value())  # a fresh array: the engines copy out
                inference_ms = (time.perf_counter() - start) * 1e3
                if not self._reordering:
                    self._tensors.put(item.tensor)  # the engine is done reading it
                with self._counting:
                    self._counts["inferred"] += 1
                self._inferred.put((item, raw, inference_ms))
        finally:
            with self._counting:
                self._engines_running -= 1
                last = self._engines_running == 0
            if last:
                self._inferred.finish()

    def _in_frame_order(self) -> Iterator[tuple]:
        """The engines' outputs in frame order: with several engine threads one may finish before an earlier
        frame's. "all" holds it until the frames before it are out (every frame comes), and its tensor with it, so
        that no more frames are in flight than there are tensors however long one engine call takes; "latest" drops
        what is older than a result already out."""
        waiting, next_index = {}, 0
        while (got := self._inferred.get()) is not _END:
            index = got[0].index
            if self.policy == "latest":
                if index >= next_index:
                    next_index = index + 1
                    yield got
                else:
                    with self._counting:
                        self._counts["stale"] += 1
                continue
            waiting[index] = got
            while next_index in waiting:
                ready = waiting.pop(next_index)
                if self._reordering:
                    self._tensors.put(ready[0].tensor)
                yield ready
                next_index += 1

    def _decode_boxes(self) -> None:
        try:
            for item, raw, inference_ms in self._in_frame_order():
                detections = self.detector.detections(raw, item.box, item.preprocess_ms, inference_ms,
                                                      time.perf_counter())
                age = (time.perf_counter() - item.captured) * 1e3
                for key, value in (("age", age), ("pre", item.preprocess_ms),
                                   ("infer", detections.times.inference), ("post", detections.times.postprocess)):
                    self._recent[key].append(value)
                self._results.put(StreamResult(item.index, item.timestamp, item.frame, detections, age))
        finally:
            self._results.finish()

    # -- what the capture thread reads --------------------------------------------------------------------------------

    def _frames(self) -> Iterator[np.ndarray]:
        source = self.source
        if not isinstance(source, Source):
            yield from source
        elif source.kind == "image":
            yield read_image(source.path)
        elif source.kind == "folder":
            for inside in expand_sources([source.path], FRAME_KINDS):
                yield from self._file_frames(inside)
        else:
            yield from self._file_frames(source)

    def _file_frames(self, source: Source) -> Iterator[np.ndarray]:
        if source.kind == "image":
            yield read_image(source.path)
            return
        if source.kind == "video" and not source.path.is_file():
            raise SourceError(f"cannot read {source.name!r}: no such file")
        attempt, delivered = 0, False
        while not self._stop.is_set():
            self._capture = open_capture(source, self._decoder_threads())
            if not self._capture.isOpened() and not delivered:
                why = {"video": "not a readable video", "camera": "no such camera, or another program has it",
                       "url": f"no answer within {OPEN_TIMEOUT_S:.0f} s, or nothing served there"}[source.kind]
                raise SourceError(f"cannot open a video from {source.name!r}: {why}")
            if self._capture.isOpened():
                self._event("reopened" if delivered else "opened", f"{source.name} opened")
                self._counts["reopened"] += int(delivered and attempt > 0)
                attempt = 0
                while not self._stop.is_set():
                    ok, frame = self._capture.read()
                    if not ok:
                        break
                    delivered = True
                    yield frame
            self._capture.release()
            self._capture = None
            if not (source.live and self.reopen):
                if not delivered:
                    raise SourceError(f"no frame could be decoded from {source.name!r}")
                self._event("ended", f"{source.name} ended")
                return
            if self._stop.is_set():
                return
            self._event("lost", f"{source.name} gave no frame; reopening (attempt {attempt + 1})")
            if self._stop.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]):
                return
            attempt += 1


