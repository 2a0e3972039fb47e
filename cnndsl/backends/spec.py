"""The spec writer: any IR graph -> a readable .cnn spec (``cnndsl import``, ``compile --emit cnn``).

A backend like the others: ``emit_spec(graph)`` works on a graph read from a Keras model
(``keras_reader``) or lowered from a spec, so ``cnndsl compile x.cnn --emit cnn`` gives a spec that
checks to the same graph: the same layer names, ops, arguments, shapes.

1. ``defaults`` are hoisted where most layers of an op agree on a value the op does not default to;
2. repeated structure becomes blocks (``motifs.recover``, the one block-recovery engine): runs of
   layers that are equal up to their argument values and names become one block, the differing
   values its parameters, names a template (``name="{name}_1_conv"``); consecutive calls that differ
   only by a counter fold into a ``repeat``;
3. every body is written as chains and branches (``concat { a; b -> c; identity }``) where the
   graph is series-parallel, and with named tensors where it is not.

Every layer keeps its name: written out where it is one a person chose (``meta["explicit"]``, true
for every node of a spec's graph, false for Keras's generated ``conv2d_12``).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ..errors import CnnError
from ..motifs import (KEYWORDS, Expr, counting, identifier, key as _key, op_defaults, plain as _plain, recover,
                      repeat_run)
from ..ops import REGISTRY
from ..ops.schema import REQUIRED, Initializer, fixed_weights


# --- defaults ---------------------------------------------------------------------------------------

def hoist_defaults(layers) -> dict:
    """op -> {arg: value} that most layers of the op agree on and the op doesn't default to.

    Only arguments whose op default is a value (not ``none``, "Keras's own default"), since a layer that
    keeps Keras's default could not say so under a hoisted one.
    """
    by_op = {}
    for n in layers:
        if n.op in REGISTRY and n.op != "input":
            by_op.setdefault(n.op, []).append(n)
    out = {}
    for op, ns in by_op.items():
        if len(ns) < 3:
            continue
        for a in REGISTRY[op].args:
            if a.default is REQUIRED or a.default is None or a.name in ("name",):
                continue
            default = op_defaults(op).get(a.name)
            counts = Counter(_key(n.args.get(a.name, default)) for n in ns)
            value, k = counts.most_common(1)[0]
            if k * 2 > len(ns) and value != _key(default):
                out.setdefault(op, {})[a.name] = next(n.args[a.name] for n in ns
                                                      if a.name in n.args and _key(n.args[a.name]) == value)
    return out


# --- rendering values ----------------------------------------------------------------------------------

SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def value_text(v, symbol: bool = True) -> str:
    if v is None:
        return "none"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        if text in ("inf", "-inf", "nan"):
            raise CnnError("unsupported", f"the value {text} has no .cnn form")
        return text
    if isinstance(v, Initializer):
        if fixed_weights(v) is not None:     # fixed weights: kernel_init=[[...]]
            return value_text(fixed_weights(v))
        fn = _snake_class(v.name)
        return f"{fn}(" + ", ".join(f"{k}={value_text(x)}" for k, x in v.args) + ")"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value_text(x, symbol) for x in v) + "]"
    if isinstance(v, Expr):
        return v.text
    if isinstance(v, str):
        if symbol and SYMBOL.fullmatch(v) and v not in KEYWORDS - {"none", "true", "false"}:
            return v
        return string_text(v)
    raise CnnError("internal", f"no .cnn form for {v!r}")


def string_text(v: str) -> str:
    return f"'{v}'" if '"' in v else f'"{v}"'


def _snake_class(name: str) -> str:
    return {"VarianceScaling": "variance_scaling", "Constant": "constant", "RandomNormal": "random_normal",
            "RandomUniform": "random_uniform", "TruncatedNormal": "truncated_normal", "L1": "l1", "L2": "l2",
            "L1L2": "l1_l2"}[name]


# An op's first argument written without its keyword even though it has a default: zeropad(3).
LEADING = {"pool", "padding", "cropping", "size", "fn", "rate", "slope", "scale", "groups", "init", "parts", "dims",
           "shape"}


# --- items: what a body is made of ----------------------------------------------------------------------

@dataclass(eq=False)
class Item:
    """One statement's worth of a body: a layer, a block call, a sequential group, a repeat.

    ``inputs`` are refs ``(producer, index)``, the producer an Item or a ``Port`` (a body input);
    ``head`` is the element's text (``conv(64, 3, name="c1")``, ``res(64, name="b1")``) without the
    tensors it reads; ``merge``: the element joins its inputs (``add``, ``concat``), written with
    branches where the graph allows; ``tensor_args``: inputs after the first are passed by name.
    """
    head: str
    inputs: list
    n_out: int = 1
    merge: bool = False
    tensor_args: bool = False
    body: list = None             # a sequential's or repeat's own lines, written inside braces
    name_hint: str = ""

    @property
    def outputs(self):
        return [(self, i) for i in range(self.n_out)]


@dataclass(eq=False)
class Port:
    """A body input: ``in``, a block's tensor parameter, a network input."""
    name: str


