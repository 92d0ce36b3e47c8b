"""`yolo-edge` command line: predict on images and videos, describe a model, validate, benchmark latency."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}


def source_paths(sources: list[str], suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES) -> list[Path]:
    """Files as given; folders expand to the files inside them with those suffixes (images and videos), sorted."""
    paths = []
    for source in map(Path, sources):
        if source.is_dir():
            paths += sorted(p for p in source.iterdir() if p.suffix.lower() in suffixes)
        else:
            paths.append(source)
    return paths


def detector_from(args):
    from runtime import Detector

    return Detector(args.model, backend=args.backend, conf=args.conf, iou=args.iou, threads=args.threads)


def cmd_predict(args) -> int:
    from runtime.errors import InvalidFrameError

    detector = detector_from(args)
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in source_paths(args.source):
        predict_file = predict_video if path.suffix.lower() in VIDEO_SUFFIXES else predict_image
        try:
            predict_file(detector, path, args.json, save)
        except InvalidFrameError as exc:  # one bad file does not stop the batch
            print(f"{path}: {exc}", file=sys.stderr)
            failures += 1
    return 1 if failures else 0


def report(detections, source: Path, as_json: bool, frame_index: int | None = None) -> None:
    """One JSON line, or one human-readable line, per image or video frame."""
    if as_json:
        where = {"source": str(source)} if frame_index is None else {"source": str(source), "frame": frame_index}
        print(json.dumps({**where, **detections.model_dump(mode="json")}))
        return
    t = detections.times
    label = source if frame_index is None else f"{source} #{frame_index}"
    found = ", ".join(f"{d.class_name} {d.confidence:.2f}" for d in detections) or "nothing"
    print(f"{label}: {len(detections)} found ({found}); pre {t.preprocess:.1f} ms, "
          f"infer {t.inference:.1f} ms, post {t.postprocess:.1f} ms")


def predict_image(detector, path: Path, as_json: bool, save: Path | None) -> None:
    import cv2

    from runtime.draw import annotate

    frame = cv2.imread(str(path))
    detections = detector.predict(frame if frame is not None else path)  # the path: its typed "cannot read" error
    report(detections, path, as_json)
    if save:
        cv2.imwrite(str(save / path.name), annotate(frame, detections))


def predict_video(detector, path: Path, as_json: bool, save: Path | None) -> None:
    """Every frame of a video file, decoded one at a time; --save writes an annotated <stem>.mp4."""
    import cv2

    from runtime.draw import annotate
    from runtime.errors import InvalidFrameError

    capture, writer, index = cv2.VideoCapture(str(path)), None, 0
    try:
        if not capture.isOpened():
            raise InvalidFrameError(f"cannot open a video from {str(path)!r} (missing or not a video)")
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            detections = detector.predict(frame)
            report(detections, path, as_json, index)
            if save:
                if writer is None:
                    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
                    writer = cv2.VideoWriter(str(save / f"{path.stem}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (frame.shape[1], frame.shape[0]))
                writer.write(annotate(frame, detections))
            index += 1
        if index == 0:
            raise InvalidFrameError(f"no frame could be decoded from {str(path)!r}")
    finally:
        capture.release()
        if writer is not None:
            writer.release()


def cmd_info(args) -> int:
    detector = detector_from(args)
    spec = detector.engine.input
    size = sum(f.stat().st_size for f in detector.path.rglob("*")) if detector.path.is_dir() else \
        detector.path.stat().st_size
    info = {
        "model": str(detector.path),
        "engine": detector.engine.name,
        "input": {"name": spec.name, "shape": list(spec.shape), "layout": spec.layout, "dtype": str(spec.dtype),
                  "quantization": [spec.scale, spec.zero_point] if spec.is_quantized else None},
        "imgsz": list(detector.input_hw),
        "names": detector.names,
        "metadata_source": detector.metadata.source,
        "size_mb": round(size / 2**20, 2),
    }
    print(json.dumps(info, indent=2))
    return 0


def cmd_val(args) -> int:
    from runtime.val import validate

    result = validate(Path(args.model), Path(args.data), args.split, backend=args.backend, threads=args.threads)
    print(json.dumps(result) if args.json else
          f"{result['model']} [{result['engine']}] {result['split']} ({result['images']} images): "
          f"mAP50-95 {result['map50_95']:.4f}, mAP50 {result['map50']:.4f}")
    return 0


def cmd_bench(args) -> int:
    from runtime.bench import run_from_args

    try:
        run_from_args(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"yolo-edge bench: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yolo-edge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p):
        p.add_argument("model", help=".onnx, .xml, *_openvino_model/ or .tflite")
        p.add_argument("--backend", choices=["onnxruntime", "openvino", "tflite"], default=None)
        p.add_argument("--threads", type=int, default=None, help="default: physical cores")
        p.add_argument("--conf", type=float, default=0.25)
        p.add_argument("--iou", type=float, default=0.7)

    predict = sub.add_parser("predict", help="detect objects in images and videos")
    model_args(predict)
    predict.add_argument("source", nargs="+", help="image or video files, or folders of them")
    predict.add_argument("--save", metavar="DIR", help="write annotated images (and <video stem>.mp4) here")
    predict.add_argument("--json", action="store_true", help="one JSON line per image or video frame")
    predict.set_defaults(run=cmd_predict)

    info = sub.add_parser("info", help="engine, input, class names and size of a model")
    model_args(info)
    info.set_defaults(run=cmd_info)

    val = sub.add_parser("val", help="mAP50-95 / mAP50 on a YOLO-format split (needs the [val] extra)")
    val.add_argument("model")
    val.add_argument("data", help="data yaml (path, names, train/val/test folders)")
    val.add_argument("--split", default="test")
    val.add_argument("--backend", choices=["onnxruntime", "openvino", "tflite"], default=None)
    val.add_argument("--threads", type=int, default=None)
    val.add_argument("--json", action="store_true")
    val.set_defaults(run=cmd_val)

    from runtime.bench import add_arguments  # numpy + the runtime only: tqdm/matplotlib load lazily

    bench = sub.add_parser("bench", help="latency per model x engine x threads x frame size (JSON, Markdown, PNG)")
    add_arguments(bench)
    bench.set_defaults(run=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    from runtime.errors import YoloEdgeError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except YoloEdgeError as exc:
        print(f"yolo-edge: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
