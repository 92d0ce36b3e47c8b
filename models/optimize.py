"""yolo-edge-optimize: an ultralytics detection checkpoint to fp32 and int8 files for every engine, each scored,
sized and timed through the runtime.

    yolo-edge-optimize mask.pt --data data.yaml --imgsz 320 --out mask-edge
    (in a checkout: python -m models.optimize ...)

Writes DIR/: the deployable files (metadata inside: Detector(file) needs nothing else), report.json, report.md and
report.png. --method ptq quantizes each fp32 export post-training; --method qat fine-tunes the checkpoint with
NNCF's fake quantizers on the train split first (models/qat.py). --full-int8 quantizes the whole graph, for
integer-only accelerators: the head is exported without its decoding and the runtime decodes its logits. --prune R
first removes at least R of the model's MACs by structured channel pruning in --prune-steps steps, each fine-tuned
--prune-epochs epochs on the train split (the last step --recover-epochs, if given; with --distill TEACHER.pt,
distilled from that teacher, its terms scaled by --distill-weight), and optimizes the pruned checkpoint
(models/prune.py, models/prune_finetune.py). An int8 file more than --max-drop mAP50-95 points below its fp32
source is calibrated again on twice the images (at most the train split's), then made with its most sensitive
layers left float (models/sensitive.py, each engine's own tool); still over, its row is marked failed and the exit
status is 1 unless --allow-drop. Finished exports are cached (keyed on the checkpoint's bytes and the options) and
reused.
"""
from __future__ import annotations

from . import settings  # noqa: F401  (must precede ultralytics)

import argparse
import contextlib
import hashlib
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from runtime import __version__
from runtime.bench import environment, precision_of
from runtime.detector import Detector
from runtime.engines import ENGINE_NAMES, embedded_metadata, model_size
from runtime.metadata import read_simple_yaml
from runtime.val import validate

from .export import export
from .optimize_checks import (Inputs, OptimizeError, check_inputs, check_teacher, file_stamps, has_labels,
                              require_packages, validation_images)
from .optimize_methods import RAW_HEAD, PostTraining, QuantizationAware, Sensitive
from .sensitive import REMEDIES
from .optimize_report import deploy_line, latencies, markdown, plot
from .quantize import RECIPE, calibration_sample

PROG = "yolo-edge-optimize"
DONE = ".done"  # marks a finished cache entry; holds the name of what was made
METHODS = ("ptq", "qat")


@contextlib.contextmanager
def stage(name: str, times: dict):
    start = time.perf_counter()
    print(f"[{PROG}] {name} ...", flush=True)
    yield
    seconds = time.perf_counter() - start
    times[name] = round(times.get(name, 0) + seconds, 1)  # a recalibration adds to its stage
    print(f"[{PROG}] {name}: {seconds:.1f} s", flush=True)


def digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def cached(key: str, make) -> Path:
    """What make(folder) writes into the cache folder of `key` (a file, a model folder, or the folder itself) and
    returns; made only when no finished one is there."""
    folder = settings.BUILD_DIR / "optimize" / key
    if not (folder / DONE).is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        made = Path(make(folder))
        (folder / DONE).write_text(str(made.relative_to(folder)))
    else:
        print(f"[{PROG}] reusing {folder}")
    return folder / (folder / DONE).read_text()


def copy_model(src: Path, dest_dir: Path) -> Path:
    dest = dest_dir / src.name
    shutil.copytree(src, dest) if src.is_dir() else shutil.copy2(src, dest)
    return dest


def carried_metadata(path: Path) -> dict:
    """What the deployable itself holds: a file's embedded metadata; a model folder's (OpenVINO) own metadata.yaml
    too (it travels inside the folder)."""
    inside = path / "metadata.yaml" if path.is_dir() else None
    return {**embedded_metadata(path), **(read_simple_yaml(inside.read_text()) if inside and inside.is_file() else {})}


def check_metadata(path: Path, names: dict[int, str], imgsz: int) -> None:
    """Each file carries what Detector needs (names, imgsz, stride): no sidecar to ship beside it."""
    meta = carried_metadata(path)
    missing = [k for k in ("names", "imgsz", "stride") if meta.get(k) is None]
    detector = Detector(path)
    if missing or detector.names != names or detector.input_hw != (imgsz, imgsz):
        raise RuntimeError(f"{path.name}: metadata lost in export (missing {missing}, names {detector.names}, "
                           f"input {detector.input_hw})")


