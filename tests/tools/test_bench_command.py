"""`yolo-edge bench`, the thin command: it runs where only the installed package is, and reports what it measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, SHIPPED
from runtime.bench import summarize, synthetic_frames

OPTIONAL = ("matplotlib", "tqdm", "ultralytics", "torch")
FRAMES = ["640x480", "1280x720", "1920x1080"]  # the default sizes


def run_bench_outside_the_checkout(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """`yolo-edge bench` from an empty working directory, with the runtime package copied alone into a folder of
    its own (as an install puts it: no models/ or benchmarks/ beside it) and the optional packages blocked."""
    site, work = tmp_path / "site", tmp_path / "work"
    shutil.copytree(ROOT / "runtime", site / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    work.mkdir()
    model = shutil.copy(SHIPPED["onnxruntime"], work)
    code = (f"import sys\nfor m in {OPTIONAL!r}: sys.modules[m] = None\n"
            f"import runtime\nassert runtime.__file__.startswith({str(site)!r}), runtime.__file__\n"
            "from runtime.cli import main\nsys.exit(main(sys.argv[1:]))")
    # the copy first; the checkout itself off the path (the arm64 lane puts it there, beside the engines' folder)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != ROOT]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *paths])}
    return subprocess.run([sys.executable, "-c", code, "bench", model, *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    tmp_path = tmp_path_factory.mktemp("bench")
    result = run_bench_outside_the_checkout(tmp_path, "--quick", "--json", "bench.json")
    assert result.returncode == 0, result.stderr
    return result, json.loads((tmp_path / "work" / "bench.json").read_text())


def test_quick_bench_runs_without_repository_files(quick_run):
    result, record = quick_run
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("yolov8n-shapes-320.onnx ")]
    assert [row[4] for row in rows] == FRAMES  # one row per frame size
    (block,) = record["results"]
    assert block["engine"] == "onnxruntime" and block["threads"] == 1 and block["bare"]["n"] == 3
    for figures in block["frames"].values():
        assert figures["predict"]["n"] == 3 and figures["detections"] > 0  # the generated scene has objects
        assert figures["predict"]["median"] >= figures["inference"]["median"] > 0


def test_quick_bench_reports_only_what_it_used(quick_run):
    """No ultralytics or torch versions and no empty comparison columns: the packages it ran, nothing else."""
    result, record = quick_run
    assert "ultralytics" not in result.stdout.lower() and "torch" not in result.stdout.lower()
    assert set(record["environment"]["versions"]) - {"opencv-python", "opencv-python-headless"} == \
        {"numpy", "onnxruntime"}
    assert "ultralytics" not in json.dumps(record["results"])


@pytest.mark.parametrize("args, message", [(["--frames", "640by480"], "WIDTHxHEIGHT"),
                                           (["--threads", "0"], "--threads"),
                                           (["--engines", "tflite"], "tflite does not read this format")])
def test_bench_user_errors_are_one_line(tmp_path, args, message):
    result = run_bench_outside_the_checkout(tmp_path, "--quick", *args)
    assert result.returncode != 0 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_synthetic_frames_are_fixed_and_varied():
    a, b = synthetic_frames(["640x480", "320x320"]), synthetic_frames(["640x480"])
    assert a["640x480"].shape == (480, 640, 3) and a["320x320"].shape == (320, 320, 3)
    assert np.array_equal(a["640x480"], b["640x480"])
    frame = a["640x480"].astype(int)
    assert (frame[..., 0] != frame[..., 2]).mean() > 0.5 and len(np.unique(frame.reshape(-1, 3), axis=0)) > 100


def test_summarize_median_p90_mean():
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s == {"median": 3.0, "p90": pytest.approx(4.6), "mean": 3.0, "n": 5}
    timings = list(np.random.default_rng(0).gamma(4.0, 2.0, 101))
    s = summarize(timings)
    assert s["median"] == pytest.approx(np.median(timings)) and s["p90"] == pytest.approx(np.percentile(timings, 90))


def test_summarize_drops_warmup():
    s = summarize([500.0, 200.0, 10.0, 12.0, 11.0, 13.0], warmup=2)  # the slow first runs never count
    assert s["n"] == 4 and s["median"] == 11.5 and s["p90"] == pytest.approx(12.7) and s["mean"] == 11.5


@pytest.mark.parametrize("timings, warmup", [([], 0), ([1.0, 2.0], 2), ([1.0], 5)])
def test_summarize_empty_is_an_error(timings, warmup):
    with pytest.raises(ValueError, match="no timings"):
        summarize(timings, warmup)


def test_summarize_negative_warmup_is_an_error():
    with pytest.raises(ValueError):
        summarize([1.0, 2.0], -1)


def test_bench_records_an_openvino_model_with_its_weights(tmp_path, capsys):
    """The size of an .xml model is that of the .xml and its .bin (defect 9: the .xml alone was 2% of it)."""
    pytest.importorskip("openvino")
    import argparse

    from runtime.bench import add_arguments, run_from_args

    xml = next(SHIPPED["openvino"].glob("*.xml"))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(xml), "--reps", "1", "--warmup", "0", "--gap-ms", "0", "--frames", "320x320",
                              "--json", str(tmp_path / "b.json")])
    assert run_from_args(args) == 0
    (block,) = json.loads((tmp_path / "b.json").read_text())["results"]
    files = xml.stat().st_size + xml.with_suffix(".bin").stat().st_size
    assert block["engine"] == "openvino" and block["size_mb"] == round(files / 2**20, 3)
    assert "openvino" in capsys.readouterr().out
