"""The generated dataset: labels sit on the drawn objects, and the same seed gives the same bytes."""

from __future__ import annotations

import numpy as np
import pytest

dataset = pytest.importorskip("models.dataset")


def test_labels_cover_exactly_the_drawn_objects(monkeypatch):
    """On a black background every bright pixel lies in a label box, and every box is mostly object."""
    monkeypatch.setattr(dataset, "_background", lambda rng, w, h: np.zeros((h, w, 3), np.float32))
    boxes_seen = 0
    for i in range(30):
        rng = np.random.default_rng([11, i])
        rgb, labels = dataset.render(rng, 400, 320)
        drawn = rgb.max(axis=2) > 60  # above the added noise; blur softens edges by a few pixels
        covered = np.zeros_like(drawn)
        for cls, x1, y1, x2, y2 in labels:
            assert 0 <= cls < len(dataset.NAMES) and 0 <= x1 < x2 <= 400 and 0 <= y1 < y2 <= 320
            covered[max(y1 - 3, 0): y2 + 3, max(x1 - 3, 0): x2 + 3] = True
            assert drawn[y1:y2, x1:x2].mean() > 0.2, f"image {i}: box {(x1, y1, x2, y2)} is mostly empty"
            boxes_seen += 1
        assert not (drawn & ~covered).any(), f"image {i}: drawn pixels outside every label box"
    assert boxes_seen > 40


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    first = dataset.generate(tmp_path / "a", seed=3, n_train=2, n_val=1, n_test=1).parent
    again = dataset.generate(tmp_path / "b", seed=3, n_train=2, n_val=1, n_test=1).parent
    other = dataset.generate(tmp_path / "c", seed=4, n_train=2, n_val=1, n_test=1).parent
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.suffix in (".jpg", ".txt"))
    assert len(files) == 8
    assert all((first / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert any((first / f).read_bytes() != (other / f).read_bytes() for f in files if f.suffix == ".jpg")
