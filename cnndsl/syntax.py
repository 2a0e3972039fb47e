"""The AST of a .cnn file: small immutable node classes, every one with a ``span``.

One line per node, in the spirit of CPython's ASDL: ``Name = node("Name", "id")``
declares a node with fields ``span, id``. Bodies are tuples of statements; a
chain is a tuple of elements joined by ``->``. (Plain slotted classes rather
than dataclasses: they are made at import time of every ``cnndsl check``, and
dataclasses cost a millisecond each to create.)
"""
from __future__ import annotations


class Node:
    """Base of every AST node: positional fields, value equality, read-only."""

    # ``_ev``: the node's evaluation compiled once into a closure by ``values._compile`` (None until the
    # first time the expression is evaluated; not a field: equality, hashing and printing ignore it).
    __slots__ = ("span", "_ev")
    _fields: tuple = ("span",)

    def __init__(self, *values):
        if len(values) != len(self._fields):
            raise TypeError(f"{type(self).__name__} takes {len(self._fields)} fields, got {len(values)}")
        for k, v in zip(self._fields, values):
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_ev", None)

    def __setattr__(self, key, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other):
        return type(self) is type(other) and all(getattr(self, f) == getattr(other, f) for f in self._fields[1:])

    def __hash__(self):
        return hash((type(self).__name__,) + tuple(getattr(self, f) for f in self._fields[1:]))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields[1:])})"

    def fields(self) -> dict:
        return {f: getattr(self, f) for f in self._fields}


def node(name: str, *fields: str, doc: str = "") -> type:
    cls = type(name, (Node,), {"__slots__": fields, "_fields": ("span",) + fields, "__doc__": doc})
    cls.__init__ = _init_of(cls)
    return cls


def _init_of(cls) -> object:
    """``Node.__init__`` for ``cls``, its fields written out, each through its slot's own setter (the
    parser makes a node per rule it reduces; a loop of ``object.__setattr__`` costs more than the node).
    Nodes have two to five fields, ``span`` included."""
    sets = [getattr(cls, f).__set__ for f in cls._fields]
    n, set_ev = len(sets), Node._ev.__set__
    a, b, c, d, e = sets + [None] * (5 - n)
    if n == 2:
        def __init__(self, *values):
            if len(values) != 2:
                _arity(self, values)
            a(self, values[0]), b(self, values[1]), set_ev(self, None)
    elif n == 3:
        def __init__(self, *values):
            if len(values) != 3:
                _arity(self, values)
            a(self, values[0]), b(self, values[1]), c(self, values[2]), set_ev(self, None)
    elif n == 4:
        def __init__(self, *values):
            if len(values) != 4:
                _arity(self, values)
            a(self, values[0]), b(self, values[1]), c(self, values[2]), d(self, values[3]), set_ev(self, None)
    elif n == 5:
        def __init__(self, *values):
            if len(values) != 5:
                _arity(self, values)
            a(self, values[0]), b(self, values[1]), c(self, values[2]), d(self, values[3]), e(self, values[4])
            set_ev(self, None)
    else:
        return Node.__init__
    return __init__


def _arity(node, values):
    raise TypeError(f"{type(node).__name__} takes {len(node._fields)} fields, got {len(values)}")


# --- expressions -------------------------------------------------------------
Num = node("Num", "value")
Str = node("Str", "parts")  # str pieces and Expr pieces of a "{template}"
Name = node("Name", "id")
Const = node("Const", "value")  # true / false / none
ListE = node("ListE", "items")
Unary = node("Unary", "op", "operand")
BinOp = node("BinOp", "op", "left", "right")
Attr = node("Attr", "value", "attr")
Index = node("Index", "value", "index")
Slice = node("Slice", "value", "start", "stop")  # l[a:b]; start or stop None when left out
FuncCall = node("FuncCall", "name", "args")
Ternary = node("Ternary", "body", "test", "orelse")  # body if test else orelse


Arg = node("Arg", "name", "value")  # name is None for a positional


# --- chains and statements -----------------------------------------------------
Call = node("Call", "name", "args", "branches", doc="""``conv(64, 3)``, bare ``bn``, a block call, a tensor
name, or ``concat {...}``. ``args`` is None for a bare name; ``branches`` is None unless the call
has a ``{ ... }`` group of branches.""")
Repeat = node("Repeat", "count", "var", "body", "collect", doc="""``repeat N [as i] [collect [name]] { ... }``.
``collect``: False; True (the value is the list of the iterations' outputs); or a tensor name (the list of
the tensor bound to that name in each iteration: ``collect skip``).""")
Start = node("Start", "value")  # a chain's first element given as an expression (a merge's chain argument)
If = node("If", "arms", "orelse")  # arms: ((cond, body), ...)
Chain = node("Chain", "elems")


Defaults = node("Defaults", "op", "args")
Expect = node("Expect", "target", "attr", "value")
Assert = node("Assert", "test", "message")  # `assert in.height % 2 == 0, "a 2x2 pool needs an even size"`
Let = node("Let", "name", "value")  # name: a str, or a tuple of them for `let [a, b] = ...`
Shared = node("Shared", "name", "call", doc="""``shared enc = encoder(64)``: one instance of an op or
block (``call``, a ``Call`` with its arguments), applied later as ``a -> enc`` or ``enc(a)``.""")
Assign = node("Assign", "name", "chain")  # name: a str, or a tuple for `a, b = two_outputs(...)`
ChainStmt = node("ChainStmt", "chain")


# --- definitions -----------------------------------------------------------------
Param = node("Param", "name", "kind", "value",
             doc="``x: [224, 224, 3]`` (kind input), ``classes=10`` (default) or ``filters`` (plain).")
BlockDef = node("BlockDef", "name", "params", "outputs", "body")  # outputs: names, or None for one
NetworkDef = node("NetworkDef", "name", "params", "outputs", "body")
Import = node("Import", "path", "alias")  # alias: `import "x.cnn" as lib`, or None
ConstDef = node("ConstDef", "name", "value")
FnDef = node("FnDef", "name", "params", "body")  # `fn make_div(c, d=8) = expr`: params are Params
Module = node("Module", "imports", "consts", "blocks", "networks")
