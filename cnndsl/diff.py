"""``cnndsl diff``: what changed between two networks, per block path, without graph matching.

Layer names and block paths are stable in cnndsl (a derived name is the block path, ``stage_2-
residual_1-conv_2``), so two versions of a network are matched by name:

- a block path in both: its params, MACs and output shapes, where they changed;
- a block path in one only: added or removed (its params and MACs);
- a layer in one only: added or removed, unless a layer of the other is structurally the same
  (same op, arguments and shape, reading the same layers): then it was renamed.

Framework-free: it reads two IR graphs, whatever wrote them (specs, ``.keras`` files, two ``--set``
variants of one spec).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ops import fmt_shape
from .structure import Group, build_tree, groups, ports, users
from .summary import human


@dataclass
class BlockChange:
    path: str                  # the block's scope id, e.g. ``layer2-block_1``
    label: str                 # the call as written in the new version (or the old, when removed)
    kind: str                  # "changed", "added" or "removed"
    params: tuple = (0, 0)     # (before, after)
    macs: tuple = (0, 0)
    shapes: tuple = ((), ())   # output shapes (before, after)


@dataclass
class Diff:
    a: object                  # ir.Graph, the old version
    b: object                  # ir.Graph, the new version
    blocks: list = field(default_factory=list)     # BlockChange, in the new version's order
    added: list = field(default_factory=list)      # layer names only in b (not inside an added block)
    removed: list = field(default_factory=list)    # layer names only in a (not inside a removed block)
    renamed: list = field(default_factory=list)    # (old name, new name)
    changed: list = field(default_factory=list)    # (name, what changed) for layers in both

    @property
    def empty(self) -> bool:
        return not (self.blocks or self.added or self.removed or self.renamed or self.changed
                    or self.a.total_params != self.b.total_params or self.a.macs != self.b.macs)

    @property
    def touched(self) -> set:
        """The layer names of ``b`` that differ from ``a`` (for diagrams)."""
        names = set(self.added) | {new for _, new in self.renamed} | {n for n, _ in self.changed}
        return names


def _tree_index(graph):
    readers = users(graph)
    out = {}
    for g in groups(build_tree(graph)):
        _, outs = ports(g, readers, graph)
        out[g.scope.id] = (g, tuple(n.shape for n in outs))
    return out


def _signature(node, rename: dict):
    """What a layer is, apart from its name: op, arguments, shape and what it reads."""
    return (node.op, repr(sorted(node.args.items(), key=lambda kv: kv[0])), node.shape,
            tuple(rename.get(i.name, i.name) for i in node.inputs))


def compare(a, b) -> Diff:
    """The changes from graph ``a`` to graph ``b``."""
    d = Diff(a, b)
    ta, tb = _tree_index(a), _tree_index(b)
    for path, (gb, shapes_b) in tb.items():
        if path in ta:
            ga, shapes_a = ta[path]
            if (ga.params, ga.macs, shapes_a) != (gb.params, gb.macs, shapes_b):
                d.blocks.append(BlockChange(path, gb.scope.label, "changed", (ga.params, gb.params),
                                            (ga.macs, gb.macs), (shapes_a, shapes_b)))
        else:
            d.blocks.append(BlockChange(path, gb.scope.label, "added", (0, gb.params), (0, gb.macs), ((), shapes_b)))
    for path, (ga, shapes_a) in ta.items():
        if path not in tb:
            d.blocks.append(BlockChange(path, ga.scope.label, "removed", (ga.params, 0), (ga.macs, 0), (shapes_a, ())))
    d.blocks = [c for c in d.blocks if not _inside_reported(c, d.blocks)]

    na, nb = {n.name: n for n in a.nodes}, {n.name: n for n in b.nodes}
    only_a = [n for n in a.nodes if n.name not in nb]
    only_b = [n for n in b.nodes if n.name not in na]
    # renamed: an unmatched layer of b that is structurally an unmatched layer of a (inputs mapped so far)
    rename = {}
    by_sig = {}
    for n in only_a:
        by_sig.setdefault(_signature(n, {}), []).append(n)
    for n in only_b:
        candidates = by_sig.get(_signature(n, {v: k for k, v in rename.items()}))
        if candidates:
            old = candidates.pop(0)
            rename[old.name] = n.name
            d.renamed.append((old.name, n.name))
    renamed_old, renamed_new = set(rename), set(rename.values())
    gone = {c.path for c in d.blocks if c.kind == "removed"}
    new = {c.path for c in d.blocks if c.kind == "added"}
    d.removed = [n.name for n in only_a if n.name not in renamed_old and not _in_paths(n, gone)]
    d.added = [n.name for n in only_b if n.name not in renamed_new and not _in_paths(n, new)]
    for n in b.nodes:
        old = na.get(n.name)
        if old is None:
            continue
        what = []
        if old.op != n.op:
            what.append(f"op {old.op} → {n.op}")
        elif old.args != n.args:
            keys = [k for k in n.args if old.args.get(k) != n.args.get(k)]
            what.append(", ".join(f"{k} {_v(old.args.get(k))} → {_v(n.args.get(k))}" for k in keys))
        if old.shape != n.shape:
            what.append(f"shape {fmt_shape(old.shape)} → {fmt_shape(n.shape)}")
        if old.params != n.params:
            what.append(f"params {old.params:,} → {n.params:,}")
        if what:
            d.changed.append((n.name, "; ".join(what)))
    return d


def _v(value) -> str:
    from .ops.schema import describe
    return describe(value)


def _in_paths(node, paths: set) -> bool:
    return any(s.id in paths for s in node.scope)


def _inside_reported(change: BlockChange, changes: list) -> bool:
    """An added (removed) block inside another added (removed) block is reported with its parent."""
    if change.kind == "changed":
        return False
    return any(c is not change and c.kind == change.kind and change.path.startswith(c.path + "-") for c in changes)


def _delta(before, after) -> str:
    if before is None or after is None:
        return f"{human(before)} → {human(after)}"
    sign = "+" if after >= before else "-"
    return f"{before:,} → {after:,} ({sign}{abs(after - before):,})"


def _shapes(shapes) -> str:
    return ", ".join(fmt_shape(s) for s in shapes) or "—"


def format_diff(d: Diff) -> str:
    """The text ``cnndsl diff`` prints: one line per change, then the totals."""
    lines = [f"--- {d.a.name}", f"+++ {d.b.name}"]
    for c in d.blocks:
        if c.kind == "added":
            lines.append(f"+ block {c.path}: {c.label} · params {c.params[1]:,} · MACs {human(c.macs[1])} · out {_shapes(c.shapes[1])}")
        elif c.kind == "removed":
            lines.append(f"- block {c.path}: {c.label} · params {c.params[0]:,} · MACs {human(c.macs[0])} · out {_shapes(c.shapes[0])}")
        else:
            parts = []
            if c.params[0] != c.params[1]:
                parts.append(f"params {_delta(*c.params)}")
            if c.macs[0] != c.macs[1]:
                parts.append(f"MACs {_delta(*c.macs)}")
            if c.shapes[0] != c.shapes[1]:
                parts.append(f"out {_shapes(c.shapes[0])} → {_shapes(c.shapes[1])}")
            lines.append(f"~ block {c.path}: {c.label} · " + " · ".join(parts))
    lines += [f"+ layer {name}" for name in d.added]
    lines += [f"- layer {name}" for name in d.removed]
    lines += [f"r layer {old} → {new}" for old, new in d.renamed]
    lines += [f"~ layer {name}: {what}" for name, what in d.changed]
    if d.empty:
        lines.append("no differences")
    lines.append(f"params {_delta(d.a.total_params, d.b.total_params)} · trainable "
                 f"{_delta(d.a.trainable, d.b.trainable)} · MACs {_delta(d.a.macs, d.b.macs)} · "
                 f"layers {_delta(d.a.layers, d.b.layers)}")
    return "\n".join(lines)
