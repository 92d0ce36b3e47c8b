"""OpenVINO's inference precision: by default as ultralytics runs it, otherwise what the user asks.

Left alone, OpenVINO infers in f16 on ARM and in bf16 on x86 CPUs with AVX512-BF16/AMX (this one), ~1e-2 off
the model's own scores. ultralytics asks for f32 on ARM only, and so does this runtime by default: the same
boxes as ultralytics on the same file. The engine's own default differs by architecture, which is why the
expectations depend on the machine.
"""

from __future__ import annotations

import platform

import pytest

from helpers import SHIPPED
from runtime import Detector

ov = pytest.importorskip("openvino")
ARM = platform.machine() in {"aarch64", "arm64"}


def name(precision) -> str:
    return precision.to_string() if hasattr(precision, "to_string") else str(precision).lower()  # ov.Type: "f32"


def compiled_precision(detector: Detector) -> str:
    return name(detector.engine.compiled.get_property("INFERENCE_PRECISION_HINT"))


def engine_default() -> str:
    return name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))


def test_default_is_f32_on_arm_and_the_engines_choice_on_x86():
    expected = "f32" if ARM else engine_default()
    assert compiled_precision(Detector(SHIPPED["openvino"])) == expected


def test_the_asked_precision():
    assert compiled_precision(Detector(SHIPPED["openvino"], precision="f32")) == "f32"
    asked = compiled_precision(Detector(SHIPPED["openvino"], precision="f16"))
    # x86 CPUs have no f16 arithmetic: OpenVINO serves the request in bf16 where it can, else in f32.
    assert asked == "f16" if ARM else asked in {"bf16", "f32"}


def test_the_engine_default_this_runtime_overrides_on_arm():
    default = engine_default()
    if ARM:
        assert default == "f16", "OpenVINO on ARM defaults to f16: the reason for the explicit f32 hint"
    else:
        assert default in {"f32", "bf16"}
    assert compiled_precision(Detector(SHIPPED["openvino"], precision="auto")) == default


def test_benchmarks_label_rows_with_what_the_engine_computes_in():
    from runtime.bench import precision_of

    model = SHIPPED["openvino"]
    assert precision_of(model, Detector(model, precision="f32")) == "fp32"
    default = "f32" if ARM else engine_default()
    assert precision_of(model, Detector(model)) == {"f32": "fp32"}.get(default, default)