def _rk(ref):
    return (id(ref[0]), ref[1])


WIDTH = 100
MAX_HINT = 20          # a tensor takes its layer's name when that is this short, else x1, x2, ...


class Body:
    """Writes a list of Items (topologically ordered) as statements: chains and branches where the
    graph is series-parallel, named tensors where it is not."""

    def __init__(self, items, ports, outputs, taken=(), hints=True, implicit=True):
        self.items = items
        self.implicit = implicit           # ports[0] starts a chain unnamed (a block's `in`, a network's one input)
        self.hints = hints                 # name tensors after their layers (the network's body)
        self.ports = ports                 # Port objects; ports[0] is the current tensor at the start
        self.outputs = outputs             # refs the body gives
        self.taken = set(taken)
        self.uses = Counter()
        for it in items:
            for r in it.inputs:
                self.uses[_rk(r)] += 1
        for r in outputs:
            self.uses[_rk(r)] += 1
        self.names = {(id(p), 0): p.name for p in ports}
        self.producer = {}
        for it in items:
            for r in it.outputs:
                self.producer[_rk(r)] = it

    def absorbable(self, r) -> bool:
        it = self.producer.get(_rk(r))
        if getattr(it, "shared", False) and self.uses[_rk(r)] == 1 and it.n_out == 1:
            return False      # an application of a shared layer: a statement of its own, in its turn
        return it is not None and it.n_out == 1 and self.uses[_rk(r)] == 1 and not any(_rk(r) == _rk(o) for o in self.outputs)

    def lines(self, indent: str) -> tuple[list, list]:
        """The statements, and the names of the outputs that had to be named (None: the last statement)."""
        pending = {}

        def take(r, branch=False):
            """A ref's chain, if this reader is its only one (it is then absorbed), else the ref itself.
            A branch needs a chain from a tensor, so a named merge (``add(a, b)``) stays a statement.
            The third item counts the reads of the chain's base tensor the chain accounts for."""
            if self.absorbable(r) and _rk(r) in pending and not (branch and pending[_rk(r)][0] is None):
                return pending.pop(_rk(r))
            return (r, [], 1)

        for it in self.items:
            key = _rk(it.outputs[0])
            if it.merge and len(it.inputs) >= 2:
                parts = [take(r, branch=True) for r in it.inputs]
                bases = {_rk(b) for b, _, _ in parts}
                if len(bases) == 1:
                    b = parts[0][0]
                    bk = _rk(b)
                    reads = sum(acc for _, _, acc in parts)
                    branches = ("branches", it, [e for _, e, _ in parts])
                    if (bk in pending and self.uses[bk] == reads and self.producer[bk].n_out == 1
                            and not any(bk == _rk(o) for o in self.outputs) and pending[bk][0] is not None):
                        base, els, acc = pending.pop(bk)      # the fork is inline: x -> add { ...; ... }
                        els.append(branches)      # in place: a long chain stays linear
                        pending[key] = (base, els, acc)
                    else:
                        pending[key] = (b, [branches], reads)
                else:
                    pending[key] = (None, [("named", it, [(b, e) for b, e, _ in parts])], 0)
            else:
                b, els, acc = take(it.inputs[0]) if it.inputs else (None, [], 0)
                els.append(("item", it, list(it.inputs[1:])))
                pending[key] = (b, els, acc)
        outs = [_rk(o) for o in self.outputs]
        last = _rk(self.items[-1].outputs[0]) if self.items else None
        implicit = len(outs) == 1 and outs[0] == last and outs.count(last) == 1
        named = {k for k in pending if not (implicit and k == last)}
        for it in self.items:
            if it.n_out > 1:
                named.update(_rk(r) for r in it.outputs)
        for k in outs:
            if not (implicit and k == last):
                named.add(k)
        count = 0
        for it in self.items:
            for r in it.outputs:
                k = _rk(r)
                if k in named and k not in self.names:
                    count += 1
                    hint = it.name_hint if self.hints and it.name_hint and len(it.name_hint) <= MAX_HINT else f"x{count}"
                    self.names[k] = identifier(hint, self.taken | set(self.names.values()))
        out, cur, prev_assign = [], _rk((self.ports[0], 0)) if self.ports and self.implicit else None, False
        for it in self.items:
            k = _rk(it.outputs[0])
            if k not in pending:
                continue
            b, els, _ = pending[k]
            if it.n_out > 1:
                targets = ", ".join(self.names[_rk(r)] for r in it.outputs)
                out += self.statement(f"{targets} = ", b, els, cur, True, indent)
                cur, prev_assign = None, True
                continue
            assign = k in named
            lead = f"{self.names[k]} = " if assign else ""
            out += self.statement(lead, b, els, cur, prev_assign and assign, indent)
            cur, prev_assign = k, assign
        return out, [self.names[k] if k in named else None for k in outs]

    def ref_text(self, r) -> str:
        return self.names[_rk(r)]

    def chain_text(self, base, els, cur, explicit: bool) -> list:
        """A chain as a list of pieces: the base (when not the current tensor) and the elements."""
        pieces = []
        if base is not None and (explicit or _rk(base) != cur):
            pieces.append(self.ref_text(base))
        for el in els:
            pieces.append(self.element(el))
        return pieces

    def element(self, el) -> str:
        kind, it, data = el
        if kind == "item":
            head = it.head
            if data:
                names = ", ".join(self.ref_text(r) for r in data)
                head = _insert_args(head, names, first=True)
            if it.body is not None:
                return head + " {\n" + "\n".join(it.body) + "\n}"
            return head
        if kind == "branches":
            parts = []
            for els in data:
                parts.append(" -> ".join(self.element(e) for e in els) if els else "identity")
            return it.head + " {\n" + "\n".join(parts) + "\n}"
        # named merge: op(a, b -> c, ...), one argument a line when long
        args = []
        for b, els in data:
            args.append(" -> ".join([self.ref_text(b)] + [self.element(e) for e in els]))
        text = _insert_args(it.head, ", ".join(args), first=True)
        if len(text) <= WIDTH - 30 or "\n" in text:
            return text
        name, rest = it.head.split("(", 1) if "(" in it.head else (it.head, ")")
        kw = rest[:-1]
        return name + "(\n" + ",\n".join(args + ([kw] if kw else [])) + "\n)"

    def statement(self, lead, base, els, cur, explicit, indent) -> list:
        pieces = self.chain_text(base, els, cur, explicit)
        if not pieces:
            pieces = ["identity"]
        return layout(lead + " -> ".join(pieces), indent)


