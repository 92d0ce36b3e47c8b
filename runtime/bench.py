"""`yolo-edge bench MODEL...`: latency of model files on this device, per engine x thread count x frame size.

Its frames are generated (one fixed scene, resized): it needs no file besides the models. `python -m
benchmarks.latency` measures with the same functions and adds the ultralytics comparison, reports and charts.

Method (engines' thread pools disturb each other, so comparisons are kept fair this way):
  * one model/engine/thread-count block at a time: only that block's Detector is loaded while it is measured;
  * every repetition runs all steps of the block (the bare engine run on a prepared tensor, predict on each frame
    size) interleaved, the order rotated so that no step always runs right after another's thread pool;
  * every timed step starts after an idle gap and until the process's threads are quiet (see settle).
Warm-up repetitions are run the same way and dropped; median, p90 and mean of the rest are reported, every raw
figure goes into the JSON. Peak memory is the process's ru_maxrss after each block (it only grows).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from runtime.detector import Detector
from runtime.engines import ENGINE_NAMES, engine_class, engines_reading, installed_engines, model_size
from runtime.engines.settings import physical_cores
from runtime.errors import ModelLoadError
from runtime.preprocess import prepare

DEFAULT_FRAMES = ("640x480", "1280x720", "1920x1080")
STAGES = ("preprocess", "inference", "postprocess")
QUICK = {"reps": 3, "warmup": 1, "gap_ms": 5.0}
ENGINE_WIDTH = max(map(len, ENGINE_NAMES))  # of the table's engine column
METHOD = __doc__.split("Method", 1)[1].split("\n", 1)[1].strip()


def summarize(samples_ms, warmup: int = 0) -> dict:
    """Median, p90, mean and count of the timings after dropping the first `warmup` ones."""
    if warmup < 0:
        raise ValueError("warmup must be >= 0")
    a = np.asarray(list(samples_ms), dtype=np.float64)[warmup:]
    if a.size == 0:
        raise ValueError(f"no timings left to summarize ({warmup} warm-up run(s) dropped)")
    return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)), "mean": float(a.mean()),
            "n": int(a.size)}


def figure(samples_ms: list[float], warmup: int) -> dict:
    """summarize() plus every raw timing (warm-up included, flagged by its count) for the JSON."""
    return {**summarize(samples_ms, warmup), "warmup": warmup, "raw": [round(v, 4) for v in samples_ms]}


def settle(gap_s: float, max_s: float = 1.0, probe_s: float = 0.005) -> float:
    """Sleep gap_s, then until this process's threads are quiet: no more than 20% of one core busy over a probe.

    Engines' workers may go on spinning after a run returns (ONNX Runtime's default burns 60-120 ms of CPU after
    each run), and a step started while they spin is slowed by them. Returns the seconds waited.
    """
    start = time.perf_counter()
    time.sleep(gap_s)
    while time.perf_counter() - start < max_s:
        cpu = time.process_time()
        time.sleep(probe_s)
        if time.process_time() - cpu < 0.2 * probe_s:
            break
    return time.perf_counter() - start


def interleave(steps, reps: int, warmup: int, gap_s: float, tick=lambda: None) -> None:
    """Run every step once per repetition, the order rotated each time, each step after settle(gap_s)."""
    for i in range(warmup + reps):
        k = i % len(steps)
        for step in steps[k:] + steps[:k]:
            settle(gap_s)
            step()
        tick()


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"frame size {text!r} is not WIDTHxHEIGHT") from None
    if w < 1 or h < 1:
        raise ValueError(f"frame size {text!r} must be positive")
    return w, h


def synthetic_frames(sizes) -> dict[str, np.ndarray]:
    """One fixed BGR scene (colour gradients and filled shapes) resized to each WIDTHxHEIGHT."""
    y, x = np.mgrid[0:720, 0:1280].astype(np.float32)
    scene = np.dstack([60 + 120 * x / 1280, 80 + 100 * y / 720, 200 - 90 * (x + y) / 2000]).astype(np.uint8)
    cv2.circle(scene, (300, 260), 110, (40, 40, 220), -1)
    cv2.rectangle(scene, (640, 120), (900, 360), (220, 160, 30), -1)
    cv2.fillPoly(scene, [np.array([[1000, 620], [1200, 620], [1100, 430]], np.int32)], (30, 200, 60))
    cv2.ellipse(scene, (420, 560), (160, 70), 20, 0, 360, (0, 200, 230), -1)
    return {s: cv2.resize(scene, parse_size(s), interpolation=cv2.INTER_LINEAR) for s in sizes}


def precision_of(path: Path, detector: Detector | None = None) -> str:
    """The file's precision; where the engine computes a float model in less (OpenVINO's bf16 or f16), that:
    'fp32', 'bf16', 'int8', 'int8+bf16' (int8 with the float layers in bf16)."""
    name = path.name.lower()
    int8 = "int8" in name or (detector is not None and detector.engine.input.is_quantized)
    label = "int8" if int8 else "fp16" if ("float16" in name or "fp16" in name or "half" in name) else "fp32"
    compute = getattr(detector.engine, "compute_precision", "f32") if detector is not None else "f32"
    if compute in ("bf16", "f16"):
        return f"int8+{compute}" if int8 else compute
    return label


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return kb / 2**20 if sys.platform == "darwin" else kb / 2**10


# The CPU features that decide int8 and bf16 speed (the same model name comes with and without them).
SPEED_FLAGS = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16",
                         "asimddp", "i8mm", "sve"})


def environment(engines, modules=()) -> dict:
    """The machine, and the versions of what was measured: numpy, OpenCV, the engines used (and `modules`)."""
    provided = md.packages_distributions()  # import name -> distributions
    engine_modules = (next((m for m in engine_class(e).packages if m in provided), None) for e in engines)
    versions = {d: md.version(d) for m in ("numpy", "cv2", *engine_modules, *modules) if m
                for d in provided.get(m, [])[:1]}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    except (OSError, StopIteration):
        cpu, flags = platform.processor() or platform.machine(), set()
    return {"date": dt.datetime.now().isoformat(timespec="seconds"), "cpu": cpu,
            "isa": sorted(flags & SPEED_FLAGS), "cores": os.cpu_count(),
            "physical_cores": physical_cores(), "machine": platform.machine(), "system": platform.system(),
            "python": platform.python_version(), "versions": versions}


def cpu_label(env: dict) -> str:
    """The CPU as records name it: its model and the features that decide int8/bf16 speed (older records have
    none)."""
    isa = env.get("isa")
    return f"{env['cpu']} ({' '.join(isa)})" if isa else env["cpu"]


def detector_steps(detector: Detector, frames: dict[str, np.ndarray], raw: dict, counts: dict) -> list:
    """The bare engine run on a prepared tensor, and predict on each frame; each appends its ms to raw[key]."""
    tensor = prepare(next(iter(frames.values())), detector.engine.input, detector.input_hw)[0]

    def bare():
        t0 = time.perf_counter()
        detector.engine.run(tensor)
        raw.setdefault("bare", []).append((time.perf_counter() - t0) * 1e3)

    def predict(size):
        def step():
            t0 = time.perf_counter()
            det = detector.predict(frames[size])
            raw.setdefault(f"{size}/predict", []).append((time.perf_counter() - t0) * 1e3)
            for stage in STAGES:
                raw.setdefault(f"{size}/{stage}", []).append(getattr(det.times, stage))
            counts[size] = len(det)
        return step
    return [bare] + [predict(size) for size in frames]


def block_result(path: Path, detector: Detector, threads: int, raw: dict, counts: dict, warmup: int) -> dict:
    """A block's record from the timings detector_steps collected."""
    result = {"model": path.name, "path": str(path), "engine": detector.engine.name, "threads": threads,
              "precision": precision_of(path, detector), "imgsz": detector.input_hw[0],
              "size_mb": round(model_size(path) / 2**20, 3), "ort_spinning": detector.options.ort_spinning,
              "openvino_hint": detector.options.openvino_hint, "bare": figure(raw["bare"], warmup), "frames": {}}
    for size in counts:
        row = {key: figure(raw[f"{size}/{key}"], warmup) for key in ("predict", *STAGES)}
        result["frames"][size] = {**row, "detections": counts[size], "fps": 1e3 / row["predict"]["median"]}
    return result


