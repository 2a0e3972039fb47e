"""The block structure of an IR graph, computed once for every consumer: summary, diagrams, emitters.

- ``users(graph)``: node name -> the nodes that read it.
- ``build_tree(graph, kinds)``: the nodes nested into ``Group``s following each node's scope chain
  (block calls and repeats, or only the kinds asked for: the Python emitter sees through repeats).
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
    level: int                                   # 0 for the root, 1 for a top-level group, ...
    items: list = field(default_factory=list)    # Nodes and Groups, in graph order
    nodes: list = field(default_factory=list)    # every Node inside, at any depth

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
                group = groups[scope.id] = Group(scope, parent.level + 1)
                parent.items.append(group)
            group.nodes.append(node)
            parent = group
        parent.items.append(node)
    return root


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
