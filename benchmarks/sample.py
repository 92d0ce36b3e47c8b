"""The frame every benchmark measures on: the first shipped sample photo (real pixels, real detections)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.samples import sample_paths
from runtime.bench import parse_size


def sample_path() -> Path:
    return sample_paths()[0]


def sample_frames(sizes) -> dict[str, np.ndarray]:
    """The sample resized to each WIDTHxHEIGHT."""
    source = cv2.imread(str(sample_path()))
    return {s: cv2.resize(source, parse_size(s), interpolation=cv2.INTER_LINEAR) for s in sizes}
