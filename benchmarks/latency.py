"""Latency benchmark (model file x engine x thread count x frame size) next to ultralytics, and its reports.

    # measure: bench.json (every raw figure + environment), bench.md, bench.png
    python -m benchmarks.latency models/artifacts/yolov8n-shapes-320.onnx ... --threads 1 2 --out build/bench
    # join with the factory's validation results: report.json, report.md, report.png
    python -m benchmarks.latency report --bench build/bench/bench.json --validation models/reports/report.json
    # draw the charts again from recorded JSON (nothing is measured)
    python -m benchmarks.latency plot --bench benchmarks/results/latency/bench.json

The measuring is `yolo-edge bench`'s (runtime/bench.py: its docstring gives the method) on the shipped sample
photo; each block also runs ultralytics' predict on the same file and frames, interleaved with ours, and a second
Detector at ultralytics' engine settings (ultralytics_engine_settings), so that the comparison can also be read
with the engine configuration equal and only the runtimes' own work differing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks import report
from benchmarks.sample import sample_frames, sample_path
from models.settings import BUILD_DIR, REPO_ROOT, init_ultralytics
from runtime import bench
from runtime.detector import Detector
from runtime.engines import ENGINE_NAMES, owning_engine


def ultralytics_reference(path: Path, engine: str):
    """ultralytics' YOLO on the same file, or (None, why) when it cannot run it on this engine."""
    if owning_engine(path) != engine:
        return None, f"ultralytics does not run {path.suffix or 'this format'} files on {engine}"
    try:
        return init_ultralytics().YOLO(str(path), task="detect"), None
    except Exception as exc:  # noqa: BLE001 - ultralytics missing or an unsupported file is reported, not fatal
        return None, f"{type(exc).__name__}: {exc}"


def ultralytics_engine_settings(engine: str) -> dict:
    """Detector options that reproduce how ultralytics 8.4 configures each engine (read from its backends):
    ONNX Runtime with default SessionOptions (intra-op spinning on, threads = physical cores); OpenVINO with the
    LATENCY hint and its own precision on x86 (f32 on ARM); LiteRT with min(8, cpu_count - 1) threads."""
    if engine == "onnxruntime":
        return {"ort_spinning": "always"}
    if engine == "openvino":
        return {"precision": "f32" if platform.machine() in {"aarch64", "arm64"} else "auto"}
    return {"threads": min(8, max(1, (os.cpu_count() or 1) - 1))}


def timed_predict(predict, frame, times: list, results: list | None = None):
    """A step that appends the ms of predict(frame) to `times` (and its result to `results`)."""
    def step():
        t0 = time.perf_counter()
        result = predict(frame)
        times.append((time.perf_counter() - t0) * 1e3)
        if results is not None:
            results.append(result)
    return step


def measure_block(path: Path, engine: str, threads: int, frames: dict, reps: int, warmup: int, gap_s: float,
                  compare: bool, tick) -> dict:
    """runtime.bench's block, with ultralytics' predict and ours at its engine settings among the steps."""
    rss_before = bench.peak_rss_mb()
    detector = Detector(path, backend=engine, threads=threads)
    raw, counts = {}, {}
    steps = bench.detector_steps(detector, frames, raw, counts)
    reference, why_not = ultralytics_reference(path, engine) if compare else (None, "not asked")
    matched_options = ultralytics_engine_settings(engine) if reference is not None else None
    matched = Detector(path, backend=engine, **matched_options) if matched_options else None
    theirs = {size: [] for size in frames}
    if reference is not None:
        def ul_predict(frame):  # keeps its stage timers and box count, not the Results (they hold the frame)
            result = reference.predict(frame, imgsz=detector.input_hw[0], verbose=False)[0]
            return result.speed, len(result.boxes)
        steps += [timed_predict(ul_predict, frames[s], raw.setdefault(f"{s}/ul_predict", []), theirs[s])
                  for s in frames]
        steps += [timed_predict(matched.predict, frames[s], raw.setdefault(f"{s}/matched", [])) for s in frames]
    bench.interleave(steps, reps, warmup, gap_s, tick)

    result = {**bench.block_result(path, detector, threads, raw, counts, warmup),
              "ultralytics": None if reference is not None else why_not}
    for size, row in result["frames"].items() if reference is not None else ():
        ul = {"predict": bench.figure(raw[f"{size}/ul_predict"], warmup),
              **{stage: bench.figure([speed[stage] for speed, _ in theirs[size]], warmup) for stage in bench.STAGES},
              "detections": theirs[size][-1][1]}
        ul["fps"] = 1e3 / ul["predict"]["median"]
        ours = np.asarray(raw[f"{size}/predict"][warmup:])
        row["ultralytics"] = ul
        row["speedup_vs_ultralytics"] = {
            "paired_median": float(np.median(np.asarray(raw[f"{size}/ul_predict"][warmup:]) / ours)),
            "ratio_of_medians": ul["predict"]["median"] / row["predict"]["median"]}
        at = np.asarray(raw[f"{size}/ul_predict"][warmup:]) / np.asarray(raw[f"{size}/matched"][warmup:])
        row["at_reference_settings"] = {"options": matched_options,
                                        "predict": bench.figure(raw[f"{size}/matched"], warmup),
                                        "speedup_vs_ultralytics": {"paired_median": float(np.median(at))}}
    result["memory"] = {"peak_rss_mb_before": round(rss_before, 1), "peak_rss_mb": round(bench.peak_rss_mb(), 1),
                        "includes_ultralytics": reference is not None}
    return result


