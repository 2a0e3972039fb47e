"""Tensor math: elementwise unary functions (abs, square, sqrt, exp, log, power) and reductions
(reduce_mean, reduce_max, reduce_sum) over one or several feature axes. No weights, 0 MACs."""
from __future__ import annotations

from .core import _axes_of
from .schema import Arg, Op, describe


def _unary(name, doc, args=(), label=None):
    return Op(name, family="math", args=args, shape=lambda ins, a: ins[0], label=label or (lambda a: name),
              doc=doc + " (cnndsl's Elementwise layer, keras.ops.{}); no weights, 0 MACs.".format(name))


def _reduce_shape(name):
    def shape(ins, a):
        axes = set(_axes_of(ins[0], a["axis"], name))
        if a["keepdims"]:
            return tuple(1 if i in axes else d for i, d in enumerate(ins[0]))
        return tuple(d for i, d in enumerate(ins[0]) if i not in axes)
    return shape


def _reduce(name, what):
    return Op(name, family="math", args=(Arg("axis", "axes", -1), Arg("keepdims", "bool", False)),
              shape=_reduce_shape(name),
              label=lambda a: name.replace("_", " ") + ("" if a["axis"] == -1 else f" axis {describe(a['axis'])}")
                              + (" keepdims" if a["keepdims"] else ""),
              doc=f"The {what} over `axis` (the channels by default; an axis or a list, never the batch); "
                  "keepdims=true keeps them as size 1 (cnndsl's Reduce layer, keras.ops."
                  + {"reduce_mean": "mean", "reduce_max": "max", "reduce_sum": "sum"}[name] + "); 0 MACs.")


OPS = [
    _unary("abs", "The absolute value"),
    _unary("square", "x²"),
    _unary("sqrt", "√x"),
    _unary("exp", "eˣ"),
    _unary("log", "The natural logarithm"),
    _unary("power", "x to the power `p`", (Arg("p", "float"),), lambda a: f"power {a['p']:g}"),
    _reduce("reduce_mean", "mean"),
    _reduce("reduce_max", "maximum"),
    _reduce("reduce_sum", "sum"),
]
