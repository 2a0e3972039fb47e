"""What an op is: its argument schema and rules, and the shared arithmetic.

An ``Op`` is one registry entry. Its argument schema is validated by one
generic function (``bind_args``), never per op. Shape, parameter and MAC rules
are pure functions of the input shapes and the bound arguments. Nothing here
knows a framework: each backend owns its table of builders, one per op
(``backends/keras.py``: ``BUILDERS``), as sqlglot's generators own theirs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from collections.abc import Callable

from ..errors import CnnError, did_you_mean

Shape = tuple  # full shape, batch first; None where unknown

REQUIRED = object()
CHANNELS_LAST = "channels_last"  # shapes are channels-last; builders say so, whatever keras.json says


class Symbol(str):
    """An unbound bare name in a spec, such as ``same``: equal to the string of its text."""


@dataclass(frozen=True)
class Initializer:
    """An initializer or regularizer with arguments, such as ``variance_scaling(2.0, mode=fan_out)``.

    ``name`` is the class as frameworks call it (``VarianceScaling``, ``L2``); ``args`` its keyword
    arguments, as ``((key, value), ...)``. Framework-free: a backend turns it into its own object.
    """

    kind: str      # "init" or "reg"
    name: str
    args: tuple

    def __str__(self) -> str:
        return f"{self.name}(" + ", ".join(f"{k}={describe(v)}" for k, v in self.args) + ")"


# Names a backend resolves itself (Keras's identifiers), and the functions that make an Initializer.
INITIALIZERS = ("zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                "lecun_uniform", "lecun_normal", "orthogonal", "identity", "random_normal", "random_uniform",
                "truncated_normal", "variance_scaling")
REGULARIZERS = ("l1", "l2", "l1_l2", "orthogonal_regularizer")
# Keras's Identity initializer makes only 2-D weights, Orthogonal at least 2-D ones, and its
# OrthogonalRegularizer takes only 2-D weights: what each kind of weight may use.
KERNEL_INITIALIZERS = tuple(n for n in INITIALIZERS if n != "identity")              # conv kernels (4-D)
VECTOR_INITIALIZERS = tuple(n for n in INITIALIZERS if n not in ("identity", "orthogonal"))   # biases (1-D)
KERNEL_REGULARIZERS = tuple(n for n in REGULARIZERS if n != "orthogonal_regularizer")


@dataclass(frozen=True)
class Arg:
    """One argument: its name, type (see ``CONVERTERS``), default and choices."""

    name: str
    type: str
    default: object = REQUIRED
    choices: tuple = ()
    low: float | None = None     # smallest allowed number (inclusive)
    high: float | None = None    # bound a number must stay below (exclusive)


@dataclass(frozen=True)
class Op:
    """One op. ``arity`` is the number of inputs, or None for ``least`` or more (merges)."""

    name: str
    args: tuple
    shape: Callable                      # (ins, a) -> Shape
    family: str                          # conv | pool | norm | act | merge | dense | shape | io
    label: Callable                      # (a) -> str shown on diagrams
    params: Callable = lambda ins, a, out: (0, 0)   # -> (trainable, non_trainable)
    macs: Callable = lambda ins, a, out: 0
    arity: int | None = 1
    rank: int | None = None              # required input rank (batch included)
    least: int = 2                       # a merge's fewest inputs (attention: 1, self attention)
    ranks: tuple | None = None           # spatial ops: the spatial ranks they take (1, 2, 3), read off the input
    passthrough: bool = False            # identity: no node is emitted
    internal: bool = False               # made by cnndsl itself (inputs); a spec can't name it
    doc: str = ""

    @cached_property
    def signature(self) -> "Signature":
        """The argument schema compiled once (cached on the op; not a field)."""
        return Signature(self)


# Every activation Keras 3 knows by name (keras.activations' ALL_OBJECTS, with its aliases swish and
# hard_swish) but two: `threshold`, whose two arguments have no defaults, so Keras can't apply it by
# name; and `glu`, which halves the last axis while Keras's Activation layer says its output has the
# input's shape (so the next layer would be built for the wrong channels).
ACTIVATIONS = ("relu", "relu6", "sigmoid", "softmax", "tanh", "swish", "silu", "gelu", "elu",
               "selu", "softplus", "softsign", "hard_sigmoid", "leaky_relu", "linear", "exponential",
               "mish", "log_softmax", "hard_swish", "hard_silu", "celu", "squareplus", "soft_shrink",
               "sparse_plus", "tanh_shrink", "sparse_sigmoid", "hard_tanh", "hard_shrink", "log_sigmoid",
               "sparsemax")
NOT_BY_NAME = {
    "threshold": "`threshold` needs its threshold and default value, which Keras can't take by name "
                 "(relu(threshold=...) is Keras's ReLU threshold)",
    "glu": "`glu` halves the last axis, and Keras's Activation layer reports its input's shape for it, so "
           "the next layer would be built wrong; split(2) and multiply(a, b -> sigmoid) is glu",
}


def _int(v, arg):
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"an integer, got {describe(v)}")
    return v


def _float(v, arg):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"a number, got {describe(v)}")
    return float(v)


def _bool(v, arg):
    if not isinstance(v, bool):
        raise TypeError(f"true or false, got {describe(v)}")
    return v


def _size2(v, arg, least=1):
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v, v]
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x >= least
                                                            for x in v):
        return tuple(v)
    raise TypeError(f"a {'positive' if least else 'non-negative'} integer or [h, w], got {describe(v)}")


def _sizes(v, arg, least=1):
    """A spatial size: one number for every spatial dimension, or a list of one per dimension (1 to 3).

    A number stays a number until the input's rank is known (``resolve_spatial``)."""
    def ok(x):
        return isinstance(x, int) and not isinstance(x, bool) and x >= least
    if ok(v):
        return v
    if isinstance(v, (list, tuple)) and 1 <= len(v) <= 3 and all(ok(x) for x in v):
        return tuple(v)
    what = "positive" if least else "non-negative"
    raise TypeError(f"a {what} integer, or a list of one per spatial dimension, got {describe(v)}")


