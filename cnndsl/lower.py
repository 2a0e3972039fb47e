"""AST -> IR: evaluates a network's body into a graph of nodes.

Chains thread a *current tensor* from element to element; statements in a
body chain implicitly. Blocks are expanded at their call, repeats unrolled
and conditionals decided here, so the IR is a plain DAG. Shapes are inferred
as each node is made (blocks may read ``in.channels``).

Scoping: parameters, ``let`` values and tensor names are local to a block
body. ``defaults`` statements are dynamic: they hold for the rest of the body
and for every block called from it, unless a block sets its own.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import syntax as S
from .errors import CnnError, did_you_mean
from .ir import LAYER_NAME, Graph, Node, Scope, Tensors
from .calls import CallMixin, _makes_tensors
from .sharing import SharedLayer, SharingMixin
from .contracts import check_expects, check_value
from .ops import REGISTRY, describe
from .ops.schema import FrozenArgs, convert
from .shapes import infer_node
from .values import MAX_INT, MAX_LEN, Evaluator, Symbol, bounded, fmt_value, vlist

KEYWORD_NAMES = {"in"}


@dataclass(frozen=True)
class Limits:
    """Guards against specs that would not finish. Generous: ten ResNet-152s fit easily."""

    max_repeat: int = 100_000      # iterations of one repeat
    max_depth: int = 64            # nested block calls and repeats
    max_nodes: int = 2_000_000     # nodes in one network
    max_steps: int = 100_000       # evaluation steps: statements, repeat iterations, block calls, layers
    contracts: bool = True         # check `expect` statements (False: --no-contracts)


@dataclass
class Env:
    """One body's evaluation context."""

    names: dict                      # parameters, lets, tensors (Nodes)
    blocks: dict                     # the blocks visible here (this code's file's namespace)
    defaults: dict                   # op name -> {arg: value}, from `defaults` statements
    scope: tuple = ()                # enclosing Scopes, outermost first
    prefix: str = ""                 # name prefix for derived node names
    active: tuple = ()               # block names being expanded (recursion check)
    is_network: bool = False
    sharing: object = None           # sharing.Application: inside a shared block's application
    frozen: bool = False             # inside a `trainable=false` block call or sequential

    @property
    def chain(self) -> tuple:
        return tuple(s.frame for s in self.scope if s.kind == "block")

    def child(self, **kw) -> "Env":
        new = object.__new__(Env)          # dataclasses.replace, without its per-call field walk
        d = new.__dict__
        d.update(self.__dict__)
        d.update(kw)
        d.pop("_evaluator", None)
        return new


