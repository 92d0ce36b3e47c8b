"""Synthetic YOLO-format detection dataset: solid shapes composited on skimage photographs.

    python -m models.dataset --out build/dataset --seed 0

Everything is drawn with numpy + cv2 and is a pure function of the seed. Labels are the
tight box of each object's visible pixels, taken from its final alpha mask (after rotation
and occlusion by the objects drawn on top of it).
"""
from . import settings  # noqa: F401  (keeps matplotlib/ultralytics caches in build/)

import argparse
import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

NAMES = ["disc", "triangle", "star"]
BACKGROUNDS = [  # skimage.data images bundled with the wheel (no pooch download)
    "astronaut", "coffee", "chelsea", "rocket", "coins", "camera", "brick", "grass",
    "gravel", "moon", "page", "text", "hubble_deep_field", "immunohistochemistry",
    "retina", "clock", "cell", "colorwheel", "horse", "logo",
]
MIN_VISIBLE = 0.4  # drop objects more than 60% occluded
ALPHA_ON = 0.5  # a pixel counts as drawn when its coverage is at least this


@lru_cache(maxsize=None)
def _backgrounds():
    """Load the skimage photographs once, as float32 RGB 0..255."""
    from skimage import data

    images = []
    for name in BACKGROUNDS:
        try:
            im = np.asarray(getattr(data, name)())
        except Exception:  # missing in this skimage build: skip, order stays stable
            continue
        if im.dtype == bool:
            im = im.astype(np.uint8) * 255
        im = im.astype(np.float32)
        if im.max() <= 1.0:
            im *= 255.0
        if im.ndim == 2:
            im = np.stack([im] * 3, axis=-1)
        images.append(np.ascontiguousarray(im[..., :3]))  # drop alpha (logo)
    return images


