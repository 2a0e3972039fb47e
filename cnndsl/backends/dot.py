"""Graphviz diagrams of a network: ``cnndsl draw`` and the notebook display.

The picture follows the source, not the layer list:

- every block call is a cluster labelled with the call as written and its
  params; every ``repeat`` a dashed cluster labelled ×N;
- ``depth=N`` keeps N levels of clusters and folds anything nested deeper
  into one box: the call, in→out shapes, params and MACs. Levels are those a
  reader sees (``structure.levels``): a one-call wrapper block or a repeat of
  unlike iterations is drawn around its content but is no level of its own. A repeat whose
  iterations would all be folded boxes is one box, ``×35 bottleneck(256, …)``;
- a layer box shows the op and its key hyperparameters (``conv 3×3 /2 · 64``),
  coloured by op family, with the BN, activation and dropout layers that
  directly follow it in the same block (``· bn · relu``): every layer is
  still drawn, at half the height. A block that is a single such box is that
  box, captioned with the call;
- every edge carries its tensor's shape;
- a shared op or block (``shared enc = encoder(64)``) is drawn at each application, in magenta:
  a block's clusters are labelled ``shared enc = encoder(64) · 2/3`` (its weights counted at the
  first), an op's boxes ``shared head 2/3``, and a dashed magenta line joins each later
  application to the first, so a reader sees which boxes are one set of weights.

The DOT text is byte-deterministic: box ids are layer names (folded blocks
are ``scope/<scope id>``, which no layer name can be: names never hold
``/``), and everything is emitted in graph order. ``splines=ortho`` is never
used: it crashes Graphviz 2.43. PNGs are drawn at 144 dpi, or less when the
diagram would pass 32,000 px (a size past which Graphviz shrinks silently);
below 72 dpi a warning says so and suggests SVG, PDF or ``--depth``.
"""
from __future__ import annotations

import html
import os
import re
import sys

import graphviz

from ..errors import CnnError
from ..files import write_atomic
from ..ops import REGISTRY
from ..structure import Group, build_tree, ports, users
from ..summary import check_depth, folded, human, title

FONT = "Helvetica"
# family -> (fill, border)
COLOURS = {
    "conv": ("#d6e6f7", "#3f6fa8"),
    "pool": ("#fde3bf", "#c77c1e"),
    "norm": ("#dcefd4", "#5b8f4a"),
    "act": ("#f2f2f2", "#8c8c8c"),
    "merge": ("#e6d6f0", "#7b4a9a"),
    "attention": ("#fbdcec", "#a8326e"),
    "math": ("#e3f3f1", "#3c8c84"),
    "dense": ("#f7d4d2", "#b0453f"),
    "shape": ("#ffffff", "#4f5b66"),
    "io": ("#fff4c2", "#9a7b12"),
}
FOLDED = ("#fbf7ea", "#8a6d1f")
SHARED = ("#fbeef6", "#b0307a")           # a shared op or block: its boxes' border, clusters and links
MINOR = {"norm", "act", "shape", "math"}          # drawn smaller: they rarely carry the story
MISSING_DOT = ("Graphviz's `dot` program is needed for this format and was not found; install it "
               "(apt-get install graphviz / brew install graphviz) or write a .dot file")
FORMATS = ("dot", "svg", "png", "pdf")
PNG_DPI, PNG_MAX_PX, PNG_MAX_PIXELS, LEGIBLE_DPI = 144, 32000, 120_000_000, 72
AUTO_BOXES = 100                          # notebook display: deepest depth with at most this many boxes


def dims(shape) -> str:
    """``56×56×256``: a shape without its batch axis, ``?`` where unknown."""
    return "×".join("?" if d is None else str(d) for d in shape[1:]) or "scalar"


def _html(*lines) -> str:
    """An HTML-like label; each line is a list of (text, point size, colour, bold) runs."""
    out = []
    for line in lines:
        runs = []
        for text, size, colour, bold in line:
            t = html.escape(text, quote=False)
            runs.append(f'<FONT POINT-SIZE="{size}" COLOR="{colour}">{f"<B>{t}</B>" if bold else t}</FONT>')
        out.append("".join(runs))
    return "<" + "<BR/>".join(out) + ">"