def _insert_args(head: str, args: str, first: bool = False) -> str:
    """``op(x, k=1)`` with tensor arguments added: after the positional ones, or ``first``."""
    if "(" not in head:
        return f"{head}({args})"
    name, rest = head.split("(", 1)
    inner = rest[:-1]
    if not inner:
        return f"{name}({args})"
    return f"{name}({args}, {inner})" if first else f"{name}({inner}, {args})"


def layout(text: str, indent: str) -> list:
    """Source text (with ``{ ... }`` bodies on their own lines) indented, long chains broken at ``->``."""
    out = []
    depth = 0
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith(("}", ")")):
            depth -= 1
        pad = indent + "    " * depth
        out += _wrap(pad + line, pad)
        if line.endswith(("{", "(")):
            depth += 1
    return out


def _wrap(line: str, pad: str) -> list:
    if len(line) <= WIDTH or " -> " not in line:
        return [line]
    parts = _split_top(line, " -> ")
    if len(parts) == 1:
        return [line]
    lines, cur = [], parts[0]
    for p in parts[1:]:
        if len(cur) + 4 + len(p) > WIDTH:
            lines.append(cur)
            cur = pad + "  -> " + p
        else:
            cur += " -> " + p
    lines.append(cur)
    return lines


def _split_top(text: str, sep: str) -> list:
    """``text`` split at ``sep`` outside brackets and strings."""
    out, depth, start, i, quote = [], 0, 0, 0, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(sep, i):
            out.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    out.append(text[start:])
    return out


