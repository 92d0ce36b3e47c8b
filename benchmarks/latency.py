"""Latency benchmark (model file x engine x thread count x frame size) and the size / speed / accuracy report.

    # measure: bench.json (every raw figure + environment), bench.md, bench.png
    python -m benchmarks.latency models/artifacts/yolov8n-shapes-320.onnx ... --threads 1 2 --out build/bench
    # join with the factory's validation results: report.md, report.png (and report.json)
    python -m benchmarks.latency report --bench build/bench/bench.json --validation models/reports/report.json \
        --out build/bench

The measuring core lives in runtime/bench.py (also `yolo-edge bench MODEL...`). Method, so that engines' thread
pools do not bias the comparison: one model/engine/thread-count block at a time is loaded and measured; inside
it every repetition runs the bare engine call, our predict on each frame size and ultralytics' predict on the
same file and frames, interleaved with the order rotated each repetition; a short idle gap (--gap-ms, 20 ms)
precedes each timed step so the previous step's spinning workers (ultralytics' ONNX Runtime session spins) are
asleep; our ONNX Runtime sessions spin only within a run (the Detector default). Warm-up runs are dropped; medians and
p90 are reported. ultralytics chooses its own engine settings; ours are the Detector defaults with --threads,
and a second Detector runs at ultralytics' engine settings (see ultralytics_engine_settings) so that the
comparison can also be read with engine configuration equal and only the runtimes' own work differing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path

from runtime.bench import add_arguments, run_from_args
from runtime.bench_report import _pyplot, load_validation, reference_frame

ROOT = Path(__file__).resolve().parents[1]


def ultralytics_env() -> None:
    """ultralytics (imported later, as the reference) must not write settings outside the project or go online."""
    os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / "build" / "ultralytics-config"))
    os.environ.setdefault("YOLO_OFFLINE", "1")


def ultralytics_reference(path: Path, task: str = "detect"):
    """ultralytics' YOLO on the same file, or (None, why) when it is not installed or cannot load the file."""
    if importlib.util.find_spec("ultralytics") is None:
        return None, "ultralytics not installed"
    ultralytics_env()
    try:
        from ultralytics import YOLO

        return YOLO(str(path), task=task), None
    except Exception as exc:  # noqa: BLE001 - an unsupported format is reported, not fatal
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


def count_params(model_path: Path, cache: dict) -> int | None:
    """Parameters of the .pt the artifact was exported from (longest stem that prefixes its name), via ultralytics."""
    candidates = sorted((p for p in model_path.parent.glob("*.pt") if model_path.name.startswith(p.stem)),
                        key=lambda p: len(p.stem), reverse=True)
    if not candidates:
        return None
    pt = candidates[0]
    if pt not in cache:
        try:
            ultralytics_env()
            from ultralytics import YOLO

            cache[pt] = int(sum(p.numel() for p in YOLO(str(pt)).model.parameters()))
        except Exception:  # noqa: BLE001 - ultralytics/torch missing or the file unreadable: leave it blank
            cache[pt] = None
    return cache[pt]