def _derived(node) -> bool:
    """Whether the layer's own name is the generated ``conv_3`` kind (not worth printing)."""
    return re.fullmatch(rf"{re.escape(node.op)}_\d+", node.name.rsplit(".", 1)[-1]) is not None


class _Drawer:
    """Builds one diagram: which box shows each layer (``rep``), the boxes, clusters and edges."""

    def __init__(self, graph, depth, show_shapes, show_params):
        self.graph, self.depth = graph, depth
        self.show_shapes, self.show_params = show_shapes, show_params
        self.readers = users(graph)
        self.outputs = {n.name: k for k, n in graph.outputs.items()}
        self.rep = {}                           # layer name -> id of the box that shows it
        self.runs = self.fuse()
        # Shared layers: how many times each first application's layer (or block scope) is applied.
        self.uses = {}
        for n in graph.nodes:
            if n.shares is not None and not any(sc.shared for sc in n.scope):
                self.uses[n.shares.name] = self.uses.get(n.shares.name, 1) + 1
        for sc in {sc.id: sc for n in graph.nodes for sc in n.scope if sc.shared}.values():
            self.uses[sc.shared] = max(self.uses.get(sc.shared, 1), sc.application)

    def fuse(self) -> dict:
        """Head layer name -> the run of layers one box shows: the head, then the BN, activation and
        dropout layers that follow it in a plain chain (same block, same shape, nothing else reads
        in between). ``conv → bn → relu`` becomes one box ``conv 3×3 · 64 · bn · relu``."""
        runs, head = {}, {}
        for n in self.graph.nodes:
            p = n.inputs[0] if len(n.inputs) == 1 else None
            joins = (p is not None and p.op != "input" and p.name not in self.outputs
                     and len(self.readers[p.name]) == 1 and n.shape == p.shape
                     and [s.id for s in n.scope] == [s.id for s in p.scope]
                     and (REGISTRY[n.op].family in ("norm", "act") or n.op == "dropout"))
            head[n.name] = head[p.name] if joins else n.name
            runs.setdefault(head[n.name], []).append(n)
        return runs

    def emit(self, parent, group: Group) -> None:
        for item in group.items:
            if not isinstance(item, Group):
                if item.name in self.runs:
                    self.layer(parent, self.runs[item.name])
            elif self.is_folded(item):
                self.fold(parent, item)
            elif self.single(item):
                self.layer(parent, self.runs[item.items[0].name], caption=item.scope.display)
            else:
                self.cluster(parent, item)

    def is_folded(self, group: Group) -> bool:
        return folded(group, self.depth)

    def colours(self, run: list) -> tuple:
        """A box's (fill, border): its head layer's family colours."""
        return COLOURS[REGISTRY[run[0].op].family]

    def single(self, group: Group) -> bool:
        """Whether the whole group is one box (``conv_bn`` = conv → bn): drawn as that box, captioned
        with the call, rather than as a cluster around a single box."""
        first = group.items[0]
        return not isinstance(first, Group) and len(self.runs.get(first.name, ())) == len(group.items) \
            and all(not isinstance(x, Group) for x in group.items)

    def shared_label(self, scope) -> str:
        """``shared enc = encoder(64) · 2/3``: a shared block's application, or its plain label."""
        if not scope.shared:
            return scope.display
        return f"{scope.display} · {scope.application}/{self.uses.get(scope.shared, 1)}"

    def cluster(self, parent, group: Group) -> None:
        repeat, shared = group.scope.kind == "repeat", bool(group.scope.shared)
        text = self.shared_label(group.scope)
        params = f"  ·  {human(group.params)} params" if self.show_params and not repeat else ""
        if shared and group.scope.application > 1:
            params = "  ·  its weights are the first's"
        with parent.subgraph(name="cluster/" + group.scope.id) as c:
            c.attr(label=_html([(text + params, 10, SHARED[1] if shared else "#333333", not repeat)]), labeljust="l",
                   style="dashed,rounded" if repeat else "rounded,filled",
                   color="#8c8c8c" if repeat else SHARED[1] if shared else "#b9b9b9",
                   fillcolor=SHARED[0] if shared else "#fafafa", penwidth="1.5" if shared else "1")
            self.emit(c, group)

    def fold(self, parent, group: Group) -> None:
        key = "scope/" + group.scope.id
        for n in group.nodes:
            self.rep[n.name] = key
        ins, outs = ports(group, self.readers, self.graph)
        flow = " + ".join(dims(n.shape) for n in ins) + " → " + ", ".join(dims(n.shape) for n in outs)
        if self.show_params:
            flow += f"  ·  {human(group.params)} params  ·  {human(group.macs)} MACs"
        fill, border = SHARED if group.scope.shared else FOLDED
        name = self.shared_label(group.scope) if group.scope.shared else title(group)
        parent.node(key, _html([(name, 11, "#222222", True)], [(flow, 9, "#444444", False)]),
                    shape="box", style="rounded,filled", fillcolor=fill, color=border,
                    penwidth="1.5", tooltip=f"{group.scope.id}: {len(group.nodes)} layers")

    def layer(self, parent, run: list, caption: str | None = None) -> None:
        head, last = run[0], run[-1]
        for n in run:
            self.rep[n.name] = head.name
        family = REGISTRY[head.op].family
        fill, border = self.colours(run)
        small = family in MINOR
        if head.op == "input":
            lines = [[(head.name, 11, "#222222", True)], [(dims(head.shape), 9, "#444444", False)]]
        else:
            main = [(REGISTRY[head.op].label(head.args), 9 if small else 11, "#222222", False)]
            main += [(" · " + REGISTRY[n.op].label(n.args), 9, "#555555", False) for n in run[1:]]
            sub = [] if _derived(head) or head.shares is not None else [head.name.rsplit(".", 1)[-1]]
            root = head.shares or head
            if root.name in self.uses and not any(sc.shared for sc in head.scope):
                k = 1 if head.shares is None else int(head.name.rsplit("@", 1)[1])
                sub = [f"shared {root.name} {k}/{self.uses[root.name]}"]
                border = SHARED[1]
            params = sum(n.params for n in run)
            if self.show_params and params:
                sub.append(f"{human(params)} params")
            if last.name in self.outputs:
                out = self.outputs[last.name]
                sub.append("output" if out == last.name else f"output {out}")
            lines = [main] + ([[(" · ".join(sub), 8, "#555555", False)]] if sub else [])
            if caption:
                lines.insert(0, [(caption, 9, "#333333", True)])
        tip = "\n".join(f"{n.name}: {dims(n.shape)}, {n.params:,} params, "
                         f"{'?' if n.macs is None else format(n.macs, ',')} MACs" for n in run)
        parent.node(head.name, _html(*lines), shape="box", style="rounded,filled", fillcolor=fill, color=border,
                    height="0.22" if small and len(lines) == 1 else "0.36",
                    margin="0.08,0.03" if small else "0.11,0.05",
                    penwidth="2" if last.name in self.outputs else "1", tooltip=tip)

    def edges(self, g) -> None:
        """One edge per tensor between two boxes, labelled with the tensor's shape unless a folded
        box at either end shows it."""
        seen = set()
        for node in self.graph.nodes:
            for src in node.inputs:
                a, b = self.rep[src.name], self.rep[node.name]
                key = (a, b, src.name)
                if a == b or key in seen:
                    continue
                seen.add(key)
                # A folded box already prints its in -> out shapes; a label beside it would only
                # repeat them (and every labelled edge doubles its rank's height).
                shown = self.show_shapes and not (a.startswith("scope/") or b.startswith("scope/"))
                g.edge(a, b, label=dims(src.shape) if shown else None)
        self.shared_links(g)

    def shared_links(self, g) -> None:
        """A dashed magenta line from a shared op's or block's first application to each later one
        (from the first layer of each application of a block); it does not move the layout."""
        seen = set()
        for node in self.graph.nodes:
            if node.shares is None:
                continue
            scope = next((sc for sc in node.scope if sc.shared), None)
            if scope is not None and scope.id in seen:
                continue                  # one line per application of a shared block
            if scope is not None:
                seen.add(scope.id)
            a, b = self.rep[node.shares.name], self.rep[node.name]
            if a != b and (a, b) not in seen:
                seen.add((a, b))
                g.edge(a, b, style="dashed", color=SHARED[1], dir="none", constraint="false", penwidth="1.2")

    def legend(self) -> str:
        """The graph's title line and a colour key of the families it uses (call after ``emit``)."""
        g = self.graph
        title_ = f"{g.name}  ·  {human(g.total_params)} params  ·  {human(g.macs)} MACs  ·  {g.layers} layers"
        used = [(f, COLOURS[f][1]) for f in COLOURS if f != "io" and any(REGISTRY[n.op].family == f for n in g.nodes)]
        if any(box.startswith("scope/") for box in self.rep.values()):
            used.append(("folded block", FOLDED[1]))
        if self.uses:
            used.append(("shared", SHARED[1]))
        key = "   ".join(f'<FONT COLOR="{colour}">■</FONT> {f}' for f, colour in used)
        key = f'<BR/><FONT POINT-SIZE="9">{key}</FONT>' if used else ""
        return f'<<FONT POINT-SIZE="12"><B>{html.escape(title_, quote=False)}</B></FONT>{key}>'


