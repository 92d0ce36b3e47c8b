"""Demo images: test-like scenes from a separate seed, one of them 1280x720.

    python -m models.samples --out models/samples --seed 123
"""
from . import settings  # noqa: F401

import argparse
from pathlib import Path

import numpy as np

from .dataset import NAMES, render, save

SIZES = [(1280, 720), (480, 360), (400, 400), (360, 480)]  # (width, height)
SAMPLES = Path(__file__).resolve().parent / "samples"  # the shipped ones


def sample_paths() -> list[Path]:
    """The shipped sample images, in order (the first is the 1280x720 one the benchmarks measure on)."""
    paths = sorted(SAMPLES.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no sample images in {SAMPLES} (python -m models.samples writes them)")
    return paths


def make_samples(out_dir, seed=123):
    """Write sample_<w>x<h>_<i>.jpg files (no labels) and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (w, h) in enumerate(SIZES):
        for attempt in range(100):  # first scene (deterministic) that shows all classes, 4+ objects
            rng = np.random.default_rng([seed, 99, i, attempt])
            rgb, labels = render(rng, w, h, n_objects=int(rng.integers(4, 7)))
            if len(labels) >= 4 and len({c for c, *_ in labels}) == len(NAMES):
                break
        path = out / f"sample_{i}_{w}x{h}.jpg"
        save(path, rgb, labels, None, 90)
        paths.append(path)
        print(path, f"{len(labels)} objects")
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="models/samples")
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args()
    make_samples(args.out, args.seed)


if __name__ == "__main__":
    main()