def join(bench: dict, validation: dict[str, dict]) -> dict:
    """One row per benchmarked model x engine x threads with its validation scores and the speed-up vs fp32 ONNX."""
    size = reference_frame(bench)
    params_cache: dict = {}
    rows = []
    for r in bench["results"]:
        v = validation.get(r["model"], {})
        f = r["frames"].get(size) or next(iter(r["frames"].values()))
        params = v.get("params")
        if params is None:
            params = count_params(Path(r["path"]), params_cache)
        rows.append({"model": r["model"], "engine": r["engine"], "precision": r["precision"], "imgsz": r["imgsz"],
                     "threads": r["threads"], "params": params, "size_mb": v.get("size_mb", r["size_mb"]),
                     "map50_95": v.get("map50_95"), "map50": v.get("map50"),
                     "latency_ms": {"median": f["predict"]["median"], "p90": f["predict"]["p90"]},
                     "bare_ms": {"median": r["bare"]["median"], "p90": r["bare"]["p90"]}, "fps": f["fps"]})
    for row in rows:  # baseline: the fp32 ONNX Runtime .onnx at the same input size and thread count
        base = next((b for b in rows if b["engine"] == "onnxruntime" and b["precision"] == "fp32"
                     and b["model"].endswith(".onnx") and b["imgsz"] == row["imgsz"]
                     and b["threads"] == row["threads"]), None)
        row["baseline"] = base["model"] if base else None
        row["speedup_vs_fp32_onnx"] = base["latency_ms"]["median"] / row["latency_ms"]["median"] if base else None
    return {"frame": size, "environment": bench["environment"], "settings": bench["settings"],
            "missing_validation": sorted({r["model"] for r in bench["results"]} - set(validation)), "rows": rows}


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def report_markdown(report: dict) -> str:
    env, s = report["environment"], report["settings"]
    lines = [f"Size / speed / accuracy. Latency: `Detector.predict` on a {report['frame']} frame, median (p90) of "
             f"{s['reps']} interleaved repetitions after {s['warmup']} warm-up ({env['date']}, {env['cpu']}, "
             f"{env['cores']} cores); mAP on the factory's test split (models/reports/); speed-up vs the "
             "fp32 ONNX Runtime model of the same input size and threads.", "",
             "| model | engine | precision | threads | params | size MB | mAP50-95 | mAP50 | latency ms | "
             "bare engine ms | FPS | speed-up vs fp32 ONNX |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        params = f"{r['params'] / 1e6:.2f} M" if r["params"] else ""
        lines.append(f"| {r['model']} | {r['engine']} | {r['precision']} | {r['threads']} | {params} | "
                     f"{r['size_mb']:.1f} | {_fmt(r['map50_95'], '.3f')} | {_fmt(r['map50'], '.3f')} | "
                     f"{r['latency_ms']['median']:.2f} ({r['latency_ms']['p90']:.2f}) | "
                     f"{r['bare_ms']['median']:.2f} | {r['fps']:.1f} | "
                     f"{_fmt(r['speedup_vs_fp32_onnx'], '.2f')}{'x' if r['speedup_vs_fp32_onnx'] else ''} |")
    if report["missing_validation"]:
        lines += ["", "No validation results for: " + ", ".join(report["missing_validation"]) + "."]
    return "\n".join(lines) + "\n"


def report_plot(report: dict, out: Path) -> Path | None:
    try:
        plt = _pyplot()
    except ImportError:
        print("matplotlib not installed: no chart", file=sys.stderr)
        return None
    rows = [r for r in report["rows"] if r["map50_95"] is not None]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = {"onnxruntime": "o", "openvino": "s", "tflite": "^"}
    for r in rows:
        ax.scatter(r["latency_ms"]["median"], r["map50_95"], s=40 + 25 * r["size_mb"], alpha=0.6,
                   marker=markers.get(r["engine"], "o"), label=f"{r['engine']} {r['precision']}")
        ax.annotate(f"{r['imgsz']}px {r['threads']}thr", (r["latency_ms"]["median"], r["map50_95"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=8, markerscale=0.5)
    else:
        ax.text(0.5, 0.5, "no validation results for these models", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"Detector.predict latency, ms ({report['frame']}, median)")
    ax.set_ylabel("mAP50-95")
    ax.set_title("accuracy vs latency (marker area ~ size on disk)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def report_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency report",
                                     description="join bench.json with the factory's validation results")
    parser.add_argument("--bench", type=Path, default=ROOT / "build" / "bench" / "bench.json")
    parser.add_argument("--validation", type=Path, nargs="+",
                        default=[ROOT / "models" / "reports" / "report.json",
                                 ROOT / "models" / "reports" / "light-int8-report.json"],
                        help="the factory's report JSON files (models/reports/report.json, "
                        "models/reports/light-int8-report.json)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "bench")
    args = parser.parse_args(argv)
    validation = {k: v for path in args.validation for k, v in load_validation(path).items()}
    report = join(json.loads(args.bench.read_text()), validation)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    text = report_markdown(report)
    (args.out / "report.md").write_text(text)
    report_plot(report, args.out / "report.png")
    print(text)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["report"]:
        return report_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--no-ultralytics", action="store_true", help="skip the ultralytics comparison")
    args = parser.parse_args(argv)
    if args.no_ultralytics:
        run_from_args(args)
    else:
        run_from_args(args, reference_loader=ultralytics_reference, reference_settings=ultralytics_engine_settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
