"""Block recovery on the IR: repeated runs of layers become parameterised blocks.

The one engine for every consumer that wants a graph's structure back where the graph carries none
(a model read from Keras): the spec writer (``backends/spec.py``) writes the blocks it finds, and
``annotate`` puts them on the nodes as ``block`` scopes, so diagrams, summaries and the Python and
torch emitters (which read scopes through ``structure.py``) see the same units.

The API, on an ``ir.Graph``:

- ``recover(graph, blocks=True) -> Recovery``: ``seq`` is the network's body as ``Atom``s (layers,
  sequential groups, calls of recovered ``Block``s) in a chain-first order, ``outputs`` and ``ports``
  its outputs and inputs, ``blocks`` the recovered blocks (callees first), ``layers`` one ``Layer``
  view per node (its op, its arguments off the op's default, its name and whether a person chose it).
  Each call's ``covers`` lists the atoms it replaced, so a call maps back to IR nodes.
- ``annotate(graph, rec)``: adds each recovered call as a ``block`` scope (``Scope.block`` the
  block's name, ``Scope.args`` its arguments) to the nodes it covers.

How: the layers are first put in a *chain-first* topological order (a layer that reads the layer
just written comes next; otherwise the earliest in the graph's order), so a residual unit or an
inception module is one contiguous run however the framework ordered its branches. Then, greedily,
the run with the largest saving in lines becomes a block: runs are equal when their layers have the
same ops, read each other the same way (inputs inside the run by relative position, inputs from
outside by order of first use) and give the same outputs; argument values may differ. Windows are
grouped by a rolling hash of that canonical signature, one pass over (start, length) per round, so
a round is linear in the layers times the longest run. Each value that differs between the runs
becomes a parameter of the block; explicit names become a template (``"{name}_1_conv"``) with one
parameter, when one substring varies per run. Calls are atoms too, so a later round can find runs
of calls (a stage of units). Consecutive calls of a block that differ only by a counter fold into
a ``repeat`` when written; three or more whose values differ otherwise fold into a ``repeat`` over
lists (``let filters = [...]`` read as ``filters[i]``).

Unit variants (``merge_variants``): blocks called from the network's body whose layers are the
longest one's with parts left out (an expansion conv, a stride padding, a shortcut projection, the
residual ``add``) become one block, each optional part an ``if`` on a parameter and the residual
``add(when=...)``, as MobileNetV2's and EfficientNet's inverted residual units are written by hand;
layers just before a call that are its missing leading part join the call. A stage call that calls
units the body calls too is dissolved first, so every unit is called from the body.

Shared layers (``fold_shared``): nodes that ``share`` another's layer are applications of a shared
op, or, where a whole unit is applied again, of a shared block (``shared enc = encoder()``).

Nested sub-models of an imported graph (nodes whose ``meta["submodel"]`` names one) become one
block each, called where the sub-model was; sequential scopes become groups.
"""
from __future__ import annotations

import heapq
import keyword
import re
from dataclasses import dataclass, field

from .errors import CnnError
from .ir import Scope
from .ops import REGISTRY
from .ops.schema import REQUIRED, SPATIAL_TYPES, Initializer, Symbol, convert


KEYWORDS = {"import", "fn", "assert", "collect", "as", "let", "block", "network", "defaults", "expect", "repeat",
            "if", "elif", "else", "true", "false", "none", "and", "or", "not", "in", "identity", "batch"}


def identifier(text: str, taken=(), fallback: str = "x") -> str:
    """``text`` made a usable .cnn name: letters, digits and _, no keyword, op or taken name."""
    name = re.sub(r"\W", "_", text)
    if not name or name[0].isdigit():
        name = f"{fallback}_{name}" if name else fallback
    base, k = name, 2
    while name in taken or name in KEYWORDS or name in REGISTRY or keyword.iskeyword(name):
        name, k = f"{base}_{k}", k + 1
    return name


@dataclass(frozen=True)
class Expr:
    """Source text standing for a value: a block parameter, or a name template."""
    text: str


def key(v):
    """A hashable, type-exact form of a value (1 and 1.0 and true differ)."""
    if isinstance(v, (list, tuple)):
        return ("list",) + tuple(key(x) for x in v)
    if isinstance(v, Symbol):
        return ("str", str(v))
    return (type(v).__name__, v) if not isinstance(v, Initializer) else ("init", v.name, v.args)


_key = key


PAIRS = ("size2", "offset2", "hw", "pool_padding", "pad2")   # argument types where [a, a] may be written a


def plain(v, pairs: bool = True):
    """(1, 1) -> 1, (3, 5) -> [3, 5], a symbol -> its text: values as a person writes them (the op
    converts them back to what the graph holds). ``pairs=False``: a list stays a list (split sizes)."""
    if isinstance(v, tuple):
        if pairs and len(v) == 2 and v[0] == v[1] and isinstance(v[0], int) and not isinstance(v[0], bool):
            return v[0]
        return [plain(x, pairs) for x in v]
    if isinstance(v, list):
        return [plain(x, pairs) for x in v]
    if isinstance(v, Symbol):
        return str(v)
    return v


def plain_arg(op: str, name: str, v):
    """``plain`` for one argument of ``op``: equal pairs shortened only where the argument is a pair."""
    t = _arg_types(op).get(name)
    return plain(v, t in PAIRS or t in SPATIAL_TYPES)


_DEFAULTS = {}
_NAMES = {}


_TYPES = {}


def _arg_types(op: str) -> dict:
    if op not in _TYPES:
        _TYPES[op] = {a.name: a.type for a in REGISTRY[op].args}
    return _TYPES[op]


def _arg_names(op: str) -> tuple:
    if op not in _NAMES:
        _NAMES[op] = tuple(a.name for a in REGISTRY[op].args)
    return _NAMES[op]


def op_defaults(op: str) -> dict:
    """An op's default argument values, normalised as bound arguments are (REQUIRED ones left out)."""
    if op not in _DEFAULTS:
        out = {}
        for a in REGISTRY[op].args:
            if a.default is REQUIRED:
                continue
            try:
                out[a.name] = plain_arg(op, a.name, convert(REGISTRY[op], a.name, a.default))
            except Exception:   # a default that only binds against an input (none here today)
                out[a.name] = plain_arg(op, a.name, a.default)
        _DEFAULTS[op] = out
    return _DEFAULTS[op]


@dataclass(eq=False)
class Layer:
    """A node as the writer sees it: ``args`` are those off the op's default (plain values)."""
    node: object
    op: str
    args: dict
    name: str
    explicit: bool

    @property
    def values(self) -> dict:
        """Every argument's value: the node's, defaults filled in."""
        d, args = op_defaults(self.op), self.args
        out = {k: args[k] if k in args else d.get(k) for k in _arg_names(self.op)}
        out["trainable"] = args.get("trainable") is not False     # a frozen layer: false
        return out


