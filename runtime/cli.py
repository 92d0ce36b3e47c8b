"""`yolo-edge` command line: predict on images and videos, describe a model, validate, benchmark latency.

Exit status: 0 done; 1 some files could not be read (the others ran); 2 a user error (one line on stderr; --debug
shows its traceback); 141 (128 + SIGPIPE, as Unix tools report it) when the reader of the output went away
(`| head`): the run stops quietly after closing what it was writing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

import cv2

from runtime import __version__
from runtime.detector import Detector
from runtime.draw import annotate
from runtime.engines import model_size
from runtime.errors import InvalidFrameError, OutputError, SourceError, YoloEdgeError
from runtime.options import DetectorOptions
from runtime.sources import STREAM_KINDS, VIDEO_SUFFIXES, expand_sources, output_names, read_image

USER_ERROR = 2
SOME_FILES_FAILED = 1
CLOSED_PIPE = 141
INTERRUPTED = 130  # 128 + SIGINT
# Options that choose which detections are kept; `info` and `val` (which pins them) take only the others.
SELECTION_OPTIONS = ("conf", "iou", "max_det", "classes", "agnostic")
PREDICT_OPTIONS = tuple(DetectorOptions.model_fields)
LOADING_OPTIONS = tuple(name for name in PREDICT_OPTIONS if name not in SELECTION_OPTIONS)


def bare_type(annotation):
    """int from int | None, Annotated[int, ...] or Optional[Annotated[...]]: what a flag's values are."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def add_option_flags(parser: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    """A --kebab-case flag per Detector option, built from the options model: its type, choices and help. The
    flags default to None (not given), so the model's own defaults apply."""
    for name in names:
        field = DetectorOptions.model_fields[name]
        kind = bare_type(field.annotation)
        shown = f" (default: {field.default})" if field.default not in (None, False) else ""
        spec = {"help": (field.description or "") + shown, "default": None}
        if kind is bool:
            spec["action"] = "store_true"
        elif get_origin(kind) is Literal:
            spec["choices"] = get_args(kind)
        elif get_origin(kind) in (tuple, dict):  # --classes 0 2, --imgsz 320 or 320 480, --names a b c
            spec.update(nargs="+", type=bare_type(get_args(kind)[-1 if get_origin(kind) is dict else 0]))
        else:
            spec["type"] = kind
        parser.add_argument("--" + name.replace("_", "-"), **spec)


