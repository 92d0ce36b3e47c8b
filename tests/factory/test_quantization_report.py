"""models.quantization_report's pairing of the full-int8 files with the head-float PTQ file of their engine."""

from __future__ import annotations

from models.quantization_report import paired_ratios


def test_full_int8_is_paired_repetition_by_repetition_with_its_engines_ptq_file():
    # Repetition 3 is slow for both files (the machine's drift): paired, it cancels; the medians alone would not.
    runs = {"onnxruntime ptq": {"1": [10.0, 10.0, 30.0], "2": [8.0, 8.0, 8.0]},
            "onnxruntime ptq-full-int8": {"1": [9.0, 9.0, 27.0], "2": [8.8, 8.8, 4.0]},
            "onnxruntime qat-seed0": {"1": [1.0] * 3, "2": [1.0] * 3},
            "tflite ptq-full-int8": {"1": [5.0] * 3, "2": [5.0] * 3}}  # no head-float tflite file: not paired
    assert paired_ratios(runs) == {"onnxruntime ptq-full-int8": {"1": 0.9, "2": 1.1}}
