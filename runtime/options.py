"""Detector options, validated once at construction so a bad value fails early and clearly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError, field_validator

from runtime.engines import ENGINE_NAMES
from runtime.engines.settings import EngineSettings
from runtime.errors import InvalidOptionsError


class DetectorOptions(EngineSettings):
    """Everything `Detector(...)` accepts besides the model path."""

    backend: Literal[ENGINE_NAMES] | None = Field(  # type: ignore[valid-type]  # the registry's names
        None, description="engine to run the model on; None = the engine of the model's format")
    conf: float = Field(0.25, ge=0.0, le=1.0, description="minimum confidence of a detection")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="IoU above which non-maximum suppression drops a box")
    max_det: int = Field(300, ge=1, description="most detections kept per frame")
    classes: tuple[NonNegativeInt, ...] | None = Field(None, description="class ids to keep; None = all")
    agnostic: bool = Field(False, description="suppress overlapping boxes across classes, not only within one")
    imgsz: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="input size (one side, or height and width) for models with a dynamic input shape; "
                          "None = the size the model was exported at")
    names: dict[int, str] | None = Field(None, description="class names overriding the model's metadata")

    @field_validator("classes", mode="before")
    @classmethod
    def _one_class_is_a_list(cls, v):
        return (v,) if isinstance(v, int) else v

    @field_validator("imgsz", mode="before")
    @classmethod
    def _square(cls, v):
        return (v, v) if isinstance(v, int) else v

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(**{k: getattr(self, k) for k in EngineSettings.model_fields})


def validate_options(**kwargs) -> DetectorOptions:
    try:
        return DetectorOptions(**kwargs)
    except ValidationError as exc:
        raise InvalidOptionsError("\n".join(_problem(error, kwargs) for error in exc.errors())) from None


def _problem(error: dict, given: dict) -> str:
    """One plain line for one of pydantic's errors: the option, the value given and what it must be."""
    name = str(error["loc"][0]) if error["loc"] else "?"
    if error["type"] == "extra_forbidden":
        known = ", ".join(DetectorOptions.model_fields)
        return f"unknown Detector option {name}={given[name]!r}; the options are {known}"
    message = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    return f"invalid Detector option {name}={given.get(name)!r}: {_item(name, error['loc'][1:])}{message}"


def _item(name: str, within: tuple) -> str:
    """Which item of a tuple or dict option is wrong: loc ("classes", 1) or ("names", "a", "[key]")."""
    if not within:
        return ""
    return f"{name} key {within[0]!r} " if within[-1] == "[key]" else f"{name}[{within[0]!r}] "


def _option_error(name: str, value, why: str) -> InvalidOptionsError:
    return InvalidOptionsError(f"invalid Detector option {name}={value!r}: {why}")


def input_size(requested: tuple[int, int] | None, fixed: tuple[int, int] | None, stride: int,
               exported: tuple[int, int]) -> tuple[int, int]:
    """The (height, width) the model runs at: its fixed input shape, else `imgsz` (or the size it was exported
    at), which must be a multiple of the model's stride (the head's feature maps must tile the input)."""
    shown = requested and (requested[0] if requested[0] == requested[1] else requested)
    if fixed is not None:
        if requested is not None and tuple(requested) != tuple(fixed):
            raise _option_error("imgsz", shown, f"this model's input shape is fixed at {fixed[0]}x{fixed[1]}; "
                                "export it at another size (or with dynamic shapes) to run it at another size")
        return fixed
    if requested is None:
        return exported
    for side in requested:
        if side % stride:
            below = side // stride * stride
            nearby = " or ".join(str(s) for s in (below, below + stride) if s > 0)
            raise _option_error("imgsz", shown, f"must be a multiple of the model's stride {stride} "
                                f"(nearby valid sizes: {nearby})")
    return requested


def check_classes(classes: tuple[int, ...] | None, names: dict[int, str]) -> None:
    """Class ids the model does not have are an error when its names (so its classes) are known."""
    unknown = sorted(set(classes or ()) - set(names)) if names else []
    if unknown:
        listed = ", ".join(f"{i} {names[i]}" for i in sorted(names)) if len(names) <= 12 else \
            f"{min(names)}-{max(names)}"
        raise _option_error("classes", list(classes), f"the model has no class {', '.join(map(str, unknown))}; "
                            f"valid ids: {listed}")
