"""Detector options, validated once at construction so a bad value fails early and clearly."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator

from runtime.engines import ENGINE_NAMES
from runtime.engines.settings import EngineSettings
from runtime.errors import InvalidOptionsError


class DetectorOptions(EngineSettings):
    """Everything `Detector(...)` accepts besides the model path."""

    backend: Literal[ENGINE_NAMES] | None = None  # type: ignore[valid-type]  # the registry's names
    conf: float = Field(0.25, ge=0.0, le=1.0)
    iou: float = Field(0.7, ge=0.0, le=1.0)
    max_det: int = Field(300, ge=1)
    classes: tuple[int, ...] | None = None
    agnostic: bool = False
    imgsz: tuple[int, int] | None = Field(None, description="input size for models with a dynamic input shape")
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
        raise InvalidOptionsError(f"invalid Detector option(s):\n{exc}") from exc