def measure_block(path: Path, engine: str, threads: int, frames: dict[str, np.ndarray], reps: int, warmup: int,
                  gap_s: float) -> dict:
    rss_before = peak_rss_mb()
    detector = Detector(path, backend=engine, threads=threads)
    raw, counts = {}, {}
    interleave(detector_steps(detector, frames, raw, counts), reps, warmup, gap_s)
    return {**block_result(path, detector, threads, raw, counts, warmup),
            "memory": {"peak_rss_mb_before": round(rss_before, 1), "peak_rss_mb": round(peak_rss_mb(), 1)}}


def plan(models, threads, engines: list[str] | None) -> tuple[list[tuple[Path, str, int]], list[dict]]:
    """The (model, engine, threads) blocks to measure: each file on its own engine, or on each of `engines` that
    reads it; and the pairs skipped, with why."""
    installed, blocks, skipped = installed_engines(), [], []
    for path in map(Path, models):
        readers = engines_reading(path)
        if not path.exists() or not readers:
            raise ModelLoadError(path, "any engine", "no such file" if not path.exists() else "unknown model format")
        for engine in engines or readers[:1]:
            why = (f"{engine} does not read this format" if engine not in readers else
                   f"not installed: pip install 'yolo-edge-runtime[{engine_class(engine).extra}]'"
                   if engine not in installed else None)
            if why:
                skipped.append({"model": path.name, "engine": engine, "why": why})
            else:
                blocks += [(path, engine, t) for t in threads]
    if not blocks:
        raise ValueError("nothing to measure: " + "; ".join(f"{s['model']} on {s['engine']}: {s['why']}"
                                                            for s in skipped))
    return blocks, skipped