def _pads(v, arg):
    """Padding or cropping per spatial dimension: a number for every side, a list of one number per
    dimension (both sides), or of [before, after] pairs; kept as a number, or a tuple of pairs."""
    def ok(x):
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0
    if ok(v):
        return v
    if isinstance(v, (list, tuple)) and 1 <= len(v) <= 3:
        out = []
        for x in v:
            if ok(x):
                out.append((x, x))
            elif isinstance(x, (list, tuple)) and len(x) == 2 and all(ok(y) for y in x):
                out.append(tuple(x))
            else:
                break
        else:
            return tuple(out)
    raise TypeError("a non-negative integer, a list of one per spatial dimension, or of [before, after] pairs "
                    f"([[top, bottom], [left, right]]), got {describe(v)}")


def _choice(v, arg):
    if isinstance(v, str) and v in arg.choices:
        return str(v)
    if arg.choices is ACTIVATIONS and v in NOT_BY_NAME:
        raise TypeError(f"one of Keras's activations that work by name; {NOT_BY_NAME[v]}")
    hint = did_you_mean(str(v), arg.choices) if isinstance(v, str) else None
    got = f"`{v}`" if isinstance(v, str) else describe(v)
    raise TypeError(f"one of {', '.join(arg.choices)}, got {got}" + (f"; {hint}" if hint else ""))


def _activation(v, arg):
    if v is None:
        return None
    return _choice(v, Arg(arg.name, "choice", choices=ACTIVATIONS))


def _init(v, arg):
    """An initializer (``init``) or regularizer (``reg``): a name Keras knows (``arg.choices``, when
    given, are those this weight's rank allows), or a value made by ``variance_scaling(...)``, ``l2(...)``."""
    if v is None:
        return None
    kind = "reg" if arg.type == "reg" else "init"
    if isinstance(v, Initializer) and v.kind == kind:
        return v
    names = arg.choices or (REGULARIZERS if kind == "reg" else INITIALIZERS)
    if isinstance(v, str):
        if v in (REGULARIZERS if kind == "reg" else INITIALIZERS) and v not in names:
            shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
            raise TypeError(f"{'a regularizer' if kind == 'reg' else 'an initializer'} for this weight, got `{v}`, "
                            f"which Keras makes only for {'2-D' if v != 'orthogonal' else 'at least 2-D'} weights; "
                            f"use another, such as {shown}")
        v = _choice(v, Arg(arg.name, "choice", choices=names))
        # Keras knows L1L2 by "l1l2", never "l1_l2": the bare name is the call with Keras's defaults.
        return Initializer("reg", "L1L2", ()) if v == "l1_l2" else v
    if kind == "init" and isinstance(v, (list, tuple)):     # fixed weights: kernel_init=[[...]]
        return Initializer("init", "Constant", (("value", _array(v)),))
    what = "a regularizer such as l2(1e-4)" if kind == "reg" else "an initializer such as he_normal or variance_scaling(2.0)"
    raise TypeError(f"{what}, got {describe(v)}")