def score(path: Path, args, inputs: Inputs) -> dict:
    """The runtime's mAP of a cached file on the scoring split; kept beside the file for re-runs on the same split."""
    key = digest(args.data.resolve(), args.split, *file_stamps(inputs.scoring_images, labels=True))
    memo = path.parent / f".score-{key}.json"
    if memo.is_file():
        return json.loads(memo.read_text())
    s = validate(path, args.data, args.split)
    scores = {"map50_95": round(s["map50_95"], 4), "map50": round(s["map50"], 4)}
    memo.write_text(json.dumps(scores))
    return scores


def row(path: Path, engine: str, scores: dict, drop: float | None, status: str, calib: int | None,
        remedy: str | None) -> dict:
    return {"file": path.name, "engine": engine, "precision": precision_of(path, Detector(path)),
            "size_mb": round(model_size(path) / 2**20, 3), **scores,
            "drop": None if drop is None else round(drop, 2), "status": status, "calibration_images": calib,
            "remedy": remedy, "deploy": deploy_line(path.name)}


def engine_rows(engine: str, args, method, inputs: Inputs, staging: Path, times: dict) -> list[dict]:
    """fp32 export and int8, both scored, copied to staging. An int8 file over --max-drop is made again, by the
    accuracy guard's remedies in turn: twice the calibration images, then the most sensitive layers left float
    (models/sensitive.py); the attempt that loses least is kept."""
    source = digest(args.model.read_bytes(), args.imgsz, engine, __version__)
    with stage(f"{engine}: fp32 export", times):
        fp32 = cached(source, lambda folder: export_one(args.model, args.imgsz, engine, folder))
    with stage(f"{engine}: fp32 score", times):
        fp32_scores = score(fp32, args, inputs)
    train = len(inputs.train_images)
    plans = [(calib, None) for calib in dict.fromkeys([min(args.calib, train), min(2 * args.calib, train)])]
    if not method.calibrated(engine):
        plans = plans[:1]
    elif engine in REMEDIES:
        plans.append((plans[0][0], Sensitive(sample_labelled(inputs.train_images), inputs.names, args.max_drop)))
    attempts = []  # (drop, calibration images, remedy, file, scores)
    for calib, sensitive in plans:
        if attempts:
            remedy = "leaving its most sensitive layers float" if sensitive else "calibrating again on more images"
            print(f"[{PROG}] {engine}: int8 is {attempts[-1][0]:.2f} points below fp32 (max {args.max_drop}): "
                  f"{remedy}")
        images = calibration_sample(inputs.train_images, calib)
        key = digest(source, *method.key, RECIPE, bool(sensitive), args.max_drop if sensitive else None,
                     *file_stamps(images))
        print(f"[{PROG}] {engine}: {calib} calibration images")
        with stage(f"{engine}: int8 ({args.method})", times):
            made = cached(key, lambda folder: method.make(engine, fp32, images, folder, sensitive))
        with stage(f"{engine}: int8 score", times):
            scores = score(made, args, inputs)
        remedy = "sensitive layers float" if sensitive else None
        attempts.append(((fp32_scores["map50_95"] - scores["map50_95"]) * 100, calib, remedy, made, scores))
        if attempts[-1][0] <= args.max_drop:
            break
    drop, calib, remedy, int8, int8_scores = min(attempts, key=lambda a: a[0])  # a remedy can do worse
    status = "ok" if drop <= args.max_drop else f"failed: {drop:.2f} points below fp32 (max {args.max_drop})"
    files = [copy_model(fp32, staging), copy_model(int8, staging)]
    for path in files:
        check_metadata(path, inputs.names, args.imgsz)
    return [row(files[0], engine, fp32_scores, None, "ok", None, None),
            row(files[1], engine, int8_scores, drop, status, calib if method.calibrated(engine) else None, remedy)]


def sample_labelled(images: list[Path], count: int = 150) -> list[Path]:
    """Labelled train images for NNCF's accuracy metric: never the split the report scores."""
    return calibration_sample([p for p in images if has_labels(p)], count, seed=1)


