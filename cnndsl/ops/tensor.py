"""Channel and spatial rearrangements: split (several outputs), slice, permute, channel_shuffle, resize.

``split`` is the one op with several outputs. Lowering makes one ``split`` node (its shape is its
input's: the bundle before it is cut) and one internal ``take`` node per part, so every tensor of
the IR is still one node with one shape; a backend builds ``split`` as one layer with a list of
outputs and ``take`` as indexing into that list (no layer).
"""
from __future__ import annotations

from ..errors import CnnError
from .schema import Arg, Op, describe, fmt_shape


def _axis(shape, axis, op):
    rank = len(shape)
    if not -rank <= axis < rank or axis % rank == 0:
        raise CnnError("shape", f"{op}: axis {axis} is not a feature axis of {fmt_shape(shape)}")
    return axis % rank


def split_sizes(shape, a) -> tuple:
    """The parts' sizes along ``axis``: ``split(2)`` halves it, ``split([16, 48])`` gives those sizes."""
    ax = _axis(shape, a["axis"], "split")
    n = shape[ax]
    parts = a["parts"]
    if isinstance(parts, int):
        if parts < 2:
            raise CnnError("type", f"split: needs at least 2 parts, got {parts}", arg="parts")
        if n is None:
            raise CnnError("shape", f"split: axis {a['axis']} of {fmt_shape(shape)} has an unknown size")
        if n % parts:
            raise CnnError("shape", f"split: {n} can't be cut into {parts} equal parts")
        return (n // parts,) * parts
    if len(parts) < 2 or min(parts) < 1:
        raise CnnError("type", f"split: sizes must be at least 2 positive integers, got {describe(list(parts))}",
                       arg="parts")
    if n is not None and sum(parts) != n:
        raise CnnError("shape", f"split: sizes {describe(list(parts))} add up to {sum(parts)}, not {n}")
    return tuple(parts)


def _take_shape(ins, a):
    shape = list(ins[0])
    shape[a["axis"] % len(shape)] = a["sizes"][a["index"]]
    return tuple(shape)


def _slice_shape(ins, a):
    ax = _axis(ins[0], a["axis"], "slice")
    n = ins[0][ax]
    start, stop = a["start"], a["stop"]
    if n is None and (start < 0 or stop is None or stop < 0):
        raise CnnError("shape", f"slice: axis {a['axis']} of {fmt_shape(ins[0])} has an unknown size, so "
                                "negative or open bounds have no meaning")
    lo, hi, _ = slice(start, stop).indices(n if n is not None else max(start, stop))
    if hi <= lo:
        raise CnnError("shape", f"slice: [{start}:{'' if stop is None else stop}] of {n} channels is empty")
    return tuple(hi - lo if i == ax else d for i, d in enumerate(ins[0]))


def _permute_shape(ins, a):
    dims = a["dims"]
    rank = len(ins[0]) - 1
    if sorted(dims) != list(range(1, rank + 1)):
        raise CnnError("shape", f"permute: {describe(list(dims))} is not an order of the axes 1..{rank} "
                                f"of {fmt_shape(ins[0])} (the batch stays first)", arg="dims")
    return (ins[0][0],) + tuple(ins[0][d] for d in dims)


def _shuffle_shape(ins, a):
    c = ins[0][-1]
    if c is not None and c % a["groups"]:
        raise CnnError("shape", f"channel_shuffle: groups={a['groups']} does not divide the {c} channels")
    return ins[0]


def _resize_shape(ins, a):
    n, _h, _w, c = ins[0]
    return (n, a["size"][0], a["size"][1], c)


OPS = [
    Op("split", family="shape", args=(Arg("parts", "parts"), Arg("axis", "int", -1)),
       shape=lambda ins, a: (split_sizes(ins[0], a), ins[0])[1],
       label=lambda a: f"split {a['parts']}" if isinstance(a["parts"], int) else f"split {describe(list(a['parts']))}",
       doc="Cuts the channels (or `axis`) into equal parts or given sizes; bind them: `a, b = split(2)`."),
    Op("take", family="shape", args=(Arg("index", "int"), Arg("sizes", "ints"), Arg("axis", "int", -1)),
       shape=_take_shape, internal=True, label=lambda a: f"part {a['index'] + 1}/{len(a['sizes'])}"),
    Op("slice", family="shape", args=(Arg("start", "int"), Arg("stop", "int", None), Arg("axis", "int", -1)),
       shape=_slice_shape, label=lambda a: f"slice [{a['start']}:{'' if a['stop'] is None else a['stop']}]",
       doc="Channels start..stop (Python's rule: stop excluded, negatives from the end) along `axis`."),
    Op("permute", family="shape", args=(Arg("dims", "ints"),), shape=_permute_shape,
       label=lambda a: "permute " + describe(list(a["dims"])),
       doc="Reorders the axes after the batch (1-based), as Keras's Permute."),
    Op("channel_shuffle", rank=4, family="shape", args=(Arg("groups", "int", low=1),), shape=_shuffle_shape,
       label=lambda a: f"channel shuffle ×{a['groups']}",
       doc="ShuffleNet's shuffle: channels seen as groups × C/groups, transposed to C/groups × groups."),
    Op("resize", rank=4, family="shape",
       args=(Arg("size", "hw"), Arg("interpolation", "choice", "bilinear",
                                    ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5"))),
       shape=_resize_shape, label=lambda a: f"resize {a['size'][0]}×{a['size'][1]}",
       doc="Resizes H×W to `size`: `[h, w]`, or a tensor (`resize(size=skip)`) whose H×W it takes."),
]
