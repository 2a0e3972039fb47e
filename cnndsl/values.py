"""Evaluating expressions: numbers, strings, lists, names, tensor attributes.

Values are Python ints, floats, bools, None, strings, lists, and IR nodes (a
tensor, e.g. ``in``). A bare name that is bound to nothing evaluates to a
``Symbol``: a string such as ``same`` or ``relu``. A symbol used where a
number is needed is reported as an unknown name, with "did you mean".
"""
from __future__ import annotations

import math
import operator

from . import syntax as S
from .errors import CnnError, did_you_mean
from .ir import Node
from .ops import REGISTRY, describe
from .ops.schema import MAKERS, Initializer, Symbol, bind_args


class VList(list):
    """A list value of the language, with its total ``size`` known when it is made: items, each list
    item counted as a whole and each string by its length. A value's size bounds what printing,
    comparing or converting it costs, so ``[[0] * 10 ** 6] * 10 ** 6`` is refused where it is made."""

    __slots__ = ("size",)


def size_of(v) -> int:
    """A value's total size: 1 for a number, a string's length, a list's items with nested lists whole."""
    if isinstance(v, VList):
        return v.size
    if isinstance(v, str):
        return max(1, len(v))
    if isinstance(v, (list, tuple)):
        return max(1, sum(size_of(x) for x in v))
    return 1


def vlist(items, span=None, size=None) -> VList:
    """``items`` as a language list, after checking its total size (``size`` when already known)."""
    total = size if size is not None else sum(size_of(x) for x in items)
    _fits(len(items), "a list", span)
    _fits(total, "a list", span, whole=True)
    out = VList(items)
    out.size = max(1, total)
    return out


def fmt_value(v) -> str:
    """A value as it reads in labels and messages: ``128``, ``[1, 7]``, ``same``."""
    if type(v) is int:
        return str(v)
    if isinstance(v, Node):
        return v.name
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return describe(v)


TENSOR_ATTRS = {
    "channels": lambda s: s[-1], "height": lambda s: s[1] if len(s) == 4 else None,
    "width": lambda s: s[2] if len(s) == 4 else None, "shape": lambda s: list(s),
    "rank": lambda s: len(s), "batch": lambda s: s[0],
}

def _sum(items, start=0):
    if not isinstance(items, list):
        raise TypeError(f"sum() needs a list, got {describe(items)}")
    total = start
    for x in items:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError(f"sum() adds numbers, got {describe(x)}")
        total += x
    return total


def _rounding(fn):
    def call(x):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError(f"needs a number, got {describe(x)}")
        return int(fn(x))
    return call


def _real(name, fn, positive=False):
    """``log``, ``log2`` and ``exp``: a float of a number (a logarithm needs one above 0)."""
    def call(x):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError(f"needs a number, got {describe(x)}")
        if positive and x <= 0:
            raise ValueError(f"needs a number above 0, got {describe(x)}")
        try:
            return fn(x)
        except OverflowError:
            raise ValueError(f"{describe(x)} is too large (the result overflows)") from None
    call.__name__ = name
    return call


INITIALIZER_FUNCS = dict.fromkeys(MAKERS)   # made by ``Evaluator.initializer`` from their argument schemas

def _error(message):
    """``error("scale must be 0.5, 1.0, 1.5 or 2.0")``: fails with the spec's own message, where it is called."""
    raise CnnError("value", message if isinstance(message, str) else describe(message))


# How many positional arguments each built-in takes (least, most; None: no bound), as the docs write them.
ARITY = {"error": (1, 1, "error(\"message\")"), "min": (1, None, "min(a, b, ...) or min(list)"),
         "max": (1, None, "max(a, b, ...) or max(list)"), "abs": (1, 1, "abs(x)"), "int": (1, 1, "int(x)"),
         "float": (1, 1, "float(x)"), "round": (1, 2, "round(x) or round(x, digits)"), "len": (1, 1, "len(list)"),
         "sum": (1, 2, "sum(list) or sum(list, start)"), "ceil": (1, 1, "ceil(x)"), "floor": (1, 1, "floor(x)"),
         "log": (1, 1, "log(x)"), "log2": (1, 1, "log2(x)"), "exp": (1, 1, "exp(x)")}

FUNCS = {"error": _error, "min": min, "max": max, "abs": abs, "int": int, "float": float, "round": round, "len": len,
         "sum": _sum, "ceil": _rounding(math.ceil), "floor": _rounding(math.floor),
         "log": _real("log", math.log, positive=True), "log2": _real("log2", math.log2, positive=True),
         "exp": _real("exp", math.exp), **INITIALIZER_FUNCS}

ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
         "//": operator.floordiv, "%": operator.mod, "**": operator.pow}
COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
           ">": operator.gt, ">=": operator.ge}
MAX_POW = 10 ** 12  # keeps `10 ** 10 ** 10` from hanging the checker

# Bounds on values, so no spec can exhaust memory or time through arithmetic (each a limit error).
MAX_INT = 2 ** 63          # integers: magnitude below this (a tensor dimension is far smaller)
MAX_LEN = 1_000_000        # lists: items; strings: characters
MAX_CALL_DEPTH = 500       # nested calls of a spec's value functions
MAX_EVAL_DEPTH = 5_000     # nested evaluations in all (an expression's levels, through every call): Python's stack


class Function:
    """A value function of a spec: ``fn make_div(c, d=8) = max(d, int(c + d / 2) // d * d)``.

    Its body sees its parameters and its file's constants and functions (``home``), nothing else.
    Each call counts one evaluation step, so recursion stays within --max-steps and the stack limit.
    """

    def __init__(self, fdef: S.FnDef, home: dict):
        self.fdef, self.home = fdef, home
        self.params = [p.name for p in fdef.params]

    def call_in_order(self, evaluator: "Evaluator", e: S.FuncCall, operands: tuple):
        """``call`` where every argument is positional (``operands``: see ``_read``): when they are as many
        as the parameters, nothing is left to check or to default."""
        params = self.params
        if len(operands) != len(params):
            return self.call(evaluator, e)
        bound = dict(zip(params, _read(evaluator, operands)))
        if evaluator.depth >= MAX_CALL_DEPTH:
            raise CnnError("limit", f"function calls nest deeper than {MAX_CALL_DEPTH} (a recursion that never ends?)",
                           e.span)
        inner = Evaluator({**self.home, **bound}, evaluator.tick)
        inner.depth, inner.levels = evaluator.depth + 1, evaluator.levels
        if evaluator.tick is not None:
            evaluator.tick(e.span)
        try:
            return inner(self.fdef.body)
        except CnnError as err:
            err.notes.append(f"in {self.fdef.name}({', '.join(fmt_value(bound[p]) for p in params)}), called at {e.span}")
            raise

    def __repr__(self):
        return f"<fn {self.fdef.name}>"

    def call(self, evaluator: "Evaluator", e: S.FuncCall):
        fdef = self.fdef
        params = [p.name for p in fdef.params]
        positional = [a for a in e.args if a.name is None]
        if len(positional) > len(params):
            raise CnnError("type", f"{fdef.name}() takes {len(params)} argument(s), got {len(positional)}", e.span,
                           hint=f"{fdef.name}({', '.join(params)})")
        bound = {p: evaluator(a.value) for p, a in zip(params, positional)}
        for a in e.args:
            if a.name is None:
                continue
            if a.name not in params:
                raise CnnError("name", f"{fdef.name}() has no parameter `{a.name}`", a.span,
                               hint=did_you_mean(a.name, params) or f"its parameters: {', '.join(params) or 'none'}")
            if a.name in bound:
                raise CnnError("type", f"{fdef.name}(): `{a.name}` given twice", a.span)
            bound[a.name] = evaluator(a.value)
        if evaluator.depth >= MAX_CALL_DEPTH:
            raise CnnError("limit", f"function calls nest deeper than {MAX_CALL_DEPTH} (a recursion that never ends?)",
                           e.span)
        inner = Evaluator({**self.home, **bound}, evaluator.tick)
        inner.depth, inner.levels = evaluator.depth + 1, evaluator.levels
        for p in fdef.params:
            if p.name not in bound:
                if p.kind == "plain":
                    raise CnnError("type", f"{fdef.name}() needs argument `{p.name}`", e.span,
                                   hint=f"{fdef.name}({', '.join(params)})")
                bound[p.name] = inner.lookup[p.name] = inner(p.value)
        if evaluator.tick is not None:
            evaluator.tick(e.span)
        try:
            return inner(fdef.body)
        except CnnError as err:
            err.notes.append(f"in {fdef.name}({', '.join(fmt_value(bound[p]) for p in params)}), called at {e.span}")
            raise


