"""OpenVINO's inference precision: by default as ultralytics runs it, otherwise what the user asks.

Left alone, OpenVINO infers in f16 on ARM and in bf16 on x86 CPUs with AVX512-BF16/AMX (this one), ~1e-2 off
the model's own scores. ultralytics asks for f32 on ARM only, and so does this runtime by default: the same
boxes as ultralytics on the same file. What the CPU can compute in decides what each request gets, so the
expectations follow the CPU's capabilities as OpenVINO reports them, and the outputs show which one ran.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest

from helpers import SHIPPED
from runtime import Detector

ov = pytest.importorskip("openvino")
ARM = platform.machine() in {"aarch64", "arm64"}
CAPABILITIES = set(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def name(precision) -> str:
    return precision.to_string() if hasattr(precision, "to_string") else str(precision).lower()  # ov.Type: "f32"


def compiled_precision(detector: Detector) -> str:
    return name(detector.engine.compiled.get_property("INFERENCE_PRECISION_HINT"))


def engine_default() -> str:
    return name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))


def served(asked: str) -> str:
    """What OpenVINO's CPU plugin computes a request in: the asked half-float type where the CPU has it (ARM's
    default f16 says it has f16), an f16 request in bf16 where only that is there (x86 with AVX512-BF16/AMX),
    else f32."""
    has = {"f32": True, "f16": "FP16" in CAPABILITIES or engine_default() == "f16", "bf16": "BF16" in CAPABILITIES}
    if has[asked]:
        return asked
    return "bf16" if asked == "f16" and has["bf16"] else "f32"


def raw_output(detector: Detector) -> np.ndarray:
    tensor = np.random.default_rng(0).random(detector.engine.input.shape, dtype=np.float32)
    return detector.engine.run(tensor)


@pytest.fixture(scope="module")
def f32_output() -> np.ndarray:
    return raw_output(Detector(SHIPPED["openvino"], precision="f32"))


def assert_computes_in(detector: Detector, precision: str, f32_output: np.ndarray) -> None:
    """The engine reports `precision`, and its numbers show it: f32 gives the f32 run's output bit for bit, a
    half-float type moves the scores (bf16 by ~2e-3 here)."""
    assert compiled_precision(detector) == detector.engine.compute_precision == precision
    scores_moved = np.abs(raw_output(detector)[0, 4:] - f32_output[0, 4:]).max()
    if precision == "f32":
        assert scores_moved == 0
    else:
        assert 0 < scores_moved < 0.05


def test_default_is_f32_on_arm_and_the_engines_choice_on_x86(f32_output):
    expected = "f32" if ARM else ("bf16" if "BF16" in CAPABILITIES else "f32")
    assert engine_default() == ("f16" if ARM else expected)
    assert_computes_in(Detector(SHIPPED["openvino"]), expected, f32_output)


@pytest.mark.parametrize("asked", ["f32", "f16"] + ([] if ARM else ["bf16"]))  # bf16 is an x86 type
def test_the_asked_precision(asked, f32_output):
    assert_computes_in(Detector(SHIPPED["openvino"], precision=asked), served(asked), f32_output)


def test_the_engine_default_this_runtime_overrides_on_arm(f32_output):
    default = engine_default()
    if ARM:
        assert default == "f16", "OpenVINO on ARM defaults to f16: the reason for the explicit f32 hint"
    assert_computes_in(Detector(SHIPPED["openvino"], precision="auto"), default, f32_output)


def test_benchmarks_label_rows_with_what_the_engine_computes_in():
    from runtime.bench import precision_of

    model = SHIPPED["openvino"]
    assert precision_of(model, Detector(model, precision="f32")) == "fp32"
    default = "f32" if ARM else engine_default()
    assert precision_of(model, Detector(model)) == {"f32": "fp32"}.get(default, default)