def int8_method(args, inputs: Inputs, times: dict):
    if args.method == "ptq":
        return PostTraining(args.full_int8, lambda engine: raw_export(args, engine))
    with stage(f"QAT fine-tune ({args.epochs} epochs)", times):
        return QuantizationAware(args.model, inputs.train_images, inputs.names, args.imgsz, args.epochs,
                                 args.full_int8, args.seed, calibration_sample(inputs.train_images, args.calib),
                                 cached, digest)


PRUNE_RECIPE = 3  # part of the cache key of a pruning run: bump it when models/prune*.py change what they make


def pruned_checkpoint(args, inputs: Inputs) -> tuple[Path, dict]:
    """The checkpoint pruned and fine-tuned as --prune* and --distill ask (cached), and what the pruning did."""
    from .prune_finetune import prune_and_fine_tune
    from .training_data import training_yaml

    val = validation_images(args.data, inputs)
    teacher = args.distill.read_bytes() if args.distill else b""
    last = args.recover_epochs or args.prune_epochs
    epochs = (args.prune_epochs,) if last == args.prune_epochs else (args.prune_epochs, last)  # old runs' keys hold
    weight = () if args.distill_weight == 1.0 else (args.distill_weight,)  # earlier runs' keys hold
    key = digest(args.model.read_bytes(), teacher, *weight, args.prune, args.prune_steps, *epochs, args.imgsz,
                 args.seed, PRUNE_RECIPE, *file_stamps([*inputs.train_images, *val], labels=True))

    def make(folder: Path) -> Path:
        data = training_yaml(inputs.names, inputs.train_images, val, folder)
        pruned, steps, before = prune_and_fine_tune(args.model, args.prune, args.prune_steps, args.prune_epochs,
                                                    args.imgsz, data, args.seed, args.distill, folder, last,
                                                    args.distill_weight)
        summary = {"target": args.prune, "steps": [vars(s) for s in steps], "macs_before": before,
                   "macs_after": steps[-1].macs, "fine_tune_epochs": sum(s.epochs for s in steps),
                   "teacher": args.distill.name if args.distill else None,
                   "distill_weight": args.distill_weight if args.distill else None, "seed": args.seed}
        (folder / "pruning.json").write_text(json.dumps(summary, indent=1))
        return pruned

    made = cached(key, make)
    return made, json.loads((made.parent / "pruning.json").read_text())


def export_one(checkpoint: Path, imgsz: int, engine: str, folder: Path) -> Path:
    return export(checkpoint, imgsz, [engine], folder)[engine]


def raw_export(args, engine: str) -> Path:
    """The fp32 export whose head outputs its logits undecoded: what --full-int8 quantizes (cached)."""
    key = digest(args.model.read_bytes(), args.imgsz, engine, __version__, "raw", RAW_HEAD)
    return cached(key, lambda folder: export(args.model, args.imgsz, [engine], folder, raw_head=True)[engine])


