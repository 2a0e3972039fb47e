"""Block recovery for ``decompile``: repeated runs of layers become parameterised blocks.

The layers are first put in a *chain-first* topological order (a layer that reads the layer just
written comes next; otherwise the earliest in the framework's order), so a residual unit or an
inception module is one contiguous run however the framework ordered its branches.

Then, greedily, the run with the largest saving in lines becomes a block: runs are equal when their
layers have the same ops, read each other the same way (inputs inside the run by relative position,
inputs from outside by order of first use) and give the same outputs; argument values may differ.
Each value that differs between the runs becomes a parameter of the block; explicit names become a
template (``"{name}_1_conv"``) with one parameter, when one substring varies per run. Calls are atoms
too, so a later round can find runs of calls (a stage of units). Consecutive calls of a block that
differ only by a counter fold into a ``repeat`` when written.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field

from .decompile import Expr, _key

MAX_RUN = 160          # longest run considered
MAX_PORTS = 4          # most inputs from outside / outputs of a run
WORK = 400_000         # runs looked at per round (n layers x run length), so a huge model stays quick


@dataclass(eq=False)
class Atom:
    """A layer, a sequential group, or a call of a recovered block, in the order being compressed."""
    kind: str                       # "layer" | "group" | "call"
    op: str                         # op name, or block name
    values: dict                    # argument -> value (effective: defaults filled in for layers)
    name: object = None             # str, Expr, or None (a generated name)
    inputs: list = field(default_factory=list)    # refs (Atom or port object, index)
    n_out: int = 1
    members: list = None            # a group's layers (decompile.Layer)
    group: str = None
    hint: str = ""                  # a name for the tensor it gives
    block: object = None            # a call's Block

    @property
    def outputs(self):
        return [(self, i) for i in range(self.n_out)]


@dataclass(eq=False)
class Block:
    name: str
    params: list                    # value parameter names, in order
    n_in: int                       # tensor inputs (the first is `in`)
    body: list                      # template Atoms; values may be Expr(param)
    ports: list                     # port objects standing for the inputs
    outputs: list                   # refs into body
    calls: int = 0


def chain_first_order(atoms, position) -> list:
    """Atoms in a topological order that keeps chains together; ties by the framework's order."""
    ids = {id(a) for a in atoms}
    deps = {id(a): len({id(src) for src, _ in a.inputs if id(src) in ids}) for a in atoms}
    users = {id(a): [] for a in atoms}
    for a in atoms:
        for src in {id(s): s for s, _ in a.inputs if id(s) in ids}.values():
            users[id(src)].append(a)
    ready = [(position[id(a)], id(a), a) for a in atoms if deps[id(a)] == 0]
    heapq.heapify(ready)
    done, out, last = set(), [], None
    while ready:
        pick = None
        if last is not None:
            cands = [u for u in users[id(last)] if deps[id(u)] == 0 and id(u) not in done]
            if cands:
                pick = min(cands, key=lambda u: position[id(u)])
        if pick is None:
            while ready and ready[0][1] in done:
                heapq.heappop(ready)
            if not ready:
                break
            pick = heapq.heappop(ready)[2]
        if id(pick) in done:
            continue
        done.add(id(pick))
        out.append(pick)
        last = pick
        for u in users[id(pick)]:
            deps[id(u)] -= 1
            if deps[id(u)] == 0:
                heapq.heappush(ready, (position[id(u)], id(u), u))
    return out


def atom_sig(a) -> tuple:
    if a.kind == "call":
        return ("call", id(a.block), a.n_out)
    if a.kind == "group":
        return ("group", tuple((m.op, tuple(sorted((k, _key(v)) for k, v in m.args.items())), m.name)
                               for m in a.members))
    return (a.kind, a.op, a.name is not None, a.n_out)


