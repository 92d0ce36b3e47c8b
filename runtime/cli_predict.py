"""`yolo-edge predict`: images one by one, videos, cameras and stream URLs through Detector.stream, an archive on a
Ray cluster; the lines, JSON and annotated copies it writes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from runtime.cli_options import PREDICT_OPTIONS, add_option_flags, given_options
from runtime.detector import Detector
from runtime.draw import annotate
from runtime.errors import InvalidFrameError, OutputError, SourceError
from runtime.sources import STREAM_KINDS, VIDEO_SUFFIXES, expand_sources, output_names, read_image
from runtime.stream import live_engine_options, throughput_engine_options

SOME_FILES_FAILED = 1  # exit status: some files could not be read (the others ran)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="+", help="image or video files, folders of them, a camera (0, /dev/video0) "
                        "or a stream URL (rtsp://, http://, ...)")
    parser.add_argument("--save", metavar="DIR|FILE.mp4", help="write annotated images (and <video stem>.mp4) "
                        "into folder DIR, a name two sources share getting _1, _2, ... instead of overwriting; "
                        "or, for one video, camera or stream, the annotated video FILE.mp4")
    parser.add_argument("--json", action="store_true", help="one JSON line per image or video frame")
    parser.add_argument("--policy", choices=("latest", "all"), default=None,
                        help="frames a slower engine cannot keep up with: latest drops the stale ones (default for "
                             "cameras and streams), all keeps every frame (default for files)")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run on a Ray cluster (the [ray] extra): ADDRESS of its head (host:port, or 'auto' "
                             "for the one `ray start` made here); without one, a local cluster of this machine's "
                             "cores. One actor per --threads engine threads (default 1) of each CPU Ray has")
    parser.add_argument("--out", metavar="RESULTS.parquet", help="--ray: the Parquet folder the rows are "
                        "appended to; files already in it are skipped (a re-run resumes)")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N",
                        help="stop each video, camera or stream after N results (live sources run until Ctrl-C "
                             "otherwise)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="videos, cameras and streams: N engine threads inferring N frames at once, results "
                             "still in order (default 1): throughput on several cores, each thread with its share "
                             "of them (OpenVINO: its THROUGHPUT hint) unless --threads or --openvino-hint is given")
    add_option_flags(parser, PREDICT_OPTIONS)


def cmd_predict(args) -> int:
    if args.ray is not None:
        if args.workers != 1:
            raise OutputError("--workers is for streams run here; with --ray, --threads sizes each actor")
        return predict_on_ray(args)
    if args.out:
        raise OutputError("--out is where --ray writes its Parquet rows: give --ray too (or --save / --json)")
    sources = expand_sources(args.source, STREAM_KINDS)
    if args.max_frames is not None and args.max_frames < 1:
        raise OutputError("--max-frames must be at least 1")
    if args.workers < 1:
        raise OutputError("--workers must be at least 1")
    options = given_options(args, PREDICT_OPTIONS)
    if sources and all(s.live for s in sources):  # camera pace: the engine settings that keep up (runtime/stream.py)
        options = live_engine_options(args.model, options)
    if any(s.kind != "image" for s in sources):  # images run one by one: --workers is for what streams
        options = throughput_engine_options(args.model, options, args.workers)
    detector = Detector(args.model, **options)
    saved = save_paths(args.save, sources)
    failures = 0
    for source, save_to in zip(sources, saved):
        try:
            if source.kind == "image":
                predict_image(detector, source.path, args.json, save_to)
            else:
                predict_stream(detector, source, args, save_to)
        except (InvalidFrameError, SourceError) as exc:  # one bad file does not stop the batch
            print(f"yolo-edge: {exc}", file=sys.stderr)
            failures += 1
    return SOME_FILES_FAILED if failures else 0


def predict_on_ray(args) -> int:
    """--ray: every image and video frame of the sources as Parquet rows, computed on a Ray cluster (the [ray]
    extra); a summary line on stderr. Exit 1 when some files could not be read (their rows hold the error)."""
    from runtime.cluster import predict_dataset, summary_line

    if not args.out:
        raise OutputError("--ray needs --out RESULTS.parquet (a folder of Parquet files)")
    address = None if args.ray == "local" else args.ray
    options = given_options(args, PREDICT_OPTIONS)
    threads = options.pop("threads", 1)
    summary = predict_dataset(args.model, args.source, args.out, address=address, threads_per_actor=threads,
                              **options)
    print(f"yolo-edge: {summary_line(summary)}", file=sys.stderr)
    return SOME_FILES_FAILED if summary.errors else 0


def save_paths(save: str | None, sources) -> list[Path | None]:
    """Where each source's annotated copy goes: --save names a folder, or (for one video or live source) a video
    file such as out.mp4."""
    if not save:
        return [None] * len(sources)
    if Path(save).suffix.lower() in VIDEO_SUFFIXES:
        if len(sources) != 1 or sources[0].kind == "image":
            raise OutputError(f"--save {save!r} names a video: give one video, camera or stream (or a folder)")
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        return [Path(save)]
    folder = output_folder(Path(save))
    return [folder / name for name in output_names(sources)]


def output_folder(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise OutputError(f"--save {str(path)!r} is a file; it needs a folder (one that exists, or a new name)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the --save folder {str(path)!r}: {exc.strerror}") from exc
    return path


def report(detections, source: Path | str, as_json: bool, frame_index: int | None = None) -> None:
    """One JSON line, or one human-readable line, per image or video frame; flushed, so a reader gets each line as
    its frame is done."""
    if as_json:
        where = {"source": str(source)} if frame_index is None else {"source": str(source), "frame": frame_index}
        print(json.dumps({**where, **detections.model_dump(mode="json")}), flush=True)
        return
    t = detections.times
    label = source if frame_index is None else f"{source} #{frame_index}"
    found = ", ".join(f"{d.class_name} {d.confidence:.2f}" for d in detections) or "nothing"
    print(f"{label}: {len(detections)} found ({found}); pre {t.preprocess:.1f} ms, "
          f"infer {t.inference:.1f} ms, post {t.postprocess:.1f} ms", flush=True)


def predict_image(detector: Detector, path: Path, as_json: bool, save_to: Path | None) -> None:
    frame = read_image(path)
    detections = detector.predict(frame)
    report(detections, path, as_json)
    if save_to and not cv2.imwrite(str(save_to), annotate(frame, detections)):
        raise OutputError(f"cannot write {str(save_to)!r}")


def predict_stream(detector: Detector, source, args, save_to: Path | None) -> None:
    """A video, camera or stream URL through Detector.stream (decode, letterbox and inference overlapped); --save
    writes an annotated video, closed (so playable) however the run ends (Ctrl-C included). The stream's metrics
    go to stderr at the end."""
    writer = None
    stream = detector.stream(source, policy=args.policy, max_frames=args.max_frames, workers=args.workers)
    summary = lambda: print(f"yolo-edge: {source.name}: {stream.metrics.summary()}", file=sys.stderr)  # noqa: E731
    try:
        with stream:
            for result in stream:
                report(result.detections, source.name, args.json, result.index)
                if save_to:
                    writer = writer or video_writer(save_to, source_fps(source), result.frame)
                    writer.write(annotate(result.frame, result.detections))
        summary()
    except KeyboardInterrupt:
        summary()
        raise
    finally:
        if writer is not None:
            writer.release()


def source_fps(source) -> float:
    """The frame rate to write an annotated copy at: the video's own, else 30."""
    capture = cv2.VideoCapture(str(source.path)) if source.kind == "video" else None
    fps = capture.get(cv2.CAP_PROP_FPS) if capture is not None else 0.0
    if capture is not None:
        capture.release()
    return fps if 1 <= fps <= 240 else 30.0


def video_writer(path: Path, fps: float, frame) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
    if not writer.isOpened():
        raise OutputError(f"cannot write a video to {str(path)!r}")
    return writer