class Evaluator:
    """Evaluates expressions against ``lookup``, a name -> value mapping. ``tick(span)`` counts
    one evaluation step per function call (the lowering's budget)."""

    def __init__(self, lookup, tick=None, qualified=()):
        self.lookup = lookup
        self.tick = tick
        self.qualified = qualified   # other names of the file's namespace (blocks), for the messages
        self.levels = [0]            # nested evaluations, shared with the evaluators of called functions
        self.depth = 0      # nested function calls

    def __call__(self, e: S.Node):
        """``e``'s value. Each syntax node is compiled once into a closure (``_compile``) that does what
        the methods below do for it, the usual cases without their dispatch; every error comes from them."""
        fn = e._ev
        if fn is None:
            fn = _compile(e)
        return fn(self)

    def Num(self, e):
        return e.value

    def Chain(self, e):
        raise CnnError("type", "a chain (`x -> op`) can only be a merge's argument (`concat(x -> op, y)`), not a value",
                       e.span, hint="name it first: `y = x -> op`, then pass `y`")

    def Const(self, e):
        return e.value

    def Str(self, e):
        """A template: ``"conv{i+1}"``. A none inside makes the whole string none."""
        out = []
        for part in e.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if isinstance(part, S.Name) and part.id not in self.lookup:
                raise CnnError("name", f"unknown name `{part.id}` in a name template", part.span,
                               hint=did_you_mean(part.id, self.lookup) or "bind it with a parameter or `let`")
            v = self(part)
            if v is None:
                return None
            out.append(fmt_value(v))
        return "".join(out)

    def Name(self, e):
        v = self.lookup.get(e.id, _MISSING)
        return Symbol(e.id) if v is _MISSING else v

    def ListE(self, e):
        return vlist([self(x) for x in e.items], e.span)

    def Unary(self, e):
        v = self(e.operand)
        if e.op == "not":
            return not self.truth(v, e.operand)
        return -self.number(v, e.operand)

    def BinOp(self, e):
        """A chain of binary operators, evaluated along its left spine without recursion, so a sum
        of a thousand terms (parsed as a left-nested tree) needs no deep Python stack."""
        spine = [e]
        while isinstance(spine[-1].left, S.BinOp):
            spine.append(spine[-1].left)
        value = self(spine[-1].left)
        for node in reversed(spine):
            value = self.binary(node, value)
            if type(value) is not int or not -MAX_INT < value < MAX_INT:
                value = bounded(value, node.span)
        return value

    def binary(self, e, left):
        if e.op in ("and", "or"):
            left = self.truth(left, e.left)
            if (e.op == "and") != left:
                return left
            return self.truth(self(e.right), e.right)
        return self.combine(e, left, self(e.right))

    def combine(self, e, left, right):
        """``left op right`` for an operator other than `and` and `or`, both sides evaluated."""
        kl, kr = type(left), type(right)
        if (kl is int or kl is float) and (kr is int or kr is float):   # numbers: no list, string or bound rule
            f = _PLAIN.get(e.op)
            if f is not None:
                return f(left, right)
        if e.op in ("==", "!="):
            return COMPARE[e.op](left, right)      # both sides are bounded values: bounded work
        if e.op == "+" and isinstance(left, list) and isinstance(right, list):
            _fits(len(left) + len(right), "a list", e.span)
            return vlist(left + right, e.span, size_of(left) + size_of(right))
        if e.op == "*" and isinstance(left, list):
            times = self.number(right, e.right)
            if not isinstance(times, int):
                raise CnnError("type", f"a list repeats a whole number of times, got {fmt_value(times)}", e.right.span)
            times = max(times, 0)
            _fits(len(left) * times, "a list", e.span)
            _fits(size_of(left) * times, "a list", e.span, whole=True)
            return vlist(left * times, e.span, size_of(left) * times)
        if e.op == "+" and isinstance(left, str) and isinstance(right, str) and not (
                isinstance(left, Symbol) or isinstance(right, Symbol)):
            _fits(len(left) + len(right), "a string", e.span)
            return left + right
        a, b = self.number(left, e.left), self.number(right, e.right)
        if e.op in COMPARE:
            return COMPARE[e.op](a, b)
        if (e.op in ("/", "//", "%") and b == 0) or (e.op == "**" and a == 0 and b < 0):
            raise CnnError("value", "division by zero", e.span)
        if e.op == "**" and abs(a) > 1 and b > 0 and b * math.log10(abs(a)) > math.log10(MAX_POW):
            raise CnnError("limit", f"{fmt_value(a)} ** {fmt_value(b)} is too large (over {MAX_POW:.0e})", e.span)
        return ARITH[e.op](a, b)

    def Ternary(self, e):
        for branch in (e.body, e.orelse):     # `t if c else add(t, u)`: an op call makes a tensor, never a value
            if (isinstance(branch, S.FuncCall) and branch.name in REGISTRY and not REGISTRY[branch.name].internal
                    and not isinstance(self.lookup.get(branch.name), Function)):
                raise self.tensor_ternary(e, branch)
        return self(e.body) if self.truth(self(e.test), e.test) else self(e.orelse)

    @staticmethod
    def tensor_ternary(e, chosen):
        """`let x = t if c else add(t, u)`: a ternary picks values; tensors are chosen by an `if` statement."""
        test, body, orelse = (source_text(x.span) for x in (e.test, e.body, e.orelse))
        return CnnError("type", f"`{source_text(chosen.span)}` makes a tensor, and tensors are not values: a ternary "
                                "(`a if c else b`) chooses between values", e.span,
                        hint=f"choose tensors with an `if` statement: `NAME = if {test} {{ {body} }} else {{ {orelse} }}`")

    def Attr(self, e):
        return self.attr_of(e, self(e.value))

    def attr_of(self, e, v):
        if isinstance(v, Symbol) and f"{v}.{e.attr}" in self.lookup:   # an imported constant: lib.NAME
            return self.lookup[f"{v}.{e.attr}"]
        if isinstance(v, Symbol):
            members = sorted({k.split(".", 1)[1] for k in (*self.lookup, *self.qualified) if k.startswith(f"{v}.")})
            if f"{v}.{e.attr}" in self.qualified:
                raise CnnError("type", f"`{v}.{e.attr}` is a block: it makes tensors in a chain, not a value", e.span,
                               hint=f"call it in a chain: `y = x -> {v}.{e.attr}(...)`")
            if members:
                raise CnnError("name", f"`{v}` (an imported file) has no `{e.attr}`", e.span,
                               hint=did_you_mean(e.attr, members) or f"it gives: {', '.join(members)}")
        if isinstance(v, Node):
            if e.attr not in TENSOR_ATTRS:
                raise CnnError("name", f"a tensor has no attribute `{e.attr}`", e.span,
                               hint=did_you_mean(e.attr, TENSOR_ATTRS) or f"use one of {', '.join(TENSOR_ATTRS)}")
            return TENSOR_ATTRS[e.attr](v.shape)
        raise CnnError("type", f"`.{e.attr}` needs a tensor, got {self.what(v, e.value)}", e.span)

    def Index(self, e):
        return self.index_of(e, self(e.value), self(e.index))

    def index_of(self, e, v, i):
        if not isinstance(v, list):
            raise CnnError("type", f"only lists can be indexed, got {self.what(v, e.value)}", e.span)
        i = self.number(i, e.index)
        if not isinstance(i, int):
            raise CnnError("type", f"a list index must be an integer, got {fmt_value(i)}", e.index.span)
        if not -len(v) <= i < len(v):
            raise CnnError("value", f"index {fmt_value(i)} is out of range for a list of {len(v)}", e.span)
        return v[i]

    def Slice(self, e):
        v = self(e.value)
        if not isinstance(v, list):
            raise CnnError("type", f"only lists can be sliced, got {self.what(v, e.value)}", e.span)
        bounds = []
        for b in (e.start, e.stop):
            i = None if b is None else self(b)
            if i is not None and (isinstance(i, bool) or not isinstance(i, int)):
                raise CnnError("type", f"a slice bound must be an integer, got {fmt_value(i)}", b.span)
            bounds.append(i)
        return vlist(v[bounds[0]:bounds[1]], e.span)

    def FuncCall(self, e):
        fn = self.lookup.get(e.name)
        if isinstance(fn, Function):
            return fn.call(self, e)
        if e.name not in FUNCS:
            if e.name in REGISTRY and not REGISTRY[e.name].internal:
                raise CnnError("type", f"`{e.name}(...)` is an op: it makes a tensor, and tensors are not values",
                               e.span, hint="a tensor is made by a chain statement (`y = x -> op(...)`); merges also "
                                            "take merges as arguments: `add(multiply(a, b), a)`")
            raise CnnError("name", f"unknown function `{e.name}`", e.span,
                           hint=did_you_mean(e.name, FUNCS) or f"functions: {', '.join(FUNCS)}")
        if e.name in MAKERS:
            return self.initializer(e)
        args = [self(a.value) for a in e.args if a.name is None]
        kwargs = {a.name: self(a.value) for a in e.args if a.name is not None}
        if kwargs and e.name not in INITIALIZER_FUNCS:
            raise CnnError("type", f"{e.name}() takes no keyword arguments", e.span)
        if e.name in ARITY:
            least, most, usage = ARITY[e.name]
            if not least <= len(args) <= (most if most is not None else len(args)):
                wants = f"{least}" if least == most else f"{least} to {most}" if most else f"at least {least}"
                raise CnnError("type", f"{e.name}() takes {wants} argument(s), got {len(args)}", e.span, hint=usage)
        try:
            return FUNCS[e.name](*args, **kwargs)
        except CnnError as err:
            raise err.located(e.span)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CnnError("type", f"{e.name}(): {exc}", e.span) from None

    def initializer(self, e):
        """``variance_scaling(2.0, mode=fan_out)``: its arguments bound and checked by their schema (ops/schema.py
        MAKERS, Keras's own constraints), each error at its argument; the value keeps the arguments given."""
        kind, cls, schema = MAKERS[e.name]
        positional, keywords, spans = [], {}, {}
        for a in e.args:
            v = self(a.value)
            if a.name is None:
                if len(positional) < len(schema.args):
                    spans[schema.args[len(positional)].name] = a.span
                positional.append(v)
            else:
                if a.name in keywords:
                    raise CnnError("type", f"{e.name}(): `{a.name}` given twice", a.span)
                spans[a.name] = a.span
                keywords[a.name] = v
        try:
            bind_args(schema, positional, keywords, {})
        except CnnError as err:
            raise err.located(spans.get(err.arg, e.span))
        given = {**dict(zip((a.name for a in schema.args), positional)), **keywords}
        return Initializer(kind, cls, tuple((a.name, str(given[a.name]) if isinstance(given[a.name], str) else
                                             given[a.name]) for a in schema.args if a.name in given))

    # --- checks ------------------------------------------------------------------
    def number(self, v, e):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return v
        raise CnnError("type", f"expected a number, got {self.what(v, e)}", e.span, hint=self.hint(v))

    def truth(self, v, e):
        if isinstance(v, bool):
            return v
        raise CnnError("type", f"expected true or false, got {self.what(v, e)}", e.span, hint=self.hint(v))

    def what(self, v, e) -> str:
        return describe(v) if not isinstance(v, Node) else f"tensor `{v.name}`"

    def hint(self, v):
        return did_you_mean(v, self.lookup) if isinstance(v, Symbol) else None


