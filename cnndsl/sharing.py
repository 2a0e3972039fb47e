"""Shared layers: ``shared enc = encoder(64)`` declares one instance of an op or a block; ``a -> enc``
or ``enc(a)`` applies it. A mixin of ``lower.Lowerer``, kept apart so each file reads on its own.

Every application is lowered into nodes of its own (the IR stays a DAG of computations), and each
node of a later application records the node of the first application whose layer it calls again
(``Node.shares``, see ``ir.Node``): backends make that layer once and call it per application. A
shared block is expanded again at each application; its k-th application must build the same layers
in the same order as the first (each node is matched with the first application's node in turn).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import syntax as S
from .errors import CnnError
from .ir import Node, Scope
from .ops import REGISTRY, bind_args, describe
from .values import Symbol


@dataclass(eq=False)
class SharedLayer:
    """The value a ``shared`` declaration binds: what to apply, with its arguments already bound."""

    name: str                  # as declared
    span: object               # the declaration
    call: S.Call
    kind: str                  # "op" or "block"
    id: str                    # the first application's node name (an op) or scope id (a block)
    args: dict = field(default_factory=dict)     # an op's bound arguments
    layer_name: str | None = None                # an op's `name=`, if given
    frozen: bool = False
    block: object = None       # a block's S.BlockDef, names (its bound parameters) and shown arguments
    names: dict = field(default_factory=dict)
    shown: tuple = ()
    defaults: dict = field(default_factory=dict)
    first: list = field(default_factory=list)    # the first application's nodes, in order
    applications: int = 0

    def __str__(self) -> str:
        return f"shared `{self.name}`"


@dataclass(eq=False)
class Application:
    """The k-th application of a shared block being lowered: nodes made now are matched in turn with
    the first application's."""

    shared: SharedLayer
    k: int
    index: int = 0


