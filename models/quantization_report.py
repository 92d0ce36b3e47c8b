"""PTQ against QAT, head-float int8 against full int8: the runs of `make models-optimize` side by side.

    python -m models.quantization_report build/optimize-test1500 --out models/reports/quantization-320-test1500

Reads DIR/<run>/report.json for the runs ptq, qat-seed<N> and their <run>-full-int8 twins (yolo-edge-optimize's
own reports) and writes OUT.json and OUT.md: per engine, each int8 file's mAP50-95 points below the fp32 file (QAT:
each seed and their mean), QAT's fine-tuning minutes, and the latency of the int8 files measured again, all in one
alternated loop (each run timed its own files alone): PTQ int8, PTQ full int8 and the first seed's QAT int8 and QAT
full int8; each full-int8 file's speed against the head-float PTQ file as the median of per-repetition ratios.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from runtime.bench import cpu_label, environment

from .optimize_report import FRAME, labelled_latencies, thread_counts


def load_runs(folder: Path) -> dict[str, dict]:
    runs = {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/report.json"))}
    if "ptq" not in runs:
        raise SystemExit(f"{folder}: no ptq/report.json (run make models-optimize)")
    return runs


def int8_row(report: dict, engine: str) -> dict:
    return next(r for r in report["rows"] if r["engine"] == engine and r["drop"] is not None)


def fp32_row(report: dict, engine: str) -> dict:
    return next(r for r in report["rows"] if r["engine"] == engine and r["drop"] is None)


def qat_minutes(report: dict) -> float | None:
    seconds = [s for name, s in report["stage_seconds"].items() if name.startswith("QAT fine-tune")]
    return round(seconds[0] / 60, 1) if seconds else None


def summary(runs: dict[str, dict]) -> dict:
    """Per engine and kind (int8 / full_int8): PTQ's and each QAT seed's mAP50-95 and drop, the seeds' mean."""
    engines = [r["engine"] for r in runs["ptq"]["rows"] if r["drop"] is None]
    out = {}
    for engine in engines:
        fp32 = fp32_row(runs["ptq"], engine)["map50_95"]
        entry = {"fp32_map50_95": fp32}
        for kind, suffix in (("int8", ""), ("full_int8", "-full-int8")):
            ptq = runs.get(f"ptq{suffix}")
            qat = {name.removesuffix(suffix): rep for name, rep in runs.items()
                   if name.startswith("qat-seed") and name.endswith(suffix) and ("full-int8" in name) == bool(suffix)}
            seeds = {name: int8_row(rep, engine)["map50_95"] for name, rep in sorted(qat.items())}
            entry[kind] = {
                "ptq_map50_95": int8_row(ptq, engine)["map50_95"] if ptq else None,
                "ptq_drop": round((fp32 - int8_row(ptq, engine)["map50_95"]) * 100, 2) if ptq else None,
                "qat_map50_95": seeds,
                "qat_drop": {k: round((fp32 - v) * 100, 2) for k, v in seeds.items()},
                "qat_mean_map50_95": round(statistics.mean(seeds.values()), 4) if seeds else None,
                "qat_mean_drop": round((fp32 - statistics.mean(seeds.values())) * 100, 2) if seeds else None,
                "qat_minutes": {k: qat_minutes(v) for k, v in sorted(qat.items())},
            }
        out[engine] = entry
    return out


def timed_files(folder: Path, runs: dict[str, dict]) -> dict[str, Path]:
    """'<engine> <run>' -> the int8 file of that run, for ptq, ptq-full-int8 and the first QAT seed's two runs."""
    first = next((n for n in sorted(runs) if n.startswith("qat-seed") and "full" not in n), None)
    names = [n for n in ("ptq", "ptq-full-int8", first, f"{first}-full-int8") if n and n in runs]
    return {f"{r['engine']} {name}": folder / name / r["file"]
            for name in names for r in runs[name]["rows"] if r["drop"] is not None}


