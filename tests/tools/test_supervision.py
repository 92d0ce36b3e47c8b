"""Detections.to_supervision(): the same boxes as a supervision.Detections, for users of that library."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from runtime import Detections, Detector
from runtime.errors import ExtraNotInstalledError


def test_to_supervision_carries_boxes_scores_ids_and_names(shipped_onnx, samples):
    import supervision as sv

    ours = Detector(shipped_onnx).predict(samples[0])
    theirs = ours.to_supervision()
    assert isinstance(theirs, sv.Detections) and len(theirs) == len(ours) > 0
    np.testing.assert_array_equal(theirs.xyxy, ours.xyxy)
    np.testing.assert_array_equal(theirs.confidence, ours.confidence)
    np.testing.assert_array_equal(theirs.class_id, ours.class_id)
    assert list(theirs.data["class_name"]) == ours.class_names
    # supervision's own tools take it as theirs: filtering keeps the names beside their boxes
    kept = theirs[theirs.class_id == ours.class_id[0]]
    assert set(kept.data["class_name"]) == {ours.class_names[0]}
    theirs.xyxy[:] = 0  # supervision's arrays are copies: ours stay as they were
    assert ours.xyxy.any()


def test_empty_detections_convert_too():
    import supervision as sv

    empty = Detections().to_supervision()
    assert isinstance(empty, sv.Detections) and len(empty) == 0 and empty.data["class_name"].shape == (0,)


def test_without_supervision_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "supervision", None)  # as if not installed
    with pytest.raises(ExtraNotInstalledError, match=r"pip install 'yolo-edge-runtime\[supervision\]'"):
        Detections().to_supervision()
