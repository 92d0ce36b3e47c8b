"""The runtime's reader of ultralytics' metadata.yaml against PyYAML (a reference the runtime does not depend on)."""

from __future__ import annotations

import pytest

from helpers import SHIPPED
from runtime.metadata import read_simple_yaml

yaml = pytest.importorskip("yaml")


def test_simple_yaml_reader_equals_pyyaml_on_ultralytics_metadata(yaml_models):
    for folder in (yaml_models["openvino"], SHIPPED["openvino"]):
        text = (folder / "metadata.yaml").read_text()
        assert read_simple_yaml(text) == yaml.safe_load(text)
