"""The package's import graph: no cycle, and no backend imports the lowering.

Every ``import`` in every module of ``cnndsl`` counts, those inside functions (lazy imports) too: a
lazy import only hides a cycle, it doesn't remove it. Framework-free (the quick tier)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cnndsl"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict:
    """module -> the cnndsl modules it imports (a package import counts as its ``__init__``)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                stem = (f"{base}.{node.module}" if node.level else node.module) if node.module else base
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    out.add(t)
        graph[name] = out
    return graph


def _cycle(graph):
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_the_import_graph_walks_the_whole_package():
    graph = import_graph()
    assert "cnndsl.backends.spec" in graph["cnndsl.api"] and "cnndsl.motifs" in graph["cnndsl.backends.spec"]
    assert len(graph) >= 30


def test_the_package_has_no_import_cycle():
    cycle = _cycle({m: {n for n in deps if not (m.startswith(n + ".") and n == "cnndsl")}
                    for m, deps in import_graph().items()})
    assert cycle is None, " -> ".join(cycle)


def test_no_backend_imports_the_lowering():
    graph = import_graph()
    for module, deps in graph.items():
        if module.startswith("cnndsl.backends."):
            assert "cnndsl.lower" not in deps, module


def test_nothing_after_the_reader_knows_keras_classes():
    """The Keras-specific knowledge (class names, fusions) stays in the reader and the Keras backend."""
    for name in ("motifs.py", "backends/spec.py", "structure.py", "ir.py"):
        text = (PACKAGE / name).read_text()
        for cls in ("Conv2D", "BatchNormalization", "ReLU(", "keras_history", "class_name"):
            assert cls not in text, (name, cls)
