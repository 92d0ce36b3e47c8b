"""Annotated copies of frames, for the CLI and the demo."""

from __future__ import annotations

import cv2
import numpy as np

from runtime.detections import Detections

# Distinct BGR colours, cycled by class id.
PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
           (23, 204, 146), (134, 219, 61), (211, 188, 0), (255, 115, 100), (255, 56, 132), (133, 0, 82)]
FONT = cv2.FONT_HERSHEY_SIMPLEX
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def text_colour(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with the fill (WCAG relative luminance): dark text on light boxes."""
    linear = [(c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in fill]
    luminance = 0.0722 * linear[0] + 0.7152 * linear[1] + 0.2126 * linear[2]  # B, G, R
    return BLACK if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else WHITE


def place_label(box: np.ndarray, size: tuple[int, int], image_hw: tuple[int, int], labels: list, boxes: np.ndarray):
    """Top-left corner for a label of `size` (w, h) at `box`: inside the image, off the labels already placed and,
    where possible, off the other boxes (but those around this one: their insides cannot be avoided). Tried in
    order: above the box, inside its top, stacked down inside it, below it; at its left edge, then its right."""
    (w, h), (height, width) = size, image_hw
    x1, y1, x2, y2 = box
    tops = [y1 - h, *range(y1, max(y1, y2 - h) + 1, h), y2]
    candidates = np.array([(min(max(x, 0), width - w), min(max(y, 0), height - h)) for x in (x1, x2 - w) for y in tops])
    rects = np.concatenate([candidates, candidates + (w, h)], axis=1)
    on_labels = _overlap(rects, np.array(labels).reshape(-1, 4))
    around = (boxes[:, :2] <= (x1, y1)).all(axis=1) & (boxes[:, 2:] >= (x2, y2)).all(axis=1)
    on_boxes = _overlap(rects, boxes[~around])
    best = min(range(len(rects)), key=lambda i: (on_labels[i], on_boxes[i], i))
    return tuple(int(v) for v in candidates[best])


def _overlap(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each rect, its total area of intersection with the others."""
    if not len(others):
        return np.zeros(len(rects))
    tl = np.maximum(rects[:, None, :2], others[None, :, :2])
    br = np.minimum(rects[:, None, 2:], others[None, :, 2:])
    return np.prod((br - tl).clip(min=0), axis=2).sum(axis=1)


def annotate(frame: np.ndarray, detections: Detections) -> np.ndarray:
    """Boxes and 'name confidence' labels drawn on a copy of the frame: every box first, then the labels, best
    detection first, so no box line crosses a label and the best labels get the first choice of place."""
    out = frame.copy()
    thickness = max(1, round(sum(frame.shape[:2]) / 600))
    scale, text_thickness, pad = 0.4 * thickness, max(1, thickness - 1), thickness
    boxes = np.round(detections.xyxy).astype(int)
    colours = [PALETTE[int(c) % len(PALETTE)] for c in detections.class_id]
    for (x1, y1, x2, y2), colour in zip(boxes, colours):
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
    placed: list[tuple[int, int, int, int]] = []
    for i, det in enumerate(detections):
        label = f"{det.class_name} {det.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(label, FONT, scale, text_thickness)
        w, h = tw + 2 * pad, th + base + 2 * pad
        others = np.delete(boxes, i, axis=0)
        x, y = place_label(boxes[i], (w, h), out.shape[:2], placed, others)
        placed.append((x, y, x + w, y + h))
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), colours[i], -1)
        cv2.putText(out, label, (x + pad, y + pad + th), FONT, scale, text_colour(colours[i]), text_thickness,
                    cv2.LINE_AA)
    return out
