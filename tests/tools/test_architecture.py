"""The layout's rules, checked on the source: no import cycles, and the engine registry the only list of engines."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGES = ("runtime", "models", "benchmarks")
SOURCES = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
ENGINE_NAMES = {"onnxruntime", "openvino", "tflite"}
REGISTRY = ROOT / "runtime" / "engines"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SOURCES}


def project_imports(path: Path) -> set[str]:
    """Every project module this file imports, at the top or inside a function: both run, both can cycle."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from pkg import sub` imports pkg.sub; `from pkg import name` imports pkg
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `from a.b import c`: module a.b.c if it exists, else a.b
                name = name.rpartition(".")[0]
            if name and name != module_name(path):
                found.add(name)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    graph = {name: project_imports(path) for name, path in MODULES.items()}
    assert import_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_runtime_never_imports_the_factory_or_benchmarks():
    for name, path in MODULES.items():
        if name.startswith("runtime"):
            assert not {m for m in project_imports(path) if not m.startswith("runtime")}, path


def engine_lists(path: Path, dicts: bool = True) -> list[int]:
    """Lines of literals (list, tuple, set; dict keys if asked) that name two or more engines."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        items = node.keys if isinstance(node, ast.Dict) and dicts else \
            node.elts if isinstance(node, (ast.List, ast.Tuple, ast.Set)) else []
        named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in ENGINE_NAMES}
        if len(named) >= 2:
            lines.append(node.lineno)
    return lines


def test_only_the_registry_lists_engines():
    """The factory may map engines to its own per-engine tools (exporters, quantizers), never enumerate them."""
    listed = {str(p.relative_to(ROOT)): engine_lists(p, dicts=not p.is_relative_to(ROOT / "models"))
              for p in SOURCES if REGISTRY not in p.parents}
    assert {path: lines for path, lines in listed.items() if lines} == {}


def test_the_engine_list_check_finds_a_list(tmp_path):
    source = tmp_path / "x.py"
    source.write_text('CHOICES = ["onnxruntime", "openvino"]\nREADERS = {"tflite": 1, "openvino": 2}\n')
    assert engine_lists(source) == [1, 2]