# --- layers as text -------------------------------------------------------------------------------------

def written_args(layer, hoisted: dict) -> dict:
    """The arguments a layer's call states: those off the op's default, less those a ``defaults``
    line gives, plus the op's own default where a ``defaults`` line would say otherwise."""
    mine = hoisted.get(layer.op, {})
    out = {}
    for a in REGISTRY[layer.op].args:
        if a.name in layer.args:
            v = layer.args[a.name]
            if a.name in mine and _key(mine[a.name]) == _key(v):
                continue
            out[a.name] = v
        elif a.name in mine:
            out[a.name] = op_defaults(layer.op).get(a.name)
    if layer.args.get("trainable") is False:       # a frozen layer (any op takes trainable=)
        out["trainable"] = False
    return out


def call_text(op: str, args: dict, name=None, keywords: bool = False) -> str:
    """``op(positional, key=value, name="...")``; ``args`` in any order, values or ``Expr``."""
    pos, kw = [], []
    positional = True
    for a in REGISTRY[op].args:
        if a.name not in args:
            positional = False
            continue
        text = value_text(args[a.name])
        if positional and not keywords and (a.default is REQUIRED or (a is REGISTRY[op].args[0] and a.name in LEADING)):
            pos.append(text)
        else:
            positional = False
            kw.append(f"{a.name}={text}")
    if "trainable" in args:
        kw.append(f"trainable={value_text(args['trainable'])}")
    if name is not None:
        kw.append(f"name={name.text if isinstance(name, Expr) else string_text(name)}")
    inner = ", ".join(pos + kw)
    return f"{op}({inner})" if inner else op


def defaults_lines(hoisted: dict, indent: str) -> list:
    return [f"{indent}defaults {call_text(op, args, keywords=True)}" for op, args in sorted(hoisted.items())]


# --- the whole spec -------------------------------------------------------------------------------------

def emit_spec(graph, source: str | None = None, blocks: bool = True) -> str:
    """The .cnn text of an IR graph: one network, and the blocks recovered from it (``blocks=False``:
    one flat network). ``source`` is named in the header comment."""
    rec = recover(graph, blocks=blocks)
    layers = [a for a in rec.layers if a.op != "input"]
    hoisted = hoist_defaults(layers)
    taken = set()
    params = []
    batch = {n.shape[0] for n in graph.inputs.values()}
    for n, p in zip(graph.inputs.values(), rec.ports):
        p.name = identifier(p.name, taken)
        taken.add(p.name)
        params.append(f"{p.name}: {value_text(list(n.shape[1:]))}")
    if len(batch) == 1 and None not in batch:
        params.append(f"batch={batch.pop()}")
    netname = identifier(graph.name, taken, "model")
    taken.add(netname)
    for blk in rec.blocks:
        if blk.name in KEYWORDS or blk.name in REGISTRY:     # `block_2`'s word `block`: a `block_unit`
            blk.name += "_unit"
        blk.name = identifier(blk.name, taken, "unit")
        taken.add(blk.name)
    for inst in rec.shared:
        inst.name = identifier(inst.name, taken, "shared")
        taken.add(inst.name)
    writer = _Writer(hoisted, taken)
    block_text = []
    for blk in rec.blocks:
        block_text += writer.block(blk) + [""]
    # a network with several inputs has no implicit input: each chain names the tensor it starts from
    lines, out_names = writer.body(rec.seq, rec.ports, rec.outputs, "    ", implicit=len(rec.ports) == 1)
    head = f"network {netname}({', '.join(params)})"
    if any(o is not None for o in out_names) or len(out_names) > 1:
        head += f" -> ({', '.join(o for o in out_names)})"
    comment = (f"# Imported from {source} by `cnndsl import`." if source else
               f"# The network `{graph.name}`, written by `cnndsl compile --emit cnn`.")
    text = [comment, ""] + block_text + [head + " {"]
    text += defaults_lines(hoisted, "    ")
    for inst in rec.shared:        # shared layers and blocks, declared before their applications
        made = f"{inst.block.name}()" if inst.block is not None else writer.head(inst.atom, declare=True)
        text += layout(f"shared {inst.name} = {made}", "    ")
    text += lines
    text.append("}")
    return "\n".join(text) + "\n"