def _background(rng, w, h):
    """Random crop / resize / flip / brightness jitter of a random photograph."""
    src = _backgrounds()[rng.integers(len(_backgrounds()))]
    sh, sw = src.shape[:2]
    frac = rng.uniform(0.35, 1.0)
    aspect = w / h
    ch = int(min(sh, sw / aspect) * frac)
    cw = int(ch * aspect)
    y0 = rng.integers(0, sh - ch + 1)
    x0 = rng.integers(0, sw - cw + 1)
    im = cv2.resize(src[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        im = im[:, ::-1]
    if rng.random() < 0.3:
        im = im[::-1]
    if rng.random() < 0.15:  # sometimes a tiled background, so the photo scale varies more
        half = cv2.resize(im, (w // 2 + 1, h // 2 + 1))
        im = np.tile(half, (2, 2, 1))[:h, :w]
    im = im * rng.uniform(0.7, 1.2) + rng.uniform(-25, 25)
    return np.clip(im, 0, 255).astype(np.float32)


def _outline(cls, rng):
    """Unit-size polygon (centered, radius ~1) of the class shape."""
    if cls == 0:  # disc
        t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if cls == 1:  # triangle, roughly equilateral so it reads as a triangle
        t = np.pi / 2 + np.array([0, 2, 4]) * np.pi / 3 + rng.uniform(-0.15, 0.15, 3)
        return np.stack([np.cos(t), np.sin(t)], 1)
    n = int(rng.choice([5, 5, 5, 6]))  # star
    inner = rng.uniform(0.38, 0.5)
    t = np.pi / 2 + np.arange(2 * n) * np.pi / n
    r = np.where(np.arange(2 * n) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _place_shape(cls, rng, w, h, size):
    """Polygon (pixels) of one randomly scaled, stretched, rotated and placed shape."""
    pts = _outline(cls, rng)
    aspect = rng.uniform(0.75, 1.3) if cls else rng.uniform(0.8, 1.25)
    pts = pts * np.array([aspect, 1 / aspect]) * (size / 2)
    a = rng.uniform(0, 2 * np.pi)
    pts = pts @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    # centre may sit near the border so some objects are cut by the frame
    cx = rng.uniform(-0.1 * size, w + 0.1 * size)
    cy = rng.uniform(-0.1 * size, h + 0.1 * size)
    pts = pts + np.array([cx, cy])
    return pts


def _draw_poly(pts, w, h, pad, thickness=0):
    """Rasterise a polygon on a padded canvas (so the off-frame area is counted too)."""
    canvas = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    p = np.round((pts + pad) * 16).astype(np.int32)[None]  # 4 fractional bits
    if thickness:
        cv2.polylines(canvas, p, True, 255, thickness, cv2.LINE_AA, shift=4)
    else:
        cv2.fillPoly(canvas, p, 255, cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def _random_colour(rng):
    return rng.uniform(0, 255, 3).astype(np.float32)


def _contrasting_colour(rng, bg_mean):
    """Colour that stands apart from the background under the object (best of a few tries)."""
    best, best_d = None, -1.0
    for _ in range(6):
        c = _random_colour(rng)
        d = float(np.linalg.norm(c - bg_mean))
        if d > best_d:
            best, best_d = c, d
        if d > 90:
            break
    return best


def _fill(rng, w, h, pad, pts, bg_mean):
    """Fill texture (padded canvas size): solid, linear gradient, stripes or tinted photo."""
    H, W = h + 2 * pad, w + 2 * pad
    c1 = _contrasting_colour(rng, bg_mean)
    kind = rng.choice(["solid", "gradient", "stripes", "photo"], p=[0.5, 0.25, 0.1, 0.15])
    if kind == "solid":
        return np.broadcast_to(c1, (H, W, 3))
    if kind == "gradient":
        c2 = _contrasting_colour(rng, bg_mean)
        a = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        proj = xx * np.cos(a) + yy * np.sin(a)
        q = (pts + pad) @ np.array([np.cos(a), np.sin(a)])
        lo, hi = q.min(), q.max()
        t = np.clip((proj - lo) / max(hi - lo, 1.0), 0, 1)[..., None]
        return c1 * (1 - t) + c2 * t
    if kind == "stripes":
        c2 = _contrasting_colour(rng, bg_mean)
        a = rng.uniform(0, np.pi)
        period = rng.uniform(4, 14)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        t = ((xx * np.cos(a) + yy * np.sin(a)) // period % 2)[..., None]
        return c1 * (1 - t) + c2 * t
    # photo texture: a crop of a background, tinted towards the fill colour
    tex = _background(rng, W, H)
    gray = tex.mean(-1, keepdims=True) / 255.0
    return c1 * (0.55 + 0.45 * gray)


def render(rng, w, h, n_objects=None):
    """Draw one image. Returns (RGB uint8 image, [(cls, x1, y1, x2, y2)] in pixels)."""
    img = _background(rng, w, h)
    if n_objects is None:
        n_objects = 0 if rng.random() < 0.05 else int(rng.integers(1, 7))
    side = min(w, h)
    objs = []
    for _ in range(n_objects):
        cls = int(rng.integers(len(NAMES)))
        rel = rng.uniform(0.05, 0.12) if rng.random() < 0.15 else rng.uniform(0.12, 0.45)
        objs.append((cls, _place_shape(cls, rng, w, h, rel * side), rel * side))
    pad = int(0.4 * side) + 4
    # alpha of each object on a padded canvas (fill + optional outline)
    masks = []
    for cls, pts, size in objs:
        m = _draw_poly(pts, w, h, pad)
        outline = None
        if rng.random() < 0.3:
            thick = int(rng.integers(1, max(2, int(size / 15)) + 1))
            outline = (_draw_poly(pts, w, h, pad, thick), _random_colour(rng))
            m = np.maximum(m, outline[0])
        masks.append((cls, pts, m, outline))
    # decide visibility top-down: dropping an object only uncovers the ones below it
    cover = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
    kept = []
    for cls, pts, m, outline in reversed(masks):
        area = float((m >= ALPHA_ON).sum())
        vis = m * (1 - cover)
        vis_in = vis[pad:pad + h, pad:pad + w]
        if area == 0 or (vis_in >= ALPHA_ON).sum() < MIN_VISIBLE * area:
            continue  # too occluded or mostly off-frame: never drawn, never labelled
        cover = cover + m * (1 - cover)
        kept.append((cls, pts, m, outline, vis_in))
    kept.reverse()  # back to bottom-to-top drawing order
    labels = []
    for cls, pts, m, outline, vis_in in kept:
        ys, xs = np.nonzero(m[pad:pad + h, pad:pad + w] >= ALPHA_ON)
        bg_mean = img[ys, xs].mean(0) if len(ys) else img.mean((0, 1))
        tex = _fill(rng, w, h, pad, pts, bg_mean)
        if outline is not None:
            o = outline[0][..., None]
            tex = tex * (1 - o) + outline[1] * o
        a = m[pad:pad + h, pad:pad + w, None]
        img = img * (1 - a) + tex[pad:pad + h, pad:pad + w] * a
    # labels from the final visible alpha (computed after all objects above were placed)
    for cls, pts, m, outline, vis_in in kept:
        ys, xs = np.nonzero(vis_in >= ALPHA_ON)
        x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        if x2 - x1 >= 3 and y2 - y1 >= 3:
            labels.append((cls, int(x1), int(y1), int(x2), int(y2)))
    # whole-image degradations: blur, sensor noise (JPEG quality is applied when saving)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.6))
    if rng.random() < 0.6:
        img = img + rng.normal(0, rng.uniform(1, 9), img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), labels


def save(path, rgb, labels, label_path, quality):
    """Write the image as JPEG and its YOLO label file (cls cx cy w h, normalised)."""
    h, w = rgb.shape[:2]
    cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if label_path is not None:
        lines = [
            f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            for c, x1, y1, x2, y2 in labels
        ]
        Path(label_path).write_text("".join(line + "\n" for line in lines))


def generate(out_dir, seed=0, n_train=800, n_val=150, n_test=150):
    """Write the dataset under out_dir and return the Path of its data.yaml."""
    out = Path(out_dir).resolve()
    stats = {"seed": seed, "names": NAMES, "splits": {}}
    for split_id, (split, n) in enumerate([("train", n_train), ("val", n_val), ("test", n_test)]):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        per_class, empty = [0] * len(NAMES), 0
        for i in range(n):
            rng = np.random.default_rng([seed, split_id, i])  # each image independent of split sizes
            w, h = (int(v) for v in rng.integers(320, 481, 2))
            rgb, labels = render(rng, w, h)
            name = f"{split}_{i:05d}"
            save(out / "images" / split / f"{name}.jpg", rgb, labels,
                 out / "labels" / split / f"{name}.txt", rng.integers(55, 96))
            for c, *_ in labels:
                per_class[c] += 1
            empty += not labels
        stats["splits"][split] = {"images": n, "empty_images": empty,
                                  "objects": dict(zip(NAMES, per_class))}
    # drop stale label caches from an earlier run
    for cache in (out / "labels").glob("*.cache"):
        cache.unlink()
    names = "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES))
    yaml_path = out / "data.yaml"
    yaml_path.write_text(
        f"path: {out}\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n{names}"
    )
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return yaml_path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/dataset")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train", type=int, default=800)
    ap.add_argument("--val", type=int, default=150)
    ap.add_argument("--test", type=int, default=150)
    args = ap.parse_args()
    path = generate(args.out, args.seed, args.train, args.val, args.test)
    print(path)
    print((path.parent / "stats.json").read_text())


if __name__ == "__main__":
    main()
