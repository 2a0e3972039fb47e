"""The op registry: one ``Op`` entry per op, collected from the family modules.

Adding an op means adding one entry to one of ``conv``, ``core``, ``merge``, ``tensor``, ``math`` or
``learned``, and one builder to each backend's table.
"""
from __future__ import annotations

from . import conv, core, learned, math, merge, tensor
from .schema import REQUIRED, Arg, Op, Shape, bind_args, describe, fmt_shape

REGISTRY: dict[str, Op] = {op.name: op for op in (*conv.OPS, *core.OPS, *merge.OPS, *tensor.OPS, *math.OPS,
                                                   *learned.OPS)}

__all__ = ["REGISTRY", "REQUIRED", "Arg", "Op", "Shape", "bind_args", "describe", "fmt_shape"]