class _Writer:
    """Atoms (layers, groups, calls) -> Items -> lines, with consecutive counted calls folded into repeats."""

    def __init__(self, hoisted, taken):
        self.hoisted, self.taken = hoisted, taken
        self.local = set()         # the parameters of the block being written (a list must not shadow one)

    def head(self, a, declare: bool = False) -> str:
        if getattr(a, "instance", None) is not None and not declare:
            return a.instance.name        # an application of a shared layer or block: `-> enc`
        if a.kind == "layer":
            mine = self.hoisted.get(a.op, {})
            written = {}
            for arg in REGISTRY[a.op].args:
                v = a.values.get(arg.name, op_defaults(a.op).get(arg.name))
                base = mine.get(arg.name, op_defaults(a.op).get(arg.name))
                if isinstance(v, Expr) or _key(_plain(v)) != _key(_plain(base)):
                    written[arg.name] = v
            frozen = a.values.get("trainable", True)
            if frozen is not True:                     # a frozen layer (false, or a block's parameter)
                written["trainable"] = frozen
            name = a.name
            if declare and name == a.instance.name:
                name = None           # `shared head = dense(4)` names its first layer `head`
            text = call_text(a.op, written, name)
            if "when" in a.values:    # an optional residual: add(when=residual)
                when = f"when={value_text(a.values['when'])}"
                text = f"{text[:-1]}, {when})" if text.endswith(")") else f"{text}({when})"
            return text
        if a.kind == "group":
            return f"sequential(name={string_text(a.group)})"
        args = []
        for p, v in a.values.items():
            text = string_text(v) if p in a.block.name_params and isinstance(v, str) else value_text(v)
            args.append(f"{p}={text}" if p in ("name", "id") else text)
        return f"{a.block.name}({', '.join(args)})"

    def group_body(self, a) -> list:
        return [call_text(m.op, written_args(m, self.hoisted), m.name if m.explicit else None) for m in a.members]

    def items(self, atoms):
        item_of = {}
        items = []
        k = 0
        while k < len(atoms):
            a = atoms[k]
            run = self.repeat_run(atoms, k)
            if run > 1:
                calls = atoms[k:k + run]
                it = Item(head=f"repeat {run} as i", inputs=[], body=[self.repeat_call(calls)],
                          name_hint=calls[-1].hint)
                it._src = calls[0].inputs
                for c in calls:
                    item_of[id(c)] = it
                items.append(it)
                k += run
                continue
            if a.kind == "if":          # an optional part of a block: `-> if with_conv { ... } ->`
                saved = self.uses, self.lets
                lines, _ = self.body(a.body, [a.port], [(a.body[-1], 0)], "", hints=False)
                self.uses, self.lets = saved
                it = Item(head=f"if {value_text(a.values['flag'])}", inputs=[], body=lines, name_hint="x")
                it._src = a.inputs
                item_of[id(a)] = it
                items.append(it)
                k += 1
                continue
            it = Item(head=self.head(a), inputs=[], n_out=a.n_out,
                      merge=a.kind == "layer" and REGISTRY[a.op].arity is None,
                      body=self.group_body(a) if a.kind == "group" else None, name_hint=a.hint or "x")
            it._src = a.inputs
            it.shared = getattr(a, "instance", None) is not None
            item_of[id(a)] = it
            items.append(it)
            k += 1
        return items, item_of

    def repeat_run(self, atoms, k) -> int:
        return repeat_run(atoms, k, self.uses)

    def fold(self, value_dicts, block):
        """Per parameter, one expression in the repeat index `i`, or None when some can't be."""
        out = {}
        for p in value_dicts[0]:
            vals = [d[p] for d in value_dicts]
            if p not in block.name_params and p != "id" and any(_key(v) != _key(vals[0]) for v in vals):
                return None     # only names count up in a repeat; other values must agree
            e = _fold(vals, p in block.name_params)
            if e is None:
                return None
            out[p] = e
        return out

    def repeat_call(self, calls) -> str:
        block = calls[0].block
        folded = self.fold([c.values for c in calls], block)
        if folded is None:          # values that don't count up: a list per parameter, read at [i]
            folded = {}
            for p in calls[0].values:
                vals = [c.values[p] for c in calls]
                quoted = p in block.name_params
                e = _fold(vals, quoted) if quoted or p == "id" or all(_key(v) == _key(vals[0]) for v in vals) else None
                if e is None:
                    col = identifier(p, self.taken | self.local)
                    self.taken.add(col)
                    texts = [string_text(v) if quoted and isinstance(v, str) else value_text(v) for v in vals]
                    self.lets.append((col, texts))
                    e = f"{col}[i]"
                folded[p] = e
        args = [f"{p}={t}" if p in ("name", "id") else t for p, t in folded.items()]
        return f"{block.name}({', '.join(args)})"

    def body(self, atoms, ports, outputs, indent, hints=True, implicit=True):
        self.lets = []          # the lists a repeat reads its values from: written before the body
        self.uses = Counter((id(src), i) for a in atoms for src, i in a.inputs)
        self.uses.update((id(src), i) for src, i in outputs)
        items, item_of = self.items(atoms)

        def conv(r):
            src, i = r
            if id(src) in item_of:
                it = item_of[id(src)]
                return (it, i)
            return (src, i)
        for it in items:
            it.inputs = [conv(r) for r in it._src]
        outs = [conv(r) for r in outputs]
        body = Body(items, ports, outs, self.taken, hints, implicit)
        lines, names = body.lines(indent)
        lets = [line for col, texts in self.lets for line in _let_lines(col, texts, indent)]
        return lets + lines, names

    def block(self, blk) -> list:
        self.local = set(blk.params) | {p.name for p in blk.ports}
        lines, out_names = self.body(blk.body, blk.ports, blk.outputs, "    ", hints=False)
        self.local = set()
        params = [p.name for p in blk.ports[1:]] + blk.params
        head = f"block {blk.name}({', '.join(params)})"
        if any(o is not None for o in out_names) or len(out_names) > 1:
            head += f" -> ({', '.join(o for o in out_names)})"
        return [head + " {"] + lines + ["}"]