def given_options(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    """The Detector options given on the command line: one value of a list flag as a scalar (the options model
    widens it: --imgsz 320 is 320x320), a list of names as ids 0, 1, ..."""
    options = {}
    for name in names:
        value = getattr(args, name)
        if isinstance(value, list):
            is_dict = get_origin(bare_type(DetectorOptions.model_fields[name].annotation)) is dict
            value = dict(enumerate(value)) if is_dict else value[0] if len(value) == 1 else tuple(value)
        if value is not None:
            options[name] = value
    return options


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
    from runtime.stream import live_engine_options, throughput_engine_options

    if sources and all(s.live for s in sources):  # camera pace: the engine settings that keep up (runtime/stream.py)
        options = live_engine_options(args.model, options)
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


def cmd_info(args) -> int:
    detector = Detector(args.model, **given_options(args, LOADING_OPTIONS))
    spec = detector.engine.input
    info = {
        "model": str(detector.path),
        "engine": detector.engine.name,
        "input": {"name": spec.name, "shape": list(spec.shape), "layout": spec.layout, "dtype": str(spec.dtype),
                  "quantization": [spec.scale, spec.zero_point] if spec.is_quantized else None},
        "imgsz": list(detector.input_hw),
        "names": detector.names,
        "metadata_source": detector.metadata.source,
        "size_mb": round(model_size(detector.path) / 2**20, 2),
    }
    print(json.dumps(info, indent=2))
    return 0


def cmd_val(args) -> int:
    from runtime.val import validate  # needs the [val] extra, which the other commands do not

    result = validate(Path(args.model), Path(args.data), args.split, **given_options(args, LOADING_OPTIONS))
    print(json.dumps(result) if args.json else
          f"{result['model']} [{result['engine']}] {result['split']} ({result['images']} images): "
          f"mAP50-95 {result['map50_95']:.4f}, mAP50 {result['map50']:.4f}")
    return 0


def cmd_bench(args) -> int:
    from runtime.bench import run_from_args

    try:
        return run_from_args(args)
    except ValueError as exc:
        print(f"yolo-edge bench: {exc}", file=sys.stderr)
        return 2


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other user error of the command."""

    def error(self, message: str):
        self.exit(USER_ERROR, f"yolo-edge: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="yolo-edge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    # after the command too; SUPPRESS: a subcommand's default would overwrite a --debug given before it
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error")

    def command(name: str, summary: str, run, model: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=summary, parents=[common])
        if model:
            p.add_argument("model", help=".onnx, .xml, *_openvino_model/ or .tflite")
        p.set_defaults(run=run)
        return p

    predict = command("predict", "detect objects in images, videos, cameras and streams", cmd_predict)
    predict.add_argument("source", nargs="+", help="image or video files, folders of them, a camera (0, /dev/video0) "
                         "or a stream URL (rtsp://, http://, ...)")
    predict.add_argument("--save", metavar="DIR|FILE.mp4", help="write annotated images (and <video stem>.mp4) "
                         "into folder DIR, a name two sources share getting _1, _2, ... instead of overwriting; "
                         "or, for one video, camera or stream, the annotated video FILE.mp4")
    predict.add_argument("--json", action="store_true", help="one JSON line per image or video frame")
    predict.add_argument("--policy", choices=("latest", "all"), default=None,
                         help="frames a slower engine cannot keep up with: latest drops the stale ones (default for "
                              "cameras and streams), all keeps every frame (default for files)")
    predict.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                         help="run on a Ray cluster (the [ray] extra): ADDRESS of its head (host:port, or 'auto' "
                              "for the one `ray start` made here); without one, a local cluster of this machine's "
                              "cores. One actor per --threads engine threads (default 1) of each CPU Ray has")
    predict.add_argument("--out", metavar="RESULTS.parquet", help="--ray: the Parquet folder the rows are "
                         "appended to; files already in it are skipped (a re-run resumes)")
    predict.add_argument("--max-frames", type=int, default=None, metavar="N",
                         help="stop each video, camera or stream after N results (live sources run until Ctrl-C "
                              "otherwise)")
    predict.add_argument("--workers", type=int, default=1, metavar="N",
                         help="videos, cameras and streams: N engine threads inferring N frames at once, results "
                              "still in order (default 1). For throughput on many cores: N workers of --threads T "
                              "each (OpenVINO: with --openvino-hint THROUGHPUT)")
    add_option_flags(predict, PREDICT_OPTIONS)

    info = command("info", "engine, input, class names and size of a model", cmd_info)
    add_option_flags(info, LOADING_OPTIONS)

    val = command("val", "mAP50-95 / mAP50 on a YOLO-format split (needs the [val] extra)", cmd_val)
    val.add_argument("data", help="data yaml (path, names, train/val/test folders)")
    val.add_argument("--split", default="test", help="(default: test)")
    val.add_argument("--json", action="store_true")
    add_option_flags(val, LOADING_OPTIONS)

    from runtime.bench import add_arguments  # numpy + the runtime only: tqdm/matplotlib load lazily

    bench = command("bench", "latency per model x engine x threads x frame size (a table; --json FILE)", cmd_bench,
                    model=False)
    add_arguments(bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except YoloEdgeError as exc:
        if args.debug:
            raise
        print("yolo-edge: " + "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()),
              file=sys.stderr)
        return USER_ERROR
    except BrokenPipeError:
        stdout_to_devnull()
        return CLOSED_PIPE
    except KeyboardInterrupt:  # Ctrl-C: streams closed, videos finalized on the way out
        return INTERRUPTED


def stdout_to_devnull() -> None:
    """After the reader closed the pipe, Python's final flush of stdout would fail again and print a complaint."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured, replaced)
        pass


if __name__ == "__main__":
    sys.exit(main())
