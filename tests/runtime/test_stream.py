"""Detector.stream on files, folders and iterables of frames: the same detections as predict, in order; the two
policies; bounded hand-offs under a slow consumer; closing from anywhere (runtime/stream.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import EMULATED, SHIPPED, decoded_frames, sample_paths, shared_detector, write_video
from runtime import Detector
from runtime.errors import InvalidFrameError, SourceError
from runtime.sources import Source
from runtime.stream import throughput_engine_options

ENGINES = list(SHIPPED)
# Frames in flight at most: the four hand-offs (2 each for "all"), three input tensors, one in the caller's hands.
IN_FLIGHT = 4 * 2 + 3 + 1


@pytest.fixture(scope="module")
def clip(tmp_path_factory, samples):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, [cv2.resize(f, (640, 360)) for f in samples] * 2, fps=30)  # few frames: the arm64 lane
    return path


def assert_stops(stream, slowest_call_s: float) -> None:
    """Every thread of a closed stream ends within a second plus the engine call under way, which no thread can
    cut short (allowed 3x the slowest call seen: the emulated arm64 lane's calls take seconds and vary)."""
    deadline = time.perf_counter() + 1.0 + 3 * slowest_call_s
    while stream.running and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert not stream.running
    assert [t for t in threading.enumerate() if t.name.startswith("stream-")] == []


def paced(frames, fps: float, count: int | None = None):
    """An endless (or count-long) live-like source: the frames in turn, one each 1/fps seconds."""
    index = 0
    while count is None or index < count:
        time.sleep(1 / fps)
        yield frames[index % len(frames)]
        index += 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_video_streams_every_frame_in_order_with_predicts_detections(engine, clip):
    detector = shared_detector(SHIPPED[engine])
    with detector.stream(clip) as stream:
        assert stream.policy == "all"
        results = list(stream)
    frames = decoded_frames(clip)
    assert [r.index for r in results] == list(range(len(frames)))
    for result, frame in zip(results, frames):
        np.testing.assert_array_equal(result.frame, frame)
        serial = detector.predict(frame)
        np.testing.assert_array_equal(result.detections.xyxy, serial.xyxy)
        np.testing.assert_array_equal(result.detections.class_id, serial.class_id)
        assert result.age_ms > 0 and result.detections.times.inference > 0
    assert [e.kind for e in stream.events] == ["opened", "ended"] and not stream.running
    m = stream.metrics
    assert m.captured == m.inferred == m.delivered == len(frames) and m.dropped == 0


@pytest.mark.parametrize("engine", ["tflite"] if EMULATED else ENGINES)  # emulated: the engine whose state is new
def test_several_engine_threads_give_every_frame_in_order_with_predicts_detections(engine, clip):
    detector = shared_detector(SHIPPED[engine])
    with detector.stream(clip, workers=3) as stream:
        engine_threads = [t for t in threading.enumerate() if t.name == "stream-_infer_frames"]
        results = list(stream)
    assert len(engine_threads) == 3
    frames = decoded_frames(clip)
    assert [r.index for r in results] == list(range(len(frames)))
    for result, frame in zip(results, frames):
        serial = detector.predict(frame)
        np.testing.assert_array_equal(result.detections.xyxy, serial.xyxy)
        np.testing.assert_array_equal(result.detections.class_id, serial.class_id)
    m = stream.metrics
    assert m.captured == m.inferred == m.delivered == len(frames) and m.dropped == 0
    assert_stops(stream, max(r.detections.times.inference for r in results) / 1e3)


def test_a_slow_engine_call_holds_back_no_more_frames_than_the_stream_has_tensors(samples):
    """Policy all with two engine threads, the first frame's engine call held for 1 s (a preempted thread): the other
    thread goes on only while free input tensors last, instead of piling results up behind frame 0 (unbounded
    memory on a long stream). A tensor is free again once its result is out in frame order."""
    detector = Detector(SHIPPED["tflite"], threads=1)
    real_run, calls, inferred_during_stall = detector.engine.run, [], []

    def run(tensor):
        calls.append(None)
        if len(calls) == 1:
            time.sleep(1.0)
            inferred_during_stall.append(stream.metrics.inferred)
        return real_run(tensor)

    detector.engine.run = run
    frames = [samples[i % len(samples)] for i in range(12)]  # few: 2 s each under the arm64 lane's emulation
    with detector.stream(frames, policy="all", workers=2) as stream:
        results = list(stream)
    assert [r.index for r in results] == list(range(12))
    # 4 tensors (workers + 2): frame 0 holds one; the other engine thread gets at most the other 3
    assert inferred_during_stall and inferred_during_stall[0] <= 3, inferred_during_stall


def test_folders_and_iterables_stream_their_frames(samples, tmp_path):
    detector = shared_detector(SHIPPED["onnxruntime"])
    from_list = [r.detections for r in detector.stream(samples)]
    assert len(from_list) == len(samples)
    for frame, detections in zip(samples, from_list):
        np.testing.assert_array_equal(detections.xyxy, detector.predict(frame).xyxy)
    folder = sample_paths()[0].parent
    results = list(detector.stream(folder))
    assert len(results) == len(sample_paths())
    for result, path in zip(results, sample_paths()):
        np.testing.assert_array_equal(result.frame, cv2.imread(str(path)))
    one = list(detector.stream(str(sample_paths()[0])))
    assert len(one) == 1 and one[0].index == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_latest_gives_the_newest_frames_and_counts_what_it_drops(workers, samples):
    """A consumer slower than the source: results skip frames (dropped, counted) but stay in order and fresh. A
    result's frame waited at most for the engine to finish the frame before it, so its age is at most two frames'
    processing and a frame interval (with "all" it would grow with the backlog). Relative to the measured
    processing: the emulated arm64 lane infers ~150x slower."""
    model = SHIPPED["onnxruntime"]
    detector = shared_detector(model, **throughput_engine_options(model, {}, workers))
    fps, slowest = 60, 0.0
    with detector.stream(paced(samples, fps=fps, count=90), policy="latest", workers=workers) as stream:
        seen = []
        for result in stream:
            seen.append(result.index)
            slowest = max(slowest, result.detections.times.total)
            assert result.age_ms <= 2 * slowest + 1000 / fps + 30, (result.age_ms, slowest)
            time.sleep(0.05)
    assert seen == sorted(seen) and len(set(seen)) == len(seen) and len(seen) < 60
    m = stream.metrics
    assert m.dropped > 0 and m.delivered + m.dropped == m.captured == 90


def test_a_slow_consumer_of_all_holds_back_the_source_instead_of_queueing(samples):
    detector = shared_detector(SHIPPED["onnxruntime"])
    source = iter(paced(samples, fps=1000))  # endless and far faster than the consumer
    slowest = 0.0
    with detector.stream(source, policy="all") as stream:
        for count, result in enumerate(stream, 1):
            time.sleep(0.02)
            slowest = max(slowest, result.detections.times.inference / 1e3)
            assert result.index == count - 1
            assert stream.metrics.captured - count <= IN_FLIGHT
            if count == 12:
                break
    assert stream.metrics.dropped == 0
    assert_stops(stream, slowest)


def test_max_frames_and_breaking_out_stop_every_thread(clip):
    detector = shared_detector(SHIPPED["onnxruntime"])
    stream = detector.stream(clip, max_frames=5)
    assert [r.index for r in stream] == [0, 1, 2, 3, 4]
    assert_stops(stream, 0.0)  # (it ended by itself: nothing is under way)
    stream = detector.stream(clip)
    for result in stream:
        break
    assert_stops(stream, result.detections.times.inference / 1e3)


def test_close_from_another_thread_stops_an_endless_stream_within_a_second(samples):
    """Within a second of close(), or of the inference running then (which no thread can cut short)."""
    detector = shared_detector(SHIPPED["onnxruntime"])
    stream = detector.stream(paced(samples, fps=30))
    for count, result in enumerate(stream, 1):
        if count == 1:
            closing = threading.Timer(0.3, stream.close)
            closing.start()
            start = time.perf_counter()
    closing.join()
    inference_s = result.detections.times.inference / 1e3
    assert time.perf_counter() - start < 0.3 + 1.0 + inference_s
    assert_stops(stream, inference_s)


def test_bad_sources_raise_one_typed_error(samples, tmp_path):
    detector = shared_detector(SHIPPED["onnxruntime"])
    with pytest.raises(SourceError, match="no such file"):
        detector.stream(tmp_path / "missing.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 100)
    with pytest.raises(SourceError, match="cannot open a video from .*broken.mp4.*not a readable video"):
        list(detector.stream(tmp_path / "broken.mp4"))
    with pytest.raises(SourceError, match="cannot stream"):
        detector.stream(3.5)
    with pytest.raises(ValueError, match="policy"):
        detector.stream(samples, policy="newest")
    with pytest.raises(ValueError, match="workers"):
        detector.stream(samples, workers=0)
    with pytest.raises(InvalidFrameError):  # a bad frame in the middle ends the stream with the frame's error
        list(detector.stream([samples[0], np.zeros((4, 4, 7), np.uint8)]))

    def failing():
        yield samples[0]
        raise OSError("camera unplugged")

    with pytest.raises(OSError, match="unplugged"):
        list(stream := detector.stream(failing()))
    assert_stops(stream, detector.predict(samples[0]).times.inference / 1e3)


@pytest.mark.parametrize("given, kind, target", [
    ("0", "camera", 0), (2, "camera", 2), ("/dev/video0", "camera", "/dev/video0"),
    ("rtsp://127.0.0.1:8554/cam", "url", "rtsp://127.0.0.1:8554/cam"),
    ("http://host/live.mjpg?x=1", "url", "http://host/live.mjpg?x=1"), ("clip.mp4", "video", "clip.mp4")])
def test_sources_name_cameras_and_urls_untouched(given, kind, target):
    source = Source.of(given)
    assert source.kind == kind and source.capture_target() == target
    assert source.live == (kind in ("camera", "url"))


CAMERAS = sorted(Path("/dev").glob("video*"))


@pytest.mark.skipif(not CAMERAS, reason="no /dev/video* camera on this machine (CI and the arm64 lane have none)")
def test_a_camera_device_streams_live_frames():
    detector = shared_detector(SHIPPED["onnxruntime"])
    with detector.stream(str(CAMERAS[0]), max_frames=5) as stream:
        assert stream.policy == "latest"
        results = list(stream)
    assert len(results) == 5 and all(r.frame.ndim == 3 for r in results)


@pytest.mark.skipif(bool(CAMERAS), reason="a camera is attached: the no-camera error cannot be shown")
def test_a_camera_that_is_not_there_is_one_error():
    detector = shared_detector(SHIPPED["onnxruntime"])
    with pytest.raises(SourceError, match="cannot open a video from '/dev/video0'"):
        list(detector.stream("/dev/video0"))


def test_live_sources_get_the_engine_threads_that_keep_up_at_camera_pace():
    from runtime.stream import live_engine_options

    assert live_engine_options(SHIPPED["onnxruntime"], {}) == {"threads": 1}
    assert live_engine_options(SHIPPED["tflite"], {"conf": 0.5}) == {"conf": 0.5, "threads": 1}
    assert live_engine_options(SHIPPED["openvino"], {}) == {}  # OpenVINO keeps its pace with its defaults
    assert live_engine_options(SHIPPED["onnxruntime"], {"threads": 2}) == {"threads": 2}  # the caller's choice
    assert live_engine_options(SHIPPED["onnxruntime"], {"backend": "openvino"}) == {"backend": "openvino"}


def test_several_workers_get_engine_settings_that_share_the_cores():
    from runtime.engines.settings import physical_cores

    share = max(1, physical_cores() // 2)
    assert throughput_engine_options(SHIPPED["onnxruntime"], {}, 2) == {"threads": share}
    assert throughput_engine_options(SHIPPED["tflite"], {"conf": 0.5}, 2) == {"threads": share, "conf": 0.5}
    assert throughput_engine_options(SHIPPED["openvino"], {}, 2) == {"openvino_hint": "THROUGHPUT"}
    assert throughput_engine_options(SHIPPED["onnxruntime"], {"threads": 2}, 2) == {"threads": 2}  # the caller's
    assert throughput_engine_options(SHIPPED["openvino"], {}, 1) == {}  # one worker: the defaults


LEFT_RUNNING = """
import sys
import numpy as np
from runtime import Detector

frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)

def endless():
    try:
        while True:
            yield frame
    finally:
        print("source released", flush=True)

results = iter(Detector(sys.argv[1]).stream(endless(), policy="all"))
next(results)
print("exiting with the stream running", flush=True)
"""


LEFT_BLOCKED = """
import sys
import threading
import numpy as np
from runtime import Detector

frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)

def blocks_after_two():
    yield frame
    yield frame
    threading.Event().wait()  # a source that never gives another frame nor returns

results = iter(Detector(sys.argv[1]).stream(blocks_after_two(), policy="all"))
next(results)
print("exiting with the source blocked", flush=True)
"""


def test_exiting_while_the_source_blocks_forever_still_exits():
    """At exit the stream waits for its engine's call, but not forever for a user's iterable stuck in itself."""
    done = subprocess.run([sys.executable, "-c", LEFT_BLOCKED, str(SHIPPED["onnxruntime"])], capture_output=True,
                          text=True, timeout=600)  # without the bound on the capture's wait: never returns
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == "exiting with the source blocked".split()


def test_exiting_with_a_stream_running_stops_it_and_releases_its_source():
    """A daemon thread still inside the engine when the interpreter finalizes aborts the process (C++ terminate,
    exit 134): the stream stops its threads at exit instead."""
    done = subprocess.run([sys.executable, "-c", LEFT_RUNNING, str(SHIPPED["onnxruntime"])], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == "exiting with the stream running source released".split()