def _positive(v, arg):
    v = _float(v, arg)
    if not v > 0:
        raise TypeError(f"a number above 0, got {describe(v)}")
    return v


def _array(v):
    """A nested list of numbers, rectangular, as nested tuples of floats (fixed weights)."""
    if isinstance(v, (list, tuple)):
        items = [_array(x) for x in v]
        if not items or len({array_shape(x) for x in items}) != 1:
            raise TypeError("a nested list of numbers with the weights' shape (every row as long as the others), "
                            f"got {'an empty list' if not items else 'rows of different lengths'}")
        return tuple(items)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"an initializer, or a nested list of numbers for fixed weights; got {describe(v)} in the list")
    return float(v)


def array_shape(v) -> tuple:
    """The shape of a nested tuple of numbers (``()`` for a number)."""
    shape = []
    while isinstance(v, tuple):
        shape.append(len(v))
        v = v[0]
    return tuple(shape)


def fixed_weights(v):
    """The array a ``kernel_init=[...]`` gave (nested tuples), or None for any other initializer."""
    if isinstance(v, Initializer) and v.name == "Constant" and v.args and isinstance(v.args[0][1], tuple):
        return v.args[0][1]
    return None


def _noise_shape(v, arg):
    if v is None:
        return None
    if isinstance(v, (list, tuple)) and v and all(x is None or (isinstance(x, int) and not isinstance(x, bool) and x > 0)
                                                   for x in v):
        return tuple(v)
    raise TypeError(f"a list of positive integers or none (one per axis, batch first), got {describe(v)}")


def _floats(v, arg):
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return tuple(float(x) for x in v)
    raise TypeError(f"a number or a list of numbers, got {describe(v)}")


def _axes(v, arg):
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(v)
    raise TypeError(f"an axis or a list of axes, got {describe(v)}")


def _parts(v, arg):
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(v)
    raise TypeError(f"a number of equal parts or a list of sizes, got {describe(v)}")


def _hw(v, arg):
    """[h, w] (or one number for both), or a tensor whose known H×W is taken."""
    if hasattr(v, "shape") and hasattr(v, "op"):   # an IR node (duck-typed: the registry doesn't import the IR)
        if len(v.shape) != 4 or v.shape[1] is None or v.shape[2] is None:
            raise TypeError(f"a tensor with a known H×W, got `{v.name}` {fmt_shape(v.shape)}")
        return (v.shape[1], v.shape[2])
    return _size2(v, arg)


def _pool_padding(v, arg):
    """valid | same | a number of pixels padded on each side (one number, or one per dimension), as torch pads."""
    if isinstance(v, str):
        return _choice(v, arg)
    try:
        return _sizes(v, arg, least=0)
    except TypeError:
        raise TypeError(f"valid, same, or a number of pixels per side (`1` or [h, w]), got {describe(v)}") from None


def _str(v, arg):
    if v is None or isinstance(v, str):
        return v
    raise TypeError(f"a string, got {describe(v)}")


def _ints(v, arg):
    if isinstance(v, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(v)
    raise TypeError(f"a list of integers, got {describe(v)}")


def _pad2(v, arg):
    """int | [h, w] | [[top, bottom], [left, right]] -> ((t, b), (l, r))."""
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return ((v, v), (v, v))
    if isinstance(v, (list, tuple)) and len(v) == 2:
        if all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v):
            return ((v[0], v[0]), (v[1], v[1]))
        if all(isinstance(x, (list, tuple)) and len(x) == 2 for x in v):
            pads = (tuple(_ints(v[0], arg)), tuple(_ints(v[1], arg)))
            if min(pads[0] + pads[1]) >= 0:
                return pads
    raise TypeError(f"a non-negative integer, [h, w] or [[top, bottom], [left, right]], got {describe(v)}")


CONVERTERS = {"int": _int, "float": _float, "bool": _bool, "size2": _size2,
              "offset2": lambda v, arg: _size2(v, arg, least=0), "choice": _choice,
              "activation": _activation, "str": _str, "ints": _ints, "pad2": _pad2, "init": _init, "reg": _init,
              "noise_shape": _noise_shape, "floats": _floats, "axes": _axes, "parts": _parts, "hw": _hw,
              "pool_padding": _pool_padding, "size": _sizes, "offset": lambda v, arg: _sizes(v, arg, least=0),
              "pads": _pads, "positive": _positive}