_MISSING = object()
# Operators on two numbers that need no check of their operands (no division, no power): the result as is.
_PLAIN = {op: f for op, f in {**ARITH, **COMPARE}.items() if op not in ("/", "//", "%", "**")}


# --- compiled evaluation -----------------------------------------------------------------------------------
# The first time an expression is evaluated, each of its nodes is compiled into a closure ``f(evaluator)``,
# kept on the node (``_ev``; the syntax tree is immutable). A closure does exactly what ``Evaluator.__call__``
# did with the node's method: a node with nodes below it counts one level of nesting (MAX_EVAL_DEPTH), turns
# Python's arithmetic errors into a located error, and has its value checked (``bounded``); a leaf counts no
# level. What it leaves out is the dispatch: the method lookup, the children's ``__call__``, and the tests the
# node's own shape decides once (its operator, its template's parts, whether its function is a built-in).
# Anything but the usual case goes to the ``Evaluator`` methods, with the values already computed, and they
# raise the errors as before.

def _too_deep(span) -> CnnError:
    return CnnError("limit", f"expressions nest deeper than {MAX_EVAL_DEPTH:,} levels, counting every "
                             "function call's body", span,
                    hint="a recursive function whose body is deeply nested multiplies the two")


def _leaf_too_deep(ev, span) -> CnnError:
    """A leaf met at the nesting limit: the level it would have counted is counted (and stays counted, as
    for any node over the limit: the error ends the evaluation)."""
    ev.levels[0] += 1
    return _too_deep(span)


