"""``cnndsl draw -o model.html``: one self-contained, interactive HTML diagram.

The page holds the network as JSON (boxes, the block tree, edges, and for every layer its op,
arguments, shapes, params, MACs and the spec line it came from), Graphviz compiled to WebAssembly
(``@viz-js/viz``, vendored in ``vendor/`` with its licences) and a small script of ours
(``html_app.js``) that writes DOT for the blocks currently open and lays it out in the browser.
So a click on a block opens or closes it in place, hovering a box shows its layers' details, a search
box finds layers by name (opening the blocks around them), and the view pans and zooms; no network
access is needed and no URL is loaded.

Why Graphviz in WebAssembly rather than elkjs or dagre: the static diagrams (``backends/dot.py``) are
Graphviz's, so the interactive page lays out the same DOT, clusters and ranks as ``cnndsl draw``
prints (the same picture, foldable), and it is one file with no dependencies.
"""
from __future__ import annotations

import html
import json
import os

from ..ops import REGISTRY, fmt_shape
from ..ops.schema import describe
from ..structure import Group, build_tree, ports
from ..summary import check_depth, human, title
from .dot import COLOURS, FOLDED, MINOR, _derived, _Drawer, dims

HERE = os.path.dirname(os.path.abspath(__file__))
VIZ = os.path.join(HERE, "vendor", "viz-global.js")
APP = os.path.join(HERE, "html_app.js")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class _Lines:
    """The source lines of each spec file, split once."""

    def __init__(self):
        self.cache = {}

    def __call__(self, span) -> str:
        if span is None:
            return ""
        src = span.source
        lines = self.cache.get(id(src))
        if lines is None:
            lines = self.cache[id(src)] = src.text.split("\n")
        return lines[span.line - 1].rstrip("\r") if 0 < span.line <= len(lines) else ""


def _args(node) -> str:
    return ", ".join(f"{k}={describe(v)}" for k, v in node.args.items() if v is not None).replace("`", "")


def model(graph, depth=None, colours: dict | None = None, opened: set | None = None) -> dict:
    """The JSON the page draws from. ``colours`` (layer name -> (fill, border)) overrides a box's family
    colours; ``opened`` (block paths) replaces ``depth`` as the blocks first drawn open."""
    check_depth(depth)
    d = _Drawer(graph, depth, True, True)
    root = build_tree(graph)
    source = _Lines()
    outputs = {n.name: k for k, n in graph.outputs.items()}
    boxes, groups, box_of = {}, {}, {}

    def layer_info(n):
        return {"name": n.name, "op": n.op, "label": REGISTRY[n.op].label(n.args), "args": _args(n),
                "in": [fmt_shape(i.shape) for i in n.inputs], "out": fmt_shape(n.shape), "params": n.params,
                "macs": n.macs, "at": str(n.span) if n.span is not None else "", "line": source(n.span)}

    def walk(group: Group, gid) -> list:
        items = []
        for item in group.items:
            if isinstance(item, Group):
                sid = item.scope.id
                ins, outs = ports(item, d.readers, graph)
                groups[sid] = {
                    "label": item.scope.display, "title": title(item), "parent": gid, "level": item.level,
                    "kind": item.scope.kind, "params": item.params, "macs": item.macs, "layers": len(item.nodes),
                    "flow": " + ".join(dims(n.shape) for n in ins) + " → " + ", ".join(dims(n.shape) for n in outs),
                    "at": str(item.scope.span) if item.scope.span is not None else "",
                    "line": source(item.scope.span), "repeat": item.scope.kind == "repeat"}
                groups[sid]["items"] = walk(item, sid)
                items.append({"g": sid})
            elif item.name in d.runs:
                run = d.runs[item.name]
                head, last = run[0], run[-1]
                for n in run:
                    box_of[n.name] = head.name
                family = REGISTRY[head.op].family
                fill, border = COLOURS[family]
                for n in run:
                    if colours and n.name in colours:
                        fill, border = colours[n.name]
                        break
                if head.op == "input":
                    lines = [head.name, dims(head.shape)]
                else:
                    main = REGISTRY[head.op].label(head.args) + "".join(" · " + REGISTRY[n.op].label(n.args)
                                                                         for n in run[1:])
                    sub = [] if _derived(head) else [head.name]
                    params = sum(n.params for n in run)
                    if params:
                        sub.append(f"{human(params)} params")
                    if last.name in outputs:
                        sub.append("output" if outputs[last.name] == last.name else f"output {outputs[last.name]}")
                    lines = [main] + ([" · ".join(sub)] if sub else [])
                boxes[head.name] = {"lines": lines, "fill": fill, "border": border, "small": family in MINOR,
                                    "group": gid, "output": last.name in outputs,
                                    "layers": [layer_info(n) for n in run]}
                items.append({"b": head.name})
        return items

    top = walk(root, None)
    edges, seen = [], set()
    for node in graph.nodes:
        for src in node.inputs:
            a, b = box_of.get(src.name), box_of.get(node.name)
            if a is None or b is None or a == b or (a, b, src.name) in seen:
                continue
            seen.add((a, b, src.name))
            edges.append([a, b, dims(src.shape)])
    return {"name": graph.name, "depth": depth, "items": top, "groups": groups, "boxes": boxes, "edges": edges,
            "open": sorted(opened) if opened is not None else None,
            "title": f"{graph.name} · {human(graph.total_params)} params · {human(graph.macs)} MACs · "
                     f"{graph.layers} layers", "folded": list(FOLDED)}