class Lowerer(CallMixin, SharingMixin):
    """Lowers one network of a ``Program`` into a ``Graph``."""

    def __init__(self, program, limits: Limits):
        self.program = program
        self.limits = limits
        self.graph: Graph | None = None
        self.counters: dict = {}     # name prefix -> {base: last number}; a block's is dropped when it ends
        self.taken: dict = {}
        self.valid_parts: set = set()     # prefixes and bases of derived names that are valid layer names
        self.plain_calls: dict = {}       # id(block call) -> (the call, whether it binds in order): calls.in_order
        self.tensor_sites: dict = {}      # id(op call) -> (the call, its positional names, or None if a chain): names_a_tensor
        self.stmt_of = _Handlers(type(self), "stmt_")   # syntax class -> its method, looked up once
        self.elem_of = _Handlers(type(self), "elem_")
        self.expects: list = []      # (Expect statement, expected value)
        self.steps = 0
        self.sequentials: list = []  # (Scope, its nodes): each read from outside only at its end
        self.shared_declared: list = []   # every sharing.SharedLayer declared, in order
        self.pending: list = []      # {name: span} of the `shared` statements of the bodies being run
        self.shared_in: dict = {}    # id(body) -> its `shared` statements (bodies are the AST's tuples)

    # --- budget -----------------------------------------------------------------
    def tick(self, span, env: Env) -> None:
        """Count one evaluation step; past ``max_steps`` the spec is stopped, wherever it is."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.fail("limit", f"the network takes more than {self.limits.max_steps:,} evaluation steps "
                               "(statements, repeat iterations, block calls and layers) (--max-steps)", span, env,
                      hint="a repeat or block nesting multiplies the work; raise --max-steps if this is intended")

    # --- errors -----------------------------------------------------------------
    def fail(self, kind, msg, span, env: Env | None, hint=None):
        raise CnnError(kind, msg, span, env.chain if env else (), hint=hint)

    def eval(self, expr, env: Env):
        try:
            kind = type(expr)
            if kind is S.Num or kind is S.Const:     # most arguments: a literal or a name, no Evaluator
                v = expr.value
            elif kind is S.Name:
                v = env.names.get(expr.id, _UNSET)
                if v is _UNSET:
                    v = Symbol(expr.id)
            else:     # one evaluator per Env (child() leaves it behind): its names, its budget
                ev = env.__dict__.get("_evaluator")
                if ev is None:
                    ev = env._evaluator = Evaluator(env.names, lambda span: self.tick(span, env), env.blocks)
                fn = expr._ev        # the expression's compiled closure (values._compile), as ev(expr) runs it
                return fn(ev) if fn is not None else ev(expr)
            t = type(v)          # the usual values checked here, as ``bounded`` checks them
            if t is int:
                if -MAX_INT < v < MAX_INT:
                    return v
            elif t is bool or v is None or t is Node:
                return v
            elif (t is str or t is Symbol or t is list) and len(v) <= MAX_LEN:
                return v
            elif t is float and v - v == 0.0:     # a float bounded accepts: not nan, not infinite
                return v
            return bounded(v, expr.span)
        except CnnError as e:
            raise e.located(expr.span, env.chain)
        except RecursionError:   # the limits keep within the stack; this is the last guard, located
            self.fail("limit", "this expression nests too deeply for Python's stack", expr.span, env)

    # --- naming -----------------------------------------------------------------
    def fresh(self, prefix: str, base: str) -> str:
        table = self.counters.get(prefix)
        if table is None:
            table = self.counters[prefix] = {}
        k = table[base] = table.get(base, 0) + 1
        return f"{prefix}{base}_{k}"

    def claim(self, name: str, span, env: Env, parts: tuple | None = None) -> str:
        """Take a layer name, or fail. ``parts`` is the (prefix, base) of a derived name ``{prefix}{base}_{k}``:
        when the prefix is empty or a valid name and the base is one, so is the name."""
        valid = self.valid_parts
        if parts is not None and parts[1] in valid and (not parts[0] or parts[0] in valid):
            if name in self.taken:
                self.fail("name", f"layer name `{name}` is used twice (first at {self.taken[name]})", span, env,
                          hint="put a block parameter or the repeat index in the name template, e.g. \"{name}_pool\"")
            self.taken[name] = span
            return name
        if not LAYER_NAME.fullmatch(name):
            bad = next((ch for k, ch in enumerate(name) if not LAYER_NAME.fullmatch("a" + ch)), name[:1] or "")
            who = {".": "Keras's torch backend", "/": "Keras"}.get(bad, "Keras's TensorFlow backend")
            shown = repr(bad)[1:-1] if bad.isprintable() else f"U+{ord(bad):04X}" if bad else "nothing"
            self.fail("name", f"layer name `{name[:80]}` has `{shown}`, which {who} rejects" if bad else
                      "a layer name can't be empty", span, env,
                      hint="use ASCII letters, digits, `_` and `-` (not first)")
        if name in self.taken:
            self.fail("name", f"layer name `{name}` is used twice (first at {self.taken[name]})", span, env,
                      hint="put a block parameter or the repeat index in the name template, e.g. \"{name}_pool\"")
        self.taken[name] = span
        if parts is not None:
            valid.update(p for p in parts if p and LAYER_NAME.fullmatch(p))
        return name

    # --- nodes ------------------------------------------------------------------
    def emit(self, op_name, args, inputs, span, env: Env, name=None, layer=True, shares=None, frozen=False) -> Node:
        """A new node; ``layer=False`` for nodes no backend makes a layer of (a split's parts, a shared
        layer's later applications: ``shares`` is the node whose layer it calls again)."""
        limits = self.limits
        self.steps += 1
        if self.steps > limits.max_steps:
            self.tick(span, env)
        nodes = self.graph.nodes
        if len(nodes) >= limits.max_nodes:
            self.fail("limit", f"the network has more than {limits.max_nodes:,} nodes (max_nodes)", span, env)
        sharing = env.sharing
        matched = self.shared_node(env, op_name, args, span) if sharing is not None else None
        if matched is not None:        # a shared block applied again: this node calls the first's layer
            (name, shares), layer = matched, False
        frozen = bool(frozen or env.frozen or (shares is not None and shares.frozen))
        if layer:
            if name is None:     # derived: `fresh` and `claim`, inlined for the usual case
                prefix = env.prefix
                table = self.counters.get(prefix)
                if table is None:
                    table = self.counters[prefix] = {}
                k = table[op_name] = table.get(op_name, 0) + 1
                name = f"{prefix}{op_name}_{k}"
                valid, taken = self.valid_parts, self.taken
                if op_name in valid and (not prefix or prefix in valid) and name not in taken:
                    taken[name] = span
                else:
                    self.claim(name, span, env, (prefix, op_name))
            else:
                name = self.claim(name, span, env)
        known = (args.inferred if type(args) is FrozenArgs and sharing is None and shares is None and not frozen
                 else None)
        if known is not None:    # these arguments met these input shapes before: the same results
            n = len(inputs)
            done = known.get((inputs[0].shape,) if n == 1 else (inputs[0].shape, inputs[1].shape) if n == 2
                             else tuple([i.shape for i in inputs]))
            if done is not None:
                node = Node(name, op_name, done[4], tuple(inputs), done[0], span, env.scope, done[1], done[2], done[3])
                nodes.append(node)
                return node
        node = Node(name, op_name, args, tuple(inputs), None, span, env.scope, shares=shares, frozen=frozen)
        infer_node(node)
        if matched is not None:
            self.check_same_args(env, node, span)
        nodes.append(node)
        if sharing is not None and sharing.k == 1:
            sharing.shared.first.append(node)
        return node

    # --- networks ---------------------------------------------------------------
    def network(self, ndef: S.NetworkDef, overrides: dict) -> Graph:
        self.graph = Graph(ndef.name, span=ndef.span)
        env = Env(names=dict(self.program.consts), blocks=self.program.blocks, defaults={}, is_network=True)
        declared = {p.name for p in ndef.params}
        for key in overrides:
            if key not in declared:
                value_params = [p.name for p in ndef.params]
                raise CnnError("usage", f"network `{ndef.name}` has no parameter `{key}`",
                               hint=did_you_mean(key, value_params) or f"its parameters: {', '.join(value_params) or 'none'}")
        for p in ndef.params:
            if p.kind == "input":
                continue
            if p.name in overrides:
                env.names[p.name] = _as_spec_value(overrides[p.name])
            elif p.kind == "plain":
                raise CnnError("usage", f"network `{ndef.name}` needs `--set {p.name}=...`", p.span)
            else:
                env.names[p.name] = self.eval(p.value, env)
            self.graph.params[p.name] = env.names[p.name]
        batch = env.names.get("batch")
        if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
            raise CnnError("type", f"batch must be a positive integer or none, got {fmt_value(batch)}",
                           next(p.span for p in ndef.params if p.name == "batch"))
        for p in ndef.params:
            if p.kind == "input":
                self.input(p, batch, env, overrides.get(p.name, _UNSET))
        cur = next(iter(self.graph.inputs.values())) if len(self.graph.inputs) == 1 else None
        cur = self.body(ndef.body, env, cur)
        self.outputs(ndef, env, cur)
        self.check_shared_used()
        self.prune()
        self.check_sequentials()
        if self.limits.contracts:
            check_expects(self.graph, self.expects, env.names)
        return self.graph

    def input(self, p: S.Param, batch, env: Env, given=None):
        """An input of the network: its shape as declared, or as set (``--set image=[300, 300, 3]``)."""
        dims = self.eval(p.value, env) if given is _UNSET else _as_spec_value(given)
        ok = isinstance(dims, list) and dims and all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in dims)
        if not ok and given is not _UNSET:
            raise CnnError("usage", f"input `{p.name}` needs a shape such as [224, 224, 3] (none for unknown), "
                                    f"got {fmt_value(dims)}")
        if not ok:
            self.fail("type", f"input `{p.name}` needs a shape such as [224, 224, 3] (none for unknown), "
                              f"got {fmt_value(dims)}", p.value.span, env)
        node = self.emit("input", {"shape": (batch, *dims)}, (), p.span, env, name=p.name)
        node.shape = (batch, *dims)
        self.graph.inputs[p.name] = node
        env.names[p.name] = node

    def outputs(self, ndef: S.NetworkDef, env: Env, cur):
        if ndef.outputs:
            for name in ndef.outputs:
                v = env.names.get(name)
                if not isinstance(v, Node):
                    self.fail("name", f"output `{name}` is not a tensor of the network", ndef.span, env,
                              hint=did_you_mean(name, [k for k, x in env.names.items() if isinstance(x, Node)]))
                self.graph.outputs[name] = v
        elif cur is None or cur.op == "input":
            self.fail("value", f"network `{ndef.name}` computes nothing", ndef.span, env)
        else:
            self.graph.outputs[cur.name] = cur

    def check_sequentials(self):
        """Only a sequential's last layer may be read from outside it (its inner tensors are hidden)."""
        outputs = {id(n) for n in self.graph.outputs.values()}
        for scope, nodes in self.sequentials:
            inside = {id(n) for n in nodes}
            for node in self.graph.nodes:
                for i in node.inputs:
                    if id(i) in inside and i is not nodes[-1] and id(node) not in inside:
                        self.fail("type", f"`{node.name}` reads `{i.name}` from inside sequential `{scope.id}`; "
                                          "only its last layer's output is visible", node.span, None)
            if any(id(n) in outputs for n in nodes[:-1]):
                self.fail("type", f"an output is inside sequential `{scope.id}`", scope.span, None)

    def prune(self):
        """Drop nodes no output depends on, as Keras's functional Model does."""
        live = set()     # nodes hash by identity
        stack = list(self.graph.outputs.values()) + list(self.graph.inputs.values())
        while stack:
            n = stack.pop()
            if n not in live:
                live.add(n)
                stack.extend(n.inputs)
        if len(live) == len(self.graph.nodes):
            return
        dead = [n for n in self.graph.nodes if n not in live]
        if dead:
            self.graph.warnings.append(
                f"{len(dead)} layer(s) reach no output and are left out, the first `{dead[0].name}` at {dead[0].span}")
            self.graph.nodes = [n for n in self.graph.nodes if n in live]

    # --- bodies, statements, chains -------------------------------------------------
    def body(self, stmts, env: Env, cur):
        prev = None
        stmt_of, limit = self.stmt_of, self.limits.max_steps
        shared = self.shared_in.get(id(stmts))
        if shared is None:        # the body's `shared` statements, found once per body of the source
            shared = self.shared_in[id(stmts)] = tuple(s for s in stmts if type(s) is S.Shared)
        if shared:
            later = {s.name: s.span for s in shared}
            self.pending.append(later)
        for stmt in stmts:
            self.steps += 1
            if self.steps > limit:
                self.tick(stmt.span, env)
            kind = type(stmt)
            if kind is S.Assign and type(prev) is S.Assign and isinstance(cur, Node):
                self.lint_implicit_input(stmt, prev, env, cur)
            prev = stmt
            try:
                cur = stmt_of[kind](self, stmt, env, cur)
            except RecursionError:   # past Python's stack (limits raised far): located at the statement
                self.fail("limit", "the spec nests too deeply for Python's stack here", stmt.span, env,
                          hint="lower --max-depth, or flatten the nesting")
            if shared and kind is S.Shared:
                later.pop(stmt.name, None)
        if shared:
            self.pending.pop()
        return cur

    def lint_implicit_input(self, s, prev, env, cur):
        """Warn where a named statement reads the named statement before it without saying so:
        ``x1 = conv(...)`` then ``x2 = conv(...)`` makes x2 from x1, which surprises people."""
        first = s.chain.elems[0]
        if not isinstance(first, S.Call) or isinstance(env.names.get(first.name), Node):
            return
        op = REGISTRY.get(first.name)
        implicit = first.name in env.blocks or (op is not None and not op.internal and op.arity == 1
                                                 and not op.passthrough)
        if implicit and first.args is not None and any(a.name is None and isinstance(getattr(a.value, "id", None), str)
                                                       and isinstance(env.names.get(a.value.id), Node)
                                                       for a in first.args):
            implicit = False
        if implicit:
            name = prev.name if isinstance(prev.name, str) else prev.name[-1]
            self.graph.warnings.append(
                f"{s.span}: `{s.name if isinstance(s.name, str) else ', '.join(s.name)} = {first.name}...` reads "
                f"`{name}`, the statement before it (statements chain even when named); write `{name} -> "
                f"{first.name}...` to say so, or start from another tensor")

    def stmt_ChainStmt(self, s, env, cur):
        return self.chain(s.chain, env, cur)

    def stmt_Assign(self, s, env, cur):
        """``x = chain``, or ``a, b = two_outputs(...)`` for a block declared ``-> (a, b)``."""
        names = (s.name,) if isinstance(s.name, str) else s.name
        for name in names:
            if (name in REGISTRY and not REGISTRY[name].internal) or name in env.blocks or name in KEYWORD_NAMES:
                self.fail("name", f"`{name}` names an op or block; pick another tensor name", s.span, env)
            if isinstance(env.names.get(name), SharedLayer):
                self.fail("name", f"`{name}` is a shared instance (declared at {env.names[name].span}); pick "
                                  "another tensor name", s.span, env)
        value = self.chain(s.chain, env, cur, bundle_ok=len(names) > 1)
        if value is None:
            self.fail("value", f"`{', '.join(names)} = ...` gives no tensor", s.span, env)
        if isinstance(value, list) and len(names) == 1:     # `ys = repeat n collect { ... }`: a list of tensors
            env.names[names[0]] = value
            return None
        got = len(value) if isinstance(value, Tensors) else 1
        if got != len(names):
            self.fail("value", f"`{', '.join(names)} = ...` binds {len(names)} tensors, the chain gives {got}",
                      s.span, env)
        env.names.update(zip(names, value if isinstance(value, Tensors) else (value,)))
        self.bound(names, value if isinstance(value, Tensors) else (value,), s.span)
        return value if isinstance(value, Node) else None

    def stmt_Let(self, s, env, cur):
        """``let v = expr``, or ``let [a, b] = list`` to take a list apart."""
        try:
            value = self.eval(s.value, env)
        except CnnError as e:
            if e.hint and "`NAME = if " in e.hint:     # a ternary of tensors: show the `if` statement
                e.hint = e.hint.replace("`NAME = ", f"`{s.name if isinstance(s.name, str) else ', '.join(s.name)} = ")
            raise
        if isinstance(s.name, str):
            env.names[s.name] = value
            return cur
        if not isinstance(value, list) or len(value) != len(s.name):
            self.fail("value", f"`let [{', '.join(s.name)}] = ...` needs a list of {len(s.name)}, got {fmt_value(value)}",
                      s.value.span, env)
        env.names.update(zip(s.name, value))
        return cur

    def stmt_Defaults(self, s, env, cur):
        op = self.op_or_fail(s.op, s.span, env)
        given = {}
        for a in s.args:
            if a.name is None:
                self.fail("type", "defaults takes keyword arguments only, e.g. defaults conv(padding=same)", a.span, env)
            if a.name in given:
                self.fail("type", f"defaults {s.op}: argument `{a.name}` given twice", a.span, env)
            given[a.name] = self.eval(a.value, env)
        try:
            given = {k: convert(op, k, v) for k, v in given.items()}
        except CnnError as e:
            raise e.located(s.span, env.chain)
        env.defaults = {**env.defaults, s.op: {**env.defaults.get(s.op, {}), **given}}
        return cur

    def stmt_Assert(self, s, env, cur):
        """``assert cond, "message"``: a spec's own check of its parameters or shapes, located here."""
        ok = self.eval(s.test, env)
        if not isinstance(ok, bool):
            self.fail("type", f"`assert` needs true or false, got {fmt_value(ok)}", s.test.span, env)
        if not ok:
            message = self.eval(s.message, env)
            self.fail("value", message if isinstance(message, str) else fmt_value(message), s.span, env)
        return cur

    def stmt_Expect(self, s, env, cur):
        """Contracts are checked once the whole network is built; the value is taken now,
        so an ``expect`` inside a network-level ``if`` states that case's figure."""
        if not env.is_network:
            self.fail("value", "`expect` belongs in a network body (or an `if` in it), not in a block", s.span, env)
        if self.limits.contracts:
            want = self.eval(s.value, env)
            try:
                check_value(s, want)
            except CnnError as e:
                raise e.located(s.value.span, env.chain)
            self.expects.append((s, want))
        return cur

    def chain(self, chain: S.Chain, env: Env, cur, bundle_ok: bool = False):
        elem_of = self.elem_of
        for k, elem in enumerate(chain.elems):
            if isinstance(cur, Tensors) and not (k == 0 and isinstance(env.names.get(getattr(elem, "name", None)), Node)):
                self.unbound(cur, elem.span, env)
            cur = elem_of[type(elem)](self, elem, env, cur, k == 0)
        if isinstance(cur, Tensors) and not bundle_ok:
            self.unbound(cur, chain.span, env)
        return cur

    def unbound(self, bundle: Tensors, span, env: Env):
        what = "split" if bundle.block == "split" else f"block `{bundle.block}`"
        self.fail("value", f"{what} gives {len(bundle)} tensors; bind them by name first",
                  span, env, hint=f"{', '.join(bundle.names)} = {bundle.block}(...)")

    def elem_Repeat(self, r, env, cur, first):
        """``repeat N [as i]`` (i = 0 .. N-1) or ``repeat [a, b, c] as x`` (x = each item)."""
        n = self.eval(r.count, env)
        items = n if isinstance(n, list) else None
        if items is not None:
            if not r.var:
                self.fail("type", "repeat over a list needs `as NAME` for its items", r.span, env)
            n = len(items)
        elif not isinstance(n, int) or isinstance(n, bool) or n < 0:
            self.fail("type", f"repeat needs a non-negative integer or a list, got {fmt_value(n)}", r.count.span, env)
        if n > self.limits.max_repeat:
            self.fail("limit", f"repeat {n:,} is over the limit of {self.limits.max_repeat:,} (max_repeat)", r.count.span, env)
        if r.var and r.var in env.names:
            self.fail("name", f"repeat index `{r.var}` would hide the {self.what(env.names[r.var])} `{r.var}`",
                      r.span, env, hint="pick another index name")
        scope = Scope(self.fresh(env.prefix, "repeat"), "repeat", r.span, count=n, var=r.var)
        inner = env.child(scope=self.nest(env, scope, r.span))
        collected = []
        for i in range(n):
            self.tick(r.span, inner)
            if r.var:
                env.names[r.var] = i if items is None else items[i]
            made = len(self.graph.nodes)
            cur = self.body(r.body, inner, cur)
            if isinstance(r.collect, str):           # `collect skip`: the tensor named `skip` in each iteration
                got = env.names.get(r.collect)
                if not isinstance(got, Node) or not any(got is x for x in self.graph.nodes[made:]):
                    self.fail("name", f"`collect {r.collect}`: iteration {i + 1} binds no new tensor `{r.collect}`",
                              r.span, env, hint=f"name a tensor in the repeat's body: `{r.collect} = ...`"
                              if not isinstance(got, Node) else "the tensor must be made in each iteration")
                collected.append(got)
            elif r.collect:
                if not isinstance(cur, Node):
                    self.fail("value", "`repeat ... collect` needs each iteration to give a tensor", r.span, env)
                collected.append(cur)
        env.names.pop(r.var, None)  # the index lives only inside its repeat
        return vlist(collected, r.span) if r.collect is not False else cur

    def elem_Start(self, s, env, cur, first):
        """A chain argument's first element: an expression that gives a tensor (``x``, ``skips[i]``)."""
        if isinstance(s.value, S.FuncCall) and _makes_tensors(s.value.name, env):   # concat(a, b) -> conv(4, 1)
            f = s.value
            return self.branch(S.Chain(f.span, (S.Call(f.span, f.name, f.args, None),)), env, None)
        v = self.eval(s.value, env)
        if not isinstance(v, Node):
            got = f"the list {fmt_value(v)[:80]}" if isinstance(v, list) else describe(v)
            self.fail("type", f"a chain starts from a tensor, got {got}", s.span, env)
        if not first:
            self.fail("value", "a tensor of a list can only start a chain (`ys[0] -> ...`)", s.span, env)
        return v

    @staticmethod
    def what(value) -> str:
        return "tensor" if isinstance(value, Node) else "value"

    def elem_If(self, node, env, cur, first):
        for cond, body in node.arms:
            v = self.eval(cond, env)
            if not isinstance(v, bool):
                self.fail("type", f"`if` needs true or false, got {fmt_value(v)}", cond.span, env)
            if v:
                return self.body(body, env, cur)
        return self.body(node.orelse, env, cur) if node.orelse else cur

    def nest(self, env: Env, scope: Scope, span) -> tuple:
        if len(env.scope) >= self.limits.max_depth:
            self.fail("limit", f"blocks and repeats nest deeper than {self.limits.max_depth} (max_depth)", span, env)
        return env.scope + (scope,)

    def op_or_fail(self, name, span, env):
        if name == "in" and env.is_network:
            self.fail("name", "`in` is a block's input; a network names its inputs", span, env,
                      hint=f"start the chain with {' or '.join(f'`{k}`' for k in self.graph.inputs) or 'an input'}")
        if "." in name and name not in env.blocks:
            alias, member = name.split(".", 1)
            members = sorted({k.split(".", 1)[1] for k in (*env.blocks, *env.names) if k.startswith(alias + ".")})
            if members:
                self.fail("name", f"`{alias}` (an imported file) has no block `{member}`", span, env,
                          hint=did_you_mean(member, members) or f"it gives: {', '.join(members)}")
        declared = next((d[name] for d in reversed(self.pending) if name in d), None) if self.pending else None
        if declared is not None and name not in REGISTRY:
            self.fail("name", f"`{name}` is used before its `shared` declaration (at {declared})", span, env,
                      hint="declare a shared instance before applying it")
        if name not in REGISTRY or REGISTRY[name].internal:
            known = [k for k, op in REGISTRY.items() if not op.internal] + list(env.blocks) + [k for k, v in env.names.items() if isinstance(v, Node)]
            self.fail("name", f"unknown op or block `{name}`", span, env, hint=did_you_mean(name, known))
        return REGISTRY[name]


_UNSET = object()


class _Handlers(dict):
    """``stmt_Let`` for ``S.Let``: the lowerer class's function for a syntax class, found by name once."""

    def __init__(self, owner: type, prefix: str):
        super().__init__()
        self.owner, self.prefix = owner, prefix

    def __missing__(self, cls):
        self[cls] = function = getattr(self.owner, self.prefix + cls.__name__)
        return function


def _as_spec_value(v):
    """A Python value given for a network parameter, as the language has it (tuples are lists)."""
    if isinstance(v, (list, tuple)):
        return vlist([_as_spec_value(x) for x in v])
    return v
