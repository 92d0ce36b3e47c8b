"""Detector.stream on a real RTSP server on loopback (GStreamer's gst-rtsp-server, tests/rtsp_server.py, serving
generated frames as live H.264 at 30 FPS): the detections of the frames received, fresh results with "latest",
resuming after the server restarts, closing while live."""

from __future__ import annotations

import math
import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import SHIPPED, shared_detector
from rtsp_server import SYSTEM_PYTHON, RtspServer

FPS = 30


def server_available() -> bool:
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not server_available(), reason="GStreamer's RTSP server is not installed "
                                "(tests/install-stream-tools.sh; the emulated arm64 lane has none)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def frames(tmp_path_factory, samples) -> Path:
    folder = tmp_path_factory.mktemp("rtsp-frames")
    for i in range(2 * FPS):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), cv2.resize(samples[i % len(samples)], (640, 360)))
    return folder


@pytest.fixture()
def server(frames):
    running = RtspServer(frames, free_port(), FPS).start()
    yield running
    running.stop()


def test_all_gives_each_received_frame_its_predict_detections(server):
    detector = shared_detector(SHIPPED["onnxruntime"])
    with detector.stream(server.url, policy="all", max_frames=30) as stream:
        results = list(stream)
    assert [r.index for r in results] == list(range(30))
    for result in results:
        assert result.frame.shape == (360, 640, 3)
        np.testing.assert_array_equal(result.detections.xyxy, detector.predict(result.frame).xyxy)
    assert sum(len(r.detections) for r in results) > 30  # the generated shapes are found through H.264
    assert stream.metrics.dropped == 0 and [e.kind for e in stream.events] == ["opened"]


def test_latest_results_are_never_behind_the_camera(server):
    """A consumer that takes 100 ms per result from a 30 FPS camera: frames are dropped, and each result is of a
    frame at most a few frames older than the newest one captured (not a growing backlog), beyond the frames that
    arrived while it was being processed (a loaded machine's inference spans several). The first result is left
    out: FFmpeg hands over the frames buffered while the connection opened in one burst."""
    detector = shared_detector(SHIPPED["onnxruntime"])
    with detector.stream(server.url, max_frames=15) as stream:
        assert stream.policy == "latest"
        for count, result in enumerate(stream):
            behind = stream.metrics.captured - 1 - result.index
            assert count == 0 or behind <= 3 + math.ceil(result.detections.times.total * FPS / 1000)
            time.sleep(0.1)
    m = stream.metrics
    assert m.delivered == 15 and m.dropped > 15 and m.capture_fps > 0.6 * FPS


def test_results_resume_after_the_server_restarts(server):
    detector = shared_detector(SHIPPED["onnxruntime"])
    restarted = {}

    def restart():
        restarted["at"] = server.restart()

    with detector.stream(server.url) as stream:
        before = after = 0
        timer = None
        for result in stream:
            if "at" not in restarted:
                before += 1
                if before == 10:
                    timer = threading.Thread(target=restart)
                    timer.start()
            else:
                after += 1
                if after == 1:
                    resumed_in = time.perf_counter() - restarted["at"]
                if after == 10:
                    break
    timer.join()
    kinds = [e.kind for e in stream.events]
    assert before >= 10 and after == 10 and "lost" in kinds and kinds[-1] == "reopened", kinds
    assert stream.metrics.reopened >= 1 and resumed_in < 5.0


def test_close_from_another_thread_while_live(server):
    detector = shared_detector(SHIPPED["onnxruntime"])
    stream = detector.stream(server.url)
    count = 0
    for _ in stream:
        count += 1
        if count == 1:  # connected: close in one second from another thread
            threading.Timer(1.0, stream.close).start()
            start = time.perf_counter()
    assert count > 5 and time.perf_counter() - start < 1.0 + 1.0
    assert not stream.running


def test_an_rtsp_url_nobody_serves_is_one_error(frames):
    from runtime.errors import SourceError

    detector = shared_detector(SHIPPED["onnxruntime"])
    with pytest.raises(SourceError, match="cannot open a video from 'rtsp://127.0.0.1.*no answer"):
        list(detector.stream(f"rtsp://127.0.0.1:{free_port()}/cam"))


def test_predict_command_reads_the_stream_and_saves_its_annotated_video(server, tmp_path):
    """`yolo-edge predict MODEL rtsp://... --max-frames 10 --json --save out.mp4`: the URL is taken as a URL, one
    JSON line per frame, a playable video of those frames, the stream's metrics on stderr."""
    import json
    import sys

    out = tmp_path / "out.mp4"
    run = subprocess.run([sys.executable, "-m", "runtime", "predict", str(SHIPPED["onnxruntime"]), server.url,
                          "--max-frames", "10", "--json", "--save", str(out)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(lines) == 10 and {line["source"] for line in lines} == {server.url}
    assert [line["frame"] for line in lines] == sorted(line["frame"] for line in lines)
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 10 and capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 640
    capture.release()
    assert run.stderr.count("\n") == 1 and "10 results" in run.stderr