def _checked(v, span):
    """``v`` as ``bounded`` gives it: the usual values tested by their exact type first (VList: the sizes
    ``bounded`` tests)."""
    t = type(v)
    if t is int:
        if -MAX_INT < v < MAX_INT:
            return v
    elif t is bool or v is None or t is Node:
        return v
    elif (t is str or t is Symbol or t is list) and len(v) <= MAX_LEN:
        return v
    elif t is VList and len(v) <= MAX_LEN and v.size <= MAX_LEN:
        return v
    elif t is float and v - v == 0.0:     # not nan, not infinite
        return v
    return bounded(v, span)


def _constant(e):
    """A literal's value as a 1-tuple when ``bounded`` accepts it (a number or true/false/none: ``bounded``
    gives the same answer every time), else None (``1e999``: the error is raised each time it's evaluated)."""
    if type(e) is S.Num or type(e) is S.Const:
        try:
            if bounded(e.value, e.span) is e.value:
                return (e.value,)
        except CnnError:
            pass
    return None


def _compile_const(e):
    span, known = e.span, _constant(e)
    if known is None:
        v = e.value

        def literal(ev):
            if ev.levels[0] < MAX_EVAL_DEPTH:
                return bounded(v, span)
            raise _leaf_too_deep(ev, span)
        return literal
    v = known[0]

    def constant(ev):
        if ev.levels[0] < MAX_EVAL_DEPTH:
            return v
        raise _leaf_too_deep(ev, span)
    return constant


