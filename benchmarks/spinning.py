"""ONNX Runtime's intra-op spinning: latency and CPU burnt per frame, by mode and by the idle time between frames.

A camera feeds frames with idle time between them; what the engine's threads do in that time decides both the
next run's latency and the CPU (battery, heat, the app's own threads) spent per frame. Each mode runs in a fresh
process (no other session's threads around), the bare engine on one prepared tensor, after each idle gap:

    python -m benchmarks.spinning models/artifacts/yolov8n-shapes-320.onnx --gaps-ms 0 10 30 100 --threads 2

Writes benchmarks/results/spinning-<model>.{json,md}: median and p90 run latency, process CPU time per frame.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.sample import sample_frames
from models.settings import REPO_ROOT
from runtime.bench import cpu_label
from runtime import Detector, bench
from runtime.preprocess import prepare

MODES = ("within-run", "always", "off")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(model: Path, mode: str, threads: int, gap_s: float, reps: int, warmup: int) -> dict:
    """In this process: `reps` runs, each after `gap_s` of sleep; latency per run, CPU per frame (gap included)."""
    detector = Detector(model, ort_spinning=mode, threads=threads)
    frame = sample_frames(["1280x720"])["1280x720"]
    tensor, _ = prepare(frame, detector.engine.input, detector.input_hw)
    for _ in range(warmup):
        detector.engine.run(tensor)
    times, cpu0, wall0 = [], cpu_seconds(), time.perf_counter()
    for _ in range(reps):
        time.sleep(gap_s)
        t0 = time.perf_counter()
        detector.engine.run(tensor)
        times.append((time.perf_counter() - t0) * 1e3)
    time.sleep(gap_s)  # the last run's spinning is charged to it too
    return {"run_ms": bench.summarize(times), "cpu_ms_per_frame": (cpu_seconds() - cpu0) / reps * 1e3,
            "wall_ms_per_frame": (time.perf_counter() - wall0) / reps * 1e3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--gaps-ms", type=float, nargs="+", default=[0, 10, 30, 100])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "GAP_MS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one measurement in a fresh process
        mode, gap = args.child
        print(json.dumps(measure(args.model, mode, args.threads, float(gap) / 1e3, args.reps, args.warmup)))
        return 0

    results = {}
    for gap in args.gaps_ms:
        for mode in MODES:  # fresh process each: no thread pool of an earlier session is around
            out = subprocess.run([sys.executable, "-m", "benchmarks.spinning", str(args.model), "--threads",
                                  str(args.threads), "--reps", str(args.reps), "--warmup", str(args.warmup),
                                  "--child", mode, str(gap)], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
            results[f"{mode} @ {gap:g} ms"] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{mode:10s} gap {gap:5g} ms: {results[f'{mode} @ {gap:g} ms']['run_ms']['median']:.2f} ms", flush=True)
    env = {**bench.environment([Detector(args.model).engine.name]), "threads": args.threads}
    record = {"model": args.model.name, "environment": env, "reps": args.reps, "results": results}
    lines = [f"ONNX Runtime spinning on {args.model.name}, {args.threads} threads ({env['date']}, {cpu_label(env)}, "
             f"{env['cores']} cores; " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ")", "",
             "| idle gap before each run | " + " | ".join(f"{m}: run ms, median (p90) | {m}: CPU ms per frame"
                                                       for m in MODES) + " |",
             "|---:|" + "---:|" * (2 * len(MODES))]
    for gap in args.gaps_ms:
        cells = []
        for mode in MODES:
            r = results[f"{mode} @ {gap:g} ms"]
            cells += [f"{r['run_ms']['median']:.2f} ({r['run_ms']['p90']:.2f})", f"{r['cpu_ms_per_frame']:.1f}"]
        lines.append(f"| {gap:g} ms | " + " | ".join(cells) + " |")
    lines += ["", f"{args.reps} runs per cell after {args.warmup} warm-up, each mode in a fresh process; CPU per frame "
                  "is the process's user+system time over the runs and their gaps."]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"spinning-{args.model.stem}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