class SharingMixin:

    def stmt_Shared(self, s: S.Shared, env, cur):
        """``shared head = conv(256, 3, padding=same)``: binds the instance; nothing is applied yet."""
        c = s.call
        again = isinstance(env.names.get(s.name), SharedLayer) and env.names[s.name].span is s.span
        if s.name in env.names and not again:      # (a repeat runs its declaration again: one per iteration)
            old = env.names[s.name]
            if isinstance(old, SharedLayer):
                self.fail("name", f"`{s.name}` is already declared here (at {old.span}); a shared instance is "
                                  "declared once", s.span, env, hint="pick another name, or apply the one declared")
            self.fail("name", f"`{s.name}` already names a {'tensor' if isinstance(old, Node) else 'value'} here",
                      s.span, env, hint="pick another name for the shared instance")
        if (s.name in REGISTRY and not REGISTRY[s.name].internal) or s.name in env.blocks or s.name == "in":
            self.fail("name", f"`{s.name}` names an op or block; pick another name for the shared instance", s.span, env)
        if isinstance(env.names.get(c.name), (Node, SharedLayer)):
            self.fail("type", f"`{c.name}` is a {'tensor' if isinstance(env.names[c.name], Node) else 'shared instance'}"
                              "; `shared` declares an op or a block call", c.span, env)
        ident = env.prefix + s.name             # the first application's layer name or scope id
        if again or ident in self.taken:
            ident = self.fresh(env.prefix, s.name)
        if c.name in env.blocks:
            bdef = env.blocks[c.name]
            frozen, call = self.trainable_arg(c, env, block=bdef)
            names, shown = self.bind_block(bdef, call, env)
            shared = SharedLayer(s.name, s.span, c, "block", ident, frozen=frozen or env.frozen,
                                 block=bdef, names=names, shown=tuple(shown), defaults=env.defaults)
        else:
            if c.name == "sequential":
                self.fail("type", "`shared` declares an op or a block call, not a sequential; put the layers in "
                                  "a block and share that", c.span, env)
            op = self.op_or_fail(c.name, c.span, env)
            if op.arity != 1 or op.passthrough:
                self.fail("type", f"`{op.name}` can't be shared: only an op with one input (a layer) or a block",
                          c.span, env)
            frozen, call = self.trainable_arg(c, env)
            positional, keywords, layer_name = [], {}, None
            for a in call.args or ():
                value = self.eval(a.value, env)
                if isinstance(value, Node):
                    self.fail("type", f"`shared {s.name} = {c.name}(...)` declares the layer; apply it to tensors "
                                      f"later: `x -> {s.name}`", a.span, env)
                if a.name == "name":
                    if value is not None and (not isinstance(value, str) or isinstance(value, Symbol)):
                        self.fail("type", f"name must be a string, got {describe(value)}", a.span, env)
                    layer_name = value
                elif a.name is None:
                    positional.append(value)
                else:
                    keywords[a.name] = value
            try:
                args = bind_args(op, positional, keywords, env.defaults.get(op.name, {}))
            except CnnError as e:
                raise e.located(c.span, env.chain)
            shared = SharedLayer(s.name, s.span, c, "op", layer_name or ident, args=args,
                                 layer_name=layer_name, frozen=frozen or env.frozen)
        env.names[s.name] = shared
        self.shared_declared.append(shared)
        return cur

    def apply_shared(self, shared: SharedLayer, c: S.Call, env, cur, first: bool):
        """``a -> enc`` or ``enc(a)``: the shared op or block applied once more."""
        if c.branches is not None:
            self.fail("type", f"`{c.name}` is a shared instance; apply it to a tensor: `x -> {c.name}`", c.span, env)
        if c.args is not None:
            given = [a for a in c.args]
            if len(given) != 1 or given[0].name is not None or not isinstance(self.eval(given[0].value, env), Node):
                self.fail("type", f"`{c.name}` is a shared instance, with its arguments given where it is declared "
                                  f"(at {shared.span}); apply it to one tensor: `{c.name}(x)` or `x -> {c.name}`",
                          c.span, env)
            if not first:
                self.fail("type", f"`{c.name}(x)` starts a chain; in a chain, write `-> {c.name}`", c.span, env)
            x = self.eval(given[0].value, env)
        else:
            x = self.need_input(cur, c, env)
        if isinstance(x, list):
            self.fail("type", f"`{c.name}` needs one tensor, and the chain gives a list of {len(x)}", c.span, env)
        shared.applications += 1
        k = shared.applications
        if shared.kind == "op":
            node = self.emit(shared.call.name, dict(shared.args), [x], c.span, env,
                             name=shared.id if k == 1 else f"{shared.id}@{k}", layer=k == 1,
                             shares=None if k == 1 else shared.first[0], frozen=shared.frozen)
            if k == 1:
                shared.first.append(node)
            return node
        if any(s.kind == "sequential" for s in env.scope):
            self.fail("type", "a shared block is applied outside any `sequential`", c.span, env)
        bdef = shared.block
        scope = Scope(shared.id if k == 1 else f"{shared.id}@{k}", "block", c.span, block=shared.call.name,
                      args=shared.shown, shared=shared.id, application=k, name=shared.name)
        app = Application(shared, k)
        out = self.expand_block(bdef, shared.call.name, dict(shared.names), scope, x,
                                env.child(sharing=app, frozen=shared.frozen, defaults=shared.defaults), c.span)
        if k > 1 and app.index != len(shared.first):
            self.mismatch(shared, app, None, c.span, env)
        return out

    def shared_node(self, env, op_name: str, args: dict, span):
        """In a shared block's later application: (name, node shared) for the next node, matched with the
        first application's node in the same place; None in a first application."""
        app = env.sharing
        if app.k == 1:
            return None
        first = app.shared.first
        if app.index >= len(first) or first[app.index].op != op_name:
            self.mismatch(app.shared, app, (op_name, args), span, env)
        target = first[app.index]
        app.index += 1
        return f"{target.name}@{app.k}", target.shares or target

    def check_same_args(self, env, node, span):
        """A later application's node has the arguments of the first's (compared once inference has
        resolved them: a kernel `3` is (3, 3) on a 2-D input)."""
        app = env.sharing
        target = app.shared.first[app.index - 1]
        if _bare(node.args) != _bare(target.args):
            app.index -= 1
            self.mismatch(app.shared, app, (node.op, node.args), span, env)

    def mismatch(self, shared, app, made, span, env):
        first = shared.first
        was = first[app.index] if app.index < len(first) else None
        if made is None:
            what = f"it made {app.index} layers here and {len(first)} at the first"
        else:
            what = (f"layer {app.index + 1} is {REGISTRY[made[0]].label(made[1])} here and "
                    f"{'nothing' if was is None else REGISTRY[was.op].label(was.args)} at the first")
        self.fail("shape", f"shared block `{shared.name}` builds other layers on this input than at its first "
                           f"application (at {first[0].span if first else shared.span}): {what}", span, env,
                  hint="a shared block must build the same layers each time: the same channels in, the same "
                       "`if` arms and repeat counts")

    def trainable_arg(self, c: S.Call, env, block=None):
        """``trainable=false`` on a call: (frozen, the call without it). A block that declares a
        ``trainable`` parameter takes it as its own."""
        given = [a for a in c.args if a.name == "trainable"] if c.args else ()
        if not given or (block is not None and any(p.name == "trainable" for p in block.params)):
            return False, c
        value = self.eval(given[0].value, env)
        if not isinstance(value, bool):
            self.fail("type", f"trainable must be true or false, got {describe(value)}", given[0].span, env)
        rest = tuple(a for a in c.args if a.name != "trainable")
        return not value, S.Call(c.span, c.name, rest, c.branches)

    def check_shared_used(self):
        for shared in self.shared_declared:
            if shared.applications == 0:
                self.graph.warnings.append(f"{shared.span}: shared `{shared.name}` is never applied")


def _bare(args: dict) -> dict:
    """A node's arguments as bound (a split records its sizes later)."""
    return {k: v for k, v in args.items() if k != "sizes"}

