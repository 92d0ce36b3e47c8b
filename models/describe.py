"""Print the inputs, outputs and embedded ultralytics metadata of exported artifacts.

    python -m models.describe models/artifacts/*.onnx models/artifacts/*_openvino_model models/artifacts/*.tflite
"""
import argparse
import json
import zipfile
from pathlib import Path

from runtime.engines import owning_engine


def describe_onnx(path):
    import onnx

    m = onnx.load(str(path))
    dims = lambda t: [d.dim_value or d.dim_param for d in t.type.tensor_type.shape.dim]  # noqa: E731
    return {
        "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")],
        "inputs": [(t.name, dims(t)) for t in m.graph.input],
        "outputs": [(t.name, dims(t)) for t in m.graph.output],
        "metadata": {p.key: p.value for p in m.metadata_props},
    }


def describe_openvino(path):
    import openvino as ov

    xml = next(Path(path).glob("*.xml")) if Path(path).is_dir() else Path(path)
    m = ov.Core().read_model(xml)
    meta = xml.parent / "metadata.yaml"
    return {
        "xml": xml.name,
        "inputs": [(sorted(p.get_names()), str(p.get_partial_shape()), str(p.get_element_type())) for p in m.inputs],
        "outputs": [(sorted(p.get_names()), str(p.get_partial_shape()), str(p.get_element_type())) for p in m.outputs],
        "metadata.yaml": meta.read_text() if meta.exists() else None,
    }


def describe_tflite(path):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    io = lambda ds: [(d["name"], d["shape"].tolist(), d["dtype"].__name__, d["quantization"]) for d in ds]  # noqa: E731
    with zipfile.ZipFile(path) as zf:  # ultralytics appends metadata.json as a zip entry
        meta = json.loads(zf.read("metadata.json"))
    return {"inputs": io(it.get_input_details()), "outputs": io(it.get_output_details()), "metadata": meta}


# The runtime's engine name of a file's format -> how to describe that format.
DESCRIBERS = {"onnxruntime": describe_onnx, "openvino": describe_openvino, "tflite": describe_tflite}


def describe(path):
    path = Path(path)
    engine = owning_engine(path)
    if engine is None:
        raise ValueError(f"unknown artifact: {path}")
    return DESCRIBERS[engine](path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    for p in ap.parse_args().paths:
        print(f"== {p}")
        for key, value in describe(p).items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
