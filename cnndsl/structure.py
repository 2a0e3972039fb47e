"""The block structure of an IR graph, computed once for every consumer: summary, diagrams, emitters.

- ``users(graph)``: node name -> the nodes that read it.
- ``build_tree(graph, kinds)``: the nodes nested into ``Group``s following each node's scope chain
  (block calls and repeats, or only the kinds asked for: the Python emitter sees through repeats),
  each with the level a reader sees it at (``--depth`` counts those): a group that adds no structure
  is no level of its own (``Group.counts``).
- ``ports(group, users, graph)``: a group's inputs (nodes outside it that it reads) and outputs
  (nodes inside it read from outside, or network outputs).

Scopes are structured (``ir.Scope``: the block's qualified name and arguments, a repeat's count and
index variable), so nothing here parses a display label.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class Group:
    """A block call or repeat (or the whole network when ``scope`` is None) and what is inside it."""

    scope: object                                # ir.Scope, or None for the root
    nest: int                                    # 0 for the root, 1 for a top-level group, ... (as nested)
    items: list = field(default_factory=list)    # Nodes and Groups, in graph order
    nodes: list = field(default_factory=list)    # every Node inside, at any depth
    level: int = 0                               # the level a reader sees (what --depth counts): see levels()
    counts: bool = True                          # whether this group is a level of its own

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def macs(self):
        return None if any(n.macs is None for n in self.nodes) else sum(n.macs for n in self.nodes)


def build_tree(graph, kinds=("block", "repeat", "sequential"), inline_shared=False) -> Group:
    """Nest the graph's nodes into Groups following each node's scope chain (scopes of ``kinds`` only).
    ``inline_shared``: a shared block's applications, and everything in them, are not groups (their
    nodes sit in the group that applies them)."""
    root = Group(None, 0)
    groups = {}
    for node in graph.nodes:
        parent = root
        parent.nodes.append(node)
        chain = node.scope
        if inline_shared:
            cut = next((k for k, s in enumerate(chain) if s.shared), len(chain))
            chain = chain[:cut]
        for scope in (s for s in chain if s.kind in kinds):
            group = groups.get(scope.id)
            if group is None:
                group = groups[scope.id] = Group(scope, parent.nest + 1)
                parent.items.append(group)
            group.nodes.append(node)
            parent = group
        parent.items.append(node)
    levels(root)
    return root


def levels(root: Group) -> None:
    """Number the levels a reader sees: a group counts as one only if it adds structure. It doesn't if
    it is a one-call wrapper (a block or ``sequential`` whose body is one block call or sequential, or
    the call that is a network's whole body, its inputs aside): its call is the level. Nor does a
    repeat whose iterations differ (ConvNeXt's `repeat 4` of a stem or a downsampling and a stage):
    its iterations are. A group that doesn't count is drawn around its content, never folded."""
    def walk(group, level):
        for item in group.items:
            if isinstance(item, Group):
                item.counts = _adds_structure(item, group)
                item.level = level + 1 if item.counts else level
                walk(item, item.level)
    walk(root, 0)


def _is_call(item) -> bool:
    return isinstance(item, Group) and item.scope.kind in ("block", "sequential")


def _adds_structure(group: Group, parent: Group) -> bool:
    if group.scope.kind == "repeat":
        return _alike(group)
    if len(group.items) == 1 and _is_call(group.items[0]):
        return False
    if parent.scope is None:
        rest = [x for x in parent.items if x is not group]
        return not all(not isinstance(x, Group) and x.op == "input" for x in rest)
    return True


def _alike(repeat: Group) -> bool:
    """Whether a repeat's iterations are the same thing (so it reads as ×N of it)."""
    count, items = repeat.scope.count, repeat.items
    if not count or len(items) % count:
        return not count
    per = len(items) // count

    def sign(x):
        if not isinstance(x, Group):
            return x.op
        if x.scope.kind == "block":
            return ("block", x.scope.block)
        return (x.scope.kind, tuple(sign(y) for y in x.items))

    runs = [tuple(sign(x) for x in items[k:k + per]) for k in range(0, len(items), per)]
    return all(r == runs[0] for r in runs)


def groups(root: Group):
    """Every Group under ``root`` (itself excluded), parents before children."""
    for item in root.items:
        if isinstance(item, Group):
            yield item
            yield from groups(item)


def users(graph) -> dict:
    """Node name -> the nodes that read it."""
    out = {n.name: [] for n in graph.nodes}
    for n in graph.nodes:
        for i in n.inputs:
            out[i.name].append(n)
    return out


def ports(group: Group, readers: dict, graph) -> tuple[list, list]:
    """The nodes outside ``group`` that it reads, and the nodes inside it read from outside."""
    inside = {n.name for n in group.nodes}
    ins, outs = {}, {}
    outputs = {n.name for n in graph.outputs.values()}
    for n in group.nodes:
        for i in n.inputs:
            if i.name not in inside:
                ins.setdefault(i.name, i)
        if n.name in outputs or any(r.name not in inside for r in readers[n.name]):
            outs.setdefault(n.name, n)
    return list(ins.values()), list(outs.values())
