"""The frame every benchmark measures on: the first shipped sample photo (real pixels, real detections)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.settings import REPO_ROOT
from runtime.bench import parse_size

SAMPLES = REPO_ROOT / "models" / "samples"


def sample_path() -> Path:
    paths = sorted(SAMPLES.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no sample images in {SAMPLES} (python -m models.samples writes them)")
    return paths[0]


def sample_frames(sizes) -> dict[str, np.ndarray]:
    """The sample resized to each WIDTHxHEIGHT."""
    source = cv2.imread(str(sample_path()))
    return {s: cv2.resize(source, parse_size(s), interpolation=cv2.INTER_LINEAR) for s in sizes}
