"""Latency benchmark core: model file x engine x thread count, bare engine run and full predict per frame size.

Used by `yolo-edge bench MODEL...` and by `python -m benchmarks.latency`. Pure numpy + the runtime: tqdm and
matplotlib are imported only when a run asks for them, and each is optional. A reference to compare against
(ultralytics' predict on the same file) is passed in by the caller: the runtime never imports ultralytics;
`python -m benchmarks.latency` supplies it. The Markdown table and the chart are written by runtime/bench_report.py.

Method (engines' thread pools disturb each other, so comparisons are kept fair this way):
  * one model/engine/thread-count block at a time: only that block's Detector (and, if installed, ultralytics'
    predictor on the same file) is loaded while it is measured, then released before the next block;
  * inside a block every repetition runs all steps -- the bare engine run on a prepared tensor, our
    Detector.predict on each frame size, ultralytics' predict on each frame size -- interleaved, and the order
    rotates every repetition so no step always runs right after another's thread pool; machine noise is then
    common to the figures compared (ours vs ultralytics' is also given as a per-repetition paired ratio);
  * every timed step starts after an idle gap (--gap-ms, 20 ms, then until the process's CPU time stops
    growing: see settle) in which spinning workers of the previous step
    (ultralytics' ONNX Runtime session spins on after each run; torch/OpenMP pools too) fall asleep; our ONNX
    Runtime sessions spin only within a run (the Detector default), so they leave no spinning threads behind.
Warm-up repetitions are run the same way and dropped; median, p90 (numpy's default linear percentile) and mean
of the rest are reported, never a single run; every raw figure goes into the JSON. Peak memory is the process's
ru_maxrss after each block: it only grows, so a block's figure includes what earlier blocks (and torch, when
ultralytics is compared) took -- run one model with --no-ultralytics for a clean number.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import importlib.util
import os
import platform
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from runtime.detector import Detector
from runtime.engines import ENGINES, engine_class
from runtime.engines.settings import physical_cores
from runtime.preprocess import prepare

DEFAULT_FRAMES = ("640x480", "1280x720", "1920x1080")
SAMPLES = Path(__file__).resolve().parents[1] / "models" / "samples"
REFERENCE_FRAME = "1280x720"  # the frame size the charts and the report use when it was measured
ENGINE_MODULES = {"onnxruntime": ("onnxruntime",), "openvino": ("openvino",),
                  "tflite": ("ai_edge_litert", "tflite_runtime")}
STAGES = ("preprocess", "inference", "postprocess")


# --------------------------------------------------------------------------------------------------- statistics
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
    each run here), and a step started while they spin is slowed by them. Returns the seconds waited.
    """
    start = time.perf_counter()
    time.sleep(gap_s)
    while time.perf_counter() - start < max_s:
        cpu = time.process_time()
        time.sleep(probe_s)
        if time.process_time() - cpu < 0.2 * probe_s:
            break
    return time.perf_counter() - start


# -------------------------------------------------------------------------------------------------- inputs
def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"frame size {text!r} is not WIDTHxHEIGHT") from None
    if w < 1 or h < 1:
        raise ValueError(f"frame size {text!r} must be positive")
    return w, h