NULLABLE = ("activation", "str", "init", "reg", "noise_shape", "floats", "offset2", "offset")
SPATIAL_TYPES = ("size", "offset", "pads", "pool_padding")   # what ``resolve_spatial`` fits to the input's rank
RANK_NAMES = {1: "1-D [T, C]", 2: "2-D [H, W, C]", 3: "3-D [D, H, W, C]"}


def as_rank(arg: Arg, value, n: int):
    """A spatial argument's value for an input of ``n`` spatial dimensions: a number is repeated (a
    pair per dimension for paddings); a list must give one per dimension. None where it can't."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return ((value, value),) * n if arg.type == "pads" else (value,) * n
    return value if len(value) == n else None


def resolve_spatial(op: Op, ins, a: dict) -> dict:
    """``a`` with its spatial arguments fitted to the rank of the input, and ``dims`` (1, 2 or 3) added.

    Called once the input's shape is known (``shapes.infer_node``); idempotent."""
    n = len(ins[0]) - 2
    out = dict(a, dims=n)
    for arg in op.args:
        if arg.type in SPATIAL_TYPES:
            value = as_rank(arg, a.get(arg.name), n)
            if value is None and a.get(arg.name) is not None:
                given = a[arg.name]
                shown = describe([list(p) if isinstance(p, tuple) else p for p in given])
                raise CnnError("shape", f"{op.name}: `{arg.name}` {shown} gives {len(given)} sizes, the "
                                        f"{fmt_shape(ins[0])} input has {n} spatial dimension{'s' * (n > 1)}",
                               hint=f"give one number for every dimension, or a list of {n}", arg=arg.name)
            out[arg.name] = value
    return out


# The language's functions that make an initializer or regularizer (``variance_scaling(2.0, mode=fan_out)``):
# name -> (kind, Keras's class, an Op whose argument schema is theirs, as Keras's constructors check them:
# keras/src/initializers/random_initializers.py, constant_initializers.py, regularizers/regularizers.py).
# Each is bound by ``bind_args`` like an op's arguments; the Initializer keeps the arguments given.
_SEED = Arg("seed", "int", None, low=0, high=2 ** 31)   # a non-negative 32-bit seed: every backend's RNG takes it
_MEAN, _STDDEV = Arg("mean", "float", 0.0), Arg("stddev", "float", 0.05, low=0)   # torch.normal refuses std < 0


def _maker(name, kind, cls, args):
    return name, (kind, cls, Op(name, args=args, shape=None, family=kind, label=None, arity=0, internal=True))


MAKERS = dict([
    _maker("variance_scaling", "init", "VarianceScaling",
           (Arg("scale", "positive", 1.0), Arg("mode", "choice", "fan_in", ("fan_in", "fan_out", "fan_avg")),
            Arg("distribution", "choice", "truncated_normal", ("truncated_normal", "untruncated_normal", "normal",
                                                                "uniform")), _SEED)),
    _maker("constant", "init", "Constant", (Arg("value", "float"),)),   # Keras's from_config needs `value`
    _maker("random_normal", "init", "RandomNormal", (_MEAN, _STDDEV, _SEED)),
    _maker("random_uniform", "init", "RandomUniform", (Arg("minval", "float", -0.05), Arg("maxval", "float", 0.05), _SEED)),
    _maker("truncated_normal", "init", "TruncatedNormal", (_MEAN, _STDDEV, _SEED)),
    _maker("l1", "reg", "L1", (Arg("l1", "float", 0.01, low=0),)),          # validate_float_arg: a float >= 0
    _maker("l2", "reg", "L2", (Arg("l2", "float", 0.01, low=0),)),
    _maker("l1_l2", "reg", "L1L2", (Arg("l1", "float", 0.0, low=0), Arg("l2", "float", 0.0, low=0))),
])


def check_made(v: Initializer) -> None:
    """An initializer or regularizer read with arguments (from a .keras file) holds them within its maker's
    schema, Keras's own constraints, as a spec's ``random_normal(stddev=...)`` is bound by that schema where
    it is written. Raises TypeError with the maker's message."""
    made = _MADE_BY.get(v.name)
    if made is None or v.name == "Constant" and any(not isinstance(x, (int, float)) for _, x in v.args):
        return   # fixed weights (an array) are checked against the weight's shape
    try:
        _bind(made, made.signature, [], dict(v.args), {})
    except CnnError as e:
        raise TypeError(e.message) from None