def _compile_name(e):
    key, span = e.id, e.span

    def name(ev):
        if ev.levels[0] < MAX_EVAL_DEPTH:
            v = ev.lookup.get(key, _MISSING)
            if v is _MISSING:
                v = Symbol(key)
            t = type(v)          # _checked, inline
            if t is int:
                if -MAX_INT < v < MAX_INT:
                    return v
            elif t is bool or v is None or t is Node:
                return v
            elif (t is str or t is Symbol or t is list) and len(v) <= MAX_LEN:
                return v
            return _checked(v, span)
        raise _leaf_too_deep(ev, span)
    return name


def _level(span, body):
    """The closure of a node with nodes below it: one level counted around ``body(ev)``, the node's work."""
    def run(ev):
        levels = ev.levels
        levels[0] += 1
        if levels[0] > MAX_EVAL_DEPTH:
            raise _too_deep(span)
        try:
            v = body(ev)
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            raise CnnError("value", f"can't compute this: {exc}", span) from None
        finally:
            levels[0] -= 1
        t = type(v)          # _checked, inline
        if t is int:
            if -MAX_INT < v < MAX_INT:
                return v
        elif t is bool or v is None or t is Node:
            return v
        elif (t is str or t is Symbol or t is list) and len(v) <= MAX_LEN:
            return v
        return _checked(v, span)
    return run


def _compile_method(e):
    """Any other node: its ``Evaluator`` method (looked up when it runs, as before)."""
    name = type(e).__name__
    return _level(e.span, lambda ev: getattr(Evaluator, name)(ev, e))


def _spine(e) -> list:
    """A chain of binary operators along its left side, outermost first (see ``Evaluator.BinOp``)."""
    spine = [e]
    while isinstance(spine[-1].left, S.BinOp):
        spine.append(spine[-1].left)
    return spine


def _operand(e) -> tuple:
    """How a closure reads a child without calling it, where it can: (a literal's value or _MISSING, a
    name's key or None, the child's closure for everything else)."""
    known = _constant(e)
    return (known[0] if known is not None else _MISSING, e.id if type(e) is S.Name else None, e._ev)


def _read(ev, operands) -> list:
    """The values of a call's arguments, each an ``_operand``, in order: a literal, or a name bound to a
    number, read without its closure below the nesting limit (where the closure gives exactly that), any
    other from its closure. (The level is the same before each: a closure restores it as it returns.)"""
    out = []
    below, lookup = ev.levels[0] < MAX_EVAL_DEPTH, ev.lookup
    for literal, key, f in operands:
        if below:
            if literal is not _MISSING:
                out.append(literal)
                continue
            if key is not None:
                v = lookup.get(key)
                t = type(v)
                if (t is int and -MAX_INT < v < MAX_INT) or (t is float and v - v == 0.0):
                    out.append(v)
                    continue
        out.append(f(ev))
    return out


def _compile_binop(e):
    span, spine = e.span, _spine(e)
    first = spine[-1].left._ev
    steps = tuple((n, n.op in ("and", "or"), _PLAIN.get(n.op), *_operand(n.right), n.span) for n in reversed(spine))

    def binop(ev):
        # Evaluator.BinOp inside _level's frame, with ``binary``'s case of two numbers and a plain operator
        # inline, and a right operand that is a literal, or a name bound to a number, read without its closure:
        # below the nesting limit its closure gives exactly that (anything else: the closure itself)
        levels = ev.levels
        levels[0] += 1
        if levels[0] > MAX_EVAL_DEPTH:
            raise _too_deep(span)
        try:
            value = first(ev)
            for node, logical, plain, literal, key, right, at in steps:
                if logical:
                    value = ev.binary(node, value)
                else:
                    if literal is not _MISSING and levels[0] < MAX_EVAL_DEPTH:
                        r = literal
                    elif key is not None and levels[0] < MAX_EVAL_DEPTH:
                        r = ev.lookup.get(key)
                        kr = type(r)
                        if not ((kr is int and -MAX_INT < r < MAX_INT) or (kr is float and r - r == 0.0)):
                            r = right(ev)
                    else:
                        r = right(ev)
                    kl, kr = type(value), type(r)
                    if plain is not None and (kl is int or kl is float) and (kr is int or kr is float):
                        value = plain(value, r)
                    else:
                        value = ev.combine(node, value, r)
                t = type(value)      # bounded's checks, the usual results first
                if t is int:
                    if not -MAX_INT < value < MAX_INT:
                        value = bounded(value, at)
                elif t is not bool and not (t is float and value - value == 0.0):   # bool, finite float: as is
                    value = bounded(value, at)
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            raise CnnError("value", f"can't compute this: {exc}", span) from None
        finally:
            levels[0] -= 1
        if type(value) is int or type(value) is bool:   # as _level ends (an int was checked at its step)
            return value
        return _checked(value, span)
    return binop


