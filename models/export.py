"""Export trained weights with ultralytics' own exporter (fp32, batch 1, fixed size).

    python -m models.export models/artifacts/yolov8n-shapes.pt --imgsz 320 --engines onnxruntime openvino tflite \
        --out models/artifacts

Writes <stem>-<imgsz>.onnx, <stem>-<imgsz>_openvino_model/ (xml, bin, metadata.yaml) and
<stem>-<imgsz>_float32.tflite. TFLite needs litert-torch, which lives in .venv-factory
(see models/requirements-factory.txt): run this module with .venv-factory/bin/python for it.
"""
from . import settings  # noqa: F401  (must precede ultralytics)

import argparse
import contextlib
import importlib.util
import shutil
from pathlib import Path

# the runtime's engine name -> (ultralytics' export format, name of the result in --out)
TARGETS = {
    "onnxruntime": ("onnx", "{stem}.onnx"),
    "openvino": ("openvino", "{stem}_openvino_model"),
    "tflite": ("litert", "{stem}_float32.tflite"),  # 8.4 redirects 'tflite' to LiteRT anyway
}


# Every engine but ONNX Runtime gets the light model's ASFF weights as one Softmax op: LiteRT int8 runs it ~9% faster
# (fewer ops and XNNPACK partitions), OpenVINO int8 as fast, in a 5% smaller IR (fewer FakeQuantize layers). ONNX
# Runtime keeps the written-out exp / sum of models/blocks.py (its Softmax over channels is 5-10x slower).
WRITTEN_OUT_ASFF = "onnxruntime"


@contextlib.contextmanager
def logits_left_unscaled(active: bool):
    """ultralytics' LiteRT export divides the output's first four channels by the input size (for pixel boxes);
    on a raw head those are DFL logits, which must reach the runtime as they are."""
    if not active:
        yield
        return
    from ultralytics.utils.export import litert

    original = litert._NormalizeCoords
    litert._NormalizeCoords = lambda model, *args, **kwargs: model
    try:
        yield
    finally:
        litert._NormalizeCoords = original


def export(weights, imgsz, engines, out_dir, fast_dfl=True, depthwise_adown=True, channel_softmax_asff=True,
           raw_head=False):
    """Export weights for each engine; return {engine: Path in out_dir}.

    Drop-ins from models/rewrites.py, same weights and numbers: fast_dfl exports the head's DFL with its softmax
    over the last axis (~10 ms faster at 640 px on ONNX Runtime); depthwise_adown exports ADown's average pool as
    a depthwise conv (whose int8 kernels are the fast ones); channel_softmax_asff gives engines other than
    WRITTEN_OUT_ASFF the light model's ASFF weights as one Softmax (fewer ops and XNNPACK partitions in LiteRT). ONNX files also lose
    Concat -> Split pairs (models/onnx_passes.py). raw_head: the head's output undecoded (its logits, for
    integer-only graphs; models/rewrites.py use_raw_head), in files named <stem>_raw.
    """
    if "tflite" in engines and importlib.util.find_spec("litert_torch") is None:
        raise SystemExit("tflite export needs litert-torch: use .venv-factory/bin/python -m models.export ...")
    settings.init_ultralytics()
    from ultralytics import YOLO

    from .rewrites import use_channel_softmax_asff, use_depthwise_adown, use_last_axis_dfl, use_raw_head
    from .onnx_passes import fold_concat_split

    stem = f"{Path(weights).stem}-{imgsz}" + ("_raw" if raw_head else "")
    # ultralytics writes beside the weights and names results after them, so export from a
    # renamed copy in build/: names carry the size and a 640 export cannot clobber a 320 one
    work = settings.BUILD_DIR / "export" / stem
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src = work / f"{stem}.pt"
    shutil.copy2(weights, src)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for engine in engines:
        ul_format, name = TARGETS[engine]
        model = YOLO(str(src))  # fresh model per format: the exporter mutates it
        if fast_dfl and not use_last_axis_dfl(model.model):
            raise SystemExit(f"{weights}: no DFL found in the model (not a YOLOv8-style Detect head?)")
        if depthwise_adown:
            use_depthwise_adown(model.model)  # none in YOLOv8n
        if channel_softmax_asff and engine != WRITTEN_OUT_ASFF:
            use_channel_softmax_asff(model.model)  # none in YOLOv8n
        if raw_head and not use_raw_head(model.model):
            raise SystemExit(f"{weights}: no Detect head found")
        with logits_left_unscaled(raw_head and ul_format == "litert"):
            made = model.export(
                format=ul_format, imgsz=imgsz, batch=1, half=False,  # fp32
                dynamic=False, simplify=True, nms=False, device="cpu",
            )
        if not made:
            raise SystemExit(f"{engine} export failed (see log above)")
        dest = out_dir / name.format(stem=stem)
        if dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        shutil.move(str(made), dest)
        if ul_format == "onnx":
            print(f"onnx: {fold_concat_split(dest)} Concat -> Split pairs folded")
        results[engine] = dest
        print(f"{engine}: {dest}")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--engines", nargs="+", default=list(TARGETS), choices=list(TARGETS),
                    help="export a file for each of these engines (default: all)")
    ap.add_argument("--out", default="models/artifacts")
    ap.add_argument("--ultralytics-dfl", action="store_true",
                    help="keep ultralytics' own DFL layout (softmax over an inner axis: slow on ONNX Runtime)")
    ap.add_argument("--ultralytics-adown", action="store_true",
                    help="keep ADown's average pool (slow once quantized on ONNX Runtime and LiteRT)")
    ap.add_argument("--written-out-asff", action="store_true",
                    help="export the light model's ASFF softmax written out (exp / sum) for every format")
    args = ap.parse_args()
    export(args.weights, args.imgsz, args.engines, args.out, fast_dfl=not args.ultralytics_dfl,
           depthwise_adown=not args.ultralytics_adown, channel_softmax_asff=not args.written_out_asff)


if __name__ == "__main__":
    main()
