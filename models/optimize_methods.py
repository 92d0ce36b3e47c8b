"""yolo-edge-optimize's ways of making an int8 file from a checkpoint's fp32 export: post-training (ptq) and
quantization-aware (qat). Each is an object with
- key: what its files depend on besides the engine and the calibration images (a cache key part);
- calibrated(engine): whether that engine's file depends on the calibration images (the accuracy guard's retry);
- make(engine, fp32, images, folder, sensitive=None): the int8 file, written into folder, named after the fp32
  file; with `sensitive` (a Sensitive), the engine's most sensitive layers are left float (sensitive.REMEDIES).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from dataclasses import dataclass

from .export import export
from .optimize_checks import file_stamps
from .quantize import QUANTIZERS, output_path
from .sensitive import REMEDIES


@dataclass
class Sensitive:
    """What the keep-sensitive-layers-float remedy needs: labelled images for NNCF's metric, names, the bar."""
    validation: list[Path]
    names: dict[int, str]
    max_drop: float


def post_train(engine: str, src: Path, dst: Path, images: list[Path], full_int8: bool,
               sensitive: Sensitive | None = None) -> Path:
    """The engine's quantizer on src; with `sensitive`, its most sensitive layers left float."""
    quantizer = QUANTIZERS[engine] if sensitive is None else REMEDIES[engine]
    return quantizer(src, dst, images, exclude_head=not full_int8, **({"sensitive": sensitive} if sensitive else {}))


RAW_HEAD = 2  # part of the full-int8 cache keys: the head is exported undecoded (bump it if that changes)


def tag(full_int8: bool) -> str:
    """The file name's precision part: <stem>_int8 (head decoding float) or <stem>_full_int8."""
    return "full_int8" if full_int8 else "int8"


class PostTraining:
    """Each engine's own post-training quantizer (models/quantize.py) on the fp32 export; full_int8 quantizes the
    export of the head without its decoding (raw_export(engine), models/rewrites.py use_raw_head) whole."""

    def __init__(self, full_int8: bool, raw_export=None):
        self.full_int8, self._raw_export = full_int8, raw_export
        self.key = ("ptq", full_int8, RAW_HEAD if full_int8 else None)

    def calibrated(self, engine: str) -> bool:
        return True

    def make(self, engine: str, fp32: Path, images: list[Path], folder: Path, sensitive: Sensitive | None = None):
        dst = output_path(fp32, engine, folder, tag=tag(self.full_int8))
        src = self._raw_export(engine) if self.full_int8 else fp32
        return post_train(engine, src, dst, images, self.full_int8, sensitive)


class QuantizationAware:
    """One NNCF QAT run (models/qat.py) on the train split: OpenVINO gets the IR converted from the fine-tuned model,
    ONNX Runtime and LiteRT their own quantizer on the fine-tuned weights' fp32 export."""

    def __init__(self, checkpoint: Path, train_images: list[Path], names: dict[int, str], imgsz: int, epochs: int,
                 full_int8: bool, seed: int, calibration: list[Path], cached, digest):
        from .qat import RECIPE, quantization_aware

        self.full_int8 = full_int8
        self.key = ("qat", digest(checkpoint.read_bytes(), imgsz, epochs, full_int8, seed, RECIPE,
                                  *file_stamps(train_images, labels=True), *file_stamps(calibration)))
        self._cached = cached
        ov_name = f"{checkpoint.stem}-{imgsz}_{tag(full_int8)}_openvino_model"  # as output_path names the fp32 export's

        def run(folder: Path) -> Path:
            quantization_aware(checkpoint, train_images, names, imgsz, epochs, full_int8, calibration, folder,
                               ov_name, seed)
            return folder

        self.folder = cached(self.key[1], run)
        self.weights = self.folder / f"{checkpoint.stem}.pt"
        self.openvino = self.folder / ov_name
        self.imgsz = imgsz

    def calibrated(self, engine: str) -> bool:
        return engine != "openvino"  # its ranges were trained

    def make(self, engine: str, fp32: Path, images: list[Path], folder: Path, sensitive: Sensitive | None = None):
        if engine == "openvino":
            dst = Path(shutil.copytree(self.openvino, folder / self.openvino.name))
            shutil.copy2(fp32 / "metadata.yaml", dst / "metadata.yaml")  # same names, imgsz and stride
            return dst
        tuned = self._cached(f"{self.key[1]}-{engine}",
                             lambda f: export(self.weights, self.imgsz, [engine], f, raw_head=self.full_int8)[engine])
        dst = output_path(fp32, engine, folder, tag=tag(self.full_int8))
        return post_train(engine, tuned, dst, images, self.full_int8, sensitive)
