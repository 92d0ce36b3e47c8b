"""Engine knobs shared by every engine (threads, spinning, OpenVINO's hint and precision)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def physical_cores() -> int:
    """Physical cores this process may use: SMT siblings share execution units, so YOLO gains nothing from them."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


class EngineSettings(BaseModel):
    """Engine knobs that decide speed on small CPUs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int | None = Field(None, ge=1, le=256, description="intra-op threads; None = physical cores")
    ort_spinning: Literal["off", "within-run", "always"] = Field(
        "within-run", description="ONNX Runtime's busy-wait: 'within-run' spins between the ops of a run and parks the "
                                 "threads after it; 'always' (ORT's default) spins on between frames, taking cores "
                                 "the app needs; 'off' never spins. True/False mean 'always'/'off'")
    openvino_hint: Literal["LATENCY", "THROUGHPUT"] = Field(
        "LATENCY", description="OpenVINO's performance hint: LATENCY for one frame at a time, THROUGHPUT for many "
                               "threads sharing the detector")
    precision: Literal["f32", "f16", "bf16", "auto"] | None = Field(
        None, description="OpenVINO's inference precision. None = as ultralytics runs it: f32 on ARM, OpenVINO's "
                          "choice on x86 (bf16 on AVX512-BF16/AMX CPUs: faster, scores ~1e-2 off); 'f32' everywhere; "
                          "'auto' = OpenVINO's choice everywhere (f16 on ARM)")

    @field_validator("ort_spinning", mode="before")
    @classmethod
    def _spinning_from_bool(cls, v):
        return {True: "always", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @property
    def thread_count(self) -> int:
        return self.threads or physical_cores()
