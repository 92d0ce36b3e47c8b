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

from runtime import __version__
from runtime.cli_options import LOADING_OPTIONS, add_option_flags, given_options
from runtime.cli_predict import add_arguments as add_predict_arguments
from runtime.cli_predict import cmd_predict
from runtime.detector import Detector
from runtime.engines import model_size
from runtime.errors import YoloEdgeError

USER_ERROR = 2
CLOSED_PIPE = 141
INTERRUPTED = 130  # 128 + SIGINT


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
    add_predict_arguments(predict)

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
