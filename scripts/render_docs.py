"""Regenerate the README's generated parts: the op table (from the registry and the Keras
backend's table), the spec table and the zoo table, and the diagrams they link (docs/img/).

    .venv/bin/python scripts/render_docs.py            # everything
    .venv/bin/python scripts/render_docs.py ops        # the op table only (no drawing)

Each spec is checked, drawn to SVG at the deepest depth that keeps the diagram
near one screen (``auto_depth``), and given a row: network, seed, input ->
output, params, MACs, diagram. The table sits between markers in README.md.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnndsl  # noqa: E402
from cnndsl.backends.dot import auto_depth, write_diagram  # noqa: E402
from cnndsl.summary import human  # noqa: E402
from cnndsl.ops import fmt_shape  # noqa: E402

BEGIN, END = "<!-- spec-table:begin -->", "<!-- spec-table:end -->"
FAMILIES = [("conv", "Convolutions"), ("pool", "Pooling"), ("dense", "Dense"), ("norm", "Normalisation"),
            ("act", "Activations"), ("shape", "Shape and regularisation"), ("merge", "Merges"),
            ("math", "Tensor math"), ("attention", "Attention and learned tensors")]
VARIANTS = {"vgg16.cnn": [{"include_top": False, "pooling": "max"}, {"channels": 3}]}
FIRST = {"applications/xception.cnn": {"include_top": False, "image": [299, 299, 3]}}   # the seed's setting
SHOWCASE = [("googlenet.cnn", 1, "googlenet_depth1.svg"), ("resnet34.cnn", 2, "resnet34.svg"),
            ("xception.cnn", 1, "xception.svg")]


def _default(arg) -> str:
    from cnndsl.ops import REQUIRED
    from cnndsl.values import fmt_value
    if arg.default is REQUIRED:
        return f"`{arg.name}`"
    value = arg.default
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1] and not isinstance(value[0], tuple):
        value = value[0]
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(x, tuple) and x[0] == x[1] for x in value) \
            and value[0] == value[1]:
        value = value[0][0]
    shown = "none" if value is None else str(value).lower() if isinstance(value, bool) else fmt_value(value)
    return f"`{arg.name}={shown}`"


def keras_classes(op) -> str:
    """The Keras class(es) an op builds, read off the backend's table with a recorder."""
    from cnndsl.backends.keras import APPLY, BUILDERS, _Recorder
    from cnndsl.ops import REQUIRED
    from cnndsl.ops.schema import SPATIAL_TYPES, as_rank
    if op.name not in BUILDERS:
        return "(none)"
    placeholder = {"ints": (1,), "pad2": ((1, 1), (1, 1)), "size2": (1, 1), "choice": "relu", "hw": (1, 1),
                   "parts": 2}
    base = {a.name: (placeholder.get(a.type, 1) if a.default is REQUIRED else a.default) for a in op.args}
    if op.name == "split":
        base["sizes"] = (1, 1)
    variants = [base] + ([{**base, "layer": True}] if "layer" in base else [])
    if op.ranks:   # one class per spatial rank: Conv1D, Conv2D, Conv3D
        if "ceil_mode" in base:       # torch's padding: cnndsl's TorchPool
            variants.append({**base, "padding": 1})
        variants = [{**a, **{x.name: as_rank(x, a[x.name], r) for x in op.args if x.type in SPATIAL_TYPES}, "dims": r}
                    for r in op.ranks for a in variants]
    if op.name == "softmax":
        variants.append({**base, "axis": 1})
    names = []
    for a in variants:
        path = BUILDERS[op.name](_Recorder(), a, "x")[0]
        cls = ("cnndsl " if path[0] == "cnndsl" else "") + path[-1] + (" (layer=true)" if a.get("layer") else "")
        if op.name in APPLY and APPLY[op.name](a) != "{layer}({x})" and op.name != "attention":
            cls += ": `" + APPLY[op.name](a).format(layer=path[-1] + "(6.0)", x="x") + "`"
        names.append(cls)
    names = sorted(dict.fromkeys(names), key=lambda n: n.startswith("cnndsl "))   # Keras's classes first
    return ", ".join(names)


def op_table() -> str:
    """The README's op table: every op of the registry a spec can name, by family."""
    from cnndsl.ops import REGISTRY
    rows = ["| op | Keras | arguments (defaults) | what it is |", "|---|---|---|---|"]
    for family, title in FAMILIES:
        for op in (o for o in REGISTRY.values() if o.family == family and not o.internal):
            args = ", ".join(_default(a) for a in op.args) or "none"
            rows.append(f"| `{op.name}` | {keras_classes(op)} | {args} | {op.doc or ''} |")
    return "\n".join(rows)


def replace_between(text: str, marker: str, body: str) -> str:
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return head + begin + "\n" + body + "\n" + end + tail


def seed_of(path: Path) -> str:
    m = re.search(r"seeds?[ /]*(\d{3})", path.read_text())
    return m.group(1) if m else "—"


def shapes(nodes) -> str:
    return ", ".join(fmt_shape(n.shape) for n in nodes)