def _compile_str(e):
    span = e.span
    parts = tuple(p if isinstance(p, str) else (p, p._ev, p.id if isinstance(p, S.Name) else None)
                  for p in e.parts)

    def template(ev):
        # Evaluator.Str inside _level's frame; a name bound to a string or an int is read without its
        # closure: below the nesting limit its closure gives exactly that (anything else: the closure itself)
        levels = ev.levels
        levels[0] += 1
        if levels[0] > MAX_EVAL_DEPTH:
            raise _too_deep(span)
        try:
            out = []
            lookup = ev.lookup
            for part in parts:
                if type(part) is str:
                    out.append(part)
                    continue
                node, f, key = part
                if key is not None:
                    v = lookup.get(key, _MISSING)
                    if v is _MISSING:       # Evaluator.Str's error
                        raise CnnError("name", f"unknown name `{key}` in a name template", node.span,
                                       hint=did_you_mean(key, lookup) or "bind it with a parameter or `let`")
                    if levels[0] < MAX_EVAL_DEPTH:
                        t = type(v)
                        if t is str and len(v) <= MAX_LEN:
                            out.append(v)           # fmt_value(v) is v
                            continue
                        if t is int and -MAX_INT < v < MAX_INT:
                            out.append(str(v))      # fmt_value(v)
                            continue
                v = f(ev)
                if v is None:
                    return None
                out.append(str(v) if type(v) is int else fmt_value(v))
            v = "".join(out)
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            raise CnnError("value", f"can't compute this: {exc}", span) from None
        finally:
            levels[0] -= 1
        return v if len(v) <= MAX_LEN else _checked(v, span)     # as _level ends
    return template


def _compile_list(e):
    items, span = tuple(x._ev for x in e.items), e.span
    return _level(span, lambda ev: vlist([f(ev) for f in items], span))


def _compile_unary(e):
    operand, f = e.operand, e.operand._ev
    if e.op == "not":
        def unary(ev):
            v = f(ev)
            return not (v if type(v) is bool else ev.truth(v, operand))
    else:
        def unary(ev):
            v = f(ev)
            t = type(v)
            return -(v if t is int or t is float else ev.number(v, operand))
    return _level(e.span, unary)


def _compile_ternary(e):
    # `t if c else add(t, u)`: a branch that calls an op (not shadowed by a function) is an error, checked
    # first, as Evaluator.Ternary does
    calls = tuple(b for b in (e.body, e.orelse) if isinstance(b, S.FuncCall))
    body, test, orelse, test_node = e.body._ev, e.test._ev, e.orelse._ev, e.test

    def ternary(ev):
        for branch in calls:
            if (branch.name in REGISTRY and not REGISTRY[branch.name].internal
                    and not isinstance(ev.lookup.get(branch.name), Function)):
                raise ev.tensor_ternary(e, branch)
        c = test(ev)
        if type(c) is not bool:
            c = ev.truth(c, test_node)
        return body(ev) if c else orelse(ev)
    return _level(e.span, ternary)


def _compile_attr(e):
    value, get = e.value._ev, TENSOR_ATTRS.get(e.attr)

    def attr(ev):
        v = value(ev)
        if get is not None and type(v) is Node:    # a tensor's attribute (Evaluator.attr_of's last case)
            return get(v.shape)
        return ev.attr_of(e, v)
    return _level(e.span, attr)


def _compile_index(e):
    value, index = e.value._ev, e.index._ev

    def at(ev):
        v, i = value(ev), index(ev)
        if type(i) is int and (type(v) is VList or type(v) is list) and -len(v) <= i < len(v):
            return v[i]        # Evaluator.index_of's checks, passed
        return ev.index_of(e, v, i)
    return _level(e.span, at)


def _compile_call(e):
    name, args = e.name, e.args
    builtin = FUNCS.get(name)
    least, most, _ = ARITY.get(name, (0, None, ""))
    if builtin is None and all(a.name is None for a in args):    # a spec's function, every argument by position
        operands = tuple(_operand(a.value) for a in args)

        def function_call(ev):
            fn = ev.lookup.get(name)
            if isinstance(fn, Function):
                return fn.call_in_order(ev, e, operands)
            return ev.FuncCall(e)
        return _level(e.span, function_call)
    if (builtin is None or name in MAKERS or any(a.name is not None for a in args)
            or not least <= len(args) <= (most if most is not None else len(args))):
        # a spec's function, an initializer, keywords, a wrong count: Evaluator.FuncCall
        def call(ev):
            fn = ev.lookup.get(name)
            if isinstance(fn, Function):
                return fn.call(ev, e)
            return ev.FuncCall(e)
        return _level(e.span, call)
    operands, span = tuple(_operand(a.value) for a in args), e.span

    def builtin_call(ev):   # a built-in given its positional arguments (unless a function of the spec has its name)
        fn = ev.lookup.get(name)
        if isinstance(fn, Function):
            return fn.call(ev, e)
        given = _read(ev, operands)
        try:
            return builtin(*given)
        except CnnError as err:
            raise err.located(span)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CnnError("type", f"{name}(): {exc}", span) from None
    return _level(span, builtin_call)


