"""Raw head output -> boxes in input pixels: layout, decode, NMS (numpy only, matching ultralytics)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

REG_MAX = 16  # YOLOv8's DFL bins per box side
CLASS_OFFSET = 7680  # ultralytics' max_wh: shifts each class's boxes apart so one NMS pass is class-aware
MAX_NMS = 30000  # candidates kept (by score) before NMS, as ultralytics does


def canonical_head(raw: np.ndarray, nc: int | None, input_hw: tuple[int, int], end2end: bool | None,
                   normalized: bool | None = None, stride: int = 32, conf: float | None = None):
    """Bring any supported raw output to (4+nc, A) channels-first, or (N, 6) for end2end models.

    Returns (array, is_end2end, boxes_were_normalized). Boxes normalized to 0..1 (as TF/LiteRT exports give) are
    scaled to pixels; pass the returned flag back in to skip re-detecting it on every frame of the same model. A
    head exported without its decoding ((4*REG_MAX+nc, A) logits, for integer-only graphs) is decoded here, only
    at the anchors that can score above `conf` when it is given (what select keeps is the same).
    """
    pred = raw[0] if raw.ndim == 3 else raw
    if pred.ndim != 2:
        raise ValueError(f"unexpected model output shape {raw.shape}; expected (1, 4+nc, A), (1, A, 4+nc) or (1, N, 6)")
    if end2end is None:
        end2end = pred.shape[-1] == 6 and (nc is None or pred.shape[0] != 4 + nc)
    if not end2end:
        # Channels are the axis of length 4+nc (or 4*REG_MAX+nc); without trustworthy names, the shorter axis.
        channels = [c for c in (4 + (nc or 0), 4 * REG_MAX + (nc or 0)) if nc is not None and c in pred.shape]
        channels_first = pred.shape[0] == channels[0] if channels else pred.shape[0] < pred.shape[1]
        pred = pred if channels_first else pred.T
        if nc is not None and pred.shape[0] == 4 * REG_MAX + nc:
            return decode_dfl(pred, input_hw, stride, conf), False, False
    if normalized is None:
        normalized = boxes_are_normalized(pred, end2end)
    if normalized:  # None (no evidence yet: an end2end frame without boxes) scales nothing and is not learnt
        h, w = input_hw
        scale = np.array([w, h, w, h], dtype=np.float32)
        pred = pred.copy()
        if end2end:
            pred[:, :4] *= scale
        else:
            pred[:4] *= scale[:, None]
    return pred, end2end, normalized


def decode_dfl(logits: np.ndarray, input_hw: tuple[int, int], stride: int, conf: float | None = None) -> np.ndarray:
    """(4*REG_MAX+nc, A) head logits -> (4+nc, A) xywh pixels and scores, as ultralytics' Detect decodes them:
    each box side's expected distance under a softmax over its REG_MAX bins, anchor centre -/+ the distances,
    times the level's stride; sigmoid class scores. With conf, only the anchors whose best class logit can reach
    it (a margin below, so that select's own test on the scores decides) are decoded and returned."""
    centres, strides = anchor_grid(tuple(input_hw), stride, logits.shape[1])
    if conf is not None and conf > 0:
        keep = np.flatnonzero(logits[4 * REG_MAX:].max(axis=0) > np.log(conf / (1 - conf)) - 1e-3)
        logits, centres, strides = logits[:, keep], centres[:, keep], strides[keep]
    anchors = logits.shape[1]
    bins = logits[:4 * REG_MAX].reshape(4, REG_MAX, anchors).astype(np.float32, copy=False)
    weights = np.exp(bins - bins.max(axis=1, keepdims=True))
    distance = (weights * np.arange(REG_MAX, dtype=np.float32)[:, None]).sum(axis=1) / weights.sum(axis=1)
    top_left, bottom_right = centres - distance[:2], centres + distance[2:]
    out = np.empty((logits.shape[0] - 4 * (REG_MAX - 1), anchors), np.float32)
    out[:2] = (top_left + bottom_right) / 2 * strides
    out[2:4] = (bottom_right - top_left) * strides
    out[4:] = 1 / (1 + np.exp(-logits[4 * REG_MAX:]))
    return out


@functools.lru_cache(maxsize=8)
def anchor_grid(input_hw: tuple[int, int], stride: int, anchors: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres (2, A) in grid units and each anchor's stride (A,), level by level from the finest, as
    ultralytics' make_anchors lays them out; the levels are the ones (stride, stride/2, ...) that give A anchors."""
    h, w = input_hw
    for levels in (3, 4, 2, 5, 1):
        strides = [stride // 2 ** k for k in range(levels - 1, -1, -1)]
        if sum((h // s) * (w // s) for s in strides) == anchors and all(h % s == 0 == w % s for s in strides):
            break
    else:
        raise ValueError(f"{anchors} anchors fit no pyramid of strides up to {stride} on a {h}x{w} input")
    centres, per_anchor = [], []
    for s in strides:
        y, x = np.mgrid[0:h // s, 0:w // s].astype(np.float32) + 0.5
        centres.append(np.stack([x.ravel(), y.ravel()]))
        per_anchor.append(np.full(x.size, s, np.float32))
    return np.concatenate(centres, axis=1), np.concatenate(per_anchor)


def boxes_are_normalized(pred: np.ndarray, end2end: bool) -> bool | None:
    """TF/LiteRT exports give boxes in 0..1. Anchor centres tile the input, so in pixels their mean is ~imgsz/2
    (>= 16), normalized ~0.5; garbage anchors reach at most ~1.8 normalized. End2end rows are real boxes."""
    if end2end:
        real = pred[pred[:, 4] > 0, :4]
        return float(np.abs(real).max()) <= 1.5 if real.size else None
    return float(np.abs(pred[:2]).mean()) < 2.0 if pred.shape[1] else None


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """(N, 4) centre-size boxes -> corners."""
    xy, half = xywh[:, :2], xywh[:, 2:4] / 2
    return np.concatenate([xy - half, xy + half], axis=1)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Greedy NMS over xyxy boxes, best first; a box goes when its IoU with a kept one exceeds the threshold."""
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    return nms_xywh(xywh, scores, iou_threshold, max_keep)


def nms_xywh(xywh: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """NMS over (left, top, width, height) boxes with OpenCV's C++ NMSBoxes: the same rule, order and results as
    torchvision's nms, ~6x faster than a numpy loop here."""
    if len(xywh) < 2:
        return np.arange(len(xywh), dtype=np.int64)
    keep = cv2.dnn.NMSBoxes(xywh, scores, 0.0, float(iou_threshold))  # scores here are all > conf >= 0
    return np.asarray(keep, dtype=np.int64).reshape(-1)[:max_keep]


def select(pred: np.ndarray, *, conf: float, iou: float, max_det: int, classes=None, agnostic=False):
    """Channels-first head (4+nc, A) -> (xyxy, confidence, class_id) in input pixels after NMS."""
    scores = pred[4:]
    best_score = scores.max(axis=0)
    candidates = np.flatnonzero(best_score > conf)
    picked = pred[:, candidates]  # one gather; everything below works on the few candidates
    class_id = picked[4:].argmax(axis=0)
    confidence = best_score[candidates]
    if classes is not None:
        wanted = np.isin(class_id, classes)
        picked, class_id, confidence = picked[:, wanted], class_id[wanted], confidence[wanted]
    if confidence.size > MAX_NMS:
        top = np.argsort(-confidence, kind="stable")[:MAX_NMS]
        picked, class_id, confidence = picked[:, top], class_id[top], confidence[top]
    ltwh = picked[:4].T.copy()
    ltwh[:, :2] -= ltwh[:, 2:] / 2  # centre -> top-left, as NMSBoxes takes them
    shifted = ltwh
    if not agnostic:
        shifted = ltwh.copy()
        shifted[:, :2] += class_id[:, None] * np.float32(CLASS_OFFSET)
    keep = nms_xywh(shifted, confidence, iou, max_keep=max_det)
    ltwh = ltwh[keep]
    ltwh[:, 2:] += ltwh[:, :2]  # -> xyxy
    return ltwh, confidence[keep], class_id[keep]


def select_end2end(pred: np.ndarray, *, conf: float, max_det: int, classes=None):
    """End2end rows (x1, y1, x2, y2, score, class) already went through NMS inside the model."""
    keep = pred[:, 4] > conf
    if classes is not None:
        keep &= np.isin(pred[:, 5], classes)
    rows = pred[keep][:max_det]
    return rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
