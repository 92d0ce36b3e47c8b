"""The accuracy-latency front (benchmarks/front.py): seeds averaged, verdicts against the smaller YOLOv8n exports,
and a plot that carries every candidate."""

from __future__ import annotations

import json

import pytest

front = pytest.importorskip("benchmarks.front", reason="the model factory (absent in the arm64 lane)")
THREADS = [str(t) for t in front.thread_counts()]


def report(imgsz: int, fp32: float, int8: float) -> dict:
    """A yolo-edge-optimize report.json as the front reads it: one engine, fp32 (no drop) and int8."""
    return {"imgsz": imgsz, "split": "test", "scoring_images": 1500,
            "rows": [{"engine": "onnxruntime", "file": "m.onnx", "map50_95": fp32, "drop": None},
                     {"engine": "onnxruntime", "file": "m_int8.onnx", "map50_95": int8, "drop": round(fp32 - int8, 4)}]}


def test_each_candidate_is_the_mean_of_its_seeds_with_each_seed_listed(tmp_path):
    runs = {"p50-kd-seed0": (0.76, 0.75), "p50-kd-seed1": (0.74, 0.73), "yolov8n-256": (0.73, 0.72)}
    for run, scores in runs.items():
        (tmp_path / run).mkdir()
        (tmp_path / run / "report.json").write_text(json.dumps(report(320, *scores)))
    rows = front.points(tmp_path, front.load(tmp_path))
    kd = {r["precision"]: r for r in rows if r["candidate"] == "p50-kd"}
    assert kd["fp32"]["map50_95"] == pytest.approx(0.75) and kd["int8"]["map50_95"] == pytest.approx(0.74)
    assert kd["int8"]["map50_95_seeds"] == {"p50-kd-seed0": 0.75, "p50-kd-seed1": 0.73}
    assert kd["int8"]["file"].endswith("p50-kd-seed0/m_int8.onnx")  # timed: the first seed's file
    assert {r["candidate"] for r in rows} == {"p50-kd", "yolov8n-256"}


def test_the_table_says_when_the_timed_int8_file_kept_float_layers(tmp_path):
    for run in ("p30-seed0", "p30-seed1"):
        (tmp_path / run).mkdir()
        made = report(320, 0.78, 0.77)
        if run == "p30-seed0":  # the timed seed: its int8 file kept its most sensitive layers float
            made["rows"][1]["remedy"] = "sensitive layers float"
        (tmp_path / run / "report.json").write_text(json.dumps(made))
    rows = front.points(tmp_path, front.load(tmp_path))
    for r in rows:
        r["latency_ms"] = {t: {"predict": 9.0, "bare": 8.0} for t in THREADS}
    table = front.markdown({"split": "test", "images": 1500, "reps": 3, "rows": rows, "verdicts": [],
                            "environment": front.environment(["onnxruntime"])})
    assert "| p30 | onnxruntime | int8 (sensitive layers float) | 320 |" in table
    assert "| p30 | onnxruntime | fp32 | 320 |" in table


def row(candidate: str, precision: str, score: float, ms: float) -> dict:
    return {"candidate": candidate, "engine": "onnxruntime", "precision": precision, "map50_95": score,
            "latency_ms": {t: {"predict": ms, "bare": ms * 0.8} for t in THREADS}}


def test_verdicts_name_only_more_accurate_models_that_are_faster_or_within_the_tie():
    rows = [row("yolov8n-288", "int8", 0.760, 10.0), row("yolov8n-256", "int8", 0.740, 8.0),
            row("fast", "int8", 0.765, 9.0),        # 10% faster than 288: a win there; slower than 256
            row("level", "int8", 0.770, 10.2),      # 2% slower than 288: within the tie
            row("slow", "fp32", 0.780, 10.5),       # 5% slower: neither
            row("worse", "int8", 0.750, 7.0)]       # fastest, less accurate than 288 (a win against 256 only)
    lines = front.verdicts(rows)
    assert len(lines) == 2 * len(THREADS)  # one per baseline and thread count
    against_288 = next(line for line in lines if "against yolov8n-288" in line)
    faster, level = against_288.split("faster and more accurate: ")[1].split("; as fast")
    assert "fast int8" in faster and "level" not in faster and "worse" not in faster and "slow" not in faster
    assert "level int8" in level and "slow" not in level and "yolov8n-256" not in against_288
    against_256 = next(line for line in lines if "against yolov8n-256" in line)
    assert "worse int8" in against_256.split("; as fast")[0] and "fast int8" not in against_256


def test_the_plot_carries_more_candidates_than_one_colour_cycle(tmp_path):
    pytest.importorskip("matplotlib")
    names = [f"candidate-{i}" for i in range(13)]
    rows = [row(name, precision, 0.7 + i / 100, 5.0 + i) for i, name in enumerate(names)
            for precision in ("fp32", "int8")]
    env = {"date": "2026-12-07T12:00:00", "cpu": "a CPU", "isa": [], "cores": 2, "versions": {}}
    out = tmp_path / "front.png"
    front.plot({"rows": rows, "environment": env}, out)
    assert out.stat().st_size > 10_000


def test_redraw_rewrites_the_table_and_plot_from_the_record_without_timing(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [row("yolov8n-288", "int8", 0.76, 10.0), row("p30", "int8", 0.78, 9.0)]
    for r in rows:
        r.update(imgsz=288, map50_95_seeds={r["candidate"]: r["map50_95"]})
    rows[1]["remedy"] = "sensitive layers float"
    rows[1]["file"] = str(tmp_path / "absent.onnx")  # nothing is timed: the file need not exist
    env = {"date": "2026-12-07T12:00:00", "cpu": "a CPU", "isa": [], "cores": 2, "versions": {}}
    out = tmp_path / "front"
    record = {"split": "test", "images": 1500, "reps": 60, "environment": env, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(record))
    assert front.main(["--out", str(out), "--redraw"]) == 0
    table = out.with_suffix(".md").read_text()
    assert "int8 (sensitive layers float)" in table and "against yolov8n-288" in table
    assert out.with_suffix(".png").stat().st_size > 10_000