_COMPILERS = {S.Num: _compile_const, S.Const: _compile_const, S.Name: _compile_name, S.BinOp: _compile_binop,
              S.Str: _compile_str, S.ListE: _compile_list, S.Unary: _compile_unary, S.Ternary: _compile_ternary,
              S.Attr: _compile_attr, S.Index: _compile_index, S.FuncCall: _compile_call}


def _below(e) -> list:
    """The nodes a compiled ``e`` calls (a chain of binary operators: the operands along its spine)."""
    t = type(e)
    if t is S.BinOp:
        spine = _spine(e)
        return [spine[-1].left] + [n.right for n in spine]
    if t is S.Str:
        return [p for p in e.parts if not isinstance(p, str)]
    if t is S.ListE:
        return list(e.items)
    if t is S.Unary:
        return [e.operand]
    if t is S.Ternary:
        return [e.body, e.test, e.orelse]
    if t is S.Attr:
        return [e.value]
    if t is S.Index:
        return [e.value, e.index]
    if t is S.FuncCall:
        return [a.value for a in e.args]
    return []


def _compile(root):
    """Compile ``root`` and every node below it not yet compiled, the deepest first (without recursion:
    an expression may nest a thousand levels)."""
    stack = [(root, False)]
    while stack:
        e, ready = stack.pop()
        if ready:
            object.__setattr__(e, "_ev", _COMPILERS.get(type(e), _compile_method)(e))
        elif e._ev is None:
            stack.append((e, True))
            stack.extend([(x, False) for x in _below(e)])
    return root._ev


def evaluate(expr, lookup, tick=None, qualified=()):
    """``expr``'s value, from any entry point: with room on Python's stack for MAX_EVAL_DEPTH levels, and a
    RecursionError that still happens made a located limit error."""
    from .errors import deep_stack
    with deep_stack(4 * MAX_EVAL_DEPTH + 5_000):
        try:
            return Evaluator(lookup, tick, qualified)(expr)
        except RecursionError:
            raise CnnError("limit", "this expression nests too deeply for Python's stack", expr.span) from None


def source_text(span) -> str:
    """The text a span covers, on one line (for hints that quote the spec)."""
    lines = [span.source.line(n) for n in range(span.line, span.end_line + 1)]
    if len(lines) == 1:
        return lines[0][span.col - 1:span.end_col - 1]
    lines[0], lines[-1] = lines[0][span.col - 1:], lines[-1][:span.end_col - 1]
    return " ".join(x.strip() for x in lines)


def _fits(n: int, what: str, span, whole: bool = False) -> None:
    if n > MAX_LEN:
        if whole:
            raise CnnError("limit", f"{what} of {n:,} items in all (its lists' items counted) is over the limit of "
                                    f"{MAX_LEN:,}", span)
        raise CnnError("limit", f"{what} of {n:,} items is over the limit of {MAX_LEN:,}", span)


def bounded(v, span):
    """``v``, if it is a value the language allows: a finite number of bounded size, a list or a
    string of bounded length. Anything else is a located error, never a Python exception later."""
    t = type(v)
    if t is Node or t is Symbol or t is str or t is list:     # the usual values, checked by their exact type
        if t is not Node and len(v) > MAX_LEN:
            _fits(len(v), "a list" if t is list else "a string", span)
        return v
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if not -MAX_INT < v < MAX_INT:
            raise CnnError("limit", f"an integer of {len(str(abs(v))) if abs(v) < 10 ** 4000 else 'over 4000'} "
                                    f"digits is over the limit of 2**63", span)
        return v
    if isinstance(v, float):
        if v != v:
            raise CnnError("value", "not a real number (nan)", span)
        if v in (float("inf"), float("-inf")):
            raise CnnError("value", "not a finite number", span)
        return v
    if isinstance(v, complex):
        raise CnnError("value", f"not a real number ({v})", span)
    if isinstance(v, str):
        _fits(len(v), "a string", span)
    elif isinstance(v, list):
        _fits(len(v), "a list", span)
        if not isinstance(v, VList):        # made outside the evaluator (a tensor's shape, --set): sized once
            v = vlist(v, span)
        _fits(v.size, "a list", span, whole=True)
    return v
