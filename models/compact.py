"""Short names for the graphs of deployed int8 models: same network, same outputs, smaller file.

The quantizers name every tensor and node after its source path ("/model.2/m.0/cv1/conv/Conv_output_0_
QuantizeLinear_Output"). In the light model's int8 ONNX file those names were 0.32 MB of 1.87 MB, in its int8
TFLite file 0.14 MB of 1.73 MB: more than the weights they save in some layers. Only the int8 files are compacted;
the fp32 exports keep readable names (debugging, profiling, and the factory finds the head in them by name).
Graph inputs and outputs keep their names: callers feed and read them by name.

    python -m models.compact models/artifacts/*_int8.onnx models/artifacts/*_int8*.tflite
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path


def short_names(prefix: str):
    """A callable giving each new key the next id (t0, t1, ... in hex), the same id for a key seen before."""
    ids: dict[str, str] = {}
    return lambda name: ids.setdefault(name, f"{prefix}{len(ids):x}")


def compact_onnx(path: Path) -> None:
    """Rename an ONNX file's nodes and inner tensors in place. Graphs with subgraphs (If/Loop) are left alone."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in graph.node for a in n.attribute):
        return
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {""}  # "" = an omitted optional input
    tensor = short_names("t")
    rename = lambda name: name if name in keep else tensor(name)  # noqa: E731
    for init in graph.initializer:
        init.name = rename(init.name)
    for info in graph.value_info:
        info.name = rename(info.name)
    for i, n in enumerate(graph.node):
        n.name = f"n{i:x}"
        n.input[:] = [rename(x) for x in n.input]
        n.output[:] = [rename(x) for x in n.output]
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def compact_tflite(path: Path) -> None:
    """Rename a .tflite file's inner tensors in place; the metadata zip ultralytics appends is kept."""
    from ai_edge_litert.tools import flatbuffer_utils

    try:
        with zipfile.ZipFile(path) as archive:
            appended = {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        appended = {}
    model = flatbuffer_utils.read_model(str(path))  # the flatbuffer alone: the appended zip is dropped
    for subgraph in model.subgraphs:
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        tensor = short_names("t")
        for index, t in enumerate(subgraph.tensors):
            if index not in keep:
                t.name = tensor(index).encode()
    path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    append_to_zip(path, appended)


def append_to_zip(path: Path, files: dict[str, bytes]) -> None:
    """Append files as a zip to `path` (how ultralytics ships metadata.json inside a .tflite)."""
    if not files:
        return
    with zipfile.ZipFile(path, "a") as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no clock time: reruns are byte-equal
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)


def compact(path: Path) -> None:
    {".onnx": compact_onnx, ".tflite": compact_tflite}[path.suffix](path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+", help=".onnx or .tflite files, rewritten in place")
    for path in parser.parse_args(argv).models:
        before = path.stat().st_size
        compact(path)
        print(f"{path}: {before / 1e6:.3f} -> {path.stat().st_size / 1e6:.3f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