def to_html(graph, depth=None, colours: dict | None = None, opened: set | None = None, note: str = "") -> str:
    """The whole page: the model, the layout engine and the script, inline."""
    m = model(graph, depth, colours, opened)
    if note:
        m["title"] += " · " + note
    data = json.dumps(m, separators=(",", ":")).replace("</", "<\\/")
    viz = _read(VIZ).replace("</script", "<\\/script")
    app = _read(APP)
    name = html.escape(graph.name)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name} · cnndsl</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
html, body {{ margin: 0; height: 100%; font: 13px Helvetica, Arial, sans-serif; color: #222; }}
#cnndsl-bar {{ display: flex; gap: 8px; align-items: center; padding: 6px 10px; border-bottom: 1px solid #ddd;
  background: #fafafa; }}
#cnndsl-bar b {{ margin-right: auto; }}
#cnndsl-view {{ position: absolute; top: 38px; bottom: 0; left: 0; right: 0; overflow: hidden; cursor: grab; }}
#cnndsl-canvas {{ transform-origin: 0 0; }}
#cnndsl-tip {{ position: fixed; display: none; max-width: 560px; background: #fffef6; border: 1px solid #b9a76a;
  padding: 6px 8px; font-size: 12px; pointer-events: none; white-space: pre-wrap; box-shadow: 0 2px 6px #0002; }}
#cnndsl-tip code {{ font: 11px Menlo, Consolas, monospace; background: #f3f1e6; }}
g.node, g.cluster {{ cursor: pointer; }}
g.node.hit polygon, g.node.hit path {{ stroke: #e0115f; stroke-width: 3px; }}
</style></head>
<body>
<div id="cnndsl-bar"><b id="cnndsl-title"></b>
<input id="cnndsl-search" type="search" placeholder="find a layer" size="24">
<span id="cnndsl-found"></span>
<button id="cnndsl-collapse" type="button">collapse all</button>
<button id="cnndsl-expand" type="button">expand all</button>
<button id="cnndsl-fit" type="button">fit</button></div>
<div id="cnndsl-view"><div id="cnndsl-canvas"></div></div>
<div id="cnndsl-tip"></div>
<script type="application/json" id="cnndsl-model">{data}</script>
<script>{viz}</script>
<script>{app}</script>
</body></html>
"""


def repr_html(graph) -> str:
    """Jupyter: the page in an iframe (its script and styles stay its own)."""
    from .dot import auto_depth
    page = to_html(graph, auto_depth(graph))
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width: 100%; height: 640px; '
            f'border: 1px solid #ddd" sandbox="allow-scripts"></iframe>')