_MADE_BY = {cls: op for _, cls, op in MAKERS.values()}   # Keras's class -> the schema of its maker


def describe(v) -> str:
    """How a value reads in an error message."""
    if v is None:
        return "none"
    if isinstance(v, Symbol):
        return f"unknown name `{v}`"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"`{v}`"
    if isinstance(v, (list, tuple)):
        if len(v) > 12:   # a message shows the start of a long list, never all of it
            return "[" + ", ".join(describe(x) for x in v[:10]) + f", … ({len(v):,} items)]"
        return "[" + ", ".join(describe(x) for x in v) + "]"
    return str(v)


class Signature:
    """An op's argument schema, compiled once: names, positions, converters, and a table of the
    bindings already made (call arguments -> the bound arguments, shared by every node that has them).

    The table holds only successful bindings of plain values (numbers, strings, booleans, none and lists
    of them, initializers); anything else, and every error, goes through the schema each time."""

    __slots__ = ("op", "names", "index", "required", "memo")

    def __init__(self, op: Op):
        self.op = op
        self.names = tuple(a.name for a in op.args)
        self.index = {a.name: a for a in op.args}
        self.required = tuple(a.name for a in op.args if a.default is REQUIRED)
        self.memo: dict = {}


class FrozenArgs(dict):
    """Bound arguments shared by many nodes (one object per distinct binding): read-only. Copy it
    (``{**args, "k": v}``) to change it."""

    __slots__ = ("inferred",)   # input shapes -> (shape, trainable, non_trainable, macs): shapes.infer_node

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.inferred = None     # a dict once the binding is remembered (bind_shared)

    def _read_only(self, *a, **k):
        raise TypeError("a node's arguments are shared and read-only; copy them to change them")

    __setitem__ = __delitem__ = update = pop = popitem = setdefault = clear = __ior__ = _read_only

    def __reduce__(self):
        return (FrozenArgs, (dict(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


MEMO_SIZE = 4096   # distinct bindings remembered per op
_PLAIN = frozenset((int, float, str, bool, type(None), Symbol))
_SIMPLE = _PLAIN - {float}     # values that are equal only when they are the same argument (not -0.0 and 0.0)
_UNKEYED = object()


def _key_of(v):
    """A hashable key that tells apart every value the converters tell apart (types included: 1, 1.0
    and true are different arguments), or ``_UNKEYED``."""
    t = type(v)
    if t in _PLAIN:
        return (t, repr(v)) if t is float else (t, v)     # repr: -0.0 is not 0.0
    if t is list or t is tuple:
        items = tuple(_key_of(x) for x in v)
        return _UNKEYED if _UNKEYED in items else (t, items)
    if t is Initializer:
        items = tuple((k, _key_of(x)) for k, x in v.args)
        return _UNKEYED if any(x is _UNKEYED for _, x in items) else (t, v.kind, v.name, items)
    return _UNKEYED


def bind_shared(op: Op, positional: list, keywords: dict, defaults: dict) -> dict:
    """``bind_args``, with the result shared by every call that gives the same arguments: a read-only
    ``FrozenArgs``. Lowering binds a million layers this way without a dict (or a conversion) each."""
    sig = op.signature
    values = (*positional, *keywords.values(), *defaults.values())
    types = tuple(map(type, values))
    if _SIMPLE.issuperset(types):    # the usual case, keyed at C speed
        key = (len(positional), len(keywords), *keywords, *defaults, types, *values)
    else:
        parts = [len(positional)]
        parts += map(_key_of, positional)
        for k, v in keywords.items():
            parts += (k, _key_of(v))
        parts.append(None)
        for k, v in defaults.items():
            parts += (k, _key_of(v))
        key = tuple(parts) if _UNKEYED not in parts else None
    if key is not None:
        hit = sig.memo.get(key)
        if hit is not None:
            return hit
    bound = FrozenArgs(_bind(op, sig, positional, keywords, defaults))
    if key is not None and len(sig.memo) < MEMO_SIZE:
        sig.memo[key] = bound
        bound.inferred = {}
    return bound


def bind_args(op: Op, positional: list, keywords: dict, defaults: dict) -> dict:
    """Match call arguments to ``op.args``; convert and check each one.

    ``defaults`` come from ``defaults op(...)`` statements in scope; they
    replace the schema default but never an argument given at the call.
    ``none`` means "not given": a wrapper block can pass its own ``none``
    through and the scoped default, then the op's, applies. (To turn off a
    scoped activation, say ``activation=linear``.)
    """
    return _bind(op, op.signature, positional, keywords, defaults)


def _bind(op: Op, sig: Signature, positional: list, keywords: dict, defaults: dict) -> dict:
    names = sig.names
    if len(positional) > len(names):
        raise CnnError("type", f"{op.name} takes at most {len(names)} positional argument(s), got {len(positional)}")
    given = dict(zip(names, positional))
    for k, v in keywords.items():
        if k in given:
            raise CnnError("type", f"{op.name}: argument `{k}` given twice", arg=k)
        if k not in sig.index:
            convert(op, k, v)  # reports the unknown argument name, with did-you-mean
        given[k] = v
    bound = {}
    for arg in op.args:
        name = arg.name
        value = given.get(name)
        defaulted = value is None
        if defaulted:
            value = defaults.get(name)
            if value is None:
                if arg.default is REQUIRED:
                    raise CnnError("type", f"{op.name} needs argument `{name}`",
                                   hint=f"{op.name}({', '.join(sig.required)})")
                value = arg.default  # schema defaults go through the same normalisation
        bound[name] = _convert(op, arg, value, defaulted)
    return bound


def convert(op: Op, name: str, value, defaulted: bool = False):
    """Check and normalise one argument value against its schema entry."""
    arg = op.signature.index.get(name)
    if arg is None:
        raise CnnError("name", f"{op.name} has no argument `{name}`", hint=did_you_mean(name, [a.name for a in op.args])
                       or f"its arguments are: {', '.join(a.name for a in op.args) or 'none'}", arg=name)
    return _convert(op, arg, value, defaulted)


def _convert(op: Op, arg: Arg, value, defaulted: bool):
    name = arg.name
    if value is None:
        if arg.default is not None and arg.type not in NULLABLE:
            raise CnnError("type", f"{op.name}: `{name}` can't be none", arg=name)
        return None
    try:
        value = CONVERTERS[arg.type](value, arg)
        if arg.low is not None and value < arg.low:
            raise TypeError(f"at least {arg.low:g}, got {describe(value)}")
        if arg.high is not None and value >= arg.high:
            raise TypeError(f"less than {arg.high:g}, got {describe(value)}")
        return value
    except TypeError as e:
        via = " (from a `defaults` statement)" if defaulted else ""
        raise CnnError("type", f"{op.name}: `{name}` must be {e}{via}", arg=None if defaulted else name) from None


# --- shared arithmetic (Keras's, exactly) -------------------------------------------
def conv_len(n, k, s, d, padding):
    """Output length of a conv/pool window along one axis, as Keras computes it."""
    if n is None:
        return None
    if padding == "same":
        return (n + s - 1) // s
    return (n - d * (k - 1) - 1) // s + 1


def spatial(ins, a, kernel, stride, dilation=None):
    """The spatial output sizes of a window op of any rank; errors on an empty output."""
    dims = ins[0][1:-1]
    dilation = dilation or (1,) * len(dims)
    if max(stride) > 1 and max(dilation) > 1:
        raise CnnError("shape", f"stride {kxk(stride)} with dilation {kxk(dilation)}: Keras can't combine a stride "
                                "over 1 with a dilation over 1", hint="use stride=1, or dilation=1")
    padding = "same" if a["padding"] == "causal" else a["padding"]   # causal: same length, all padding before
    out = tuple(conv_len(n, k, s, d, padding) for n, k, s, d in zip(dims, kernel, stride, dilation))
    if any(o is not None and o <= 0 for o in out):
        eff = "×".join(str(d * (k - 1) + 1) for k, d in zip(kernel, dilation))
        raise CnnError("shape", f"a {eff} window with padding=valid does not fit the {_hw(*dims)} input",
                       hint="use padding=same, a smaller kernel or a larger input")
    return out


def _hw(*dims):
    return "×".join("?" if d is None else str(d) for d in dims)


def prod(xs):
    """Product of known dims, or None if any is unknown."""
    if any(x is None for x in xs):
        return None
    return math.prod(xs)


def fmt_shape(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def human(n) -> str:
    """``11.3G``, ``236K``, ``512``: three significant digits, for labels."""
    if n is None:
        return "?"
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def kxk(k) -> str:
    """``3×3``, ``3`` (1-D), ``3×3×3``: a size per spatial dimension."""
    return "×".join(str(x) for x in k)
