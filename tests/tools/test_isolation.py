"""The runtime runs every engine with torch, ultralytics and tensorflow made unimportable."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT, SHIPPED, sample_paths

SCRIPT = """
import sys
for heavy in ("torch", "torchvision", "ultralytics", "tensorflow", "nncf", "yaml", "PIL"):
    sys.modules[heavy] = None  # any import of these now raises ImportError
from runtime import Detector
for model in sys.argv[2:]:
    print(model, len(Detector(model).predict(sys.argv[1])))
"""


def test_runtime_needs_no_heavy_packages():
    models = [str(p) for p in SHIPPED.values()]
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(sample_paths()[1]), *models], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    counts = [int(line.rsplit(" ", 1)[1]) for line in result.stdout.splitlines()]
    assert len(counts) == 3 and all(c > 0 for c in counts)
