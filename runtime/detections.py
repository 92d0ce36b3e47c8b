"""Detection results: numpy arrays that validate their own shapes, with pydantic dumping to JSON."""

from __future__ import annotations

from typing import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from runtime.errors import ExtraNotInstalledError
from runtime.metadata import class_name


class StageTimes(BaseModel):
    """Milliseconds spent in each stage of one predict call."""

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    @property
    def total(self) -> float:
        return self.preprocess + self.inference + self.postprocess

    @field_serializer("preprocess", "inference", "postprocess", when_used="json")
    def _to_microseconds(self, v: float) -> float:
        return round(v, 3)


class Detection(BaseModel):
    """One box, as handed out when iterating over Detections."""

    xyxy: tuple[float, float, float, float]
    confidence: float
    class_id: int
    class_name: str


class Detections(BaseModel):
    """All boxes found in one frame, in frame pixels (x1, y1, x2, y2), best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    xyxy: np.ndarray = Field(default_factory=lambda: np.zeros((0, 4), np.float32))
    confidence: np.ndarray = Field(default_factory=lambda: np.zeros(0, np.float32))
    class_id: np.ndarray = Field(default_factory=lambda: np.zeros(0, np.int64))
    names: dict[int, str] = {}
    image_shape: tuple[int, int] = (0, 0)  # (height, width) of the frame the boxes refer to
    times: StageTimes = StageTimes()

    @field_validator("xyxy", mode="before")
    @classmethod
    def _boxes(cls, v):
        v = np.asarray(v, dtype=np.float32).reshape(-1, 4) if np.size(v) else np.zeros((0, 4), np.float32)
        if not np.isfinite(v).all():
            raise ValueError("xyxy holds NaN or inf")
        return v

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, v):
        return np.asarray(v, dtype=np.float32).reshape(-1)

    @field_validator("class_id", mode="before")
    @classmethod
    def _class_id(cls, v):
        return np.asarray(v, dtype=np.int64).reshape(-1)

    @model_validator(mode="after")
    def _same_length(self):
        n = len(self.xyxy)
        if len(self.confidence) != n or len(self.class_id) != n:
            raise ValueError(f"xyxy, confidence and class_id lengths differ: {n}, "
                             f"{len(self.confidence)}, {len(self.class_id)}")
        return self

    def __len__(self) -> int:
        return len(self.xyxy)

    def __iter__(self) -> Iterator[Detection]:  # type: ignore[override]  # rows, not pydantic fields
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        """An int gives one Detection; a slice, index array or boolean mask gives Detections."""
        if isinstance(index, (int, np.integer)):
            cid = int(self.class_id[index])
            return Detection(xyxy=tuple(float(v) for v in self.xyxy[index]), confidence=float(self.confidence[index]),
                             class_id=cid, class_name=self.class_name(cid))
        return self.model_copy(update={"xyxy": self.xyxy[index], "confidence": self.confidence[index],
                                       "class_id": self.class_id[index]})

    def class_name(self, class_id: int) -> str:
        return class_name(self.names, class_id)

    @property
    def class_names(self) -> list[str]:
        return [self.class_name(int(c)) for c in self.class_id]

    # JSON carries what the numbers mean, not float32 noise (188.76300048828125): boxes to 0.01 px, scores to 1e-4.
    # Rounded as Python floats, after conversion: rounding the float32 arrays would bring the noise back.
    @field_serializer("xyxy")
    def _boxes_as_lists(self, v: np.ndarray):
        return [[round(x, 2) for x in row] for row in v.tolist()]

    @field_serializer("confidence")
    def _scores_as_list(self, v: np.ndarray):
        return [round(x, 4) for x in v.tolist()]

    @field_serializer("class_id")
    def _ids_as_list(self, v: np.ndarray):
        return v.tolist()

    def to_supervision(self):
        """These detections as a `supervision.Detections` (class names in its data["class_name"])."""
        try:
            import supervision  # optional: only for users of that library
        except ImportError as exc:
            raise ExtraNotInstalledError("to_supervision() needs the supervision package: "
                                          "pip install 'yolo-edge-runtime[supervision]'") from exc
        return supervision.Detections(xyxy=self.xyxy.astype(np.float32), confidence=self.confidence.astype(np.float32),
                                      class_id=self.class_id.astype(int),
                                      data={"class_name": np.array(self.class_names, dtype=str)})
