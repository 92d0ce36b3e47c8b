"""Detections validate themselves, index like arrays and round-trip through JSON."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from runtime import Detection, Detections, StageTimes


def make(n=3):
    return Detections(xyxy=np.arange(4 * n).reshape(n, 4), confidence=np.linspace(0.9, 0.5, n),
                      class_id=np.arange(n) % 2, names={0: "disc", 1: "star"}, image_shape=(480, 640))


def test_lengths_must_agree():
    with pytest.raises(ValidationError, match="lengths differ"):
        Detections(xyxy=np.zeros((2, 4)), confidence=[0.5], class_id=[0, 1])
    with pytest.raises(ValidationError, match="NaN"):
        Detections(xyxy=[[0, 0, np.nan, 1]], confidence=[0.5], class_id=[0])


def test_indexing_iteration_and_names():
    d = make()
    assert len(d) == 3
    assert isinstance(d[0], Detection) and d[0].class_name == "disc" and d[1].class_name == "star"
    assert len(d[d.confidence > 0.6]) == 2 and len(d[1:]) == 2
    assert [x.class_id for x in d] == [0, 1, 0]
    assert d.class_names == ["disc", "star", "disc"]
    assert Detections().class_name(7) == "class7" and len(Detections()) == 0


def test_json_round_trip():
    d = make()
    back = Detections.model_validate_json(d.model_dump_json())
    np.testing.assert_allclose(back.xyxy, d.xyxy)
    np.testing.assert_allclose(back.confidence, d.confidence, atol=1e-3)
    assert back.names == d.names and back.image_shape == (480, 640)


def test_json_rounds_boxes_to_hundredths_scores_to_1e4_and_times_to_microseconds_but_not_the_arrays():
    d = Detections(xyxy=[[188.763, 10.0049, 250.5, 300.126]], confidence=[0.951], class_id=[1],
                   times=StageTimes(preprocess=0.5325099999708982, inference=45.242096000038146))
    dumped = d.model_dump(mode="json")
    assert dumped["xyxy"] == [[188.76, 10.0, 250.5, 300.13]] and dumped["confidence"] == [0.951]
    assert dumped["times"] == {"preprocess": 0.533, "inference": 45.242, "postprocess": 0.0}
    assert "188.76," in d.model_dump_json() and "0.951]" in d.model_dump_json()
    assert d.xyxy.dtype == np.float32 and d.xyxy[0, 0] == np.float32(188.763)  # the arrays keep every digit