def _let_lines(col: str, texts: list, indent: str) -> list:
    """``let col = [a, b, ...]``, broken after commas where it is long."""
    out, cur = [], f"{indent}let {col} = ["
    pad = " " * len(cur)
    for k, t in enumerate(texts):
        piece = t + (", " if k < len(texts) - 1 else "]")
        if len(cur) + len(piece.rstrip()) > WIDTH and not cur.endswith("["):
            out.append(cur.rstrip())
            cur = pad
        cur += piece
    out.append(cur)
    return out


def _fold(vals, quoted=False):
    """The text of ``vals[i]`` as an expression in ``i``: a constant, an arithmetic sequence, or a
    string with one such number in it (``motifs.counting``, the block recovery's own rule); None otherwise."""
    c = counting(vals)
    if c is None:
        return None
    if c[0] == "same":
        return string_text(c[1]) if quoted and isinstance(c[1], str) else value_text(c[1])
    if c[0] == "int":
        return _affine(c[1], c[2])
    _, pre, a, d, suf = c
    return string_text(pre + "{" + _affine(a, d) + "}" + suf)


def _affine(a, d) -> str:
    i = "i" if d == 1 else f"{d} * i"
    if a == 0:
        return i if d else "0"
    return f"{i} + {a}" if d else str(a)


