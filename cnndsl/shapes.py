"""Shape, parameter and MAC inference for one node, and as a pass over a graph.

Lowering calls ``infer_node`` as each node is made, because blocks may read
their input's shape (``in.channels``). ``infer`` re-runs the pass over a whole
graph (tests use it to check that lowering left consistent results).
Every node gets a shape or an error; nothing is skipped.
"""
from __future__ import annotations

from .errors import CnnError
from .ir import Graph, Node
from .ops import REGISTRY, fmt_shape
from .ops.schema import RANK_NAMES, FrozenArgs, array_shape, fixed_weights, resolve_spatial

MAX_DIM = 2 ** 31 - 1   # a tensor dimension Keras and its backends can index


def infer_node(node: Node) -> Node:
    """Fill in ``shape``, ``trainable``, ``non_trainable`` and ``macs``.

    Errors get the node's span, its call chain, and a note per input saying
    what shape it has and which op made it. The rules are pure functions of the
    input shapes and the arguments, so nodes with shared arguments (``FrozenArgs``)
    and the same input shapes share one result (their rank-fitted arguments too), computed once.
    """
    op = REGISTRY[node.op]
    if op.arity == 0:
        return node
    args = node.args
    ins = tuple([i.shape for i in node.inputs])
    known = args.inferred if type(args) is FrozenArgs else None   # a remembered binding's results
    if node.shares is not None or node.frozen:
        known = None                   # their counts are not the binding's: nothing remembered
    if known is not None:
        done = known.get(ins)
        if done is not None:
            node.shape, node.trainable, node.non_trainable, node.macs, node.args = done
            return node
    ins = list(ins)
    try:
        _check_inputs(op, ins)
        if op.ranks is not None:       # spatial arguments fitted to the input's rank
            resolved = resolve_spatial(op, ins, args)
            args = node.args = FrozenArgs(resolved) if type(args) is FrozenArgs else resolved
        shape = tuple(op.shape(ins, args))
        if any(d is not None and d > MAX_DIM for d in shape):
            raise CnnError("limit", f"the output {fmt_shape(shape)} has a dimension over 2**31 - 1, more than "
                                    "any backend can index")
        if len(_SHAPES) < MAX_SHAPES:
            shape = _SHAPES.setdefault(shape, shape)
        node.shape = shape
        node.trainable, node.non_trainable = op.params(ins, args, shape)
        node.macs = op.macs(ins, args, shape)
        _check_fixed(op, node, ins)
        if node.shares is not None:        # a shared layer applied again: its weights are the first's
            _check_shared(op, node, ins)
            node.trainable = node.non_trainable = 0
        elif node.frozen:                  # trainable=false: Keras counts every weight as non-trainable
            node.trainable, node.non_trainable = 0, node.trainable + node.non_trainable
    except CnnError as e:
        e.message = f"{e.message}" if e.message.startswith(op.name) else f"{op.name}: {e.message}"
        e.notes = e.notes or [_origin(i, k, len(node.inputs), op.arity is None) for k, i in enumerate(node.inputs, 1)]
        raise e.located(node.span, tuple(s.frame for s in node.scope if s.kind == "block"))
    if known is not None and len(known) < MEMO_SIZE:
        known[tuple(ins)] = (shape, node.trainable, node.non_trainable, node.macs, node.args)
    return node


MEMO_SIZE = 1024       # input shapes remembered per shared binding
_SHAPES: dict = {}     # output shapes, each once: nodes of equal shape share the tuple
MAX_SHAPES = 100_000


