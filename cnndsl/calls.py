"""Chain elements that name something: tensors, ops, merges and block calls.

A mixin of ``lower.Lowerer``; kept apart so each file reads on its own.
"""
from __future__ import annotations

import re

from . import syntax as S
from .errors import CnnError, did_you_mean
from .ir import LAYER_NAME, SEP, Node, Scope, Tensors
from .ops import REGISTRY, describe, fmt_shape
from .ops.schema import bind_shared
from .ops.tensor import split_sizes
from .sharing import SharedLayer
from .values import Symbol, fmt_value


_NO_DEFAULTS: dict = {}


class CallMixin:

    def elem_Call(self, c: S.Call, env, cur, first):
        v = env.names.get(c.name)
        if v is not None:      # a name bound here (most calls name an op or a block, bound to nothing)
            if isinstance(v, SharedLayer):                   # `x -> enc` or `enc(x)`: a shared instance applied
                return self.apply_shared(v, c, env, cur, first)
            if isinstance(v, Node) and c.args is None and c.branches is None:
                if not first:
                    self.fail("value", f"tensor `{c.name}` can only start a chain (`{c.name} -> ...`)", c.span, env)
                return v
            if _tensor_list(v) and c.args is None and c.branches is None:       # `ys -> concat`: a list of tensors
                if not first:
                    self.fail("value", f"the tensor list `{c.name}` can only start a chain (`{c.name} -> concat`)",
                              c.span, env)
                return v
            if isinstance(v, list) and c.branches is None and c.name not in env.blocks and (
                    c.name not in REGISTRY or REGISTRY[c.name].internal):
                self.fail("type", f"`{c.name}` is a list of values, not a tensor, so it can't be a chain's step",
                          c.span, env, hint=f"pass it to an op as an argument, e.g. conv({c.name}[0], 3)")
        if c.name in env.blocks:
            return self.block_call(c, env, cur)
        if c.name == "sequential" and c.branches is not None:
            return self.sequential(c, env, cur)
        op = REGISTRY.get(c.name)
        if op is None or op.internal or c.name == "in":
            op = self.op_or_fail(c.name, c.span, env)
        if c.branches is not None:
            if op.arity is not None:
                self.fail("type", f"`{op.name} {{ ... }}` needs a merge op (concat, add, multiply)", c.span, env)
            when = tuple([a for a in c.args if a.name == "when"]) if c.args else ()
            branches = c.branches
            if when and not self.truth(when[0], env):
                return self.skipped_merge(op, c, env, cur)
            inputs = []
            for b in branches:
                inputs.append(self.branch(b, env, cur))
            return self.op_call(op, c, env, inputs, when,
                                lambda: [self.tensor_name(b, env) for b in branches])   # for an error only
        if c.args and (op.arity is None or self.names_a_tensor(c, env)):
            tensors, inputs, names = self.tensor_args(op, c, env)
        else:
            tensors = ()      # an op that takes the chain's tensor, and no argument that could name a tensor
        if tensors:
            if op.arity is not None:
                self.fail("type", f"{op.name} reads the chain's tensor; pass tensors only to merges", tensors[0].span, env)
            if len(inputs) == 1 and first and isinstance(cur, Node) and cur is not inputs[0]:
                self.one_tensor_merge(op, c, env, cur, tensors[0])
            return self.op_call(op, c, env, ([] if first or cur is None else [cur]) + inputs, tensors,
                                ([] if first or cur is None else [None]) + names)
        if isinstance(cur, list) and not first:          # `repeat n collect { ... } -> concat`
            if op.arity is not None:
                named = next((k for k, x in env.names.items() if x is cur), None)
                what = f"`{named}` is a list of {len(cur)} tensors" if named else f"the chain gives a list of {len(cur)}"
                self.fail("type", f"{op.name} needs one tensor, and {what}; merge them first (`-> concat`)", c.span,
                          env, hint=f"pick one: `{named}[0] -> {op.name}`, or merge them: `{named} -> concat -> "
                                    f"{op.name}`" if named else None)
            return self.op_call(op, c, env, list(cur), ())
        if op.passthrough:
            return self.need_input(cur, c, env)
        if op.arity is None and op.least > 1:
            self.fail("type", f"{op.name} needs branches: `{op.name} {{ a; b }}` or `{op.name}(x, y)`", c.span, env)
        return self.op_call(op, c, env, [self.need_input(cur, c, env)], ())

    def names_a_tensor(self, c: S.Call, env) -> bool:
        """Whether a positional argument of the call is a chain, or a name bound here to a tensor or a
        list (what ``tensor_args`` would take for an op that reads the chain's tensor; which arguments are
        chains or names is remembered per call site)."""
        known = self.tensor_sites.get(id(c))
        if known is None:
            chains = any(a.name is None and type(a.value) is S.Chain for a in c.args)
            ids = tuple(a.value.id for a in c.args if a.name is None and type(a.value) is S.Name)
            known = self.tensor_sites[id(c)] = (c, None if chains else ids)
        ids = known[1]
        if ids is None:
            return True
        names = env.names
        for name in ids:
            v = names.get(name)
            if isinstance(v, (Node, list)):
                return True
        return False

    def sequential(self, c: S.Call, env, cur):
        """``sequential(name="stem") { conv(...); layernorm(...) }``: a chain of layers that a backend
        builds as one nested model (Keras: a ``keras.Sequential``), as keras.applications' ConvNeXt has."""
        frozen, c = self.trainable_arg(c, env)
        extra = [a for a in c.args or () if a.name != "name"]
        if extra:
            self.fail("type", "sequential takes only `name=` and `trainable=`", extra[0].span, env)
        if env.sharing is not None:
            self.fail("type", "a shared block can't hold a `sequential` (its layers would be made once per "
                              "application); use the layers without it", c.span, env)
        given = [self.eval(a.value, env) for a in c.args or () if a.name == "name"]
        name = given[0] if given and given[0] is not None else self.fresh(env.prefix, "sequential")
        if not isinstance(name, str) or isinstance(name, Symbol):
            self.fail("type", f"name must be a string, got {describe(name)}", c.span, env)
        name = self.claim(name, c.span, env)
        start = self.need_input(cur, c, env)
        scope = Scope(name, "sequential", c.span, block="sequential", args=(("name", name, repr(name)),))
        inner = env.child(scope=self.nest(env, scope, c.span), frozen=env.frozen or frozen)
        first = len(self.graph.nodes)
        for branch in c.branches:
            cur = self.chain(branch, inner, cur)
        nodes = self.graph.nodes[first:]
        if not nodes or not isinstance(cur, Node):
            self.fail("value", "a sequential needs at least one layer", c.span, env)
        previous = start
        for node in nodes:
            if node.op in ("take", "split") or len(node.inputs) != 1 or node.inputs[0] is not previous:
                self.fail("type", f"a sequential is a plain chain of one-input layers; `{node.name}` is not the "
                                  "next link", node.span, env, hint="keep merges and splits outside `sequential`")
            previous = node
        self.sequentials.append((scope, nodes))
        return cur

    def one_tensor_merge(self, op, c: S.Call, env, cur, arg: S.Arg):
        """``u = conv_transpose(...)`` then ``concat(skip)``: a merge that starts a statement reads only its
        arguments, not the tensor before it."""
        given = _written(arg)
        before = next((k for k, x in reversed(list(env.names.items())) if x is cur), cur.name)
        self.fail("type", f"{op.name}({given}) merges only `{given}`: a merge that starts a statement reads its "
                          f"arguments, not the tensor before it (`{before}`)", c.span, env,
                  hint=f"{op.name}({before}, {given}), or {before} -> {op.name}({given})")

    def merge_arg(self, op, a: S.Arg, env):
        """A merge's argument that is a call of an op or block, a merge of merges: ``add(multiply(a, b), a)``."""
        f = a.value
        call = S.Call(f.span, f.name, f.args, None)
        return self.branch(S.Chain(f.span, (call,)), env, None)

    def tensor_args(self, op, c: S.Call, env):
        """The positional arguments that are tensors (or lists of them), and those tensors in order.

        A merge takes any expression that gives a tensor (``add(x, skips[i])``, ``concat(ys)``); other
        ops are told when given a tensor by name."""
        args, nodes, names, empties = [], [], [], []
        for a in c.args or ():
            if a.name is not None:
                continue
            if isinstance(a.value, S.Chain):          # concat(x -> upsample(2), y)
                if op.arity is not None:
                    self.fail("type", f"{op.name} reads the chain's tensor; pass chains only to merges", a.span, env)
                args.append(a)
                nodes.append(self.branch(a.value, env, None))
                names.append(None)
                continue
            if op.arity is None and isinstance(a.value, S.FuncCall) and isinstance(env.names.get(a.value.name),
                                                                                     SharedLayer):
                args.append(a)        # concat(enc(a), enc(b)): a shared instance applied in a merge's arguments
                nodes.append(self.apply_shared(env.names[a.value.name],
                                               S.Call(a.value.span, a.value.name, a.value.args, None), env, None, True))
                names.append(None)
                continue
            if op.arity is None:
                if isinstance(a.value, S.Name) and a.value.id not in env.names:
                    tensors = [k for k, x in env.names.items() if isinstance(x, Node)]
                    self.fail("name", f"unknown tensor `{a.value.id}`", a.value.span, env,
                              hint=did_you_mean(a.value.id, tensors) or f"tensors here: {', '.join(tensors) or 'none'}")
                if isinstance(a.value, S.FuncCall) and _makes_tensors(a.value.name, env):
                    args.append(a)
                    nodes.append(self.merge_arg(op, a, env))
                    names.append(None)
                    continue
                v = self.eval(a.value, env)
                if isinstance(v, list) and any(isinstance(x, Node) for x in v) and not _tensor_list(v):
                    bad = next(x for x in v if not isinstance(x, Node))
                    self.fail("type", f"{op.name} merges tensors; `{_written(a)}` holds {fmt_value(bad)}, which is "
                                      "not a tensor", a.span, env)
                if isinstance(v, list) and not v:
                    empties.append(a)     # adds no tensor; an error only if the merge is left with too few
            elif isinstance(a.value, S.Name):
                v = env.names.get(a.value.id)
            else:
                continue
            if op.arity is None and v == []:      # an empty list of tensors (`repeat 0 collect`), never an axis
                args.append(a)
                continue
            vs = v if isinstance(v, list) and v and all(isinstance(x, Node) for x in v) else [v]
            if all(isinstance(x, Node) for x in vs):
                args.append(a)
                nodes += vs
                named = isinstance(a.value, S.Name)
                names += [a.value.id if named else None] if len(vs) == 1 and not isinstance(v, list) else \
                    [f"{a.value.id}[{k}]" if named else None for k in range(len(vs))]
        if empties and op.arity is None and len(nodes) < 2 and not c.branches:
            a = empties[0]
            self.fail("value", f"`{_written(a)}` is an empty list, so {op.name} has no tensors from it",
                      a.span, env, hint="check the list's slice or the repeat that collected it")
        return tuple(args), nodes, names

    # --- the user's names for a merge's tensors, in its errors --------------------------------------------
    def bound(self, names, values, span) -> None:
        """Remember where ``x = ...`` bound each tensor, for the errors of merges that read it by name."""
        if not hasattr(self, "bindings"):
            self.bindings = {}
        for name, value in zip(names, values):
            if isinstance(value, Node):
                self.bindings[name, id(value)] = span

    @staticmethod
    def tensor_name(chain: S.Chain, env):
        """The name of a branch that is just a tensor's name (``add { a; b -> relu }``: ``a``), else None."""
        if len(chain.elems) == 1 and isinstance(chain.elems[0], S.Call):
            e = chain.elems[0]
            if e.args is None and e.branches is None and isinstance(env.names.get(e.name), Node):
                return e.name
        return None

    def name_tensors(self, e: CnnError, inputs, names) -> None:
        """A merge's shape error in the user's words: ``add: channels differ: ... (`u`) vs ... (`s2`)``,
        each named tensor's note first giving where the user bound it, then where it was made."""
        from .shapes import describe_node
        if not any(names) or not re.search(r"\(branch \d+\)", e.message):
            return
        e.message = re.sub(r"\(branch (\d+)\)",
                           lambda m: f"(`{names[int(m.group(1)) - 1]}`)" if names[int(m.group(1)) - 1] else m.group(0),
                           e.message)
        if e.notes and len(e.notes) == len(inputs):
            notes = []
            for k, (node, name) in enumerate(zip(inputs, names), 1):
                made = "the network input" if node.op == "input" else f"{describe_node(node)} at {node.span}"
                span = getattr(self, "bindings", {}).get((name, id(node)))
                who = f"`{name}`" if name else f"branch {k}"
                notes.append(f"{who} is {fmt_shape(node.shape)}" + (f", bound at {span}" if name and span else "")
                             + f", from {made}")
            e.notes = notes

    def truth(self, arg: S.Arg, env) -> bool:
        v = self.eval(arg.value, env)
        if not isinstance(v, bool):
            self.fail("type", f"`when` needs true or false, got {fmt_value(v)}", arg.value.span, env)
        return v

    def skipped_merge(self, op, c: S.Call, env, cur):
        """``add(when=false) { identity; body }``: the merge is left out and its one other branch is the result."""
        live = [b for b in c.branches if not (len(b.elems) == 1 and isinstance(b.elems[0], S.Call)
                                               and b.elems[0].name == "identity" and not b.elems[0].args)]
        if len(live) != 1:
            self.fail("value", f"`{op.name}(when=false)` leaves {len(live)} branches besides `identity`; "
                               "an optional merge has exactly one", c.span, env,
                      hint="add(when=stride == 1) { identity; conv(...) -> bn }")
        return self.branch(live[0], env, cur)

    def branch(self, chain: S.Chain, env, cur):
        out = self.chain(chain, env, cur)
        if out is None:
            self.fail("value", "this branch gives no tensor", chain.span, env)
        return out

    def need_input(self, cur, c, env):
        if cur is None:
            self.fail("value", f"`{c.name}` has no input tensor here: start the chain with a tensor name "
                               f"(`x -> {c.name}`)", c.span, env,
                      hint="there is no implicit input after `a, b = ...` or `ys = repeat ... collect`, or in a "
                           "network with several inputs")
        return cur

    def op_call(self, op, c: S.Call, env, inputs, skip, names=()):
        positional, keywords, name, frozen = [], {}, None, False
        for a in c.args or ():
            if skip and a in skip:
                continue
            value = self.eval(a.value, env)
            key = a.name
            if key is None:
                positional.append(value)
            elif key == "trainable":            # any layer: trainable=false freezes its weights
                if not isinstance(value, bool):
                    self.fail("type", f"trainable must be true or false, got {describe(value)}", a.span, env)
                frozen = not value
            elif key == "name":
                if value is not None and (not isinstance(value, str) or isinstance(value, Symbol)):
                    self.fail("type", f"name must be a string, got {describe(value)}", a.span, env)
                name = value
            else:
                if key in keywords:
                    self.fail("type", f"{op.name}: argument `{key}` given twice", a.span, env)
                keywords[key] = value
        try:
            args = bind_shared(op, positional, keywords, env.defaults.get(op.name, _NO_DEFAULTS))
        except CnnError as e:
            symbols = [v for v in positional + list(keywords.values()) if isinstance(v, Symbol)]
            if symbols and e.hint is None and e.kind == "type":
                e.hint = did_you_mean(symbols[0], env.names)
            raise e.located(self.arg_spans(op, c, skip).get(e.arg, c.span), env.chain)
        try:
            node = self.emit(op.name, args, inputs, c.span, env, name=name, frozen=frozen)
        except CnnError as e:
            self.name_tensors(e, inputs, list(names() if callable(names) else names))
            raise
        if op.name == "split":
            return self.split_outputs(node, c, env)
        return node

    @staticmethod
    def arg_spans(op, c: S.Call, skip) -> dict:
        """Where each argument of an op call was written, by the name it binds to (for an error's caret)."""
        spans, k = {}, 0
        for a in c.args or ():
            if a in skip or a.name == "name":
                continue
            if a.name is None:
                if k < len(op.args):
                    spans[op.args[k].name] = a.span
                k += 1
            else:
                spans[a.name] = a.span
        return spans

    def split_outputs(self, node, c: S.Call, env) -> Tensors:
        """A split's parts: one internal ``take`` node each, bound as ``a, b = split(2)``."""
        sizes = split_sizes(node.inputs[0].shape, node.args)
        node.args = {**node.args, "sizes": sizes}     # the bound arguments are shared: a new dict
        takes = [self.emit("take", {"index": i, "sizes": sizes, "axis": node.args["axis"]}, [node], c.span, env,
                           name=f"{node.name}[{i}]", layer=False) for i in range(len(sizes))]
        return Tensors(takes, "split", tuple(f"part{i + 1}" for i in range(len(sizes))))

    def block_call(self, c: S.Call, env, cur):
        bdef = env.blocks[c.name]
        if c.branches is not None:
            self.fail("type", f"`{c.name}` is a block; only merges take {{ branches }}", c.span, env)
        frozen, c = self.trainable_arg(c, env, block=bdef)
        names, shown = self.bind_block(bdef, c, env)
        base = c.name.replace(".", "_")
        instance = self.fresh(env.prefix, base)
        scope = Scope(instance, "block", c.span, block=c.name, args=tuple(shown))
        if bdef.name in env.active and len(env.scope) >= self.limits.max_depth:
            # A block may call itself (DLA's trees) when an argument decides its depth; one that never
            # stops is caught here, at the nesting limit, with the cycle it went round.
            last = len(env.active) - 1 - env.active[::-1].index(bdef.name)
            cycle = env.active[last:] + (bdef.name,)
            chain, notes = env.chain, []
            if len(chain) > 6:         # the outermost calls and the innermost, not every level
                notes = [f"{len(chain) - 5} nested calls between these are left out"]
                chain = chain[:2] + chain[-3:]
            raise CnnError("limit", f"block `{bdef.name}` calls itself more than {self.limits.max_depth} levels deep "
                                    f"({' -> '.join(cycle[:4])}{' -> ...' if len(cycle) > 4 else ''}) (--max-depth)",
                           c.span, chain, notes=notes,
                           hint="a recursive block must stop on its arguments, e.g. `if depth > 1 { ... }` with "
                                "depth - 1 passed down; raise --max-depth if it is deeper by design")
        return self.expand_block(bdef, c.name, names, scope, cur, env.child(frozen=True) if frozen and not env.frozen
                                 else env, c.span)

    def expand_block(self, bdef: S.BlockDef, called: str, names: dict, scope: Scope, cur, env, span):
        """The block's body lowered with its parameters bound (``names``) inside ``scope``."""
        blocks, consts = self.program.home[id(bdef)]
        if consts:
            names = {**consts, **names}
        inner = env.child(names=names, blocks=blocks, scope=self.nest(env, scope, span),
                          prefix=scope.id + SEP,
                          active=env.active + (bdef.name,), is_network=False)
        if cur is not None:
            names.setdefault("in", cur)
        valid = self.valid_parts     # the prefix of derived names inside: valid if its parts are
        base = scope.id[len(env.prefix):] if scope.id.startswith(env.prefix) else scope.id
        if (not env.prefix or env.prefix in valid) and (base in valid or LAYER_NAME.fullmatch(base)):
            valid.update((base, inner.prefix))
        out = self.body(bdef.body, inner, cur)
        self.counters.pop(inner.prefix, None)    # the instance's names are all made (its prefix is unique)
        valid.discard(inner.prefix)
        if bdef.outputs:
            return self.block_outputs(bdef, names)
        if out is None:
            self.fail("value", f"block `{called}` gives no tensor", bdef.span, inner)
        return out

    def block_outputs(self, bdef: S.BlockDef, names: dict):
        """The tensors a block declared ``-> (a, b)`` gives: one, or a ``Tensors`` bundle."""
        outs = []
        for name in bdef.outputs:
            if not isinstance(names.get(name), Node):
                self.fail("name", f"block `{bdef.name}` declares output `{name}`, which is not a tensor in its body",
                          bdef.span, None, hint=did_you_mean(name, [k for k, v in names.items() if isinstance(v, Node)]))
            outs.append(names[name])
        return outs[0] if len(outs) == 1 else Tensors(outs, bdef.name, bdef.outputs)

    @staticmethod
    def as_written(value, arg: S.Arg) -> str:
        """A call argument for the block's label: its value, or a tensor's name as written."""
        if isinstance(value, Node) and isinstance(arg.value, S.Name):
            return arg.value.id
        return fmt_value(value)

    def in_order(self, c: S.Call, bdef: S.BlockDef) -> bool:
        """Whether a block call gives every parameter by position and none is an input (remembered per
        call site: the syntax tree doesn't change)."""
        known = self.plain_calls.get(id(c))
        if known is None:
            known = self.plain_calls[id(c)] = (c, all(a.name is None for a in c.args or ())
                                               and all(p.kind != "input" for p in bdef.params))
        return known[1]

    def bind_block(self, bdef: S.BlockDef, c: S.Call, env):
        """Evaluate a call's arguments against the block's parameters: (names, the arguments as
        ``(keyword or None, value, text as written)``)."""
        args = c.args or ()
        for a in args if self.shared_declared else ():
            if isinstance(a.value, S.Name) and isinstance(env.names.get(a.value.id), SharedLayer):
                self.fail("type", f"`{a.value.id}` is a shared instance; it is applied in the body that declares it, "
                                  "and can't be passed to a block", a.span, env,
                          hint="declare it in the block that applies it, or apply it here and pass the tensor")
        if len(args) == len(bdef.params) and self.in_order(c, bdef):   # every parameter given, in order
            names, shown = {}, []
            for p, a in zip(bdef.params, args):
                names[p.name] = value = self.eval(a.value, env)
                shown.append((None, value, self.as_written(value, a)))
            return names, shown
        params = [p.name for p in bdef.params]
        names, shown = {}, []
        args = c.args or ()
        positional = [a for a in args if a.name is None]
        if len(positional) > len(params):
            self.fail("type", f"block `{bdef.name}` takes {len(params)} argument(s), got {len(positional)}", c.span, env,
                      hint=f"{bdef.name}({', '.join(params)})")
        for p, a in zip(params, positional):
            names[p] = self.eval(a.value, env)
            shown.append((None, names[p], self.as_written(names[p], a)))
        for a in args:
            if a.name is None:
                continue
            if a.name not in params:
                self.fail("name", f"block `{bdef.name}` has no parameter `{a.name}`", a.span, env,
                          hint=did_you_mean(a.name, params) or f"its parameters: {', '.join(params) or 'none'}")
            if a.name in names:
                self.fail("type", f"block `{bdef.name}`: `{a.name}` given twice", a.span, env)
            names[a.name] = self.eval(a.value, env)
            shown.append((a.name, names[a.name], self.as_written(names[a.name], a)))
        seen = None     # what a default sees: the block file's constants, then the parameters bound so far
        for p in bdef.params:
            if p.kind == "input":
                self.fail("type", f"block parameter `{p.name}` can't be an input; blocks read `in`", p.span, env)
            if p.name not in names:
                if p.kind == "plain":
                    self.fail("type", f"block `{bdef.name}` needs argument `{p.name}`", c.span, env,
                              hint=f"{bdef.name}({', '.join(params)})")
                if seen is None:
                    seen = env.child(names={**self.program.home[id(bdef)][1], **names})
                names[p.name] = seen.names[p.name] = self.eval(p.value, seen)
        return names, shown


def _tensor_list(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, Node) for x in v)


def _makes_tensors(name: str, env) -> bool:
    """Whether ``name(...)`` as a value is a call of an op or block (a function of the spec wins)."""
    from .values import Function
    if isinstance(env.names.get(name), Function):
        return False
    return name in env.blocks or (name in REGISTRY and not REGISTRY[name].internal)


def _written(arg: S.Arg) -> str:
    from .values import source_text
    return source_text(arg.value.span)
