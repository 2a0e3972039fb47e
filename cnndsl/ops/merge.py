"""Merges: concat (along an axis), add and multiply (elementwise, broadcasting), scaled_add."""
from __future__ import annotations

from ..errors import CnnError
from .schema import Arg, Op, fmt_shape


def _dim(d):
    return "?" if d is None else str(d)


def _spatial(shape):
    return "×".join(_dim(d) for d in shape[1:-1]) or "-"


def _first_mismatch(ins, ok):
    """Indices (0, j) of the first input that disagrees with input 0, else None."""
    for j in range(1, len(ins)):
        if not ok(ins[0], ins[j]):
            return j
    return None


def _ranks(name, ins):
    j = _first_mismatch(ins, lambda a, b: len(a) == len(b))
    if j is not None:
        raise CnnError("shape", f"{name}: ranks differ: {fmt_shape(ins[0])} (branch 1) vs {fmt_shape(ins[j])} (branch {j + 1})")


def _concat_shape(ins, a):
    _ranks("concat", ins)
    rank = len(ins[0])
    if not -rank <= a["axis"] < rank:
        raise CnnError("shape", f"concat: axis {a['axis']} is out of range for rank-{rank} inputs {fmt_shape(ins[0])}")
    axis = a["axis"] % rank
    if axis == 0:
        raise CnnError("shape", "concat: can't join along the batch axis")
    for i in range(1, rank):
        if i == axis:
            continue
        j = _first_mismatch(ins, lambda x, y: x[i] is None or y[i] is None or x[i] == y[i])
        if j is not None:
            if axis == rank - 1 and 0 < i < rank - 1:
                raise CnnError(
                    "shape", f"concat: spatial sizes differ: {_spatial(ins[0])} (branch 1) vs {_spatial(ins[j])} (branch {j + 1})",
                    hint="give every branch the same total stride, with padding=same on strided convs and pools, "
                         "so their H×W agree")
            raise CnnError("shape", f"concat: axis {i} differs: {fmt_shape(ins[0])} (branch 1) vs {fmt_shape(ins[j])} (branch {j + 1})")
    total = 0
    for s in ins:
        if s[axis] is None:
            total = None
            break
        total += s[axis]
    return tuple(total if i == axis else next((s[i] for s in ins if s[i] is not None), None) for i in range(rank))


def _broadcast(name, ins, allow):
    """Keras's elementwise merge shape: equal dims, or 1 against n when ``allow``."""
    _ranks(name, ins)
    out = list(ins[0])
    for j, s in enumerate(ins[1:], start=1):
        for i, (x, y) in enumerate(zip(out, s)):
            if x is None or y is None:
                # An unknown size meets a known one. Equal sizes are required, or, when broadcasting,
                # one of them is 1: against n > 1 the result is n either way; against 1 it is unknown.
                known = x if y is None else y
                out[i] = None if known is None or (allow and known == 1) else known
            elif x == y:
                continue
            elif allow and (x == 1 or y == 1):
                out[i] = max(x, y)
            else:
                what = "channels" if i == len(out) - 1 else ("batch sizes" if i == 0 else "spatial sizes")
                hint = ("add a 1×1 conv on the narrower branch to match the channels" if what == "channels"
                        else "make the branches' strides agree" if what == "spatial sizes" else None)
                raise CnnError("shape", f"{name}: {what} differ: {fmt_shape(ins[0])} (branch 1) vs {fmt_shape(s)} (branch {j + 1})",
                               hint=hint)
    return tuple(out)


def _merge(name, allow_broadcast, doc, args=(), label=None):
    return Op(name, family="merge", arity=None, args=args, shape=lambda ins, a: _operator_shape(name, ins, a, allow_broadcast),
              label=label or (lambda a: name), doc=doc)


def _operator_shape(name, ins, a, allow_broadcast):
    if not a.get("layer", True) and len(ins) != 2:
        sign = "+" if name == "add" else "*"
        raise CnnError("shape", f"{name}(layer=false) is the operator x {sign} y on exactly 2 tensors, got {len(ins)}")
    return _broadcast(name, ins, allow_broadcast)


_LAYER = (Arg("layer", "bool", True),)


def _scaled_add_shape(ins, a):
    if len(ins) != 2:
        raise CnnError("shape", f"scaled_add adds exactly 2 tensors (a + scale·b), got {len(ins)}")
    return _broadcast("scaled_add", ins, False)


OPS = [
    Op("concat", family="merge", arity=None, args=(Arg("axis", "int", -1),), shape=_concat_shape,
       label=lambda a: "concat" if a["axis"] == -1 else f"concat axis {a['axis']}",
       doc="Concatenate along an axis (channels by default)."),
    _merge("add", False, "Elementwise sum of equal shapes. layer=false: the operator x + y on two tensors, no Add "
                         "layer (as ConvNeXt writes `inputs + x`).", _LAYER),
    _merge("multiply", True, "Elementwise product; (1, 1, C) broadcasts against (H, W, C), as SE needs. layer=false: "
                             "the operator x * y on two tensors, no Multiply layer.", _LAYER),
    Op("scaled_add", family="merge", arity=None, args=(Arg("scale", "float"),), shape=_scaled_add_shape,
       label=lambda a: f"add ×{a['scale']:g}",
       doc="a + scale·b, no weights (InceptionResNetV2's scaled residual, its CustomScaleLayer)."),
]
