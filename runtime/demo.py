"""Run every given model (on its engine, when installed) over sample images; print detections and stage times.

    python -m runtime.demo MODEL... --images DIR --out DIR
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import cv2

from runtime import Detector, EngineNotAvailableError
from runtime.draw import annotate
from runtime.sources import expand_sources, output_names, read_image

REPEATS = 5  # per image, so the stage times printed are medians rather than a cold first call


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=Path("build/demo"))
    args = parser.parse_args(argv)
    sources = expand_sources(args.images, kinds=["image"])
    frames = {name: (source.path, read_image(source.path)) for source, name in zip(sources, output_names(sources))}
    for model in args.models:
        try:
            detector = Detector(model)
        except EngineNotAvailableError as exc:
            print(f"\n== {model.name}: skipped ({exc})")
            continue
        print(f"\n== {model.name}  [{detector.engine.name}, input {detector.input_hw[1]}x{detector.input_hw[0]}, "
              f"{detector.options.thread_count} threads]")
        out_dir = args.out / model.stem
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, (path, frame) in frames.items():
            runs = [detector.predict(frame) for _ in range(REPEATS)]
            detections = runs[-1]
            pre, infer, post = (statistics.median(getattr(r.times, k) for r in runs)
                                for k in ("preprocess", "inference", "postprocess"))
            print(f"{path.name} ({frame.shape[1]}x{frame.shape[0]}): {len(detections)} objects | "
                  f"pre {pre:.1f} ms, infer {infer:.1f} ms, post {post:.1f} ms")
            for det in detections:
                x1, y1, x2, y2 = det.xyxy
                print(f"    {det.class_name:<9} {det.confidence:.2f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]")
            cv2.imwrite(str(out_dir / name), annotate(frame, detections))
        print(f"   annotated images: {out_dir}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
