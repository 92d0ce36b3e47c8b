"""yolo-edge predict --ray (runtime/cluster.py) on real Ray clusters: a local one, and two nodes started with
`ray start` on this machine. The Parquet rows equal the single-process `predict --json` output on the same files; a
corrupt file is an error row; a re-run skips what is written."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from helpers import SHIPPED, sample_paths, write_video

pytest.importorskip("ray", reason="the [ray] extra")
pq = pytest.importorskip("pyarrow.parquet")

MODEL = SHIPPED["onnxruntime"].with_name("yolov8n-shapes-320_int8.onnx")
RAY = Path(sys.executable).with_name("ray")
# Ray 2.60's `ray start` makes a token; every process of the cluster then needs token mode
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token"}


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    for path in sample_paths():
        shutil.copy(path, folder / path.name)
    frames = [cv2.resize(cv2.imread(str(p)), (320, 240)) for p in sample_paths()]
    (folder / "clips").mkdir()
    write_video(folder / "clips" / "clip.mp4", frames * 2)
    (folder / "corrupt.jpg").write_bytes(b"not an image")
    return folder


def yolo_edge(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runtime", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def rows(out: Path) -> dict[tuple, dict]:
    table = pq.read_table(out).to_pylist()
    return {(r["source"], r["frame"]): r for r in table}


@pytest.fixture(scope="module")
def local_run(archive, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "results.parquet"
    run = yolo_edge("predict", MODEL, archive, "--ray", "--out", out)
    assert run.returncode == 1, run.stderr  # the corrupt file: exit 1, and its row
    assert "1 errors" in run.stderr.splitlines()[-1] and "6 files" in run.stderr.splitlines()[-1], run.stderr
    return out


def test_rows_equal_the_single_process_json(archive, local_run):
    got = rows(local_run)
    files = sorted(p for p in archive.rglob("*") if p.is_file() and p.name != "corrupt.jpg")
    single = yolo_edge("predict", MODEL, *files, "--json")
    assert single.returncode == 0, single.stderr
    expected = [json.loads(line) for line in single.stdout.splitlines()]
    assert len(got) == len(expected) + 1 == 4 + 8 + 1
    for want in expected:
        row = got[(want["source"], want.get("frame"))]
        assert row["error"] is None and [row["height"], row["width"]] == want["image_shape"]
        assert [[round(v, 2) for v in box] for box in row["boxes"]] == want["xyxy"]
        assert [round(v, 4) for v in row["scores"]] == want["confidence"]
        assert row["class_ids"] == want["class_id"]
        assert row["class_names"] == [want["names"][str(c)] for c in want["class_id"]]
        assert row["inference_ms"] > 0
    corrupt = got[(str(archive / "corrupt.jpg"), None)]
    assert "not a readable image" in corrupt["error"] and corrupt["boxes"] is None


def test_a_rerun_skips_what_is_written(archive, local_run, tmp_path):
    out = tmp_path / "results.parquet"
    shutil.copytree(local_run, out)
    (archive / "clips" / "more.jpg").write_bytes((archive / sample_paths()[0].name).read_bytes())
    try:
        run = yolo_edge("predict", MODEL, archive, "--ray", "--out", out)
    finally:
        (archive / "clips" / "more.jpg").unlink()
    assert "1 files (6 already written)" in run.stderr.splitlines()[-1], run.stderr
    assert len(rows(out)) == len(rows(local_run)) + 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive_nodes(port: int, wait_s: float = 30) -> int:
    """The nodes `ray status` lists as active, once there are two (a joining node takes a few seconds)."""
    import re
    import time

    deadline = time.monotonic() + wait_s
    while True:
        status = subprocess.run([RAY, "status", "--address", f"127.0.0.1:{port}"], capture_output=True, text=True,
                                env=ENV, timeout=60).stdout
        active = status.split("Active:", 1)[-1].split("Pending:", 1)[0]
        count = len(re.findall(r"node_[0-9a-f]+", active))
        if count >= 2 or time.monotonic() > deadline:
            return count
        time.sleep(1)


def test_a_two_node_cluster_writes_the_same_detections(archive, local_run, tmp_path):
    port = free_port()
    start = [RAY, "start", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    try:
        subprocess.run([*start, "--head", "--port", str(port), "--include-dashboard", "false"], check=True,
                       capture_output=True, env=ENV, timeout=120)
        subprocess.run([*start, "--address", f"127.0.0.1:{port}"], check=True, capture_output=True, env=ENV,
                       timeout=120)
        assert alive_nodes(port) == 2
        out = tmp_path / "results.parquet"
        run = yolo_edge("predict", MODEL, archive, "--ray", f"127.0.0.1:{port}", "--out", out)
        assert "2 actors x 1 threads" in run.stderr, run.stderr
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=ENV, timeout=120)
    detection_columns = ("width", "height", "boxes", "scores", "class_ids", "class_names", "error")
    one, two = rows(local_run), rows(out)
    assert one.keys() == two.keys()
    for key in one:
        assert {c: one[key][c] for c in detection_columns} == {c: two[key][c] for c in detection_columns}