def to_dot(graph, depth=None, rankdir="TB", show_shapes=True, show_params=True) -> str:
    """The network as Graphviz DOT source (deterministic, needs no Graphviz binary)."""
    return _digraph(graph, depth, rankdir, show_shapes, show_params).source


def _digraph(graph, depth, rankdir, show_shapes, show_params) -> graphviz.Digraph:
    check_depth(depth)
    if rankdir not in ("TB", "LR"):
        raise CnnError("usage", f"--rankdir must be TB or LR, got {rankdir}")
    return _draw(_Drawer(graph, depth, show_shapes, show_params), graph, rankdir)


def _draw(d: "_Drawer", graph, rankdir: str) -> graphviz.Digraph:
    g = graphviz.Digraph(graph.name, graph_attr=dict(
        rankdir=rankdir, fontname=FONT, labelloc="t", labeljust="c",
        nodesep="0.3", ranksep="0.14", newrank="true", outputorder="edgesfirst"),
        node_attr=dict(fontname=FONT), edge_attr=dict(fontname=FONT, fontsize="8", fontcolor="#555555",
                                                      color="#6b6b6b", arrowsize="0.6"))
    d.emit(g, build_tree(graph))
    d.edges(g)
    g.graph_attr["label"] = d.legend()
    return g


def _pipe(g: graphviz.Digraph, fmt: str) -> bytes:
    try:
        return g.pipe(format=fmt, engine="dot", quiet=True)
    except graphviz.ExecutableNotFound:
        raise CnnError("tool", MISSING_DOT) from None
    except graphviz.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip().splitlines()
        raise CnnError("tool", f"Graphviz `dot` failed on this diagram: {err[-1] if err else e}") from None