class Compressor:
    def __init__(self, atoms, outputs, ports):
        self.seq = atoms
        self.outputs = outputs          # network output refs
        self.ports = ports
        self.blocks = []

    # -- the search --
    def run(self, rounds: int = 40):
        for _ in range(rounds):
            best = self.best_run()
            if best is None:
                return
            self.replace(*best)

    def best_run(self):
        seq = self.seq
        n = len(seq)
        pos = {id(a): i for i, a in enumerate(seq)}
        last_use = {}
        for i, a in enumerate(seq):
            for src, idx in a.inputs:
                j = pos.get(id(src))
                if j is not None:
                    last_use[(j, idx)] = max(last_use.get((j, idx), -1), i)
        for src, idx in self.outputs:
            if id(src) in pos:
                last_use[(pos[id(src)], idx)] = n + 1
        produced = [[(i, k) for k in range(a.n_out)] for i, a in enumerate(seq)]
        sigs = [atom_sig(a) for a in seq]
        table = {}
        longest = max(8, min(MAX_RUN, WORK // max(n, 1)))   # a huge model: shorter runs, bounded time
        for i in range(n):
            ext = {}
            parts = []
            for L in range(1, min(longest, n - i) + 1):
                j = i + L - 1
                a = seq[j]
                refs = []
                for src, idx in a.inputs:
                    q = pos.get(id(src))
                    if q is not None and q >= i:
                        refs.append((j - q, idx))
                    else:
                        key = (id(src), idx)
                        if key not in ext:
                            ext[key] = len(ext)
                        refs.append(("e", ext[key]))
                parts.append((sigs[j], tuple(refs)))
                if len(ext) > MAX_PORTS:
                    break
                if L < 2:
                    continue
                end = i + L
                outs = tuple((p - i, k) for p in range(i, end) for (_, k) in produced[p]
                             if last_use.get((p, k), -1) >= end)
                if not outs or len(outs) > MAX_PORTS:
                    continue
                if len(ext) == 0:
                    continue
                key = (tuple(parts), outs)
                table.setdefault(key, []).append(i)
        scored = []
        for key, starts in table.items():
            if len(starts) < 2:
                continue
            L = len(key[0])
            chosen, end = [], -1
            for s in starts:
                if s >= end:
                    chosen.append(s)
                    end = s + L
            c = len(chosen)
            if c < 2:
                continue
            cost = self.cost(seq, chosen[0], L)
            n_in = 1 + max((r[1] for _, refs in key[0] for r in refs if r[0] == "e"), default=0)
            gain = c * cost - c * 1 - (cost + 2) - 0.5 * c * ((n_in - 1) + (len(key[1]) - 1))
            if gain > 0:
                # one tensor in, one out first: a unit as a person cuts it, not a window that straddles two
                sese = n_in == 1 and len(key[1]) == 1
                scored.append((not sese, gain, L, chosen[0], key, chosen))
        scored.sort(key=lambda t: (t[0], -t[1], -t[2], t[3]))
        for _, gain, L, _, key, chosen in scored[:3000]:
            try:
                block = make_block([seq[s:s + L] for s in chosen], key[1], len(self.blocks))
            except _NoTemplate:
                continue
            return block, chosen, L
        return None

    @staticmethod
    def cost(seq, i, L) -> float:
        """Lines a run takes written out: about one per layer (chains share lines), calls one each."""
        return sum(1.0 if a.kind != "layer" or a.op in ("add", "concat", "multiply") else 0.7 for a in seq[i:i + L])

    # -- making a block --
    def replace(self, block, starts, L):
        seq = self.seq
        runs = block.runs
        outs = block.out_positions
        self.blocks.append(block)
        # calls
        new, k = [], 0
        call_of = {}
        starts_set = {s: r for s, r in zip(starts, runs)}
        i = 0
        while i < len(seq):
            if i in starts_set:
                run = starts_set[i]
                call = make_call(block, run, outs)
                for o_idx, (p, k) in enumerate(outs):
                    call_of[(id(run[p]), k)] = (call, o_idx)
                new.append(call)
                i += L
            else:
                new.append(seq[i])
                i += 1
        # rewire readers of the runs' outputs to the calls
        for a in new:
            a.inputs = [call_of.get((id(s), idx), (s, idx)) for s, idx in a.inputs]
        self.outputs = [call_of.get((id(s), idx), (s, idx)) for s, idx in self.outputs]
        self.seq = new


@dataclass(eq=False)
class TPort:
    name: str


def _ext_refs(run):
    inside = {id(a) for a in run}
    ext = []
    for a in run:
        for r in a.inputs:
            if id(r[0]) not in inside and (id(r[0]), r[1]) not in [(id(x[0]), x[1]) for x in ext]:
                ext.append(r)
    return ext


def make_block(runs, outs, number) -> Block:
    first = runs[0]
    n_in = len(_ext_refs(first))
    ports = [TPort("in")] + [TPort(f"t{k}") for k in range(1, n_in)]
    # template atoms: values that differ across runs become parameters
    params, param_of, name_like = [], {}, set()
    names = NameTemplate.find(runs)
    body = []
    inside = {}
    for j, a in enumerate(first):
        values = {}
        for k in a.values:
            if a.kind == "call" and k == a.block.name_param:
                values[k] = names.template(j)
                continue
            vec = tuple(_key(r[j].values.get(k)) for r in runs)
            if len(set(vec)) == 1:
                values[k] = a.values[k]
            else:
                if vec not in param_of:
                    is_name = False
                    pname = _fresh("name" if is_name else _param_base(k), params + ["name", "id"])
                    params.append(pname)
                    if is_name:
                        name_like.add(pname)
                    param_of[vec] = (pname, [r[j].values.get(k) for r in runs])
                values[k] = Expr(param_of[vec][0])
        t = Atom(a.kind, a.op, values, names.template(j) if a.kind == "layer" and a.name is not None else None, [],
                 a.n_out, a.members,
                 a.group, a.hint, a.block)
        body.append(t)
        inside[id(a)] = t
    ext = _ext_refs(first)
    ext_index = {(id(r[0]), r[1]): k for k, r in enumerate(ext)}
    for a, t in zip(first, body):
        t.inputs = [(inside[id(s)], idx) if id(s) in inside else (ports[ext_index[(id(s), idx)]], 0)
                    for s, idx in a.inputs]
    if names.param is not None:
        params.append(names.param)
        if names.param == "name":
            name_like.add("name")
    block = Block(name="", params=params, n_in=n_in, body=body, ports=ports,
                  outputs=[(body[p], k) for p, k in outs])
    block.out_positions = outs
    block.name_params = name_like
    block.name_param = names.param
    block.values = {pname: vals for pname, vals in param_of.values()}
    block.name_values = names.values
    block.name = _block_name(first, names, number)
    block.runs = runs
    return block


def make_call(block, run, outs) -> Atom:
    k = block.runs.index(run)
    values = {p: block.values[p][k] for p in block.params if p in block.values}
    if block.name_values is not None:
        values[block.params[-1]] = block.name_values[k]
    ext = _ext_refs(run)
    hint = run[outs[-1][0]].hint if outs else ""
    call = Atom("call", block.name, values, None, list(ext), len(outs), hint=hint)
    call.block = block
    return call


def _fresh(base, taken):
    name, k = base, 2
    while name in taken or name in ("in", "name"):
        name, k = f"{base}{k}", k + 1
    return name


_PARAM_NAMES = {"filters": "filters", "units": "units", "kernel": "kernel", "stride": "stride", "pool": "pool",
                "padding": "padding", "rate": "rate", "activation": "act", "fn": "fn", "dilation": "dilation",
                "groups": "groups", "axis": "axis", "scale": "scale", "init": "init"}


def _param_base(arg):
    return _PARAM_NAMES.get(arg, arg)


def _block_name(run, names, number):
    """A block's name: the model's own word for the unit where it has a short one (``stem``, ``mixed``,
    ``conv_block``; ``stage`` for a run of units named by one word, as ResNet's ``conv2``), else what it is
    made of (``conv_bn_relu``, ``sepconv_block``, ``cell``)."""
    calls = [a for a in run if a.kind == "call"]
    if names.sample:
        words = [w.lower() for w in re.split(r"[^A-Za-z]+", names.sample) if w]
        if len(words) == 1 and calls:
            return "stage"           # `conv2`, made of units (`conv2_block1`, ...): a stage
        if 0 < len(words) <= 2:
            return "_".join(words)
    ops = [a.op for a in run if a.kind == "layer"]
    if 1 < len(ops) <= 3 and len(ops) == len(run):
        return "_".join(ops)
    if len(calls) > 1 and len(run) > 8:
        return "cell"
    main = next((op for op in ops if op in ("conv", "sepconv", "dwconv", "conv_transpose", "dense")), None)
    if main is not None:
        return f"{main}_block"
    return f"unit{number + 1}"


class NameTemplate:
    """Explicit names of runs as one template per position, with one varying part per run."""

    def __init__(self, templates, param, values, sample):
        self.templates, self.param, self.values, self.sample = templates, param, values, sample

    def template(self, j):
        t = self.templates.get(j)
        return t

    @classmethod
    def find(cls, runs):
        """One template per named position -- a layer's name, or the name a call passes its block -- with
        one part that varies from run to run; ``_NoTemplate`` when there is none (the runs don't align
        with the model's own naming, so they are not one block)."""
        positions = [j for j, a in enumerate(runs[0]) if _name_of(a) is not None]
        if not positions:
            return cls({}, None, None, "")
        names = [[_name_of(r[j]) for j in positions] for r in runs]
        for v0 in _candidates(names[0]):
            templates = [n.replace(v0, "\x00") for n in names[0]]
            if not all("\x00" in t for t in templates):
                continue
            values = [v0]
            for ns in names[1:]:
                v = _match(templates, ns)
                if v is None:
                    break
                values.append(v)
            if len(values) != len(names) or len(set(values)) != len(values):
                continue
            is_int = all(re.fullmatch(r"0|[1-9]\d*", v) for v in values)
            param = "id" if is_int else "name"
            texts = {}
            for j, t in zip(positions, templates):
                a = runs[0][j]
                if a.kind == "call" and a.block.name_param == "id" and (t != "\x00" or not is_int):
                    break                       # a counter can only be passed on as it is
                texts[j] = Expr(param) if a.kind == "call" and t == "\x00" else Expr(_string_template(t, param))
            else:
                vals = [int(v) for v in values] if is_int else values
                sample = v0 if not is_int else templates[0].replace("\x00", "").strip("_")
                return cls(texts, param, vals, sample)
        raise _NoTemplate()


class _NoTemplate(Exception):
    pass


def _name_of(a):
    """The name a run gives at this atom: a layer's own, or the one a call passes (as text)."""
    if a.kind == "layer":
        return a.name
    if a.kind == "call" and a.block.name_param is not None:
        return str(a.values[a.block.name_param])
    return None


def _string_template(t: str, param: str) -> str:
    text = t.replace("\x00", "{" + param + "}")
    return f"'{text}'" if '"' in text else f'"{text}"'


def _candidates(names):
    """Substrings of the first run's first name that may be the part that varies, most likely first."""
    first = names[0]
    out = []
    # the longest common prefix of the run's names, cut at a separator
    lcp = first
    for n in names[1:]:
        k = 0
        while k < min(len(lcp), len(n)) and lcp[k] == n[k]:
            k += 1
        lcp = lcp[:k]
    for cut in range(len(lcp), 0, -1):
        if cut == len(first) or first[cut] in "_-/.":
            if all(len(n) == cut or n[cut] in "_-/." for n in names):
                out.append(lcp[:cut])
                break
    out += [m.group(0) for m in re.finditer(r"\d+", first)][::-1]
    toks = re.split(r"([_\-/.])", first)
    words = toks[::2]
    for a in range(len(words)):
        for b in range(a + 1, len(words) + 1):
            s = "_".join(words[a:b])
            if s and s in first and s not in out:
                out.append(s)
    return [c for c in out if c]


def _match(templates, names):
    """The value that fills every template to the names, or None."""
    if len(templates) != len(names):
        return None
    v = None
    for t, n in zip(templates, names):
        if "\x00" not in t:
            if t != n:
                return None
            continue
        pat = re.escape(t).replace("\\x00", "(.+?)").replace("\x00", "(.+?)")
        m = re.fullmatch(pat, n)
        if m is None:
            return None
        got = m.groups()
        if len(set(got)) != 1 or (v is not None and got[0] != v):
            return None
        v = got[0]
    return v


def fold_submodels(atoms, outputs) -> tuple[list, list, list]:
    """Each nested functional sub-model of the framework model (its layers carry ``sub``) as one block
    of its own name, called where the sub-model was; returns the new order, outputs and blocks."""
    subs = {}
    for a in atoms:
        if getattr(a, "sub", None):
            subs.setdefault(a.sub, []).append(a)
    blocks, shared = [], {}
    for sub, run in subs.items():
        inside = {id(a) for a in run}
        readers = [b for b in atoms if id(b) not in inside]
        used = {(id(s), i) for b in readers for s, i in b.inputs} | {(id(s), i) for s, i in outputs}
        outs = tuple((p, k) for p, a in enumerate(run) for k in range(a.n_out) if (id(a), k) in used)
        shared.setdefault((_run_key(run), outs), []).append((sub, run))
    for (_, outs), members in shared.items():
        runs = [run for _, run in members]
        block = None
        if len(runs) > 1:       # sub-models of one structure: one block, their differences its parameters
            try:
                block = make_block(runs, outs, len(blocks))
                block.name = _common_name([sub for sub, _ in members]) or block.name
            except _NoTemplate:
                block = None
        for sub, run in members:
            if block is None or block not in blocks:
                b = block or _literal_block(sub, run, outs)
                blocks.append(b)
            atoms, outputs = _call_in(block or blocks[-1], run, outs, atoms, outputs)
    return atoms, outputs, blocks


def _run_key(run):
    pos = {id(a): j for j, a in enumerate(run)}
    ext = {}
    key = []
    for j, a in enumerate(run):
        refs = []
        for src, idx in a.inputs:
            if id(src) in pos:
                refs.append((j - pos[id(src)], idx))
            else:
                refs.append(("e", ext.setdefault((id(src), idx), len(ext))))
        key.append((atom_sig(a), tuple(refs)))
    return tuple(key)


def _common_name(names):
    """res_a, res_b -> res; block1, block2 -> block."""
    prefix = names[0]
    for n in names[1:]:
        k = 0
        while k < min(len(prefix), len(n)) and prefix[k] == n[k]:
            k += 1
        prefix = prefix[:k]
    return prefix.rstrip("_-0123456789")


def _literal_block(sub, run, outs):
    """A block of one sub-model as it is: no parameters, its layers' own names."""
    ext = _ext_refs(run)
    ports = [TPort("in")] + [TPort(f"t{k}") for k in range(1, len(ext))]
    copies, body = {}, []
    for a in run:
        t = Atom(a.kind, a.op, dict(a.values), a.name, [], a.n_out, a.members, a.group, a.hint, a.block)
        copies[id(a)] = t
        body.append(t)
    ext_index = {(id(r[0]), r[1]): k for k, r in enumerate(ext)}
    for a, t in zip(run, body):
        t.inputs = [(copies[id(s)], i) if id(s) in copies else (ports[ext_index[(id(s), i)]], 0)
                    for s, i in a.inputs]
    block = Block(name=sub, params=[], n_in=len(ext), body=body, ports=ports,
                  outputs=[(body[p], k) for p, k in outs])
    block.out_positions, block.name_params, block.name_param = outs, set(), None
    block.values, block.name_values, block.runs = {}, None, [run]
    return block


def _call_in(block, run, outs, atoms, outputs):
    """``atoms`` with ``run`` replaced by a call of ``block`` where the run began."""
    inside = {id(a) for a in run}
    call = make_call(block, run, outs)
    call_of = {(id(run[p]), k): (call, o) for o, (p, k) in enumerate(outs)}
    first = atoms.index(run[0])
    atoms = [a for a in atoms[:first] if id(a) not in inside] + [call] + \
            [a for a in atoms[first:] if id(a) not in inside]
    for a in atoms:
        a.inputs = [call_of.get((id(s), i), (s, i)) for s, i in a.inputs]
    outputs = [call_of.get((id(s), i), (s, i)) for s, i in outputs]
    return atoms, outputs