def layer_view(node) -> Layer:
    defaults = op_defaults(node.op)
    args = {}
    for a in REGISTRY[node.op].args:
        if a.name not in node.args:
            continue
        v = plain_arg(node.op, a.name, node.args[a.name])
        if a.name not in defaults or key(v) != key(defaults[a.name]):
            args[a.name] = v
    if node.op == "input":
        args = {"shape": list(node.shape)}
    elif node.frozen:
        args["trainable"] = False     # a frozen layer: `trainable=false`
    return Layer(node, node.op, args, node.name, bool(node.meta.get("explicit", True)))


@dataclass(eq=False)
class Recovery:
    seq: list            # the network body: Atoms
    outputs: list        # refs (Atom or port, index)
    ports: list          # TPort per network input, in graph.inputs order
    blocks: list         # recovered Blocks, callees first
    layers: list         # a Layer per node (inputs and parts of splits aside)
    shared: list = field(default_factory=list)    # Instances: the shared layers and blocks, to declare


def recover(graph, blocks: bool = True) -> "Recovery":
    """The graph's body as atoms, with repeated structure recovered into blocks (see the module doc)."""
    ports, port_of = [], {}
    single = len(graph.inputs) == 1
    for name, n in graph.inputs.items():
        explicit = n.meta.get("explicit", True)
        p = TPort(name if explicit else ("image" if single else "input"))
        ports.append(p)
        port_of[id(n)] = p
    atom_of, atoms, position, layers = {}, [], {}, []

    def ref(node):
        if node.op == "take":
            return (atom_of[id(node.inputs[0])], node.args["index"])
        if id(node) in port_of:
            return (port_of[id(node)], 0)
        return (atom_of[id(node)], 0)

    nodes = [n for n in graph.nodes if n.op not in ("input", "take")]
    k = 0
    while k < len(nodes):
        n = nodes[k]
        group = next((s for s in n.scope if s.kind == "sequential"), None)
        if group is not None:
            members = [n]
            while k + len(members) < len(nodes) and group in nodes[k + len(members)].scope:
                members.append(nodes[k + len(members)])
            views = [layer_view(m) for m in members]
            layers += views
            a = Atom("group", "sequential", {}, None, [ref(members[0].inputs[0])], 1, views, group.id, group.id)
            for m in members:
                atom_of[id(m)] = a
            a.nodes = members
            k += len(members)
        else:
            view = layer_view(n)
            layers.append(view)
            n_out = len(n.args["sizes"]) if n.op == "split" else 1
            a = Atom("layer", n.op, view.values, n.name if view.explicit else None, [ref(i) for i in n.inputs],
                     n_out, hint=n.name)
            a.sub = n.meta.get("submodel")
            a.nodes = [n]
            atom_of[id(n)] = a
            k += 1
        position[id(a)] = len(atoms)
        atoms.append(a)
    outputs = [ref(n) for n in graph.outputs.values()]
    order, outputs, shared = fold_shared(chain_first_order(atoms, position), outputs)
    order, outputs, subs = fold_submodels(order, outputs)
    comp = Compressor(order, outputs, ports)
    comp.blocks = shared + subs
    if blocks:
        comp.run()
        merge_variants(comp)
    taken = {p.name for p in ports} | {graph.name}
    for blk in comp.blocks:         # names a spec can use: no op, keyword or input name
        blk.name = identifier(blk.name, taken, "unit")
        taken.add(blk.name)
    instances = []
    for a in _shared_atoms(comp.seq):
        if a.instance not in instances:
            instances.append(a.instance)
    for inst in instances:          # a shared instance's name: the first application's, where it can be
        inst.name = identifier(inst.name, taken, "shared")
        taken.add(inst.name)
    return Recovery(comp.seq, comp.outputs, ports, comp.blocks, layers, instances)


def annotate(graph, rec: "Recovery") -> None:
    """Each recovered call as a ``block`` scope on the nodes it covers, outermost first (a nested
    sub-model keeps its own scope, in its place): diagrams and summaries then show the units the
    spec writer writes."""
    counts, shared_apps = {}, {}
    span = graph.span
    takes = {}
    for n in graph.nodes:
        if n.op == "take":
            takes.setdefault(id(n.inputs[0]), []).append(n)

    def visit(atom, chain):
        if atom.kind == "call":
            blk = atom.block
            sub = getattr(blk, "submodel", None)
            if sub is not None:
                first = _first_node(atom)
                scope = next((s for s in first.scope if s.kind == "block" and s.id in sub), None) if first else None
            else:
                ck = (chain[-1].id if chain else "", blk.name)
                counts[ck] = counts.get(ck, 0) + 1
                sid = f"{blk.name}_{counts[ck]}"
                if chain:
                    sid = f"{chain[-1].id}-{sid}"
                args = tuple((p if p in ("name", "id") else None, v, _text(v)) for p, v in atom.values.items())
                inst = getattr(atom, "instance", None)
                if inst is not None:      # an application of a shared block: the first's scope id, which one
                    apps = shared_apps.setdefault(id(inst), [])
                    apps.append(sid)
                    scope = Scope(sid, "block", span, block=blk.name, args=args, shared=apps[0],
                                  application=len(apps), name=inst.name)
                else:
                    scope = Scope(sid, "block", span, block=blk.name, args=args)
            inner = chain + ((scope,) if scope is not None else ())
            outs = [(atom.covers[p], k) for p, k in blk.out_positions] if hasattr(blk, "out_positions") else []
            visit_list(atom.covers, inner, outs)
        elif chain:
            for n in getattr(atom, "nodes", ()):
                n.scope = chain + tuple(s for s in n.scope if s.kind == "sequential" or
                                        (s.kind == "block" and n.meta.get("submodel") == s.id and s not in chain))
                for t in takes.get(id(n), ()):
                    t.scope = n.scope

    def visit_list(atoms, chain, outputs):
        from collections import Counter
        uses = Counter((id(src), i) for a in atoms for src, i in a.inputs)
        uses.update((id(src), i) for src, i in outputs)
        k = 0
        while k < len(atoms):
            run = repeat_run(atoms, k, uses)
            if run > 1:
                ck = (chain[-1].id if chain else "", "repeat")
                counts[ck] = counts.get(ck, 0) + 1
                sid = f"repeat_{counts[ck]}"
                if chain:
                    sid = f"{chain[-1].id}-{sid}"
                rep = Scope(sid, "repeat", span, count=run, var="i")
                for a in atoms[k:k + run]:
                    visit(a, chain + (rep,))
            else:
                visit(atoms[k], chain)
            k += run

    visit_list(rec.seq, (), rec.outputs)


def _first_node(atom):
    while atom.kind == "call":
        if not atom.covers:
            return None
        atom = atom.covers[0]
    nodes = getattr(atom, "nodes", None)
    return nodes[0] if nodes else None


def repeat_run(atoms, k, uses) -> int:
    """How many consecutive calls from ``atoms[k]`` fold into one ``repeat``: calls of one block, each
    reading the one before (and nothing else reading it), whose values agree but for names and ids that
    count up (``"conv4_block{i + 4}"``). ``uses``: (id(atom), output index) -> how often it is read."""
    a = atoms[k]
    if a.kind != "call" or a.n_out != 1 or len(a.inputs) != 1 or getattr(a, "instance", None) is not None:
        return 1
    n = _counted_run(atoms, k, uses)
    chain = _chain_run(atoms, k, uses)
    return chain if chain >= TABLE_RUN and chain > n else n


