"""predict_dataset: the detections of an archive of images and videos, computed on a Ray cluster with Ray Data
(the [ray] extra; nothing here is imported by the Detector).

    from runtime.cluster import predict_dataset
    summary = predict_dataset("model_int8.onnx", ["archive/"], "results.parquet", address="auto")

Each file is one task: an actor of the pool (one Detector each, actors x engine threads = Ray's CPUs) reads it with
OpenCV (an image, or a video frame by frame), detects, and returns one row per image or frame; Ray writes the rows
to a Parquet folder. A file that cannot be read becomes a row with its error. The rows of one file are written
together, so a re-run skips every file already in the folder (resumable).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from runtime.errors import ExtraNotInstalledError, SourceError, YoloEdgeError
from runtime.sources import FRAME_KINDS, expand_sources, folder_sources, read_image

INSTALL = "pip install 'yolo-edge-runtime[ray]'"
# Files per actor call on a large archive: Ray Data's cost per batch is spread over more files (2,000 images, 2
# single-thread actors, LiteRT int8, 2026-12-07 on a 2-core AMD EPYC: 16 files a batch 136-140 images/s, 4 files
# 123-129).
MAX_FILES_PER_BATCH = 16
COLUMNS = ("source", "frame", "width", "height", "boxes", "scores", "class_ids", "class_names", "preprocess_ms",
           "inference_ms", "postprocess_ms", "error")


@dataclass
class Summary:
    files: int  # files in this run (those already written are skipped)
    skipped: int
    frames: int
    detections: int
    errors: int
    seconds: float
    frames_per_second: float
    actors: int
    threads_per_actor: int


def schema():
    import pyarrow as pa

    return pa.schema([("source", pa.string()), ("frame", pa.int32()), ("width", pa.int32()), ("height", pa.int32()),
                      ("boxes", pa.list_(pa.list_(pa.float32(), 4))), ("scores", pa.list_(pa.float32())),
                      ("class_ids", pa.list_(pa.int32())), ("class_names", pa.list_(pa.string())),
                      ("preprocess_ms", pa.float32()), ("inference_ms", pa.float32()),
                      ("postprocess_ms", pa.float32()), ("error", pa.string())])


def detection_row(source: str, frame_index: int | None, detections) -> dict:
    t = detections.times
    return {"source": source, "frame": frame_index, "width": detections.image_shape[1],
            "height": detections.image_shape[0], "boxes": detections.xyxy.tolist(),
            "scores": detections.confidence.tolist(), "class_ids": detections.class_id.tolist(),
            "class_names": detections.class_names, "preprocess_ms": t.preprocess, "inference_ms": t.inference,
            "postprocess_ms": t.postprocess, "error": None}


def error_row(source: str, frame_index: int | None, error: str) -> dict:
    return {**dict.fromkeys(COLUMNS), "source": source, "frame": frame_index, "error": error}


def file_rows(detector, source: str, kind: str) -> list[dict]:
    """Every row of one file; an unreadable file (or frame) is a row with its error."""
    if kind == "image":
        try:
            return [detection_row(source, None, detector.predict(read_image(source)))]
        except YoloEdgeError as exc:
            return [error_row(source, None, str(exc))]
    capture, rows = cv2.VideoCapture(source), []
    try:
        if not capture.isOpened():
            return [error_row(source, None, f"cannot open a video from {source!r}: not a readable video")]
        while (read := capture.read())[0]:
            rows.append(detection_row(source, len(rows), detector.predict(read[1])))
    finally:
        capture.release()
    return rows or [error_row(source, None, f"no frame could be decoded from {source!r}")]


class Predictor:
    """The work of one Ray actor: a Detector, loaded once, over batches of files."""

    def __init__(self, model: str, options: dict):
        from runtime.detector import Detector

        self.detector = Detector(model, **options)

    def __call__(self, batch):
        import pyarrow as pa

        rows = [row for source, kind in zip(batch["source"], batch["kind"])
                for row in file_rows(self.detector, str(source), str(kind))]
        return pa.Table.from_pylist(rows, schema=schema())


def archive_files(sources) -> list[tuple[str, str]]:
    """(path, image|video) of every file the sources name, in order, folders searched recursively."""
    files = []
    for given in sources:
        if Path(given).is_dir():
            found = folder_sources(Path(given), FRAME_KINDS, recursive=True)
            if not found:
                raise SourceError(f"{str(given)!r} holds no image or video files")
        else:
            found = expand_sources([given], FRAME_KINDS)
        files += [(s.name, s.kind) for s in found]
    return files


def written_sources(out: Path) -> set[str]:
    """The files whose rows are already in the Parquet folder `out`."""
    import pyarrow.parquet as pq

    parts = sorted(out.glob("*.parquet")) if out.is_dir() else []
    return {s for part in parts for s in pq.read_table(part, columns=["source"]).column("source").to_pylist()}


def predict_dataset(model: str | Path, sources, out: str | Path, address: str | None = None,
                    threads_per_actor: int = 1, actors: int | None = None, files_per_batch: int | None = None,
                    **options) -> Summary:
    """Detect in every image and video frame of `sources` on the Ray cluster at `address` (None: a local one, or
    the one this process is connected to; "auto": the one `ray start` made on this machine) and append the rows to
    the Parquet folder `out`. Detector `options` as for Detector(model, ...). files_per_batch (default: up to
    MAX_FILES_PER_BATCH, at least four batches per actor) is how many files an actor takes per call."""
    try:
        import pyarrow.parquet as pq
        import ray
    except ImportError as exc:
        raise ExtraNotInstalledError(f"predict_dataset needs Ray Data: {INSTALL}") from exc
    out, model = Path(out), str(Path(model).resolve())
    files = archive_files([str(s) for s in sources])
    done = written_sources(out)
    todo = [(path, kind) for path, kind in files if path not in done]
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = actors or max(1, cpus // threads_per_actor)
    start = time.perf_counter()
    before = set(out.glob("*.parquet")) if out.is_dir() else set()
    if todo:
        items = [{"source": path, "kind": kind} for path, kind in todo]
        per_batch = files_per_batch or max(1, min(MAX_FILES_PER_BATCH, len(items) // (4 * actors)))
        dataset = ray.data.from_items(items, override_num_blocks=min(len(items), 4 * actors))
        dataset = dataset.map_batches(Predictor, fn_constructor_args=(model, {**options, "threads": threads_per_actor}),
                                      batch_size=per_batch, concurrency=actors, num_cpus=threads_per_actor)
        dataset.write_parquet(str(out))
    seconds = time.perf_counter() - start
    new = [pq.read_table(p, columns=["frame", "scores", "error"]) for p in sorted(set(out.glob("*.parquet")) - before)]
    frames = sum(t.num_rows - t.column("error").drop_null().length() for t in new)
    detections = sum(sum(len(s) for s in t.column("scores").to_pylist() if s) for t in new)
    errors = sum(t.column("error").drop_null().length() for t in new)
    return Summary(files=len(todo), skipped=len(files) - len(todo), frames=frames, detections=detections,
                   errors=errors, seconds=round(seconds, 2), frames_per_second=round(frames / seconds, 2) if seconds
                   else 0.0, actors=actors, threads_per_actor=threads_per_actor)


def summary_line(summary: Summary) -> str:
    s = asdict(summary)
    return (f"{s['files']} files ({s['skipped']} already written), {s['frames']} frames, {s['detections']} "
            f"detections, {s['errors']} errors in {s['seconds']} s ({s['frames_per_second']} frames/s; "
            f"{s['actors']} actors x {s['threads_per_actor']} threads)")
