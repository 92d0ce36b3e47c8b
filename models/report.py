"""Judge every artifact through the runtime: size, mAP50-95 / mAP50 on the test split, bare engine latency.

    python -m models.report models/artifacts build/artifacts-640 --data build/dataset/data.yaml

Latency is the bare engine run on a prepared tensor (median of --reps after warm-up). All artifacts are
loaded first and then run round-robin, so every pair compared in the table was measured side by side in one
loop and shares the machine's noise. Writes the JSON and puts the Markdown table into models/README.md
(between its report markers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .samples import sample_paths
from runtime import Detector
from runtime.engines import model_size
from runtime.preprocess import prepare
from runtime.val import validate


def artifacts(folder: Path) -> list[Path]:
    found = [p for p in sorted(folder.iterdir()) if p.suffix in (".onnx", ".tflite") or p.name.endswith(
        "_openvino_model")]
    return found


def precision_of(path: Path) -> str:
    return "int8" if "int8" in path.name else "fp32"


# The factory judges each file's own numbers: OpenVINO in f32 (left alone it computes in bf16 on AVX512-BF16 CPUs).
OPTIONS = {"precision": "f32"}


def latencies(paths: list[Path], reps: int, warmup: int, frame: np.ndarray,
              threads: int | None = None, options: dict = OPTIONS) -> dict[str, list[float]]:
    detectors = {p: Detector(p, threads=threads, **options) for p in paths}
    tensors = {p: prepare(frame, d.engine.input, d.input_hw)[0] for p, d in detectors.items()}
    times = {p.name: [] for p in paths}
    for i in tqdm(range(warmup + reps), desc="latency (round-robin)"):
        for p, d in detectors.items():
            t0 = time.perf_counter()
            d.engine.run(tensors[p])
            if i >= warmup:
                times[p.name].append((time.perf_counter() - t0) * 1e3)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=Path("build/dataset/data.yaml"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="engine threads for the latency runs "
                        "(default: the runtime's, one per physical core)")
    parser.add_argument("--latency-precision", choices=["f32", "runtime-default"], default="f32",
                        help="OpenVINO's inference precision for the latency runs (runtime-default: bf16 on CPUs "
                        "with AVX512-BF16); mAP is always scored in f32")
    parser.add_argument("--out", type=Path, default=Path("models/reports/report.json"))
    parser.add_argument("--readme", type=Path, default=Path("models/README.md"),
                        help="README whose report markers get the table; '-' leaves every README alone")
    args = parser.parse_args(argv)

    import cv2

    found = [p for folder in args.folders if folder.is_dir() for p in artifacts(folder)]
    paths = [p for i, p in enumerate(found) if p.name not in {q.name for q in found[:i]}]  # copies: once
    frame = cv2.imread(str(sample_paths()[0]))
    rows = []
    for path in paths:
        scores = validate(path, args.data, args.split, **OPTIONS)
        rows.append({"artifact": path.name, "engine": scores["engine"], "precision": precision_of(path),
                     "imgsz": Detector(path).input_hw[0], "size_mb": round(model_size(path) / 2**20, 2),
                     "map50_95": round(scores["map50_95"], 4), "map50": round(scores["map50"], 4)})
    times = latencies(paths, args.reps, args.warmup, frame, args.threads,
                      OPTIONS if args.latency_precision == "f32" else {})
    for row in rows:
        t = np.asarray(times[row["artifact"]])
        row["latency_ms"] = {"median": round(float(np.median(t)), 2), "p90": round(float(np.percentile(t, 90)), 2)}
    report = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.machine(),
              "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), "?"),
              "split": args.split, "reps": args.reps, "threads": args.threads or "runtime default",
              "latency_precision": args.latency_precision, "rows": rows}
    args.out.write_text(json.dumps(report, indent=2))
    table = markdown(report)
    print(table)
    if str(args.readme) != "-" and args.readme.exists():
        replace_between_markers(args.readme, table)
    return 0


def replace_between_markers(readme: Path, table: str) -> None:
    text = readme.read_text()
    start, end = "<!-- report:start -->", "<!-- report:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        readme.write_text(f"{head}{start}\n{table}{end}{rest.split(end, 1)[1]}")


def threads_text(threads) -> str:
    return f"{threads} thread{'s' * (threads != 1)}" if isinstance(threads, int) else "the runtime's default threads"


def markdown(report: dict) -> str:
    lines = [f"Measured {report['date']} on {report['cpu']} ({report['machine']}), {report['split']} split, latency = "
             f"bare engine run ({threads_text(report.get('threads'))}, "
             f"OpenVINO in {report.get('latency_precision', 'f32')}), median / p90 of {report['reps']} "
             "round-robin runs.", "","| artifact | engine | precision | imgsz | size MB | mAP50-95 | mAP50 | latency ms (median / p90) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['artifact']} | {r['engine']} | {r['precision']} | {r['imgsz']} | {r['size_mb']:.1f} | "
                     f"{r['map50_95']:.3f} | {r['map50']:.3f} | {r['latency_ms']['median']:.1f} / "
                     f"{r['latency_ms']['p90']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
