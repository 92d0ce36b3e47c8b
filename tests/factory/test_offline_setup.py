"""models/settings.py, the factory's one offline setup: OpenVINO's converter, imported after it, sends nothing. Its
telemetry child process, forked from a threaded process, once hung a test session at exit (NNCF's own telemetry is
a stub under pytest, so the converter's is the one a test can see)."""

from __future__ import annotations

import pytest

pytest.importorskip("openvino_telemetry", reason="OpenVINO's tools (absent in the arm64 lane)")


def test_the_openvino_converter_declines_telemetry_in_the_factory():
    import models.settings  # noqa: F401  (conftest imports it first too)
    from openvino.tools.ovc.telemetry_utils import init_ovc_telemetry

    assert init_ovc_telemetry().consent is False