def _png(g: graphviz.Digraph, path: str) -> bytes:
    """Render at the sharpest dpi that fits PNG limits; warn if text ends up too small to read."""
    plain = _pipe(g, "plain").decode().split(None, 4)
    width, height = float(plain[2]), float(plain[3])
    dpi = min(PNG_DPI, PNG_MAX_PX / max(width, height, 1e-3), (PNG_MAX_PIXELS / max(width * height, 1e-3)) ** 0.5)
    if dpi < LEGIBLE_DPI:
        print(f"warning: {path} is {width:.0f}×{height:.0f} in; a PNG that big is drawn at {dpi:.0f} dpi, so the text "
              f"is {dpi / LEGIBLE_DPI:.0%} of its normal size; use .svg or .pdf, or --depth, for a readable picture",
              file=sys.stderr)
    g.attr(dpi=f"{dpi:.1f}")
    return _pipe(g, "png")


def render(graph, fmt: str, path: str = "diagram", depth=None, rankdir="TB", show_shapes=True,
           show_params=True) -> bytes:
    """The diagram as the bytes of a ``fmt`` file (dot, svg, png or pdf)."""
    g = _digraph(graph, depth, rankdir, show_shapes, show_params)
    if fmt == "dot":
        return g.source.encode()
    if fmt == "png":
        return _png(g, path)
    return _pipe(g, fmt)


