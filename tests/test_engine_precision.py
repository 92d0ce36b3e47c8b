"""OpenVINO's inference precision: f32 unless asked, on every architecture.

Left alone, OpenVINO infers in f16 on ARM and in bf16 on x86 CPUs with AVX512-BF16/AMX (this one), ~1e-2 off
the model's own scores; this runtime asks for f32 and lets the user choose. The engine's own default differs
by architecture, which is why the second test's expectation depends on the machine.
"""

from __future__ import annotations

import platform

import pytest

from conftest import SHIPPED
from runtime import Detector

ov = pytest.importorskip("openvino")
ARM = platform.machine() in {"aarch64", "arm64"}


def name(precision) -> str:
    return precision.to_string() if hasattr(precision, "to_string") else str(precision).lower()  # ov.Type: "f32"


def compiled_precision(detector: Detector) -> str:
    return name(detector.engine.compiled.get_property("INFERENCE_PRECISION_HINT"))


def test_f32_unless_asked_and_the_asked_precision_otherwise():
    assert compiled_precision(Detector(SHIPPED["openvino"])) == "f32"
    asked = compiled_precision(Detector(SHIPPED["openvino"], precision="f16"))
    # x86 CPUs have no f16 arithmetic: OpenVINO serves the request in bf16 where it can, else in f32.
    assert asked == "f16" if ARM else asked in {"bf16", "f32"}


def test_the_engine_default_this_runtime_overrides():
    default = name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    if ARM:
        assert default == "f16", "OpenVINO on ARM defaults to f16: the reason for the explicit f32 hint"
    else:
        assert default in {"f32", "bf16"}
    assert compiled_precision(Detector(SHIPPED["openvino"], precision="auto")) == default
