"""Latency benchmark core: model file x engine x thread count, bare engine run and full predict per frame size.

Used by `yolo-edge bench MODEL...` and by `python -m benchmarks.latency`. Pure numpy + the runtime: tqdm and
matplotlib are imported only when a run asks for them, and each is optional. A reference to compare against
(ultralytics' predict on the same file) is passed in by the caller: the runtime never imports ultralytics;
`python -m benchmarks.latency` supplies it.

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
from runtime.engines import ENGINES, engine_class
from runtime.options import physical_cores
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
    name = path.name.lower()
    if "int8" in name or (detector is not None and detector.engine.input.is_quantized):
        return "int8"
    if "float16" in name or "fp16" in name or "half" in name:
        return "fp16"
    return "fp32"


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


# --------------------------------------------------------------------------------------------------- output
def reference_frame(bench: dict) -> str:
    frames = bench["settings"]["frames"]
    return REFERENCE_FRAME if REFERENCE_FRAME in frames else frames[0]


def _ms(fig: dict | None) -> str:
    return "" if not fig else f"{fig['median']:.2f} ({fig['p90']:.2f})"


def markdown(bench: dict) -> str:
    env, s = bench["environment"], bench["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines = [f"Latency, ms, median (p90) of {s['reps']} repetitions after {s['warmup']} warm-up, "
             f"{env['date']}, {env['cpu']}, {env['cores']} logical / {env['physical_cores']} physical cores; "
             f"each step after an idle gap of {s['gap_ms']:g} ms and until the process's threads are quiet, "
             f"steps interleaved and rotated; {versions}.", "",
             "| model | engine | precision | threads | frame | bare engine | pre | infer | post | predict | FPS | "
             "ultralytics predict | speed-up vs ultralytics | ours at its engine settings | speed-up there | "
             "peak RSS MB |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in bench["results"]:
        for size, f in r["frames"].items():
            ul, at = f.get("ultralytics"), f.get("at_reference_settings")
            speedup = f"{f['speedup_vs_ultralytics']['paired_median']:.2f}x" if ul else ""
            matched = (_ms(at["predict"]), f"{at['speedup_vs_ultralytics']['paired_median']:.2f}x") if at else ("", "")
            lines.append(f"| {r['model']} | {r['engine']} | {r['precision']} | {r['threads']} | {size} | "
                         f"{_ms(r['bare'])} | {f['preprocess']['median']:.2f} | {f['inference']['median']:.2f} | "
                         f"{f['postprocess']['median']:.2f} | {_ms(f['predict'])} | {f['fps']:.1f} | "
                         f"{_ms(ul['predict'] if ul else None)} | {speedup} | {matched[0]} | {matched[1]} | "
                         f"{r['memory']['peak_rss_mb']:.0f} |")
    matched_options = {r["engine"]: f["at_reference_settings"]["options"] for r in bench["results"]
                       for f in r["frames"].values() if f.get("at_reference_settings")}
    notes = [f"{x['model']} on {x['engine']}: {x['why']}" for x in bench.get("skipped", [])]
    notes += [f"{r['model']} [{r['engine']}]: no ultralytics comparison ({r['ultralytics']})"
              for r in bench["results"] if isinstance(r["ultralytics"], str) and r["ultralytics"] != "not asked"]
    lines += ["", "Speed-up vs ultralytics: median of per-repetition ratios (its predict / ours), measured "
                  "alternately in the same run. Peak RSS is the process peak so far (grows across blocks; includes "
                  "torch when ultralytics is compared)."]
    if matched_options:
        lines += ["", "Ours at its engine settings: a second Detector given the engine configuration ultralytics "
                      "uses (" + "; ".join(f"{e}: {o}" for e, o in matched_options.items()) + "), so that the "
                      "ratio isolates the runtime's own work from engine defaults."]
    lines += [""] + [f"- {n}" for n in notes] if notes else []
    return "\n".join(lines) + "\n"


def _pyplot():
    os.environ.setdefault("MPLCONFIGDIR", str(Path(__file__).resolve().parents[1] / "build" / "mpl"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_of(r: dict) -> str:
    stem = r["model"].split("-shapes")[0] if "-shapes" in r["model"] else Path(r["model"]).stem
    return f"{stem}\n{r['engine']}\n{r['precision']} {r['imgsz']}px\n{r['threads']} thr"


def plot(bench: dict, out: Path, validation: dict[str, dict] | None = None, title: str = "") -> Path | None:
    """Stacked pre/infer/post bars per engine x precision, and accuracy vs latency (marker size = file size)."""
    try:
        plt = _pyplot()
    except ImportError:
        print("matplotlib not installed: no chart", file=sys.stderr)
        return None
    size = reference_frame(bench)
    rows = [r for r in bench["results"] if size in r["frames"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(10, 2.2 * len(rows) + 5), 5.5))
    x = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for stage, color in zip(STAGES, ("#8da0cb", "#fc8d62", "#66c2a5")):
        values = np.array([r["frames"][size][stage]["median"] for r in rows])
        left.bar(x, values, bottom=bottom, label=stage, color=color)
        bottom += values
    for xi, r in zip(x, rows):
        left.errorbar(xi, r["frames"][size]["predict"]["median"],
                      yerr=[[0], [r["frames"][size]["predict"]["p90"] - r["frames"][size]["predict"]["median"]]],
                      color="k", capsize=3)
    left.set_xticks(x, [label_of(r) for r in rows], fontsize=8)
    left.set_ylabel(f"ms per {size} frame (median, whisker to p90)")
    left.set_title("Detector.predict latency by engine x precision")
    left.legend()
    points = [(r, validation[r["model"]]) for r in rows if validation and r["model"] in validation]
    if points:
        for r, v in points:
            s = 40 + 25 * float(v.get("size_mb") or r["size_mb"])
            right.scatter(r["frames"][size]["predict"]["median"], v["map50_95"], s=s, alpha=0.6)
            right.annotate(label_of(r).replace("\n", " "), (r["frames"][size]["predict"]["median"],
                           v["map50_95"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        right.set_xlabel(f"predict latency, ms ({size}, median)")
        right.set_ylabel("mAP50-95")
        right.set_title("accuracy vs latency (marker area ~ size on disk)")
        right.grid(alpha=0.3)
    else:
        right.text(0.5, 0.5, "no validation results for these models", ha="center", va="center")
        right.set_axis_off()
    env = bench["environment"]
    fig.suptitle(title or f"{env['cpu']}, {env['cores']} cores, {env['date']}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def load_validation(path: Path | None) -> dict[str, dict]:
    """models/report.json rows keyed by artifact file name ({} when absent)."""
    if path is None or not Path(path).exists():
        return {}
    data = json.loads(Path(path).read_text())
    return {row["artifact"]: row for row in data.get("rows", [])}


def write_outputs(bench: dict, out: Path, validation: dict[str, dict] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "md": out / "bench.md"}
    paths["json"].write_text(json.dumps(bench, indent=1))
    paths["md"].write_text(markdown(bench))
    png = plot(bench, out / "bench.png", validation)
    if png is not None:
        paths["png"] = png
    return paths


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