TABLE_RUN = 3       # consecutive calls of one block whose values differ: a repeat over tables from this many


def _chain_run(atoms, k, uses) -> int:
    """Consecutive calls of one block from ``atoms[k]``, each reading the one before (and read only there)."""
    a = atoms[k]
    n = 1
    while k + n < len(atoms):
        b = atoms[k + n]
        if (b.kind != "call" or b.block is not a.block or b.n_out != 1 or len(b.inputs) != 1
                or b.inputs[0][0] is not atoms[k + n - 1] or uses[(id(atoms[k + n - 1]), 0)] != 1):
            break
        n += 1
    return n


def _counted_run(atoms, k, uses) -> int:
    a = atoms[k]
    n = 1
    while k + n < len(atoms):
        b = atoms[k + n]
        if (b.kind != "call" or b.block is not a.block or b.n_out != 1 or len(b.inputs) != 1
                or b.inputs[0][0] is not atoms[k + n - 1]):
            break
        if not foldable([c.values for c in atoms[k:k + n + 1]], a.block):
            break
        if uses[(id(atoms[k + n - 1]), 0)] != 1:   # a call's output read elsewhere: no repeat
            break
        n += 1
    return n


def foldable(value_dicts, block) -> bool:
    """Whether every parameter is one expression in the repeat index (see ``counting``)."""
    for p in value_dicts[0]:
        vals = [d[p] for d in value_dicts]
        named = p in block.name_params
        if not named and p != "id" and any(key(v) != key(vals[0]) for v in vals):
            return False     # only names count up in a repeat; other values must agree
        if counting(vals) is None:
            return False
    return True


def counting(vals):
    """``vals`` as a function of the repeat index: ``("same", v)``, ``("int", a, d)`` (a + d * i), or
    ``("str", prefix, a, d, suffix)`` (one such number inside a string); None when it is none of them."""
    first = vals[0]
    if all(key(v) == key(first) for v in vals):
        return ("same", first)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        d = vals[1] - vals[0]
        if all(vals[k] == vals[0] + d * k for k in range(len(vals))):
            return ("int", vals[0], d)
        return None
    if all(isinstance(v, str) and not isinstance(v, Expr) for v in vals):
        pre = _prefix(vals)
        suf = _prefix([v[len(pre):][::-1] for v in vals])[::-1]
        while pre and pre[-1].isdigit():
            pre = pre[:-1]
        while suf and suf[0].isdigit():
            suf = suf[1:]
        mids = [v[len(pre):len(v) - len(suf)] for v in vals]
        if all(re.fullmatch(r"0|[1-9]\d*", m) for m in mids):
            nums = [int(m) for m in mids]
            d = nums[1] - nums[0]
            if all(nums[k] == nums[0] + d * k for k in range(len(nums))) and "{" not in pre + suf:
                return ("str", pre, nums[0], d, suf)
    return None


def _prefix(xs):
    p = xs[0]
    for x in xs[1:]:
        k = 0
        while k < min(len(p), len(x)) and p[k] == x[k]:
            k += 1
        p = p[:k]
    return p


def _takes(graph, node):
    if node.op != "split":
        return ()
    return [n for n in graph.nodes if n.op == "take" and n.inputs[0] is node]


def _text(v) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_text(x) for x in v) + "]"
    return str(v)


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
    members: list = None            # a group's layers (``Layer`` views)
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