def paired_ratios(runs: dict) -> dict:
    """{"<engine> <full-int8 run>": {threads: median over the repetitions of that run's predict ms / the head-float
    PTQ file's in the same repetition}} from labelled_latencies' runs: below 1 the full-int8 file is faster.
    Pairing each repetition cancels the machine's drift, which moves both files alike."""
    out = {}
    for label, per_threads in runs.items():
        engine, run = label.split(" ", 1)
        ptq = runs.get(f"{engine} ptq")
        if "full-int8" in run and ptq:
            out[label] = {n: round(statistics.median(a / b for a, b in zip(ms, ptq[n])), 3)
                          for n, ms in per_threads.items()}
    return out


def markdown(report: dict) -> str:
    env, threads = report["environment"], thread_counts()
    lines = [f"# PTQ and QAT, head-float int8 and full int8: {report['model']} at {report['imgsz']} px", "",
             f"Measured {env['date'][:10]} on {cpu_label(env)} ({env['cores']} cores), versions "
             + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".",
             f"mAP50-95 on the {report['split']} split ({report['scoring_images']} images); drop: points below the "
             "fp32 file of the same engine, shown as the change in points; QAT: each seed, then their mean. "
             "Each run's own report (yolo-edge-optimize), measured: " + "; ".join(
                 f"{name} {run['measured'][:16].replace('T', ' ')}"
                 + (f" on {run['cpu']}" if run["cpu"] != cpu_label(env) else "")
                 for name, run in report["runs"].items()) + ".", "",
             "| engine | fp32 | PTQ int8 | QAT int8 | QAT mean | PTQ full int8 | QAT full int8 | QAT full mean | "
             "QAT minutes |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for engine, e in report["accuracy"].items():
        def cell(kind):
            k = e[kind]
            seeds = " / ".join(f"{v:.3f} ({-k['qat_drop'][n]:+.2f})" for n, v in k["qat_map50_95"].items())
            ptq = f"{k['ptq_map50_95']:.3f} ({-k['ptq_drop']:+.2f})" if k["ptq_map50_95"] is not None else ""
            mean = f"{k['qat_mean_map50_95']:.3f} ({-k['qat_mean_drop']:+.2f})" if k["qat_mean_map50_95"] else ""
            return ptq, seeds, mean
        minutes = " / ".join(str(m) for kind in ("int8", "full_int8") for m in e[kind]["qat_minutes"].values())
        lines.append(f"| {engine} | {e['fp32_map50_95']:.3f} | " + " | ".join((*cell("int8"), *cell("full_int8")))
                     + f" | {minutes} |")
    lines += ["", f"Latency, median ms of the bare engine run / Detector.predict on a {FRAME} frame, every file in "
              f"one alternated loop ({report['reps']} runs):", "",
              "| file | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in threads) + " |",
              "|---|" + "---:|" * len(threads)]
    for label, t in report["latency_ms"].items():
        lines.append(f"| {label} | " + " | ".join(f"{t[str(n)]['bare']:.2f} / {t[str(n)]['predict']:.2f}"
                                                  for n in threads) + " |")
    lines += ["", "Full int8 against the head-float PTQ int8 file of its engine: median of the per-repetition "
              "ratios of Detector.predict (below 1: the full-int8 file is faster):", "",
              "| file | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in threads) + " |",
              "|---|" + "---:|" * len(threads)]
    for label, r in report["full_int8_vs_ptq"].items():
        lines.append(f"| {label} | " + " | ".join(f"{r[str(n)]:.3f}" for n in threads) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="the --out folders' parent: <folder>/<run>/report.json")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    runs = load_runs(args.folder)
    files = timed_files(args.folder, runs)
    ptq = runs["ptq"]
    report = {"model": ptq["model"], "imgsz": ptq["imgsz"], "split": ptq["split"],
              "scoring_images": ptq["scoring_images"], "reps": args.reps,
              "environment": environment(sorted({r["engine"] for r in ptq["rows"]})),
              "runs": {name: {"method": r["method"], "full_int8": r.get("full_int8", False),
                              "qat_epochs": r.get("qat_epochs"), "stage_seconds": r["stage_seconds"],
                              "measured": r["environment"]["date"], "cpu": cpu_label(r["environment"])}
                       for name, r in runs.items()},
              "accuracy": summary(runs)}
    predict_runs: dict = {}
    report["latency_ms"] = labelled_latencies(files, args.reps, args.warmup, runs=predict_runs)
    report["full_int8_vs_ptq"] = paired_ratios(predict_runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