def _check_inputs(op, ins):
    if op.arity is None and len(ins) < op.least:
        raise CnnError("shape", f"merges at least 2 tensors, got {len(ins)}",
                       hint="list the branches inside { }, or pass tensors: add(a, b)")
    if op.rank is not None and len(ins[0]) != op.rank:
        raise CnnError("shape", f"expects a {op.rank}-D input (batch, H, W, C), got {fmt_shape(ins[0])}",
                       hint="flatten/reshape comes after the spatial ops" if len(ins[0]) < op.rank else None)
    if op.ranks is not None and len(ins[0]) - 2 not in op.ranks:
        names = [RANK_NAMES[r] for r in op.ranks]
        raise CnnError("shape", f"takes a {', '.join(names[:-1])}{' or ' if len(names) > 1 else ''}{names[-1]} input "
                                f"(batch first), got {fmt_shape(ins[0])}",
                       hint=f"Keras has no {len(ins[0]) - 2}-D form of this layer" if len(ins[0]) - 2 in RANK_NAMES
                       else None)
    if op.family in ("conv", "dense", "norm") and ins[0][-1] is None:
        raise CnnError("shape", f"needs a known channel count, got {fmt_shape(ins[0])}")


def _weight_shapes(op, a, ins, out) -> dict:
    """The shapes of a layer's kernel and bias, as Keras makes them (ops whose weights take a list)."""
    c = ins[0][-1]
    kernel = tuple(a["kernel"]) if "kernel" in a else ()
    shapes = {"conv": kernel + (None if c is None else c // a.get("groups", 1), a.get("filters")),
              "conv_transpose": kernel + (a.get("filters"), c),
              "dwconv": kernel + (c, a.get("depth_multiplier")),
              "dense": (c, a.get("units"))}
    return {"kernel_init": shapes.get(op.name), "bias_init": (out[-1],) if op.name in shapes else None}


def _check_fixed(op, node: Node, ins) -> None:
    """``kernel_init=[...]`` (or ``bias_init``): fixed weights must have the weights' shape."""
    for key in ("kernel_init", "bias_init"):
        value = fixed_weights(node.args.get(key))
        if value is None:
            continue
        want = _weight_shapes(op, node.args, ins, node.shape)[key]
        if want is None:
            raise CnnError("type", f"`{key}` takes a list of weights on conv, conv_transpose, dwconv and dense only; "
                                   "use an initializer here")
        if array_shape(value) != want:
            shown = "×".join("?" if d is None else str(d) for d in want)
            raise CnnError("shape", f"`{key}` is a {'×'.join(map(str, array_shape(value)))} list; the "
                                    f"{key.split('_')[0]} here is {shown}" + (" (kernel rows, columns, input channels, "
                                    "filters)" if op.name == "conv" and len(want) == 4 else ""))


def _check_shared(op, node: Node, ins) -> None:
    """A shared layer's weights must fit every input it is applied to: the same rank and channels, and
    the same weight count as at its first application (the sizes along other axes may differ)."""
    first = node.shares
    was = [i.shape for i in first.inputs]
    fits = (len(was) == len(ins) and all(len(a) == len(b) and a[-1] == b[-1] for a, b in zip(was, ins))
            and op.params(was, first.args, first.shape) == (node.trainable, node.non_trainable))
    if not fits:
        raise CnnError("shape", f"shared `{first.name}` was made for {', '.join(map(fmt_shape, was))} (its first "
                                f"application, at {first.span}); its weights don't fit {', '.join(map(fmt_shape, ins))}",
                       hint="a shared layer is applied to inputs with the same channels; declare another one "
                            "for these")


def _origin(node: Node, k: int, n: int, merge: bool = False) -> str:
    """``branch 2 is (None, 14, 14, 64), from maxpool 3×3 /2 at x.cnn:5:9``."""
    who = f"branch {k}" if n > 1 else "its only tensor" if merge else "its input"
    made = "the network input" if node.op == "input" else f"{describe_node(node)} at {node.span}"
    return f"{who} is {fmt_shape(node.shape)}, from {made}"


def describe_node(node: Node) -> str:
    """The node's diagram label, e.g. ``conv 3×3 /2 · 64``."""
    return REGISTRY[node.op].label(node.args)


def infer(graph: Graph) -> Graph:
    """Re-run inference over every node in topological order."""
    for node in graph.nodes:
        infer_node(node)
    return graph