def main() -> None:
    img = ROOT / "docs" / "img"
    rows = ["| network | seed | input → output | params (trainable) | MACs | diagram |", "|---|---|---|---|---|---|"]
    for path in sorted((ROOT / "specs").rglob("*.cnn")):
        rel = path.relative_to(ROOT / "specs")
        if rel.parts[0] in ("lib", "torchvision") or (rel.parts[0] == "applications" and rel.name != "xception.cnn"):
            continue    # the zoo has its own table
        names = cnndsl.load(path).network_names()
        for network in names if len(names) > 1 else [None]:     # a file of several networks: a row each
            graph = cnndsl.check(path, network, **FIRST.get(str(rel), {}))
            depth = auto_depth(graph)
            svg = img / "specs" / (rel.with_suffix(".svg") if network is None else rel.parent / f"{rel.stem}_{network}.svg")
            svg.parent.mkdir(parents=True, exist_ok=True)
            write_diagram(graph, str(svg), depth=depth)
            shown = "full" if depth is None else f"depth {depth}"
            for params in [FIRST.get(str(rel), {})] + VARIANTS.get(str(rel), []):
                if params:
                    graph = cnndsl.check(path, network, **params)
                setting = " ".join(([f"network `{network}`"] if network else [])
                                   + [f"`{k}={str(v).lower()}`" for k, v in params.items()])
                counts = f"{graph.total_params:,}" + (f" ({graph.trainable:,})" if graph.non_trainable else "")
                rows.append(f"| [`{rel}`](specs/{rel}) {setting} | {seed_of(path)} | {shapes(graph.inputs.values())} → "
                            f"{shapes(graph.outputs.values())} | {counts} | {human(graph.macs)} | "
                            f"[svg, {shown}]({svg.relative_to(ROOT)}) |")
            print(f"{rel}{'' if network is None else ':' + network}: {shown}")
    for name, depth, out in SHOWCASE:
        write_diagram(cnndsl.check(ROOT / "specs" / name), str(img / out), depth=depth)
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    text = head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail
    readme.write_text(replace_between(text, "zoo-table", zoo_table()))


def zoo_table() -> str:
    """The README's zoo table: every keras.applications function, its spec network and figures,
    with a depth-1 diagram (drawn into docs/img/zoo/)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from zoo_table import ZOO
    rows = ["| keras.applications | spec network | input → output | params (trainable) | MACs | diagram |",
            "|---|---|---|---|---|---|"]
    for z in ZOO:
        graph = cnndsl.check(z.spec, z.network)
        rel = z.spec.relative_to(ROOT)
        svg = ROOT / "docs" / "img" / "zoo" / f"{z.network}.svg"
        svg.parent.mkdir(parents=True, exist_ok=True)
        write_diagram(graph, str(svg), depth=1)
        counts = f"{graph.total_params:,}" + (f" ({graph.trainable:,})" if graph.non_trainable else "")
        rows.append(f"| `{z.function}` | [`{z.network}`]({rel}) | {shapes(graph.inputs.values())} → "
                    f"{shapes(graph.outputs.values())} | {counts} | {human(graph.macs)} | "
                    f"[depth 1]({svg.relative_to(ROOT)}) |")
        print(f"zoo {z.network}")
    return "\n".join(rows)


def _test_constant(test_file: str, name: str):
    """A literal constant of a test module (``NUMERIC = {...}``), read without importing the test (nor its
    frameworks): the table shows what the test runs."""
    import ast
    tree = ast.parse((ROOT / "tests" / test_file).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit(f"tests/{test_file} has no constant {name}")


def torchvision_table() -> str:
    """The README's torchvision table: every builder of specs/torchvision/, its figures and whether its outputs
    are compared with torchvision's: the networks of tests/test_torchvision_zoo.py's NUMERIC (at the size
    given there; KERAS_TOO ones in the Keras build as well), the others structurally (counts, state_dict keys
    and shapes, which that test checks for every builder)."""
    numeric = _test_constant("test_torchvision_zoo.py", "NUMERIC")          # name -> input size
    keras_too = _test_constant("test_torchvision_zoo.py", "KERAS_TOO")
    rows = ["| torchvision builder | spec | params (torchvision's) | BN statistics | MACs | equal outputs |",
            "|---|---|---|---|---|---|"]
    for path in sorted((ROOT / "specs" / "torchvision").glob("*.cnn")):
        rel = path.relative_to(ROOT)
        for name in cnndsl.load(path).network_names():
            graph = cnndsl.check(path, name)
            if name in numeric:
                size = numeric[name]         # an image side, or a video clip [T, H, W, C]
                size = "×".join(map(str, size[:-1] if isinstance(size, list) else [size, size]))
                equal = f"✓ at {size}" + (", and in Keras" if name in keras_too else "")
            else:
                equal = "structural"
            rows.append(f"| `{name}` | [`{rel.name}`]({rel}) | {graph.trainable:,} | {graph.non_trainable:,} | "
                        f"{human(graph.macs)} | {equal} |")
    return "\n".join(rows)


def write_torchvision_table() -> None:
    readme = ROOT / "README.md"
    readme.write_text(replace_between(readme.read_text(), "torchvision-table", torchvision_table()))


def write_op_table() -> None:
    readme = ROOT / "README.md"
    readme.write_text(replace_between(readme.read_text(), "op-table", op_table()))


if __name__ == "__main__":
    write_op_table()
    if sys.argv[1:] == ["torchvision"]:
        write_torchvision_table()
    elif sys.argv[1:] != ["ops"]:
        main()
        write_torchvision_table()
