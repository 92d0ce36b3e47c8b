"""The benchmark harness (benchmarks/): the quick mode next to ultralytics end to end, the report join, the charts
at README width, the spinning benchmark. The thin `yolo-edge bench` is tested in tests/runtime."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from benchmarks.latency import main as latency_main
from helpers import ARTIFACTS, ROOT
from runtime.bench import settle

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
README_WIDTH = 900  # px: a chart wider than this is shrunk until its labels cannot be read
RESULTS = ROOT / "benchmarks" / "results"
FP32 = ARTIFACTS / "yolov8n-shapes-320.onnx"
INT8 = ARTIFACTS / "yolov8n-shapes-320_int8.onnx"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The benchmark script in quick mode on the fp32 and int8 ONNX models, all three frame sizes, with
    ultralytics' predict on the same files as the reference."""
    out = tmp_path_factory.mktemp("bench")
    assert latency_main([str(FP32), str(INT8), "--quick", "--no-progress", "--out", str(out)]) == 0
    return out


def test_quick_bench_json(quick_run):
    bench = json.loads((quick_run / "bench.json").read_text())
    env = bench["environment"]
    assert env["cores"] >= 1 and env["cpu"]
    assert {"numpy", "onnxruntime", "ultralytics", "torch"} <= set(env["versions"])  # all it used, and only that
    assert not {"openvino", "ai-edge-litert"} & set(env["versions"])
    assert bench["settings"]["quick"] and bench["settings"]["reps"] == 3 and bench["settings"]["warmup"] == 1
    assert bench["settings"]["sample"].endswith(".jpg") and bench["settings"]["reference"]
    assert [r["model"] for r in bench["results"]] == [FP32.name, INT8.name]
    assert [r["precision"] for r in bench["results"]] == ["fp32", "int8"]
    for r in bench["results"]:
        assert r["engine"] == "onnxruntime" and r["threads"] == 1 and r["ort_spinning"] == "within-run"
        assert r["bare"]["n"] == 3 and len(r["bare"]["raw"]) == 4  # raw keeps the warm-up run, stats drop it
        assert r["memory"]["peak_rss_mb"] > 0 and r["memory"]["includes_ultralytics"]
        assert set(r["frames"]) == {"640x480", "1280x720", "1920x1080"}
        for f in r["frames"].values():
            for stage in ("preprocess", "inference", "postprocess", "predict"):
                assert f[stage]["n"] == 3 and 0 < f[stage]["median"] <= f[stage]["p90"]
            assert f["predict"]["median"] >= f["inference"]["median"] and f["fps"] > 0
            assert f["detections"] == f["ultralytics"]["detections"] > 0  # the same sample photo for both
            assert f["ultralytics"]["predict"]["n"] == 3 and f["speedup_vs_ultralytics"]["paired_median"] > 0
            at = f["at_reference_settings"]  # ours again, at ultralytics' ONNX Runtime configuration
            assert at["options"] == {"ort_spinning": "always"} and at["predict"]["n"] == 3
            assert at["speedup_vs_ultralytics"]["paired_median"] > 0


def test_quick_bench_markdown_and_png(quick_run):
    rows = [line for line in (quick_run / "bench.md").read_text().splitlines() if line.startswith("| yolov8n")]
    for model in (FP32.name, INT8.name):
        assert sum(line.startswith(f"| {model} |") for line in rows) == 3  # one row per frame size
    assert all(line.count("|") == 17 and "x |" in line for line in rows)  # ultralytics' columns filled
    width, height = png_size(quick_run / "bench.png")
    assert width == README_WIDTH and height < 1.5 * width


def test_report_joins_validation(quick_run, tmp_path):
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
    assert png_size(out / "report.png")[0] == README_WIDTH


def test_harness_without_ultralytics_has_no_comparison_columns(tmp_path):
    assert latency_main([str(INT8), "--quick", "--frames", "640x480", "--no-ultralytics", "--no-progress",
                         "--out", str(tmp_path)]) == 0
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert not bench["settings"]["reference"] and bench["results"][0]["ultralytics"] == "not asked"
    assert not {"ultralytics", "torch"} & set(bench["environment"]["versions"])
    assert "ultralytics" not in bench["results"][0]["frames"]["640x480"]
    assert "ultralytics" not in (tmp_path / "bench.md").read_text()


def test_shipped_charts_fit_the_readme_width():
    charts = sorted(RESULTS.rglob("*.png"))
    assert charts and {p: png_size(p)[0] for p in charts if png_size(p)[0] > README_WIDTH} == {}


def test_shipped_charts_are_drawn_from_their_json(tmp_path):
    """`plot` draws the recorded runs again: same pixel size as the shipped charts (nothing re-measured)."""
    latency = RESULTS / "latency"
    for name in ("bench.json", "report.json"):
        (tmp_path / name).write_text((latency / name).read_text())
    assert latency_main(["plot", "--bench", str(tmp_path / "bench.json"), "--report",
                         str(tmp_path / "report.json")]) == 0
    for chart in ("bench.png", "report.png"):
        assert png_size(tmp_path / chart) == png_size(latency / chart)


def test_settle_waits_for_busy_threads_to_go_quiet():
    import threading
    import time

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
