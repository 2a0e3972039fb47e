"""``expect`` statements: what a network promises to come to.

``expect params = 21_306_826`` (also ``trainable``, ``non_trainable`` and
``macs``), ``expect shape = [none, 10]`` for the sole output, and
``expect NAME.shape = [...]`` for a named output or tensor.
"""
from __future__ import annotations

from .errors import CnnError, did_you_mean
from .ir import Node
from .ops.schema import Symbol, describe
from .values import fmt_value

COUNTS = {
    "params": lambda g: g.total_params,
    "trainable": lambda g: g.trainable,
    "non_trainable": lambda g: g.non_trainable,
    "macs": lambda g: g.macs,
}


def check_value(s, want) -> None:
    """An ``expect``'s value has the type its target's figure has: a count is a whole number, a shape a
    list of sizes (none for unknown). Located at the value, when the statement is read."""
    if s.attr is None and s.target in COUNTS:
        if isinstance(want, bool) or not isinstance(want, int) or want < 0:
            got = f'the string "{want}"' if isinstance(want, str) and not isinstance(want, Symbol) else describe(want)
            raise CnnError("type", f"`expect {s.target}` needs a whole number, got {got}", s.value.span,
                           hint=f"expect {s.target} = 1_234_567")
    elif (s.attr is None and s.target == "shape") or s.attr == "shape":
        if not isinstance(want, list) or not all(d is None or (isinstance(d, int) and not isinstance(d, bool))
                                                 for d in want):
            raise CnnError("type", f"`expect {s.target}{'.' + s.attr if s.attr else ''}` needs a shape, a list of "
                                   f"sizes (none for unknown), got {describe(want)}", s.value.span,
                           hint="expect shape = [none, 10]")


def check_expects(graph, expects, names: dict) -> None:
    """Check each ``(Expect statement, expected value)`` against the finished graph."""
    for s, want in expects:
        if s.attr is None and s.target in COUNTS:
            got, what = COUNTS[s.target](graph), s.target
            ok = got == want
            shown_got, shown_want = _count(got), _count(want)
        elif (s.attr is None and s.target == "shape") or s.attr == "shape":
            node = _target(graph, s, names)
            what = "the output shape" if s.attr is None else f"`{s.target}`'s shape"
            got = list(node.shape)
            ok = got == want
            shown_got, shown_want = fmt_value(got), fmt_value(want)
        else:
            raise CnnError("name", f"can't expect `{s.target}{'.' + s.attr if s.attr else ''}`", s.span,
                           hint="expect params / trainable / non_trainable / macs / shape / NAME.shape = ...")
        if not ok:
            raise CnnError("contract", f"contract failed: {what} is {shown_got}, the spec expects {shown_want}", s.span)


def _target(graph, s, names) -> Node:
    if s.attr is None:
        if len(graph.outputs) != 1:
            raise CnnError("value", "`expect shape` needs a single output; name one: expect NAME.shape = ...", s.span)
        return next(iter(graph.outputs.values()))
    node = graph.outputs.get(s.target) or names.get(s.target)
    if not isinstance(node, Node):
        raise CnnError("name", f"`{s.target}` is not a tensor of the network", s.span,
                       hint=did_you_mean(s.target, list(graph.outputs) + [k for k, v in names.items() if isinstance(v, Node)]))
    return node


def _count(v) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else fmt_value(v)
