"""Merges: concat and stack (along an axis), add and multiply, subtract, divide, maximum, minimum,
average and weighted_add (elementwise, broadcasting), scaled_add, and matmul."""
from __future__ import annotations

from ..errors import CnnError
from .schema import Arg, Op, fmt_shape, prod


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


def broadcast(name, ins):
    """NumPy's broadcasting of the inputs' shapes, the batch axis apart, as Keras's merge layers check it.

    Feature axes are aligned from the right; sizes must be equal or 1. An unknown size meeting
    anything but an equal known one gives an unknown size (Keras's rule: it may be 1 or not)."""
    feats = [s[1:] for s in ins]
    rank = max(len(f) for f in feats)
    out = []
    for i in range(1, rank + 1):
        dims = [f[-i] for f in feats if len(f) >= i]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            j = next(k for k, f in enumerate(feats) if len(f) >= i and f[-i] is not None and f[-i] != 1
                     and f[-i] != next(d for d in dims if d is not None and d != 1))
            raise CnnError("shape", f"{name}: shapes do not broadcast: {fmt_shape(ins[0])} (branch 1) vs "
                                    f"{fmt_shape(ins[j])} (branch {j + 1}); sizes must be equal or 1, aligned "
                                    "from the last axis")
        out.append(None if None in dims else known.pop() if known else 1)
    batch = {s[0] for s in ins} - {None}
    if len(batch) > 1:
        raise CnnError("shape", f"{name}: batch sizes differ: {', '.join(map(str, sorted(batch)))}")
    return (batch.pop() if batch else None, *reversed(out))


def _elementwise(name, doc, exactly=None):
    def shape(ins, a):
        if exactly is not None and len(ins) != exactly:
            raise CnnError("shape", f"{name} takes exactly {exactly} tensors, got {len(ins)}")
        return broadcast(name, ins)
    return Op(name, family="merge", arity=None, args=(), shape=shape, label=lambda a: name,
              doc=doc + " Shapes broadcast as NumPy's (sizes equal or 1, aligned from the last axis); no weights, "
                        "0 MACs.")


def _stack_shape(ins, a):
    j = _first_mismatch(ins, lambda x, y: len(x) == len(y) and all(p is None or q is None or p == q
                                                                   for p, q in zip(x[1:], y[1:])))
    if j is not None:
        raise CnnError("shape", f"stack: shapes differ: {fmt_shape(ins[0])} (branch 1) vs {fmt_shape(ins[j])} "
                                f"(branch {j + 1}); stacked tensors have equal shapes")
    rank = len(ins[0]) + 1
    if not -rank <= a["axis"] < rank or a["axis"] % rank == 0:
        raise CnnError("shape", f"stack: axis {a['axis']} is not a feature axis of the stacked "
                                f"rank-{rank} result (the batch is axis 0)", arg="axis")
    dims = [next((s[i] for s in ins if s[i] is not None), None) for i in range(1, len(ins[0]))]
    batch = next((s[0] for s in ins if s[0] is not None), None)
    axis = a["axis"] % rank
    return (batch, *dims[:axis - 1], len(ins), *dims[axis - 1:])


def _matmul_shape(ins, a):
    if len(ins) != 2:
        raise CnnError("shape", f"matmul multiplies exactly 2 tensors, got {len(ins)}")
    x, y = ins
    if len(x) < 3 or len(y) < 3:
        raise CnnError("shape", f"matmul needs matrices after the batch axis: {fmt_shape(x)} and {fmt_shape(y)}")
    n, k = x[-2:]
    k2, m = (y[-1], y[-2]) if a["transpose_b"] else y[-2:]
    if k is not None and k2 is not None and k != k2:
        what = "last" if a["transpose_b"] else "second-to-last"
        raise CnnError("shape", f"matmul: inner sizes differ: {fmt_shape(x)} has {k} columns, the {what} axis of "
                                f"{fmt_shape(y)} has {k2}")
    lead = broadcast("matmul", [x[:-2], y[:-2]])
    return (*lead, n, m)


def _matmul_macs(ins, a, out):
    k = ins[0][-1]
    return prod((*out[1:], k))


def _weighted_add_shape(ins, a):
    return _broadcast("weighted_add", ins, False)


OPS += [
    _elementwise("subtract", "Subtract: a - b.", exactly=2),
    _elementwise("divide", "a / b (cnndsl's Divide layer; Keras has no divide layer).", exactly=2),
    _elementwise("maximum", "Maximum: the elementwise largest input."),
    _elementwise("minimum", "Minimum: the elementwise smallest input."),
    _elementwise("average", "Average: the elementwise mean of the inputs."),
    Op("stack", family="merge", arity=None, args=(Arg("axis", "int", -1),), shape=_stack_shape,
       label=lambda a: "stack" if a["axis"] == -1 else f"stack axis {a['axis']}",
       doc="Stacks equal shapes along a new `axis` (of the result; -1: a new last axis), as keras.ops.stack "
           "(cnndsl's Stack layer)."),
    Op("matmul", family="merge", arity=None, args=(Arg("transpose_b", "bool", False),), shape=_matmul_shape,
       macs=_matmul_macs, label=lambda a: "matmul" + (" bᵀ" if a["transpose_b"] else ""),
       doc="a @ b (b's last two axes swapped with transpose_b=true) over the last two axes; the others "
           "broadcast (cnndsl's MatMul layer). MACs: one per multiply-accumulate, n·k·m per matrix product."),
    Op("weighted_add", family="merge", arity=None,
       args=(Arg("normalize", "choice", "fast", ("fast", "softmax", "none")),), shape=_weighted_add_shape,
       params=lambda ins, a, out: (len(ins), 0), label=lambda a: f"weighted add {a['normalize']}",
       doc="Σ w_i·x_i of equal shapes with one learned weight per input (initialised to 1), EfficientDet's "
           "BiFPN fusion: normalize=fast is w_i = relu(w_i) / (Σ relu(w) + 1e-4), softmax is softmax(w), none "
           "is relu(w_i) (cnndsl's WeightedAdd layer). 0 MACs, as the other merges."),
]
