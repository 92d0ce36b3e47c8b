"""The README's Python examples run as written, from the repository root, as a new user would paste them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from helpers import ROOT
from runtime import Detections

README = ROOT / "README.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return PYTHON_BLOCK.findall(README.read_text())


def run_block(code: str) -> subprocess.CompletedProcess:
    # A fresh interpreter: the block must import what it uses, and the shell's cwd is the repository root.
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)


def printed_detections(stdout: str) -> list[Detections]:
    return [Detections.model_validate_json(line) for line in stdout.splitlines()
            if line.startswith("{") and '"xyxy"' in line]


def test_readme_has_a_python_example():
    assert python_blocks(), "README.md has no ```python block"


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(index):
    code = python_blocks()[index]
    run = run_block(code)
    assert run.returncode == 0, f"README python block {index} failed:\n{code}\n{run.stderr}"
    assert run.stdout.strip(), f"README python block {index} printed nothing"
    if "model_dump_json" in code:  # an example that prints detections prints real ones, and names them
        found = printed_detections(run.stdout)
        assert found and all(len(d) for d in found), run.stdout
        text = run.stdout.splitlines()
        for detections in found:
            for name in detections.class_names:
                assert any(line.startswith(name) for line in text), f"{name} not printed:\n{run.stdout}"