def row_text(r: dict, size: str, width: int) -> str:
    f = r["frames"][size]
    return (f"{r['model']:<{width}} {r['engine']:<{ENGINE_WIDTH}} {r['precision']:<9} {r['threads']:>3} {size:>9} "
            f"{r['bare']['median']:8.2f} {f['preprocess']['median']:6.2f} {f['inference']['median']:7.2f} "
            f"{f['postprocess']['median']:6.2f} {f['predict']['median']:8.2f} ({f['predict']['p90']:6.2f}) "
            f"{f['fps']:7.1f} {f['detections']:>4}")


def add_arguments(parser) -> None:
    parser.add_argument("models", nargs="+", type=Path, help=".onnx, .xml, *_openvino_model/ or .tflite files")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts to measure (default 1)")
    parser.add_argument("--frames", nargs="+", default=list(DEFAULT_FRAMES), help="frame sizes WIDTHxHEIGHT")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINE_NAMES), default=None,
                        help="engines to run each file on when they read its format (default: the file's own)")
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per block")
    parser.add_argument("--warmup", type=int, default=5, help="repetitions run first and dropped")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="idle gap before each timed step")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['reps']} reps, {QUICK['warmup']} warm-up, {QUICK['gap_ms']:g} ms gap")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure, raw timings included")


def run_from_args(args) -> int:
    """Measure, print a table row per block and frame size as it is measured, and write the JSON if asked."""
    sizes = [*dict.fromkeys(args.frames)]
    for size in sizes:
        parse_size(size)
    reps, warmup, gap_ms = (QUICK[k] for k in ("reps", "warmup", "gap_ms")) if args.quick else (
        args.reps, args.warmup, args.gap_ms)
    if min(args.threads) < 1 or reps < 1 or warmup < 0 or gap_ms < 0:
        raise ValueError("--threads and --reps must be >= 1, --warmup and --gap-ms >= 0")
    blocks, skipped = plan(args.models, args.threads, args.engines)
    env = environment(sorted({engine for _, engine, _ in blocks}, key=ENGINE_NAMES.index))
    width = max(len(p.name) for p, _, _ in blocks)
    print(f"{cpu_label(env)}, {env['cores']} logical / {env['physical_cores']} physical cores; ms, median of {reps} "
          f"repetitions after {warmup} warm-up, each step after a {gap_ms:g} ms idle gap")
    print(f"{'model':<{width}} {'engine':<{ENGINE_WIDTH}} {'precision':<9} thr {'frame':>9}  bare ms    pre   "
          "infer   post predict ms (p90)       FPS dets", flush=True)
    frames, results = synthetic_frames(sizes), []
    for path, engine, threads in blocks:
        results.append(measure_block(path, engine, threads, frames, reps, warmup, gap_ms / 1e3))
        print("\n".join(row_text(results[-1], size, width) for size in sizes), flush=True)
    for s in skipped:
        print(f"skipped {s['model']} on {s['engine']}: {s['why']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    if args.json:
        bench = {"environment": env, "method": METHOD, "skipped": skipped, "results": results,
                 "settings": {"reps": reps, "warmup": warmup, "gap_ms": gap_ms, "frames": sizes,
                              "threads": list(args.threads), "engines": args.engines, "quick": args.quick}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(bench, indent=1))
        print(f"wrote {args.json}")
    return 0
