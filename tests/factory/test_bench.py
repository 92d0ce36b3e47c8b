"""The latency benchmark: timing statistics on synthetic timings, the quick mode end to end, the report join."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import ARTIFACTS
from runtime.bench import summarize
from runtime.cli import main as cli_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FP32 = ARTIFACTS / "yolov8n-shapes-320.onnx"
INT8 = ARTIFACTS / "yolov8n-shapes-320_int8.onnx"


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


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The benchmark script in quick mode on the fp32 and int8 ONNX models, all three frame sizes, with
    ultralytics' predict on the same files as the reference."""
    from benchmarks.latency import main as latency_main

    out = tmp_path_factory.mktemp("bench")
    assert latency_main([str(FP32), str(INT8), "--quick", "--no-progress", "--out", str(out)]) == 0
    return out


def test_quick_bench_json(quick_run):
    bench = json.loads((quick_run / "bench.json").read_text())
    env = bench["environment"]
    assert env["cores"] >= 1 and env["cpu"] and "onnxruntime" in env["versions"] and "numpy" in env["versions"]
    assert bench["settings"]["quick"] and bench["settings"]["reps"] == 3 and bench["settings"]["warmup"] == 1
    assert [r["model"] for r in bench["results"]] == [FP32.name, INT8.name]
    assert [r["precision"] for r in bench["results"]] == ["fp32", "int8"]
    for r in bench["results"]:
        assert r["engine"] == "onnxruntime" and r["threads"] == 1 and r["ort_spinning"] == "within-run"
        assert r["bare"]["n"] == 3 and len(r["bare"]["raw"]) == 4  # raw keeps the warm-up run, stats drop it
        assert r["memory"]["peak_rss_mb"] > 0
        assert set(r["frames"]) == {"640x480", "1280x720", "1920x1080"}
        for f in r["frames"].values():
            for stage in ("preprocess", "inference", "postprocess", "predict"):
                assert f[stage]["n"] == 3 and 0 < f[stage]["median"] <= f[stage]["p90"]
            assert f["predict"]["median"] >= f["inference"]["median"] and f["fps"] > 0
            assert f["ultralytics"]["predict"]["n"] == 3 and f["speedup_vs_ultralytics"]["paired_median"] > 0
            at = f["at_reference_settings"]  # ours again, at ultralytics' ONNX Runtime configuration
            assert at["options"] == {"ort_spinning": "always"} and at["predict"]["n"] == 3
            assert at["speedup_vs_ultralytics"]["paired_median"] > 0


def test_quick_bench_markdown_and_png(quick_run):
    rows = [line for line in (quick_run / "bench.md").read_text().splitlines() if line.startswith("| yolov8n")]
    for model in (FP32.name, INT8.name):
        assert sum(line.startswith(f"| {model} |") for line in rows) == 3  # one row per frame size
    png = (quick_run / "bench.png").read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 1024


def test_report_joins_validation(quick_run, tmp_path):
    from benchmarks.latency import main as latency_main

    validation = tmp_path / "validation.json"
    validation.write_text(json.dumps({"rows": [
        {"artifact": FP32.name, "engine": "onnxruntime", "precision": "fp32", "size_mb": 11.6, "map50_95": 0.70,
         "map50": 0.88, "params": 3_011_433},
        {"artifact": INT8.name, "engine": "onnxruntime", "precision": "int8", "size_mb": 3.2, "map50_95": 0.69,
         "map50": 0.87, "params": 3_011_433}]}))
    out = tmp_path / "report"
    assert latency_main(["report", "--bench", str(quick_run / "bench.json"), "--validation", str(validation),
                         "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = {r["model"]: r for r in report["rows"]}
    assert rows[FP32.name]["speedup_vs_fp32_onnx"] == pytest.approx(1.0)
    assert rows[INT8.name]["baseline"] == FP32.name and rows[INT8.name]["speedup_vs_fp32_onnx"] > 0
    assert rows[INT8.name]["map50_95"] == 0.69 and rows[INT8.name]["params"] == 3_011_433
    text = (out / "report.md").read_text()
    assert "| yolov8n-shapes-320_int8.onnx | onnxruntime | int8 | 1 | 3.01 M | 3.2 | 0.690 | 0.870 |" in text
    png = (out / "report.png").read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 1024


def test_cli_bench_measures_the_runtime_alone(tmp_path):
    """`yolo-edge bench` never loads ultralytics: no reference, and the JSON says why."""
    assert cli_main(["bench", str(INT8), "--quick", "--frames", "640x480", "--no-progress", "--out",
                     str(tmp_path)]) == 0
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert not bench["settings"]["reference"] and "benchmarks.latency" in bench["results"][0]["ultralytics"]
    assert "ultralytics" not in bench["results"][0]["frames"]["640x480"]


def test_bench_rejects_bad_frame_size(tmp_path, capsys):
    assert cli_main(["bench", str(FP32), "--frames", "640by480", "--quick", "--out", str(tmp_path)]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_bench_imports_no_optional_package():
    import subprocess
    import sys

    code = ("import sys, runtime.bench, runtime.cli; runtime.cli.build_parser(); "
            "print(sorted(m for m in ('matplotlib', 'tqdm', 'ultralytics', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bench_without_optional_packages(tmp_path):
    """No ultralytics, tqdm or matplotlib: the numbers and the Markdown still come, without comparison or chart."""
    import subprocess
    import sys

    code = ("import sys\nfor m in ('ultralytics', 'tqdm', 'matplotlib', 'torch'): sys.modules[m] = None\n"
            "from benchmarks.latency import main\n"
            f"sys.exit(main([{str(INT8)!r}, '--quick', '--frames', '640x480', '--out', {str(tmp_path)!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert bench["results"][0]["ultralytics"] == "ultralytics not installed"
    assert "ultralytics" not in bench["results"][0]["frames"]["640x480"]
    assert (tmp_path / "bench.md").exists() and not (tmp_path / "bench.png").exists()


def test_settle_waits_for_busy_threads_to_go_quiet():
    import threading
    import time

    from runtime.bench import settle

    assert 0.01 <= settle(0.01) < 0.5  # a quiet process: the gap and a probe or two

    def spin(seconds):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    # 50 ms probes: on a loaded machine the spinner may get no CPU for a whole 5 ms time slice, and settle would
    # then rightly call the process quiet; over 50 ms it still gets far more than settle's 20% of a core.
    busy = threading.Thread(target=spin, args=(0.6,))
    busy.start()
    waited = settle(0.01, max_s=2.0, probe_s=0.05)
    busy.join()
    assert waited >= 0.3  # a spinning worker (as ONNX Runtime's after a run) holds the next step back


def test_spinning_benchmark_runs_each_mode_in_its_own_process(tmp_path):
    pytest.importorskip("onnxruntime")
    from benchmarks import spinning

    assert spinning.main([str(FP32), "--gaps-ms", "0", "5", "--threads", "2", "--reps", "3", "--warmup", "1",
                          "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "spinning-yolov8n-shapes-320.json").read_text())
    assert set(record["results"]) == {f"{mode} @ {gap} ms" for mode in spinning.MODES for gap in (0, 5)}
    for cell in record["results"].values():
        assert cell["run_ms"]["n"] == 3 and cell["run_ms"]["median"] > 0
        assert cell["wall_ms_per_frame"] >= cell["run_ms"]["median"] * 0.5 and cell["cpu_ms_per_frame"] > 0
    table = (tmp_path / "spinning-yolov8n-shapes-320.md").read_text()
    assert "| 5 ms |" in table and table.count("\n| ") == 3  # header + one row per gap
