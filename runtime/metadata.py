"""Model metadata (class names, input size, stride, task) from wherever the export put it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from runtime.engines import embedded_metadata


def class_name(names: dict[int, str], class_id: int) -> str:
    """A class's name, or `class<id>` for a model whose names are unknown."""
    return names.get(class_id, f"class{class_id}")


class ModelMetadata(BaseModel):
    model_config = ConfigDict(frozen=True)

    names: dict[int, str] = {}
    imgsz: tuple[int, int] | None = None
    stride: int = 32
    task: str = "detect"
    end2end: bool | None = None
    source: str = "none"  # where the metadata was found, for `yolo-edge info`

    @field_validator("names", mode="before")
    @classmethod
    def _names(cls, v):
        v = _literal(v)
        return dict(enumerate(v)) if isinstance(v, (list, tuple)) else v or {}

    @field_validator("imgsz", mode="before")
    @classmethod
    def _imgsz(cls, v):
        v = _literal(v)
        return (v, v) if isinstance(v, int) else v

    @field_validator("stride", mode="before")
    @classmethod
    def _stride(cls, v):
        v = _literal(v)
        return int(max(v)) if isinstance(v, (list, tuple)) else int(v)

    @field_validator("end2end", mode="before")
    @classmethod
    def _end2end(cls, v):
        return _literal(v) if isinstance(v, str) else v

    @classmethod
    def from_mapping(cls, raw: dict, source: str) -> "ModelMetadata":
        known = {k: raw[k] for k in ("names", "imgsz", "stride", "task", "end2end") if raw.get(k) is not None}
        args = _literal(raw.get("args"))
        if isinstance(args, dict) and _literal(args.get("nms")) is True:  # export(nms=True): (N, 6) rows after NMS,
            known["end2end"] = True  # while its end2end key says False (ultralytics reads it the same way)
        return cls(**known, source=source)

    def class_name(self, class_id: int) -> str:
        return class_name(self.names, class_id)


def _literal(v):
    """ONNX metadata props are Python reprs ("{0: 'person'}", "[640, 640]"): parse them safely."""
    if isinstance(v, str):
        try:
            return ast.literal_eval(v)
        except (ValueError, SyntaxError):
            return v
    return v


def read_simple_yaml(text: str) -> dict:
    """Reads the YAML subset ultralytics writes to metadata.yaml: scalars, one level of lists and maps."""
    root: dict = {}
    key = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "-")):  # top-level "key: value" or "key:"
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            root[key] = _scalar(value) if value else None
        elif line.lstrip().startswith("- "):
            root[key] = (root[key] or []) + [_scalar(line.lstrip()[2:])]
        else:
            sub, _, value = line.strip().partition(":")
            root[key] = root[key] or {}
            root[key][_scalar(sub)] = _scalar(value.strip())
    return root


def _scalar(text: str):
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


METADATA_KEYS = ("names", "imgsz", "stride")


def sidecar_metadata(model_path: Path) -> ModelMetadata | None:
    """A `<model>.json` / `<model>.yaml` beside the model, or OpenVINO's `metadata.yaml`, if present.

    A file there that is not metadata (a training recipe, say: no names/imgsz/stride, or not this simple
    format) is passed over rather than trusted or allowed to break loading.
    """
    folder = model_path if model_path.is_dir() else model_path.parent
    stem = model_path.with_suffix("")
    for candidate in (stem.with_suffix(".json"), stem.with_suffix(".yaml"), folder / "metadata.yaml"):
        if not candidate.is_file() or candidate == model_path:
            continue
        try:
            text = candidate.read_text()
            raw = json.loads(text) if candidate.suffix == ".json" else read_simple_yaml(text)
            if isinstance(raw, dict) and any(key in raw for key in METADATA_KEYS):
                return ModelMetadata.from_mapping(raw, source=candidate.name)
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return None


def model_metadata(path: Path) -> ModelMetadata:
    """A sidecar file wins (it is how users label models from elsewhere), then what the model file carries: read by
    the reader of the file's format, so the same whichever engine runs it."""
    found = sidecar_metadata(path)
    if found is not None:
        return found
    embedded = embedded_metadata(path)
    return ModelMetadata.from_mapping(embedded, source="embedded") if embedded else ModelMetadata()
