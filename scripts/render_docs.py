"""Regenerate the README's spec table and the diagrams it links (docs/img/).

    .venv/bin/python scripts/render_docs.py

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
VARIANTS = {"vgg16.cnn": [{"include_top": False, "pooling": "max"}, {"channels": 3}]}
SHOWCASE = [("googlenet.cnn", 1, "googlenet_depth1.svg"), ("resnet34.cnn", 2, "resnet34.svg"),
            ("xception.cnn", 1, "xception.svg")]


def seed_of(path: Path) -> str:
    m = re.search(r"seeds?[ /]*(\d{3})", path.read_text())
    return m.group(1) if m else "keras.applications"


def shapes(nodes) -> str:
    return ", ".join(fmt_shape(n.shape) for n in nodes)


def main() -> None:
    img = ROOT / "docs" / "img"
    rows = ["| network | seed | input → output | params (trainable) | MACs | diagram |", "|---|---|---|---|---|---|"]
    for path in sorted((ROOT / "specs").rglob("*.cnn")):
        rel = path.relative_to(ROOT / "specs")
        if rel.parts[0] == "lib":
            continue
        graph = cnndsl.check(path)
        depth = auto_depth(graph)
        svg = img / "specs" / rel.with_suffix(".svg")
        svg.parent.mkdir(parents=True, exist_ok=True)
        write_diagram(graph, str(svg), depth=depth)
        shown = "full" if depth is None else f"depth {depth}"
        for params in [{}] + VARIANTS.get(str(rel), []):
            if params:
                graph = cnndsl.check(path, **params)
            setting = " ".join(f"`{k}={str(v).lower()}`" for k, v in params.items())
            counts = f"{graph.total_params:,}" + (f" ({graph.trainable:,})" if graph.non_trainable else "")
            rows.append(f"| [`{rel}`](specs/{rel}) {setting} | {seed_of(path)} | {shapes(graph.inputs.values())} → "
                        f"{shapes(graph.outputs.values())} | {counts} | {human(graph.macs)} | "
                        f"[svg, {shown}]({svg.relative_to(ROOT)}) |")
        print(f"{rel}: {shown}")
    for name, depth, out in SHOWCASE:
        write_diagram(cnndsl.check(ROOT / "specs" / name), str(img / out), depth=depth)
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    readme.write_text(head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail)


if __name__ == "__main__":
    main()
