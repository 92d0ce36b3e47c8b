"""predict --ray against one process (issue: scale-out): images per second over an archive of 1280x720 JPEGs.

    python -m benchmarks.cluster MODEL... [--images 2000] [--reps 2]

Per model: one process reading and predicting every image with the engine on all cores (2 threads here), against
runtime.cluster.predict_dataset on a local Ray cluster of this machine's cores with single-thread actors (one per
core), alternated --reps times; the Ray time is the whole job (actors started, rows written to Parquet), the Ray
cluster itself started once before. Writes benchmarks/results/cluster.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from benchmarks.stream import clip_frames
from models.settings import REPO_ROOT
from runtime import Detector
from runtime.bench import cpu_label, environment
from runtime.engines import ENGINE_NAMES
from runtime.sources import folder_sources, read_image

OUT = REPO_ROOT / "benchmarks" / "results"


def write_archive(folder: Path, count: int) -> Path:
    frames = clip_frames(100)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), frames[i % len(frames)], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


def one_process(model: Path, folder: Path) -> float:
    detector = Detector(model)  # the engine on every core
    files = folder_sources(folder, ["image"])
    start = time.perf_counter()
    for source in files:
        detector.predict(read_image(source.path))
    return len(files) / (time.perf_counter() - start)


def on_ray(model: Path, folder: Path, work: Path) -> float:
    from runtime.cluster import predict_dataset

    out = work / "results.parquet"
    shutil.rmtree(out, ignore_errors=True)
    summary = predict_dataset(model, [folder], out, threads_per_actor=1)
    return summary.frames / summary.seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "archive").mkdir()
        folder = write_archive(work / "archive", args.images)
        for model in args.models:
            single, cluster = [], []
            for _ in range(args.reps):
                single.append(one_process(model, folder))
                cluster.append(on_ray(model, folder, work))
            row = {"model": model.name, "images": args.images, "one_process_fps": round(statistics.median(single), 1),
                   "ray_fps": round(statistics.median(cluster), 1)}
            row["ray_over_one_process"] = round(row["ray_fps"] / row["one_process_fps"], 3)
            print(row, flush=True)
            rows.append(row)
    env = environment(ENGINE_NAMES, modules=("ray",))
    result = {"environment": env, "reps": args.reps, "rows": rows,
              "setup": f"one process: Detector on {os.cpu_count()} threads; Ray: {os.cpu_count()} single-thread "
                       "actors on a local cluster"}
    lines = ["# predict --ray against one process", "", f"{env['date']}, {cpu_label(env)}, {env['cores']} cores; "
             + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + f". {result['setup']}; images per "
             f"second over {args.images} 1280x720 JPEGs (read, predict; Ray: and Parquet rows), median of "
             f"{args.reps} alternated runs.", "", "| model | one process | Ray | Ray / one process |",
             "|---|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['one_process_fps']} | {r['ray_fps']} | {r['ray_over_one_process']} |"
              for r in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster.json").write_text(json.dumps(result, indent=1))
    (args.out / "cluster.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
