"""Detection results: numpy arrays that validate their own shapes, with pydantic dumping to JSON."""

from __future__ import annotations

from typing import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator


class StageTimes(BaseModel):
    """Milliseconds spent in each stage of one predict call."""

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    @property
    def total(self) -> float:
        return self.preprocess + self.inference + self.postprocess


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
        return self.names.get(class_id, f"class{class_id}")

    @property
    def class_names(self) -> list[str]:
        return [self.class_name(int(c)) for c in self.class_id]

    @field_serializer("xyxy", "confidence", "class_id")
    def _as_lists(self, v: np.ndarray):
        return v.round(3).tolist() if v.dtype.kind == "f" else v.tolist()
