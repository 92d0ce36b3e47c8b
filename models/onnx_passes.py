"""Exact clean-ups of exported ONNX graphs (no numbers change; ultralytics runs the result like any export).

fold_concat_split: the light recipe's ASFF blocks take their 2-3 input maps concatenated (a Concat row in the
yaml) and split them again first thing. ONNX Runtime executes both, and in its NCHWc layout each one is also a
layout conversion; wiring the Split's consumers to the Concat's inputs removes the pair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _constants(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a for a in node.attribute if a.name == "value"), None)
            if value is not None:
                values[node.output[0]] = numpy_helper.to_array(value.t)
    return values


def _axis(node, rank: int) -> int:
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    return axis + rank if axis < 0 else axis


def _split_sizes(split, constants: dict[str, np.ndarray]) -> list[int] | None:
    """A Split's sizes: its second input (opset 13+) or its 'split' attribute (older); None: equal parts."""
    if len(split.input) > 1 and split.input[1]:
        given = constants.get(split.input[1])
        return [-1] if given is None else given.tolist()  # sizes computed at run time: never matches
    attribute = next((a for a in split.attribute if a.name == "split"), None)
    return list(attribute.ints) if attribute is not None else None


def fold_concat_split(path: Path) -> int:
    """Rewrite path in place without Concat -> Split pairs that undo each other; returns how many were removed."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*inferred.value_info, *inferred.input, *inferred.output]}
    constants = _constants(graph)
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}

    rename, dropped = {}, []
    for split in graph.node:
        concat = producer.get(split.input[0]) if split.op_type == "Split" else None
        if concat is None or concat.op_type != "Concat" or graph_outputs & {concat.output[0], *split.output}:
            continue
        if len(consumers[concat.output[0]]) != 1 or len(concat.input) != len(split.output):
            continue
        in_shapes = [shapes.get(name) for name in concat.input]
        if any(not s for s in in_shapes):
            continue
        rank = len(in_shapes[0])
        axis = _axis(concat, rank)
        if _axis(split, rank) != axis:
            continue
        parts = [s[axis] for s in in_shapes]
        if min(parts) <= 0:  # a symbolic size (0 here): nothing to compare with
            continue
        sizes = _split_sizes(split, constants)
        if sizes != parts and not (sizes is None and len(set(parts)) == 1):  # None: equal parts
            continue
        rename.update(zip(split.output, concat.input))
        dropped += [split, concat]

    size_inputs = {node.input[1] for node in dropped if node.op_type == "Split" and len(node.input) > 1}
    for node in dropped:
        graph.node.remove(node)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
    used = {name for node in graph.node for name in node.input}
    for name in size_inputs - used:  # the Splits' size constants, now unused (ONNX Runtime warns about them on load)
        for init in [i for i in graph.initializer if i.name == name]:
            graph.initializer.remove(init)
        for const in [n for n in graph.node if n.op_type == "Constant" and name in n.output]:
            graph.node.remove(const)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return len(dropped) // 2