def optimize(args) -> int:
    """Check, build every file in a temporary folder beside --out, measure, report, then move it into place."""
    out = args.out.resolve()
    if out.exists() and not args.force:
        raise OptimizeError(f"{args.out} exists (pass --force to replace it)")
    times: dict[str, float] = {}
    with stage("check inputs", times):
        inputs = check_inputs(args.model, args.data, args.split, train_labels=args.method == "qat" or bool(args.prune))
        if args.distill:
            check_teacher(args.distill, inputs.names)
    source_model, pruning = args.model, None
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if args.prune:
            scale = f" x {args.distill_weight:g}" if args.distill_weight != 1.0 else ""
            teacher = f", distilled from {args.distill.name}{scale}" if args.distill else ""
            last = f", the last {args.recover_epochs}" if args.recover_epochs else ""
            with stage(f"prune {args.prune:.0%} of the MACs ({args.prune_steps} steps of {args.prune_epochs} "
                       f"epochs{last}{teacher})", times):
                args.model, pruning = pruned_checkpoint(args, inputs)
        method = int8_method(args, inputs, times)
        rows = [r for engine in args.engines for r in engine_rows(engine, args, method, inputs, staging, times)]
        with stage("latency", times):
            measured = latencies([staging / r["file"] for r in rows], args.reps, args.warmup)
        for r in rows:
            r["latency_ms"] = measured[r["file"]]
        report = {"model": source_model.name, "pruning": pruning, "data": str(args.data), "split": args.split,
                  "imgsz": args.imgsz, "method": args.method, "full_int8": args.full_int8,
                  "qat_epochs": args.epochs if args.method == "qat" else None, "max_drop": args.max_drop,
                  "scoring_images": len(inputs.scoring_images), "reps": args.reps,
                  "environment": environment(args.engines), "stage_seconds": times, "rows": rows}
        (staging / "report.json").write_text(json.dumps(report, indent=1))
        (staging / "report.md").write_text(markdown(report))
        plot(report, staging / "report.png")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(markdown(report))
    failed = [r["file"] for r in rows if r["status"] != "ok"]
    if failed and not args.allow_drop:
        print(f"{PROG}: over --max-drop: {', '.join(failed)} (see {args.out}/report.md; --allow-drop accepts them)",
              file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("model", type=Path, help="an ultralytics detection checkpoint (.pt)")
    ap.add_argument("--data", type=Path, required=True, help="its YOLO data yaml: train calibrates, --split scores")
    ap.add_argument("--out", type=Path, required=True, help="the folder to write (refused if it exists)")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--engines", nargs="+", choices=ENGINE_NAMES, default=list(ENGINE_NAMES))
    ap.add_argument("--method", choices=METHODS, default="ptq",
                    help="ptq: post-training quantization; qat: NNCF quantization-aware fine-tuning first")
    ap.add_argument("--full-int8", action="store_true",
                    help="quantize the whole graph, the head exported undecoded, for integer-only accelerators "
                         "(files *_full_int8*)")
    ap.add_argument("--epochs", type=int, default=5, help="qat: fine-tuning epochs over the train split")
    ap.add_argument("--seed", type=int, default=0, help="qat, --prune: the fine-tuning's seed")
    ap.add_argument("--prune", type=float, default=None, metavar="R",
                    help="first prune channels until at least this share of the MACs is gone (e.g. 0.3)")
    ap.add_argument("--prune-steps", type=int, default=3, help="--prune: pruning steps, each fine-tuned")
    ap.add_argument("--prune-epochs", type=int, default=10, help="--prune: fine-tuning epochs after each step")
    ap.add_argument("--recover-epochs", type=int, default=None,
                    help="--prune: fine-tuning epochs of the last step instead (the pruned model's final recovery)")
    ap.add_argument("--distill", type=Path, default=None, metavar="TEACHER.pt",
                    help="--prune: distil the fine-tuning from this trained detector of the same classes")
    ap.add_argument("--distill-weight", type=float, default=1.0, metavar="W",
                    help="--distill: scale of the distillation terms against the label loss (models/distill.py)")
    ap.add_argument("--calib", type=int, default=300, help="calibration images from the train split")
    ap.add_argument("--max-drop", type=float, default=0.5, help="mAP50-95 points an int8 file may lose vs fp32")
    ap.add_argument("--allow-drop", action="store_true", help="exit 0 even when an int8 file is over --max-drop")
    ap.add_argument("--split", choices=("val", "test"), default="val", help="the split scored")
    ap.add_argument("--reps", type=int, default=20, help="timed runs per file and thread count")
    ap.add_argument("--warmup", type=int, default=3, help="runs dropped before them")
    ap.add_argument("--force", action="store_true", help="replace an existing --out")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still removes its temporary folder
    try:
        require_packages(args.engines, qat=args.method == "qat", prune=args.prune is not None)
        counts = (args.calib, args.reps, args.epochs, args.prune_steps, args.prune_epochs)
        if args.recover_epochs is not None:
            counts += (args.recover_epochs,)
        if args.imgsz < 32 or args.imgsz % 32 or min(counts) < 1 or args.warmup < 0:
            raise OptimizeError("--imgsz must be a multiple of 32; --calib, --reps, --epochs, --prune-steps, "
                                "--prune-epochs and --recover-epochs >= 1; --warmup >= 0")
        if args.prune is not None and not 0 < args.prune < 0.9:
            raise OptimizeError("--prune is the share of the MACs to remove: more than 0, less than 0.9")
        if args.recover_epochs and args.prune is None:
            raise OptimizeError("--recover-epochs is the pruning's last fine-tuning: give --prune too")
        if args.distill and args.prune is None:
            raise OptimizeError("--distill guides the pruning's fine-tuning: give --prune too")
        if args.distill_weight != 1.0 and not args.distill:
            raise OptimizeError("--distill-weight scales the distillation: give --distill too")
        if not args.distill_weight > 0:
            raise OptimizeError("--distill-weight must be more than 0")
        return optimize(args)
    except OptimizeError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
