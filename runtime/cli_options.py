"""Every Detector option as a `yolo-edge` flag, built from the options model, and the flags given back as options."""

from __future__ import annotations

import argparse
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

from runtime.options import DetectorOptions

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