def chain_first_order(atoms, position, after=None) -> list:
    """Atoms in a topological order that keeps chains together; ties by the framework's order.
    ``after``: id(atom) -> atoms that must come before it besides those it reads (a shared layer's
    applications in the order they are numbered)."""
    ids = {id(a) for a in atoms}
    after = after or {}

    def before(a):
        return {id(s): s for s in [s for s, _ in a.inputs] + after.get(id(a), []) if id(s) in ids}.values()
    deps = {id(a): len(before(a)) for a in atoms}
    users = {id(a): [] for a in atoms}
    for a in atoms:
        for src in before(a):
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
    if getattr(a, "instance", None) is not None:
        return ("shared", id(a))        # an application of a shared instance: in no recovered block
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
        self.no_template = set()     # (runs, length) that the model's names don't support as one block

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
        produced = [[(last_use.get((i, k), -1), i, k) for k in range(a.n_out)] for i, a in enumerate(seq)]
        sig_hash = [hash(atom_sig(a)) for a in seq]
        # inputs by position: (q, idx, id) with q None for a port
        reads = [[(pos.get(id(src)), idx, id(src)) for src, idx in a.inputs] for a in seq]
        # a layer whose inputs all lie inside the window has one token whatever the window's start
        inner_tok = [hash((sig_hash[j], tuple(x for q, idx, _ in reads[j] for x in (j - q, idx))))
                     if all(q is not None for q, _, _ in reads[j]) else 0 for j in range(n)]
        first_read = [min((q for q, _, _ in r), default=j) if all(q is not None for q, _, _ in r) else -1
                      for j, r in enumerate(reads)]
        weight = [1.0 if a.kind != "layer" or a.op in ("add", "concat", "multiply") else 0.7 for a in seq]
        prefix = [0.0]
        for w in weight:
            prefix.append(prefix[-1] + w)
        table, n_ext = {}, {}
        longest = max(8, min(MAX_RUN, WORK // max(n, 1)))   # a huge model: shorter runs, bounded time
        heappush, heappop = heapq.heappush, heapq.heappop
        for i in range(n):
            ext = {}
            h = 0
            live = []          # (last use, position, output index) of the window's outputs still read
            for L in range(1, min(longest, n - i) + 1):
                j = i + L - 1
                if first_read[j] >= i:
                    tok = inner_tok[j]
                else:
                    refs = []
                    for q, idx, src in reads[j]:
                        if q is not None and q >= i:
                            refs.append(j - q)
                            refs.append(idx)
                        else:
                            k = (src, idx)
                            e = ext.get(k)
                            if e is None:
                                e = ext[k] = len(ext)
                            refs.append(-1 - e)
                            refs.append(-1)
                    if len(ext) > MAX_PORTS:
                        break
                    tok = hash((sig_hash[j], tuple(refs)))
                h = hash((h, tok))
                for item in produced[j]:
                    heappush(live, item)
                end = j + 1
                while live and live[0][0] < end:
                    heappop(live)
                if L < 2 or not live or len(live) > MAX_PORTS or not ext:
                    continue
                outs = tuple(sorted((p - i, k) for _, p, k in live))
                key = (h, L, outs)
                starts = table.get(key)
                if starts is None:
                    table[key] = [i]
                    n_ext[key] = len(ext)
                else:
                    starts.append(i)
        scored = []
        for key, starts in table.items():
            if len(starts) < 2:
                continue
            L = key[1]
            chosen, end = [], -1
            for s in starts:
                if s >= end:
                    chosen.append(s)
                    end = s + L
            c = len(chosen)
            if c < 2:
                continue
            cost = prefix[chosen[0] + L] - prefix[chosen[0]]
            n_in = n_ext[key]
            gain = c * cost - c * 1 - (cost + 2) - 0.5 * c * ((n_in - 1) + (len(key[2]) - 1))
            if gain > 0:
                # one tensor in, one out first: a unit as a person cuts it, not a window that straddles two;
                # then layers before calls: units first, so a stage's first unit is a unit of its own
                sese = n_in == 1 and len(key[2]) == 1
                scored.append(((not sese, any(a.kind == "call" for a in seq[chosen[0]:chosen[0] + L])), gain, L, chosen[0], key, chosen))
        scored.sort(key=lambda t: (t[0], -t[1], -t[2], t[3]))
        for _, gain, L, _, key, chosen in scored[:3000]:
            tried = (tuple(id(seq[s]) for s in chosen), L)
            if tried in self.no_template:
                continue
            runs = [seq[s:s + L] for s in chosen]
            try:
                block = make_block(runs, key[2], len(self.blocks))
            except _NoTemplate:
                self.no_template.add(tried)
                continue
            first = _run_key(runs[0])
            if any(_run_key(r) != first for r in runs[1:]):
                continue      # a hash collision: not one structure
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
    call.covers = list(run)
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
            name = "_".join(words)
            return f"{name}_unit" if name in REGISTRY or name in KEYWORDS else name
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
        first = [_name_of(runs[0][j]) for j in positions]
        second = [_name_of(runs[1][j]) for j in positions]
        if any(a == b for a, b in zip(first, second)):
            raise _NoTemplate()     # every name carries the varying part, so no name repeats between runs
        for v0 in _candidates(first):
            templates = [n.replace(v0, "\x00") for n in first]
            if not all("\x00" in t for t in templates):
                continue
            values = [v0]
            for r in runs[1:]:      # names of the other runs read only while they match
                v = _match(templates, [_name_of(r[j]) for j in positions])
                if v is None:
                    break
                values.append(v)
            if len(values) != len(runs) or len(set(values)) != len(values):
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
                block.submodel = {sub for sub, _ in members}
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
    block.submodel = {sub}
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


# --- shared layers ---------------------------------------------------------------------------------------

@dataclass(eq=False)
class Instance:
    """A shared layer or block: ``shared NAME = op(...)`` or ``shared NAME = block()``, applied at each
    atom whose ``instance`` it is."""
    name: str
    atom: object = None      # a shared op: the first application's layer atom (its op and values)
    block: object = None     # a shared block: its Block


def _shared_atoms(atoms):
    return [a for a in atoms if getattr(a, "instance", None) is not None]


def _application(node) -> int:
    """Which application of a shared layer a node is: the k of its name's ``@k`` (2 when unnamed so)."""
    head, _, k = node.name.rpartition("@")
    return int(k) if head and k.isdigit() else 2


def fold_shared(atoms, outputs):
    """Layers applied more than once (nodes that ``share`` another's layer) as shared instances: each
    later application's connected layers that match the first application's one to one, with one
    tensor in and one out, become applications of one shared block (``shared enc = encoder()``); any
    other shared layer a shared op (``shared head = conv(...)``). Returns the new order, outputs and the
    shared blocks."""
    node_atom = {}
    for a in atoms:
        for n in getattr(a, "nodes", ()):
            node_atom[id(n)] = a
    later = [a for a in atoms if a.kind == "layer" and a.nodes[0].shares is not None]
    if not later:
        return atoms, outputs, []
    for a in later:
        if getattr(a, "sub", None) or node_atom.get(id(a.nodes[0].shares)) is None:
            raise CnnError("unsupported", f"`{a.nodes[0].name}` applies a layer of a nested model again; a spec "
                                          "declares a shared layer in the network's body only")
    target = {id(a): node_atom[id(a.nodes[0].shares)] for a in later}
    # later applications: connected runs of one application number
    app = {id(a): _application(a.nodes[0]) for a in later}
    parent = {id(a): id(a) for a in later}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    def unit_of(t):
        """What a first application's layer belongs to: its nested model, its spec's shared block."""
        scopes = [sc.id for n in getattr(t, "nodes", ())[:1] for sc in n.scope
                  if sc.kind == "block" and sc.shared and sc.application == 1]
        return getattr(t, "sub", None), scopes[-1] if scopes else None
    for a in later:
        for src, _ in a.inputs:
            if id(src) in parent and app[id(src)] == app[id(a)] and \
                    unit_of(target[id(src)]) == unit_of(target[id(a)]):
                parent[find(id(a))] = find(id(src))
    comps = {}
    for a in later:
        comps.setdefault(find(id(a)), []).append(a)
    uses = {}
    for a in atoms:
        for src, i in a.inputs:
            uses.setdefault((id(src), i), []).append(a)
    for src, i in outputs:
        uses.setdefault((id(src), i), []).append(None)
    runs = [[a for a in atoms if id(a) in {id(c) for c in comp}] for comp in comps.values()]
    for _ in range(8):
        # a first application's layer in two units, or in a unit and alone, is shared on its own: the
        # rest of each unit is tried again
        units, lone = {}, []   # first application's atom ids -> (first run, [later runs])
        for run in runs:
            first = [target[id(a)] for a in run]
            if len(run) > 1 and _one_unit(run, first, uses):
                units.setdefault(tuple(id(f) for f in first), (first, []))[1].append(run)
            else:
                lone += run
        seen = {}
        for fkey in units:
            for f in fkey:
                seen[f] = seen.get(f, 0) + 1
        for a in lone:
            seen[id(target[id(a)])] = seen.get(id(target[id(a)]), 0) + 2
        bad = {f for f, c in seen.items() if c > 1}
        if not any(f in bad for fkey in units for f in fkey):
            break
        runs = [[a] for a in lone]
        for fkey, (first, later) in units.items():
            for run in later:
                kept = [a for a in run if id(target[id(a)]) not in bad]
                runs += [[a] for a in run if id(target[id(a)]) in bad] + ([kept] if kept else [])
    else:
        units, lone = {}, [a for run in runs for a in run]
    blocks, apps = [], {}      # id(instance) -> [(application number, atom)]
    for first, runs in units.values():
        outs = _unit_outputs(first, uses)
        block = _literal_block(None, first, outs)
        block.submodel = None
        sub = getattr(first[0], "sub", None)
        scope = _shared_scope(first)
        block.name = scope.block if scope is not None else sub if sub and all(
            getattr(f, "sub", None) == sub for f in first) else \
            _block_name(first, NameTemplate({}, None, None, ""), len(blocks))
        inst = Instance(scope.name if scope is not None else _shared_name(first, block.name), block=block)
        block.instance = inst
        blocks.append(block)
        for k, run in enumerate([first] + runs):
            block.runs = [run]
            atoms, outputs = _call_in(block, run, outs, atoms, outputs)
            call = next(a for a in atoms if getattr(a, "covers", None) is not None and a.covers == list(run))
            call.instance = inst
            call.values = {}
            apps.setdefault(id(inst), []).append((1 if k == 0 else _application(run[0].nodes[0]), call))
        block.runs = [first]
    lone_firsts = {}
    for a in lone:
        f = target[id(a)]
        if getattr(f, "sub", None) or f.kind != "layer":
            raise CnnError("unsupported", f"`{a.nodes[0].name}` applies a layer of a nested model again; a spec "
                                          "declares a shared layer in the network's body only")
        if REGISTRY[f.op].arity != 1 or REGISTRY[f.op].passthrough or f.n_out != 1 or len(f.inputs) != 1:
            if f.op in ("add", "concat", "multiply") or REGISTRY[f.op].arity != 1:
                a.name = None               # a layer without weights called again: a layer of its own
                continue
            raise CnnError("unsupported", f"`{a.nodes[0].name}` applies `{f.nodes[0].name}` ({f.op}) again, "
                                          "which a spec can't share")
        if id(f) not in lone_firsts:
            inst = lone_firsts[id(f)] = Instance(f.nodes[0].name, atom=f)
            f.instance = inst
            apps.setdefault(id(inst), []).append((1, f))
        a.instance = lone_firsts[id(f)]
        apps.setdefault(id(a.instance), []).append((_application(a.nodes[0]), a))
    # each application after the one numbered before it, so a spec read back numbers them alike
    after = {}
    for seq in apps.values():
        seq.sort(key=lambda t: t[0])
        for (_, x), (_, y) in zip(seq, seq[1:]):
            after.setdefault(id(y), []).append(x)
    position = {id(a): k for k, a in enumerate(atoms)}
    order = chain_first_order(atoms, position, after)
    if len(order) != len(atoms):        # the numbering can't be kept in a topological order
        order = chain_first_order(atoms, position)
    return order, outputs, blocks


def _shared_scope(first):
    """The scope of a spec's shared block whose first application is exactly these atoms, if any."""
    nodes = [n for f in first for n in getattr(f, "nodes", ())]
    if not nodes:
        return None
    for sc in nodes[0].scope:
        if sc.kind == "block" and sc.shared and sc.application == 1 and sc.name and \
                all(sc in n.scope for n in nodes):
            return sc
    return None


def _shared_name(first, block_name):
    """A shared block's instance name: the common stem of its first application's layer names
    (``enc`` of ``enc-conv_1``), else the block's name with ``_shared``."""
    names = [f.nodes[0].name for f in first if getattr(f, "nodes", None)]
    stems = {n.split("-", 1)[0] for n in names if "-" in n}
    if len(stems) == 1 and all("-" in n for n in names):
        return stems.pop()
    return f"{block_name}_shared"


def _one_unit(run, first, uses) -> bool:
    """Whether a later application ``run`` matches the first application ``first`` one to one (each
    layer reads the matching layers, or the one tensor from outside) and gives one tensor out, as the
    first does."""
    if len({id(f) for f in first}) != len(first):
        return False
    inside, finside = {id(a): k for k, a in enumerate(run)}, {id(f): k for k, f in enumerate(first)}
    ext, fext = set(), set()
    for a, f in zip(run, first):
        if len(a.inputs) != len(f.inputs) or a.kind != "layer" or f.kind != "layer":
            return False
        for (src, i), (fsrc, fi) in zip(a.inputs, f.inputs):
            if id(src) in inside:
                if finside.get(id(fsrc)) != inside[id(src)] or i != fi:
                    return False
            else:
                if id(fsrc) in finside:
                    return False
                ext.add((id(src), i))
                fext.add((id(fsrc), fi))
    if len(ext) != 1 or len(fext) != 1:
        return False
    outs, fouts = _unit_outputs(run, uses), _unit_outputs(first, uses)
    return len(outs) == 1 and outs == fouts


def _unit_outputs(run, uses):
    inside = {id(a) for a in run}
    return tuple((p, k) for p, a in enumerate(run) for k in range(a.n_out)
                 if any(u is None or id(u) not in inside for u in uses.get((id(a), k), ())))


# --- variants: blocks that differ by optional parts become one -------------------------------------------

def merge_variants(comp) -> None:
    """Blocks whose bodies are one longest block's with parts left out (an expansion conv, a padding, a
    shortcut projection) or without its residual ``add`` become one block, each optional part an
    ``if`` on a parameter and the residual an ``add(when=...)``: MobileNetV2's and EfficientNet's
    inverted residual units are one block with optional expansion, stride padding and residual, as a
    person writes them. Layers just before a call that are the call's missing leading part (MobileNetV2's
    block_10 expansion) join the call. Only blocks called from the network's body take part."""
    _dissolve(comp)
    inner = {id(a.block) for b in comp.blocks for a in b.body if a.kind == "call"}
    eligible = [b for b in comp.blocks if id(b) not in inner and _variant_shape(b) is not None]
    calls = {}
    for a in comp.seq:
        if a.kind == "call" and getattr(a, "instance", None) is None:
            calls.setdefault(id(a.block), []).append(a)
    eligible = [b for b in eligible if calls.get(id(b))]
    eligible.sort(key=lambda b: -len(_variant_shape(b)[0]))
    used = set()
    for L in eligible:
        if id(L) in used:
            continue
        group = [L]
        for V in eligible:
            if V is L or id(V) in used:
                continue
            if _merge_plan(group + [V]) is not None:
                group.append(V)
        if len(group) < 2:
            continue
        plan = _merge_plan(group)
        if plan is None:
            continue
        used.update(id(b) for b in group)
        _apply_merge(comp, group, plan, calls)


def _variant_shape(b):
    """(core atoms, residual add or None, the core's output ref) of a block with one tensor in and one
    out, made of layers and calls; None for any other block."""
    if getattr(b, "instance", None) is not None or getattr(b, "submodel", None) or getattr(b, "merged", False):
        return None
    if b.n_in != 1 or len(b.outputs) != 1 or not b.body or any(a.kind not in ("layer", "call") for a in b.body):
        return None
    if any(a.n_out != 1 for a in b.body):
        return None
    last = b.body[-1]
    port = b.ports[0]
    if b.outputs[0][0] is last and last.kind == "layer" and last.op == "add" and len(last.inputs) == 2 and \
            sum(1 for s, _ in last.inputs if s is port) == 1:
        other = next(r for r in last.inputs if r[0] is not port)
        return b.body[:-1], last, other
    return b.body, None, b.outputs[0]


def _sig(a):
    if a.kind == "call":
        return ("call", id(a.block))
    return ("layer", a.op, a.name is not None)


def _name_text(a):
    if a.name is None:
        return None
    return a.name.text if isinstance(a.name, Expr) else ("lit", a.name)


def _lcs(xs, ys):
    """Positions of ys matched in xs (a longest common subsequence by signature)."""
    n, m = len(xs), len(ys)
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            dp[i][j] = dp[i + 1][j + 1] + 1 if xs[i] == ys[j] else max(dp[i + 1][j], dp[i][j + 1])
    out, i, j = {}, 0, 0
    while i < n and j < m:
        if xs[i] == ys[j] and dp[i][j] == dp[i + 1][j + 1] + 1:
            out[j] = i
            i, j = i + 1, j + 1
        elif dp[i + 1][j] >= dp[i][j + 1]:
            i += 1
        else:
            j += 1
    return out


def _merge_plan(group):
    """How the blocks of ``group`` are one: the longest one's core with, per block, which of its atoms are
    present (and which of that block's atoms each is), the optional segments and the residual; None
    when they are not one (an atom of some block matches none of the longest's, wiring or names differ,
    a left-out part is not one tensor in and one out)."""
    L = group[0]
    lcore, ladd, lout = _variant_shape(L)
    lsig = [_sig(a) for a in lcore]
    lpos = {id(a): p for p, a in enumerate(lcore)}
    if any(b.name_param != L.name_param for b in group):
        return None
    maps = []
    for b in group:
        core, add, out = _variant_shape(b)
        if len(core) > len(lcore):
            return None
        m = _lcs(lsig, [_sig(a) for a in core])
        if len(m) != len(core) or 2 * len(core) < len(lcore):
            return None
        for j, p in m.items():
            if _name_text(core[j]) != _name_text(lcore[p]):
                return None
            if core[j].kind == "call" and core[j].block.name_param is not None and \
                    core[j].values.get(core[j].block.name_param) != lcore[p].values.get(core[j].block.name_param):
                return None
        if add is not None and ladd is not None and _name_text(add) != _name_text(ladd):
            return None
        maps.append((b, core, add, out, {p: j for j, p in m.items()}))
    # segments: runs of the longest core's positions with one pattern of presence across the blocks
    pattern = [tuple(p in mp for _, _, _, _, mp in maps) for p in range(len(lcore))]
    segments, p = [], 0
    while p < len(lcore):
        if all(pattern[p]):
            p += 1
            continue
        q = p
        while q + 1 < len(lcore) and pattern[q + 1] == pattern[p]:
            q += 1
        segments.append((p, q))
        p = q + 1
    if len(segments) > 4:
        return None
    # each segment: one tensor in from outside it, one out (read after it), so it can be left out
    seg_in, seg_of = {}, {}
    for s, e in segments:
        ins = {(id(src), i) for a in lcore[s:e + 1] for src, i in a.inputs
               if not (id(src) in lpos and s <= lpos[id(src)] <= e)}
        if len(ins) != 1:
            return None
        x = next(r for a in lcore[s:e + 1] for r in a.inputs if (id(r[0]), r[1]) == next(iter(ins)))
        readers = [(a, r) for a in lcore[e + 1:] + ([ladd] if ladd is not None else []) for r in a.inputs
                   if id(r[0]) in lpos and s <= lpos[id(r[0])] <= e]
        outs = {(id(r[0]), r[1]) for _, r in readers}
        if s <= lpos.get(id(lout[0]), -1) <= e:
            outs.add((id(lout[0]), lout[1]))
        if len(outs) != 1 or any(r[0] is not lcore[e] for _, r in readers):
            return None
        for p in range(s, e + 1):
            seg_of[p] = (s, e)
        seg_in[(s, e)] = x
    # wiring: each block's atom reads what the longest's reads, a left-out segment read as its input
    for b, core, add, out, mp in maps:
        port = b.ports[0]

        def resolve(r, mp=mp):
            while id(r[0]) in lpos and lpos[id(r[0])] not in mp:
                r = seg_in[seg_of[lpos[id(r[0])]]]
            return r

        def same(r, br, mp=mp, core=core, port=port):
            r = resolve(r)
            if r[0] is L.ports[0]:
                return br[0] is port
            if id(r[0]) not in lpos:
                return False
            j = mp.get(lpos[id(r[0])])
            return j is not None and core[j] is br[0] and r[1] == br[1]
        for p, j in mp.items():
            if len(lcore[p].inputs) != len(core[j].inputs):
                return None
            if not all(same(r, br) for r, br in zip(lcore[p].inputs, core[j].inputs)):
                return None
        if not same(lout, out):
            return None
    residual = [add is not None for _, _, add, _, _ in maps]
    radd = ladd if ladd is not None else next((add for _, _, add, _, _ in maps if add is not None), None)
    return {"core": lcore, "maps": maps, "segments": segments, "residual": residual, "add": radd, "out": lout}


def _actual(v, call):
    """A template value made the call's: a parameter's value, else the value itself."""
    if isinstance(v, Expr) and v.text in call.values:
        return call.values[v.text]
    return v


def _fill_name(template, call, param):
    """A name template (``"{name}_expand"``) filled with a call's name value; None when it can't be."""
    if not isinstance(template, Expr) or param is None:
        return template
    text = template.text
    if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
        return None
    inner = text[1:-1]
    return inner.replace("{" + param + "}", str(call.values.get(param)))


def _apply_merge(comp, group, plan, calls):
    lcore, segments = plan["core"], plan["segments"]
    L = group[0]
    variant = {id(b): (core, mp) for b, core, _, _, mp in plan["maps"]}
    residual = {id(b): r for (b, *_), r in zip(plan["maps"], plan["residual"])}
    name_param = L.name_param
    # every call, with its atoms per position of the longest core (values made actual)
    insts = []
    position = {id(a): k for k, a in enumerate(comp.seq)}
    absorbed, extras = set(), {}
    from collections import Counter
    extras["reads"] = Counter(id(src) for b in comp.seq for src, _ in b.inputs)
    extras["reads"].update(id(src) for src, _ in comp.outputs)
    for b in group:
        core, mp = variant[id(b)]
        for c in calls[id(b)]:
            present = {}
            for p, j in mp.items():
                present[p] = {k: _actual(v, c) for k, v in core[j].values.items()}
            extra = _absorb(comp, c, lcore, segments, present, name_param, position, absorbed, extras)
            insts.append((c, present, residual[id(b)], extra))
    insts.sort(key=lambda t: position[id(t[0])])
    # parameters: per position and argument, the values across calls (absent: the first present one)
    params, param_of, values = [], {}, {}
    taken = ["name", "id"]
    tmpl_values = {}
    lead = next(((s, e) for s, e in segments if s == 0), None)
    xatoms = extras.get("atoms", [])
    if xatoms:                 # layers some calls took in after their leading segment: a segment more
        segments = segments + [(len(lcore), len(lcore) + len(xatoms) - 1)]
    for p, a in enumerate(list(lcore) + list(xatoms)):
        tmpl_values[p] = {}
        for k in a.values:
            if a.kind == "call" and k == a.block.name_param:
                tmpl_values[p][k] = a.values[k]
                continue
            vals = [pres[p][k] if p in pres else None for _, pres, _, _ in insts]
            first = next((v for (_, pres, _, _), v in zip(insts, vals) if p in pres), None)
            vals = [v if p in pres else first for (_, pres, _, _), v in zip(insts, vals)]
            vec = tuple(_key(v) for v in vals)
            if len(set(vec)) == 1:
                tmpl_values[p][k] = vals[0]
                continue
            if vec not in param_of:
                pname = _fresh(_param_base(k), params + taken)
                params.append(pname)
                param_of[vec] = pname
                values[pname] = vals
            tmpl_values[p][k] = Expr(param_of[vec])
    flags = {}
    for s, e in segments:
        vals = [s in pres for _, pres, _, _ in insts]
        vec = tuple(vals)
        if len(set(vec)) == 1:
            flags[(s, e)] = vals[0]
            continue
        if ("flag", vec) not in param_of:
            a = (list(lcore) + list(xatoms))[s]
            pname = _fresh(f"with_{a.op if a.kind == 'layer' else a.block.name}", params + taken)
            params.append(pname)
            param_of[("flag", vec)] = pname
            values[pname] = vals
        flags[(s, e)] = Expr(param_of[("flag", vec)])
    res_vals = [r for _, _, r, _ in insts]
    res = res_vals[0] if len(set(res_vals)) == 1 else None
    if res is None:
        pname = _fresh("residual", params + taken)
        params.append(pname)
        values[pname] = res_vals
        res = Expr(pname)
    if name_param is not None:
        params.append(name_param)
    # the merged block's body
    port = TPort("in")
    copies, body = {}, []
    seg_start = {s: (s, e) for s, e in segments}
    p = 0
    lpos = {id(a): q for q, a in enumerate(lcore)}

    def mapped(r, local=None):
        src, i = r
        if src is L.ports[0]:
            return (port, 0)
        if local is not None and id(src) in local:
            return (local[id(src)], i)
        return (copies[id(src)], i)

    while p < len(lcore):
        if p in seg_start and flags[seg_start[p]] is not True:
            s, e = seg_start[p]
            inner_port = TPort("in")
            local, seg = {}, []
            ins = {(id(r[0]), r[1]) for a in lcore[s:e + 1] for r in a.inputs
                   if not (id(r[0]) in lpos and s <= lpos[id(r[0])] <= e)}
            xr = next(r for a in lcore[s:e + 1] for r in a.inputs if (id(r[0]), r[1]) in ins)
            for q in range(s, e + 1):
                a = lcore[q]
                t = Atom(a.kind, a.op, dict(tmpl_values[q]), a.name, [], a.n_out, a.members, a.group, a.hint,
                         a.block)
                t.inputs = [(inner_port, 0) if (id(r[0]), r[1]) in ins else (local[id(r[0])], r[1]) for r in a.inputs]
                local[id(a)] = t
                seg.append(t)
            cond = Atom("if", "if", {"flag": flags[(s, e)]}, None, [mapped(xr)], 1)
            cond.body, cond.port = seg, inner_port
            body.append(cond)
            for q in range(s, e + 1):
                copies[id(lcore[q])] = cond
            p = e + 1
            continue
        a = lcore[p]
        t = Atom(a.kind, a.op, dict(tmpl_values[p]), a.name, [], a.n_out, a.members, a.group, a.hint, a.block)
        t.inputs = [mapped(r) for r in a.inputs]
        copies[id(a)] = t
        body.append(t)
        p += 1
    if xatoms:                 # the layers some calls took in: an `if` before the layer after the segment
        xs = (len(lcore), len(lcore) + len(xatoms) - 1)
        first = copies[id(lcore[lead[1] + 1])]
        inner_port, seg = TPort("in"), []
        for j, (a, (_, name)) in enumerate(zip(xatoms, extras["sig"])):
            t = Atom(a.kind, a.op, dict(tmpl_values[xs[0] + j]), None if name is None else
                     Expr(_string_template(name.replace("{" + name_param + "}", "\x00"), name_param)), [], 1)
            t.inputs = [(seg[-1], 0) if seg else (inner_port, 0)]
            seg.append(t)
        if flags[xs] is True:
            seg[0].inputs = [first.inputs[0]]
            first.inputs = [(seg[-1], 0)] + first.inputs[1:]
            body[body.index(first):body.index(first)] = seg
        else:
            cond = Atom("if", "if", {"flag": flags[xs]}, None, [first.inputs[0]], 1)
            cond.body, cond.port = seg, inner_port
            first.inputs = [(cond, 0)] + first.inputs[1:]
            body.insert(body.index(first), cond)
    # a reference into a segment is to its `if`
    out = mapped(plan["out"])
    if res is not False and plan["add"] is not None:
        add = plan["add"]
        v = {k: x for k, x in add.values.items()}
        if res is not True:
            v["when"] = res
        t = Atom("layer", "add", v, add.name, [(port, 0), out], 1)
        body.append(t)
        out = (t, 0)
    block = Block(name=L.name, params=params, n_in=1, body=body, ports=[port], outputs=[out])
    block.name_params = {name_param} if name_param == "name" else set()
    block.name_param = name_param
    block.merged = True
    block.values, block.name_values, block.runs = {}, None, []
    # the calls
    new_of = {}
    for ci, (c, pres, r, extra) in enumerate(insts):
        vals = {pname: values[pname][ci] for pname in params if pname in values}
        ordered = {pname: (vals[pname] if pname in vals else c.values.get(pname)) for pname in params}
        n = Atom("call", block.name, ordered, None, list(extra[0].inputs) if extra else list(c.inputs), 1, hint=c.hint)
        n.block = block
        n.covers = (extra or []) + list(c.covers)
        new_of[id(c)] = n
    seq = []
    for a in comp.seq:
        if id(a) in absorbed:
            continue
        seq.append(new_of.get(id(a), a))
    for a in seq:
        a.inputs = [(new_of[id(s)], i) if id(s) in new_of else (s, i) for s, i in a.inputs]
    comp.outputs = [(new_of[id(s)], i) if id(s) in new_of else (s, i) for s, i in comp.outputs]
    comp.seq = seq
    last = max(comp.blocks.index(b) for b in group)
    comp.blocks = [b for b in comp.blocks[:last + 1] if all(b is not g for g in group)] + [block] + \
        comp.blocks[last + 1:]


def _flat(atoms):
    """Layer atoms of ``atoms``, each call replaced by the atoms it covers (recursively); None for a group."""
    out = []
    for a in atoms:
        if a.kind == "call":
            inner = _flat(getattr(a, "covers", None) or [])
            if inner is None or getattr(a, "instance", None) is not None:
                return None
            out += inner
        elif a.kind == "layer":
            out.append(a)
        else:
            return None
    return out


def _absorb(comp, call, lcore, segments, present, name_param, position, absorbed, extras):
    """The atoms just before ``call`` (layers, or calls of layers) that are its block's missing leading
    segment (reading the call's input chain, each read once, ops and names as the segment's): they join
    the call (``present`` gets their values); returns them, or []."""
    lead = next(((s, e) for s, e in segments if s == 0), None)
    if lead is None or 0 in present:
        return []
    for more in (0, 1, 2):
        got = _absorb_n(comp, call, lcore, lead, present, name_param, position, absorbed, more, extras)
        if got:
            return got
    return []


def _absorb_n(comp, call, lcore, lead, present, name_param, position, absorbed, more, extras):
    """``_absorb`` of the segment and ``more`` layers after it (the same ops and names at every call that
    has them: ``extras`` holds their first call's, and they become one more optional segment)."""
    s, e = lead
    n = e - s + 1 + more
    k = position[id(call)]
    run, flat = [], []
    while len(flat) < n and k - len(run) - 1 >= 0:
        a = comp.seq[k - len(run) - 1]
        f = _flat([a])
        if f is None or id(a) in absorbed or a.n_out != 1:
            return []
        run.insert(0, a)
        flat = f + flat
    if len(flat) != n:
        return []
    if call.inputs != [(run[-1], 0)]:
        return []
    for j, a in enumerate(run[1:], 1):
        if a.inputs != [(run[j - 1], 0)]:
            return []
    seg = e - s + 1
    for j, a in enumerate(flat):
        if j and not (len(a.inputs) == 1 and a.inputs[0][1] == 0 and (a.inputs[0][0] is flat[j - 1] or (
                a.inputs[0][0].kind == "call" and (_flat([a.inputs[0][0]]) or [None])[-1] is flat[j - 1]))):
            return []
        if j >= seg:
            continue
        t = lcore[s + j]
        if _sig(a) != _sig(t) or a.n_out != 1 or len(a.inputs) != len(t.inputs):
            return []
        if t.name is not None and _fill_name(t.name, call, name_param) != a.name:
            return []
    if more:
        first = lcore[e + 1] if e + 1 < len(lcore) else None
        if first is None or len(first.inputs) != 1 or lcore[e] is not first.inputs[0][0]:
            return []        # the extra layers go just before the layer that reads the segment
        mine = [(_sig(a), _name_template(a.name, call, name_param)) for a in flat[seg:]]
        if any(a.n_out != 1 or len(a.inputs) != 1 for a in flat[seg:]) or any(t is False for _, t in mine):
            return []
        if extras.setdefault("sig", mine) != mine:
            return []
        extras.setdefault("atoms", flat[seg:])
    inside = {id(a) for a in run}
    if any(extras["reads"][id(a)] != 1 for a in run):
        return []          # read elsewhere too: not the call's own
    for j, a in enumerate(flat):
        present[s + j if j < seg else len(lcore) + j - seg] = dict(a.values)
    absorbed.update(inside)
    return run


def _name_template(name, call, param):
    """A real name as a template in the call's name value (``block2a_pad`` -> ``"{name}_pad"``)."""
    if name is None:
        return None
    v = call.values.get(param) if param is not None else None
    if not isinstance(v, str) or not v or name.count(v) != 1 or "{" in name:
        return False
    return name.replace(v, "{" + param + "}")


def _dissolve(comp) -> None:
    """Ready the network's body for merging unit variants: a call of a block that calls several blocks
    the body also calls (EfficientNet's two-unit stage beside its lone units) is replaced by what it
    covers, and a block that calls blocks the body calls (a unit around a unit's part) is flattened
    into layers, so every unit is a call from the body."""
    top = lambda: {id(a.block) for a in comp.seq if a.kind == "call"}
    nested = {id(a.block) for b in comp.blocks for a in b.body if a.kind == "call"}
    seq, gone = [], []
    changed = False
    called = top()
    for a in comp.seq:
        b = a.block if a.kind == "call" else None
        if b is not None and getattr(b, "instance", None) is None and id(b) not in nested and \
                getattr(b, "submodel", None) is None and hasattr(b, "out_positions") and \
                sum(1 for t in b.body if t.kind == "call" and id(t.block) in called) >= 2:
            seq += a.covers
            gone.append(a)
            changed = True
        else:
            seq.append(a)
    if changed:
        top_of = {}       # (id(atom), output) -> the ref of the body's atom that gives it now

        def inner(x, k, ref):
            top_of[(id(x), k)] = ref
            if x.kind == "call" and hasattr(x.block, "out_positions"):
                p, kk = x.block.out_positions[k]
                inner(x.covers[p], kk, ref)
        for a in seq:
            for k in range(a.n_out):
                inner(a, k, (a, k))
        for a in gone:          # a dissolved call's outputs: its covered atoms' now
            for o, (p, k) in enumerate(a.block.out_positions):
                top_of[(id(a), o)] = top_of[(id(a.covers[p]), k)]
        for a in seq:
            a.inputs = [top_of.get((id(r[0]), r[1]), r) for r in a.inputs]
        comp.outputs = [top_of.get((id(r[0]), r[1]), r) for r in comp.outputs]
        comp.seq = seq
    called = top()
    for b in list(comp.blocks):
        if getattr(b, "instance", None) is None and getattr(b, "submodel", None) is None and \
                any(t.kind == "call" and id(t.block) in called for t in b.body) and \
                all(t.kind in ("layer", "call") for t in b.body):
            flat = _flatten_template(b)
            if flat is not None:
                b.body, b.outputs = flat
    used = {id(a.block) for a in comp.seq if a.kind == "call"} | \
        {id(a.block) for b in comp.blocks for a in b.body if a.kind == "call"}
    comp.blocks = [b for b in comp.blocks if id(b) in used]


def _flatten_template(b):
    """A block's body with each call of another block replaced by that block's body, parameters filled
    with the call's values: (body, outputs), or None where a call can't be."""
    copies, body = {}, []

    def mapped(r):
        src, i = r
        return copies.get((id(src), i), r)
    for t in b.body:
        if t.kind != "call":
            c = Atom(t.kind, t.op, dict(t.values), t.name, [mapped(r) for r in t.inputs], t.n_out, t.members,
                     t.group, t.hint, t.block)
            body.append(c)
            copies.update({(id(t), k): (c, k) for k in range(t.n_out)})
            continue
        callee = t.block
        if getattr(callee, "instance", None) is not None or any(a.kind not in ("layer",) for a in callee.body):
            inner = _flatten_template(callee) if all(a.kind in ("layer", "call") for a in callee.body) else None
            if inner is None or getattr(callee, "instance", None) is not None:
                return None
            cbody, couts = inner
        else:
            cbody, couts = callee.body, callee.outputs
        local = {(id(p), 0): mapped(r) for p, r in zip(callee.ports, t.inputs)}
        for a in cbody:
            values = {k: _subst(v, t, callee) for k, v in a.values.items()}
            name = _subst_name(a.name, t, callee)
            if name is False:
                return None
            c = Atom(a.kind, a.op, values, name, [local.get((id(s), i), (s, i)) for s, i in a.inputs], a.n_out,
                     a.members, a.group, a.hint, a.block)
            body.append(c)
            local.update({(id(a), k): (c, k) for k in range(a.n_out)})
        for k, r in enumerate(couts):
            copies[(id(t), k)] = local[(id(r[0]), r[1])]
    outputs = [mapped(r) for r in b.outputs]
    return body, outputs


def _subst(v, call, callee):
    if isinstance(v, Expr) and v.text in call.values and v.text in callee.params:
        return call.values[v.text]
    return v


def _subst_name(name, call, callee):
    """A callee's name template with the call's name value put in (False where it can't be)."""
    if not isinstance(name, Expr):
        return name
    p = callee.name_param
    text = name.text
    if p is None or len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
        return False
    v = call.values.get(p)
    if isinstance(v, Expr):
        inner = v.text[1:-1] if v.text[:1] in "\"'" and v.text[-1:] == v.text[:1] else "{" + v.text + "}"
    elif isinstance(v, (str, int)) and not isinstance(v, bool):
        inner = str(v)
        if "{" in inner or "}" in inner:
            return False
    else:
        return False
    return Expr(text.replace("{" + p + "}", inner))