def run(args) -> dict:
    """Every model x engine x thread count, one block at a time; returns the bench.json dict."""
    sizes = [*dict.fromkeys(args.frames)]
    settings = dict(bench.QUICK) if args.quick else {"reps": args.reps, "warmup": args.warmup,
                                                      "gap_ms": args.gap_ms}
    blocks, skipped = bench.plan(args.models, args.threads, args.engines)
    compare = not args.no_ultralytics
    used = sorted({engine for _, engine, _ in blocks}, key=ENGINE_NAMES.index)
    env = bench.environment(used, modules=("ultralytics", "torch") if compare else ())
    frames = sample_frames(sizes)
    results = []
    with tqdm(total=len(blocks) * (settings["reps"] + settings["warmup"]), unit="rep",
              disable=args.no_progress) as bar:
        for path, engine, threads in blocks:
            bar.set_description(f"{path.name} [{engine}, {threads} thr]")
            results.append(measure_block(path, engine, threads, frames, settings["reps"], settings["warmup"],
                                         settings["gap_ms"] / 1e3, compare, bar.update))
    return {"environment": env, "method": bench.METHOD, "skipped": skipped, "results": results,
            "settings": {**settings, "frames": sizes, "threads": list(args.threads), "engines": args.engines,
                         "quick": args.quick, "reference": compare, "sample": sample_path().name}}


def measure_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_arguments(parser)
    parser.add_argument("--no-ultralytics", action="store_true", help="skip the ultralytics comparison")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--out", type=Path, default=BUILD_DIR / "bench")
    args = parser.parse_args(argv)
    record = run(args)
    paths = report.write_bench(record, args.out)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    print(report.bench_markdown(record))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def report_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency report",
                                     description="join bench.json with the factory's validation results")
    parser.add_argument("--bench", type=Path, default=BUILD_DIR / "bench" / "bench.json")
    parser.add_argument("--validation", type=Path, nargs="+",
                        default=[REPO_ROOT / "models" / "reports" / "report.json",
                                 REPO_ROOT / "models" / "reports" / "light-int8-report.json"],
                        help="the factory's report JSON files")
    parser.add_argument("--out", type=Path, default=BUILD_DIR / "bench")
    args = parser.parse_args(argv)
    validation = {k: v for path in args.validation for k, v in report.load_validation(path).items()}
    joined = report.join(json.loads(args.bench.read_text()), validation)
    print(report.report_markdown(joined))
    print("wrote " + ", ".join(str(p) for p in report.write_report(joined, args.out)))
    return 0


def plot_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency plot",
                                     description="draw bench.png (and report.png) again from recorded JSON")
    parser.add_argument("--bench", type=Path, required=True, help="bench.json; bench.png is written beside it")
    parser.add_argument("--report", type=Path, help="report.json; report.png is written beside it")
    args = parser.parse_args(argv)
    written = [report.plot_bench(json.loads(args.bench.read_text()), args.bench.with_suffix(".png"))]
    if args.report:
        written.append(report.plot_report(json.loads(args.report.read_text()), args.report.with_suffix(".png")))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"report": report_main, "plot": plot_main}
    return commands[argv[0]](argv[1:]) if argv[:1] and argv[0] in commands else measure_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