def write_diagram(graph, path: str, depth=None, rankdir="TB", show_shapes=True, show_params=True) -> None:
    """Write the diagram to ``path``; the extension picks the format. Atomic: no partial file on failure."""
    fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in FORMATS:
        raise CnnError("usage", f"can't tell the format of {path}: use a .svg, .png, .pdf or .dot file")
    data = render(graph, fmt, path, depth=depth, rankdir=rankdir, show_shapes=show_shapes, show_params=show_params)
    write_atomic(path, data)


def auto_depth(graph):
    """The deepest depth (None = full) whose diagram has at most ``AUTO_BOXES`` boxes."""
    deepest = max((len(n.scope) for n in graph.nodes), default=0)
    for depth in [None, *range(deepest - 1, 0, -1)]:
        d = _Drawer(graph, depth, True, True)
        d.emit(graphviz.Digraph(), build_tree(graph))
        if len(set(d.rep.values())) <= AUTO_BOXES:
            return depth
    return 0


def repr_svg(graph) -> str | None:
    """SVG for Jupyter's ``_repr_svg_``, at ``auto_depth``; None (text repr) if ``dot`` is missing."""
    try:
        return render(graph, "svg", depth=auto_depth(graph)).decode()
    except CnnError as e:
        if e.kind == "tool":
            return None
        raise


# --- cnndsl diff --format svg|dot -----------------------------------------------------------------------

ADDED, CHANGED = ("#c9efc4", "#2f8a3a"), ("#ffe0b2", "#d0761b")


class _DiffDrawer(_Drawer):
    """Network B of a diff: added layers green, changed or renamed ones orange, blocks with no change folded."""

    def __init__(self, d, show_shapes=True, show_params=True):
        self.diff = d
        self.added = set(d.added) | {n.name for n in d.b.nodes
                                      if any(c.kind == "added" and s.id == c.path for c in d.blocks for s in n.scope)}
        self.changed = d.touched - self.added
        super().__init__(d.b, None, show_shapes, show_params)

    def is_folded(self, group: Group) -> bool:
        return not any(n.name in self.added or n.name in self.changed for n in group.nodes)

    def colours(self, run: list) -> tuple:
        if any(n.name in self.added for n in run):
            return ADDED
        if any(n.name in self.changed for n in run):
            return CHANGED
        return super().colours(run)


def render_diff(d, fmt: str, path: str = "diff") -> bytes:
    """The diagram of a ``diff.Diff``: B, with the changes coloured and the unchanged blocks folded (svg,
    dot, or the interactive html page)."""
    drawer = _DiffDrawer(d)
    removed = len(d.removed) + sum(1 for c in d.blocks if c.kind == "removed")
    note = f"{d.a.name} → {d.b.name}: green added, orange changed" + (f", {removed} removed (see the text diff)"
                                                                        if removed else "")
    if fmt == "html":
        from .html import to_html
        colours = {n: ADDED for n in drawer.added} | {n: CHANGED for n in drawer.changed}
        opened = {s.id for n in d.b.nodes if n.name in drawer.added | drawer.changed for s in n.scope}
        return to_html(d.b, None, colours, opened, note).encode()
    g = _draw(drawer, d.b, "TB")
    g.graph_attr["label"] = g.graph_attr["label"][:-1] + f'<BR/><FONT POINT-SIZE="9">{html.escape(note)}</FONT>>'
    if fmt == "dot":
        return g.source.encode()
    return _pipe(g, fmt)
