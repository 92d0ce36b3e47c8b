"""Annotated copies of frames, for the CLI and the demo."""

from __future__ import annotations

import cv2
import numpy as np

from runtime.detections import Detections

# Distinct BGR colours, cycled by class id.
PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
           (23, 204, 146), (134, 219, 61), (211, 188, 0), (255, 115, 100), (255, 56, 132), (133, 0, 82)]


def annotate(frame: np.ndarray, detections: Detections) -> np.ndarray:
    """Boxes and 'name confidence' labels drawn on a copy of the frame."""
    out = frame.copy()
    thickness = max(1, round(sum(frame.shape[:2]) / 600))
    for det in detections:
        colour = PALETTE[det.class_id % len(PALETTE)]
        x1, y1, x2, y2 = (int(round(v)) for v in det.xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        label = f"{det.class_name} {det.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, thickness)
        top = max(y1 - th - base, 0)
        cv2.rectangle(out, (x1, top), (x1 + tw, top + th + base), colour, -1)
        cv2.putText(out, label, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return out
