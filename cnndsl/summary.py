"""``cnndsl summary``: a per-layer table of shapes, params and MACs, without Keras.

The table has one row per layer (name, op, output shape, params, MACs) and one
row per block call or repeat, carrying that block's subtotals and indented by
its nesting depth. ``depth=N`` folds everything nested deeper than N into its
block's row. The totals give total, trainable and non-trainable params, MACs,
and the activation memory of one sample at float32.

MAC convention (multiply-accumulates for one sample, as the op registry
computes ``Node.macs``; this module only sums them):

- conv: k_h·k_w·C_in·C_out·H_out·W_out / groups; dwconv: k_h·k_w·C_out·H_out·W_out;
  sepconv: its depthwise plus its pointwise part.
- dense: in·out (times any leading non-batch dims).
- batch norm, activations, pooling, merges (add, concat, multiply) and
  shape ops count 0; biases are not counted.
With this convention ResNet-50 at 224×224 is 3.86 GMACs as Keras builds it
(v1: the stride on the first 1×1 conv), the paper's "3.8 billion FLOPs"
(He et al. 2015, Table 1, which counts multiply-adds), and 4.09 GMACs as
torchvision builds it (v1.5: the stride on the 3×3), the "4.1 GFLOPs" often quoted.

Activation memory is the sum of every layer's output (the input excluded),
4 bytes per value, batch 1: what a forward pass holds if nothing is freed.

The grouping of nodes into blocks is ``structure``'s, shared with the diagram
backend and the Python emitter, so the table and the picture fold alike.
"""
from __future__ import annotations

import math

from .errors import CnnError
from .ir import call_text
from .ops import REGISTRY, fmt_shape
from .ops.schema import human  # noqa: F401  (summary.human: dot.py and cli import it from here)
from .structure import Group, build_tree, ports, users


def folded(group: Group, depth) -> bool:
    """Whether ``group`` shows as one row/box at ``depth``: it is a level (``structure.levels``) deeper
    than ``depth``, or a repeat whose iterations are all blocks that would be folded (one
    ``×8 middle_block()`` box reads better than eight identical ones). A group that is no level of its
    own (a one-call wrapper, a repeat of unlike iterations) is never folded: its content is."""
    if depth is None or not group.counts:
        return False
    return group.level > depth or (group.scope.kind == "repeat" and group.level == depth
                                   and all(isinstance(x, Group) for x in group.items))


def title(group: Group) -> str:
    """``inception(64, 96, 128, 16, 32, 32)`` for a block; ``×35 bottleneck(256, …)`` for a repeat."""
    scope = group.scope
    if scope.kind != "repeat":
        return scope.display
    count = scope.count
    items = group.items
    per = len(items) // count if count and len(items) % count == 0 else len(items)
    first = items[:per]
    if len(first) == 1 and isinstance(first[0], Group):
        if first[0].scope.kind == "repeat":
            return f"{scope.label} {title(first[0])}"
        if all(isinstance(x, Group) and _block_name(x) == _block_name(first[0]) for x in items):
            return f"{scope.label} {_common_call([x.scope for x in items])}"
    names = [(_block_name(x) if isinstance(x, Group) else x.op) for x in first]
    body = " → ".join(names[:3]) + (" → …" if len(names) > 3 else "")
    return f"{scope.label} {body}".rstrip()


def _common_call(scopes: list) -> str:
    """``bottleneck(256, conv_shortcut=false, …)``: the arguments all the calls share, ``…`` for the rest."""
    name = _public(scopes[0])
    calls = [s.arg_texts for s in scopes]
    if any(len(c) != len(calls[0]) for c in calls):
        return f"{name}(…)"
    shown = []
    for column in zip(*calls):
        arg = column[0] if len(set(column)) == 1 else "…"
        if arg != "…" or shown[-1:] != ["…"]:
            shown.append(arg)
    return f"{name}({call_text(shown)})"


def _public(scope) -> str:
    return scope.display.split("(", 1)[0] if scope.kind == "block" else scope.label


def _block_name(group: Group) -> str:
    return _public(group.scope)


def check_depth(depth) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise CnnError("usage", f"--depth must be a whole number 0 or more, got {depth}")


def _rows(group: Group, depth, readers, graph, out: list) -> None:
    for item in group.items:
        if isinstance(item, Group):
            _, outs = ports(item, readers, graph)
            shape = ", ".join(fmt_shape(n.shape) for n in outs)
            out.append((item.nest - 1, title(item), "", shape, item.params, item.macs))
            if not folded(item, depth):
                _rows(item, depth, readers, graph, out)
        else:
            op = REGISTRY[item.op].label(item.args)
            out.append((group.nest, item.name, op, fmt_shape(item.shape), item.params, item.macs))


def _macs(m) -> str:
    return "?" if m is None else f"{m:,}"


def summary_table(graph, depth=None, convention: str = "cnndsl", unit: str = "macs") -> str:
    """The whole summary as text: header, table and totals (the count by ``convention`` too, when
    that isn't cnndsl's MACs)."""
    check_depth(depth)
    rows = []
    _rows(build_tree(graph), depth, users(graph), graph, rows)
    head = ("name", "op", "output shape", "params", "MACs")
    cells = [(("  " * ind) + name, op, shape, f"{p:,}", _macs(m)) for ind, name, op, shape, p, m in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(head)]

    def line(c):
        return (f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:<{widths[2]}}  "
                f"{c[3]:>{widths[3]}}  {c[4]:>{widths[4]}}").rstrip()

    rule = "─" * len(line(head))
    ins = ", ".join(f"{k} {fmt_shape(n.shape)}" for k, n in graph.inputs.items())
    outs = ", ".join(f"{k} {fmt_shape(n.shape)}" for k, n in graph.outputs.items())
    sizes = [math.prod(n.shape[1:]) if None not in n.shape[1:] else None
             for n in graph.nodes if n.op not in ("input", "take")]   # a split's parts are its output
    memory = "? (a dimension is unknown)" if None in sizes else f"{_bytes(4 * sum(sizes))} (batch 1, float32, all layer outputs)"
    macs = graph.macs
    total = [
        f"Total params:         {graph.total_params:,} ({_bytes(4 * graph.total_params)} at float32)",
        f"Trainable params:     {graph.trainable:,}",
        f"Non-trainable params: {graph.non_trainable:,}",
        "MACs:                 " + ("? (H or W unknown)" if macs is None else
                                    f"{macs:,}{f' ({human(macs)})' if macs >= 1000 else ''} per sample"),
        f"Activation memory:    {memory}",
        *_convention_line(graph, convention, unit),
        "MACs count conv as k_h·k_w·C_in·C_out·H_out·W_out/groups and dense as in·out; "
        "BN, activations, pools and merges count 0."
        + (" matmul and attention count their multiply-accumulates (see the op table)."
           if any(n.op in ("matmul", "attention") for n in graph.nodes) else ""),
    ]
    return "\n".join([f"{graph.name}: {ins} -> {outs}", rule, line(head), rule, *map(line, cells), rule, *total])


def _convention_line(graph, convention: str, unit: str) -> list:
    if (convention, unit) == ("cnndsl", "macs"):
        return []
    from .counting import count, unit_label, why_unknown
    n = count(graph, convention, unit)
    label = f"{unit_label(convention, unit)}:".ljust(22)
    return [label + (f"? ({why_unknown(graph, convention)})" if n is None else
                     f"{n:,}{f' ({human(n)})' if n >= 1000 else ''} per sample")]


def _bytes(nbytes: int) -> str:
    """``230.48 MiB``, ``12.5 KiB``, ``96 B``: binary units."""
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if nbytes >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} B"
