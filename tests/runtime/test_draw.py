"""Annotated frames, checked on their pixels: readable label text, labels whole, inside the image, off each other."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime import Detections
from runtime.draw import PALETTE, annotate

GREY = 128
NAMES = {i: name for i, name in enumerate(["disc", "triangle", "star", "square", "ring", "cross", "arrow", "moon",
                                            "heart", "kite", "bolt", "drop"])}


def detections(*rows, shape=(360, 480)) -> Detections:
    """rows of (x1, y1, x2, y2, class_id), best first."""
    rows = np.array(rows, np.float32).reshape(-1, 5)
    return Detections(xyxy=rows[:, :4], confidence=np.linspace(0.9, 0.5, len(rows)), class_id=rows[:, 4],
                      names=NAMES, image_shape=shape)


def blank(shape=(360, 480)) -> np.ndarray:
    return np.full((*shape, 3), GREY, np.uint8)


def label_of(one: Detections) -> np.ndarray:
    """The pixels of a detection's label, drawn alone at (200, 200) on a blank frame (room above its box)."""
    x1, y1, x2, y2 = (int(v) for v in one.xyxy[0])
    frame = blank()
    shifted = detections((200, 200, 200 + x2 - x1, 200 + y2 - y1, int(one.class_id[0])))
    shifted = shifted.model_copy(update={"confidence": one.confidence})
    drawn = annotate(frame, shifted)
    changed = (drawn != frame).any(axis=2)
    changed[199:] = False  # the box's top line (y = 200, thickness 1 at this frame size, anti-aliased) and below
    rows, cols = np.nonzero(changed)
    return drawn[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def found_whole(image: np.ndarray, patch: np.ndarray) -> bool:
    """The patch appears in the image pixel for pixel (the best match's place, then compared exactly)."""
    x, y = cv2.minMaxLoc(cv2.matchTemplate(image, patch, cv2.TM_SQDIFF))[2]
    return np.array_equal(image[y:y + patch.shape[0], x:x + patch.shape[1]], patch)


def luminance(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)


@pytest.mark.parametrize("class_id", range(len(PALETTE)))
def test_label_text_contrasts_with_the_box_colour(class_id):
    label = label_of(detections((200, 200, 300, 300, class_id)))
    fill = luminance(np.array(PALETTE[class_id]))
    text = luminance(label.reshape(-1, 3))
    text = text[np.abs(text - fill) > 1]  # the glyphs' pixels
    assert len(text) > 20
    darkest, lightest = text.min(), text.max()
    if fill > 140:  # light boxes (pink, yellow, green): dark text
        assert lightest <= fill and darkest < 60, (PALETTE[class_id], darkest, lightest)
    elif fill < 100:  # dark boxes: light text
        assert darkest >= fill and lightest > 200, (PALETTE[class_id], darkest, lightest)
    assert max(abs(darkest - fill), abs(lightest - fill)) > 90  # whichever it is, it stands out


@pytest.mark.parametrize("rows", [
    [(440, 100, 480, 160, 2)],  # at the right edge: the label is wider than the box
    [(0, 0, 60, 50, 1)],  # at the top edge: no room above
    [(100, 310, 160, 360, 3)],  # at the bottom
    [(100, 100, 300, 200, 0), (110, 104, 200, 200, 1), (120, 108, 260, 220, 2)],  # labels would stack on each other
    [(26, 7, 116, 95, 1), (89, 0, 152, 37, 2), (402, 76, 435, 100, 0)],  # neighbours at the top (sample_1)
], ids=["right-edge", "top-edge", "bottom-edge", "same-top", "neighbours"])
def test_every_label_is_whole_inside_the_image_and_unhidden(rows):
    dets = detections(*rows)
    drawn = annotate(blank(), dets)
    for i in range(len(dets)):
        assert found_whole(drawn, label_of(dets[i:i + 1])), f"label of {rows[i]} is cut or covered"


def test_a_label_keeps_off_a_neighbouring_box():
    """A small box just above a big one: the big box's label goes inside its own top, not over the small box."""
    small, big = (200, 100, 260, 150, 0), (180, 152, 400, 340, 3)
    drawn = annotate(blank(), detections(big, small))
    alone = annotate(blank(), detections(small))
    x1, y1, x2, y2, _ = small
    np.testing.assert_array_equal(drawn[y1 + 2:y2 - 1, x1 + 2:x2 - 1], alone[y1 + 2:y2 - 1, x1 + 2:x2 - 1])


def test_boxes_are_drawn_in_their_colour_at_their_place():
    drawn = annotate(blank(), detections((100, 120, 300, 250, 5)))
    def near(pixels):  # anti-aliased lines blend a little with the frame
        return (np.abs(pixels.astype(int) - PALETTE[5]).max(axis=-1) < 32).all()

    assert near(drawn[250, 150:250]) and near(drawn[150:240, 100]) and near(drawn[180, 300])
    assert (drawn[180, 150:250] == GREY).all()  # inside, away from the label, the frame is untouched