def test_frames(sizes, samples: Path = SAMPLES) -> dict[str, np.ndarray]:
    """A shipped sample photo resized to each size (real pixels, real detections)."""
    paths = sorted(samples.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no sample images in {samples}")
    source = cv2.imread(str(paths[0]))
    return {s: cv2.resize(source, parse_size(s), interpolation=cv2.INTER_LINEAR) for s in sizes}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules (set to None)
        return False


def installed_engines() -> list[str]:
    return [n for n, mods in ENGINE_MODULES.items() if any(installed(m) for m in mods)]


def engines_for(path: Path, wanted: list[str] | None) -> list[str]:
    """The file's own engine, or each wanted engine that reads this format (OpenVINO also reads .onnx)."""
    readers = {"onnxruntime": (".onnx",), "openvino": (".onnx", ".xml"), "tflite": (".tflite",)}
    if not wanted:
        return [n for n in ENGINES if engine_class(n).claims(path)][:1]
    return [n for n in wanted if path.suffix.lower() in readers[n] or (n == "openvino" and path.is_dir())]


def size_mb(path: Path) -> float:
    files = path.rglob("*") if path.is_dir() else [path]
    return sum(f.stat().st_size for f in files if f.is_file() and f.suffix != ".yaml") / 2**20


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


def environment() -> dict:
    versions = {}
    for package in ("numpy", "opencv-python-headless", "onnxruntime", "openvino", "ai-edge-litert",
                    "tflite-runtime", "ultralytics", "torch"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "?"
    return {"date": dt.datetime.now().isoformat(timespec="seconds"), "cpu": cpu, "cores": os.cpu_count(),
            "physical_cores": physical_cores(), "machine": platform.machine(), "system": platform.system(),
            "python": platform.python_version(), "versions": versions, "engines_installed": installed_engines(),
            "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def progress_bar(total: int, enabled: bool):
    """tqdm if installed and wanted, else a stand-in that does nothing."""
    if enabled:
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc="bench", unit="rep")
        except ImportError:
            pass

    class NoBar:
        def update(self, n=1): ...
        def set_description(self, text): ...
        def close(self): ...
    return NoBar()


def no_reference(path: Path):
    return None, "no reference given (python -m benchmarks.latency compares with ultralytics)"


# ------------------------------------------------------------------------------------------------ measuring
def measure_block(path: Path, engine: str, threads: int, frames: dict[str, np.ndarray], reps: int, warmup: int,
                  gap_ms: float, reference_loader, bar, reference_settings=None) -> dict:
    """One model x engine x thread count: interleaved, rotated steps; see the module docstring.

    reference_settings(engine) -> the Detector options that give the reference's engine configuration; with it a
    second Detector runs the same frames at those settings, so that the comparison isolates the runtime's work.
    """
    rss_before = peak_rss_mb()
    detector = Detector(path, backend=engine, threads=threads)
    tensor = prepare(next(iter(frames.values())), detector.engine.input, detector.input_hw)[0]
    if not engine_class(engine).claims(path):  # a reference would run the file on its own engine, not this one
        reference, why_not = None, f"ultralytics does not run {path.suffix or 'this format'} files on {engine}"
    else:
        reference, why_not = reference_loader(path)
    matched_options = reference_settings(engine) if reference is not None and reference_settings else None
    matched = Detector(path, backend=engine, **matched_options) if matched_options else None
    imgsz = detector.input_hw[0]
    raw: dict[str, list[float]] = {"bare": []}
    for size in frames:
        for key in ("predict", *STAGES, "matched", "ul_predict", *(f"ul_{s}" for s in STAGES)):
            raw[f"{size}/{key}"] = []
    counts: dict[str, int] = {}
    gap_s = gap_ms / 1e3

    def bare():
        t0 = time.perf_counter()
        detector.engine.run(tensor)
        raw["bare"].append((time.perf_counter() - t0) * 1e3)

    def ours(size):
        def step():
            t0 = time.perf_counter()
            det = detector.predict(frames[size])
            raw[f"{size}/predict"].append((time.perf_counter() - t0) * 1e3)
            for stage in STAGES:
                raw[f"{size}/{stage}"].append(getattr(det.times, stage))
            counts[size] = len(det)
        return step

    def ours_matched(size):
        def step():
            t0 = time.perf_counter()
            matched.predict(frames[size])
            raw[f"{size}/matched"].append((time.perf_counter() - t0) * 1e3)
        return step

    def theirs(size):
        def step():
            t0 = time.perf_counter()
            result = reference.predict(frames[size], imgsz=imgsz, verbose=False)[0]
            raw[f"{size}/ul_predict"].append((time.perf_counter() - t0) * 1e3)
            for stage in STAGES:
                raw[f"{size}/ul_{stage}"].append(result.speed[stage])
            counts[f"ul/{size}"] = len(result.boxes)
        return step

    steps = [bare] + [ours(s) for s in frames] + ([theirs(s) for s in frames] if reference is not None else [])
    steps += [ours_matched(s) for s in frames] if matched is not None else []
    for i in range(warmup + reps):
        k = i % len(steps)
        for step in steps[k:] + steps[:k]:  # rotate: no step always follows the same one
            settle(gap_s)  # the previous step's thread pools (spinning ORT / OpenMP workers) go idle
            step()
        bar.update(1)

    result = {"model": path.name, "path": str(path), "engine": detector.engine.name, "threads": threads,
              "precision": precision_of(path, detector), "imgsz": imgsz, "size_mb": round(size_mb(path), 3),
              "ort_spinning": detector.options.ort_spinning, "openvino_hint": detector.options.openvino_hint,
              "bare": figure(raw["bare"], warmup), "frames": {},
              "ultralytics": None if reference is not None else why_not}
    for size in frames:
        row = {"predict": figure(raw[f"{size}/predict"], warmup),
               **{stage: figure(raw[f"{size}/{stage}"], warmup) for stage in STAGES},
               "detections": counts.get(size)}
        row["fps"] = 1e3 / row["predict"]["median"]
        if reference is not None:
            ul = {"predict": figure(raw[f"{size}/ul_predict"], warmup),
                  **{stage: figure(raw[f"{size}/ul_{stage}"], warmup) for stage in STAGES},
                  "detections": counts.get(f"ul/{size}")}
            ul["fps"] = 1e3 / ul["predict"]["median"]
            paired = np.asarray(raw[f"{size}/ul_predict"][warmup:]) / np.asarray(raw[f"{size}/predict"][warmup:])
            row["ultralytics"] = ul
            row["speedup_vs_ultralytics"] = {"paired_median": float(np.median(paired)),
                                             "ratio_of_medians": ul["predict"]["median"] / row["predict"]["median"]}
        if matched is not None:
            paired = np.asarray(raw[f"{size}/ul_predict"][warmup:]) / np.asarray(raw[f"{size}/matched"][warmup:])
            row["at_reference_settings"] = {"options": matched_options,
                                            "predict": figure(raw[f"{size}/matched"], warmup),
                                            "speedup_vs_ultralytics": {"paired_median": float(np.median(paired))}}
        result["frames"][size] = row
    result["memory"] = {"peak_rss_mb_before": round(rss_before, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
                        "includes_ultralytics": reference is not None}
    return result


def run_benchmark(models, threads=(1,), frames=DEFAULT_FRAMES, reps: int = 30, warmup: int = 5,
                  gap_ms: float = 20.0, engines: list[str] | None = None, reference_loader=no_reference,
                  progress: bool = True, quick: bool = False, reference_settings=None) -> dict:
    """Every model x engine x thread count, one block at a time; returns the bench.json dict."""
    models = [Path(m) for m in models]
    frames = list(frames)
    images = test_frames(frames)
    installed = installed_engines()
    plan, skipped = [], []
    for path in models:
        if not path.exists():
            raise FileNotFoundError(path)
        for engine in engines_for(path, engines):
            if engine not in installed:
                skipped.append({"model": path.name, "engine": engine, "why": "engine not installed"})
                continue
            plan += [(path, engine, t) for t in threads]
    env = environment()
    bar = progress_bar(len(plan) * (warmup + reps), progress)
    results = []
    try:
        for path, engine, t in plan:
            bar.set_description(f"{path.name} [{engine}, {t} thr]")
            results.append(measure_block(path, engine, t, images, reps, warmup, gap_ms, reference_loader, bar,
                                         reference_settings))
    finally:
        bar.close()
    env["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"environment": env,
            "settings": {"reps": reps, "warmup": warmup, "gap_ms": gap_ms, "frames": frames,
                         "threads": list(threads), "engines": engines, "quick": quick,
                         "reference": reference_loader is not no_reference, "sample": sorted(SAMPLES.glob("*.jpg"))[0].name},
            "method": __doc__.split("Method", 1)[1].split("\n", 1)[1].strip(),
            "skipped": skipped, "results": results}


QUICK = {"reps": 3, "warmup": 1, "gap_ms": 5.0}


def add_arguments(parser) -> None:
    """The options shared by `yolo-edge bench` and `python -m benchmarks.latency`."""
    parser.add_argument("models", nargs="+", type=Path, help=".onnx, .xml, *_openvino_model/ or .tflite files")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts to measure (default 1)")
    parser.add_argument("--frames", nargs="+", default=list(DEFAULT_FRAMES), help="frame sizes WIDTHxHEIGHT")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=None,
                        help="engines to run each file on when they read its format (default: the file's own)")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--gap-ms", type=float, default=20.0, help="idle gap before each timed step")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['reps']} reps, {QUICK['warmup']} warm-up, {QUICK['gap_ms']:g} ms gap")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--validation", type=Path, default=Path("models/report.json"),
                        help="factory results for the accuracy chart (skipped when absent)")
    parser.add_argument("--out", type=Path, default=Path("build/bench"))


def run_from_args(args, reference_loader=no_reference, reference_settings=None) -> dict[str, Path]:
    from runtime.bench_report import load_validation, markdown, write_outputs

    """reference_loader(path) -> (an object with ultralytics' predict(), None) or (None, why not);
    reference_settings(engine) -> Detector options matching the reference's engine configuration (optional)."""
    for f in args.frames:
        parse_size(f)
    if any(t < 1 for t in args.threads):
        raise ValueError("--threads must be >= 1")
    settings = dict(QUICK) if args.quick else {"reps": args.reps, "warmup": args.warmup, "gap_ms": args.gap_ms}
    bench = run_benchmark(args.models, threads=args.threads, frames=args.frames, engines=args.engines,
                          reference_loader=reference_loader, progress=not args.no_progress,
                          quick=args.quick, reference_settings=reference_settings, **settings)
    paths = write_outputs(bench, args.out, load_validation(args.validation))
    print(markdown(bench))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return paths
