"""Comparing a compiled spec with an independent reference ``keras.Model``, layer by layer.

Layer correspondence. Both models are walked from their outputs, depth first, visiting a layer's
inputs in call order and listing a layer after its inputs (post-order). Two models built from the
same graph with the same input order give the same list, however the code created the layers and
whatever they are named. Inputs of the commutative merges (Add, Multiply, ...) are visited in
order of their depth from the network input (the shortcut, being shallower, comes before the main
path), so ``add { shortcut; main }`` and ``add { main; shortcut }`` correspond; concatenation
order does matter and is kept. Keras ops applied to symbolic tensors (``x + 3.0`` in
MobileNetV3) are operations of the graph too, and are walked like layers.

``strict=False`` (the seed specs) treats ReLU and Activation('relu') as one kind, as the two LRN
layers; ``strict=True`` (the keras.applications zoo) compares the exact class, and whether it is a
layer or a bare op.

The reference's weights are randomized first (biases, BN beta, gamma and moving statistics), so
that an output comparison sees every weight, not just the kernels.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np

SAME_KIND = {"ReLU": "Activation", "LocalResponseNormalization": "LRN"}
COMMUTATIVE = {"Add", "Multiply", "Maximum", "Minimum", "Average"}
TOLERANCE = 1e-5
UNKNOWN_SIZE = 224   # the input size numeric checks use where a model leaves H or W unknown


# A merge written as a Keras op on two tensors (ConvNeXt's `inputs + x`) is the same computation, with
# no weights, as the merge layer of that name; strict comparison counts them as one kind.
OP_MERGES = {"op:Add": "Add", "op:Multiply": "Multiply"}


def kind(op, strict: bool = False) -> str:
    import keras
    name = type(op).__name__
    if strict:
        if isinstance(op, keras.layers.Layer):
            return name
        merged = len(op._inbound_nodes[0].input_tensors) > 1 if getattr(op, "_inbound_nodes", None) else False
        return OP_MERGES.get(f"op:{name}", f"op:{name}") if merged else f"op:{name}"
    return SAME_KIND.get(name, name)


def _node_of(tensor):
    op, index, _ = tensor._keras_history
    return op._inbound_nodes[index]


def _depths(outputs) -> dict:
    """id(node) -> longest path from an input, for every node the outputs depend on."""
    depth, stack = {}, [_node_of(t) for t in outputs]
    while stack:
        node = stack[-1]
        parents = [_node_of(t) for t in node.input_tensors]
        todo = [p for p in parents if id(p) not in depth]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        depth[id(node)] = 1 + max((depth[id(p)] for p in parents), default=-1)
    return depth


def walk(model) -> list:
    """The model's layer and op calls (Keras ``Node``s, input layers left out) in canonical order.

    Post-order depth-first from the outputs; see the module docstring.
    """
    depth = _depths(model.outputs)
    order, done = [], set()
    stack = [(_node_of(t), False) for t in reversed(model.outputs)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        parents = [_node_of(t) for t in node.input_tensors]
        if type(node.operation).__name__ in COMMUTATIVE:
            parents.sort(key=lambda p: depth[id(p)])            # stable: ties keep call order
        stack.extend((p, False) for p in reversed(parents))
    return [n for n in order if n.input_tensors]


def auto_named(layer) -> bool:
    """Whether Keras made the layer's name up from its class (``conv2d``, ``batch_normalization_7``)."""
    from keras.src.utils.naming import to_snake_case
    return re.fullmatch(re.escape(to_snake_case(type(layer).__name__)) + r"(_\d+)?", layer.name) is not None


def randomize(model, seed=0):
    """Give every bias, BN beta and gamma and moving statistic a random value (kernels already are)."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        leaf = var.path.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance", "variance"):
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype(var.dtype))
        elif leaf in ("beta", "bias", "moving_mean", "mean"):
            var.assign(rng.normal(0.0, 0.1, var.shape).astype(var.dtype))


@contextmanager
def zero_initialized():
    """Inside, Keras draws no random numbers for a new weight: its initializer's uniform, normal and
    truncated normal draws are zeros. For a model whose weights are all written afterwards (copied from
    the reference, set, filled) or never read (its structure compared): Keras's random initialisation
    is half the time it takes to build a big network."""
    import keras
    from keras.src import backend
    module = backend.random          # the active backend's random functions, as Keras's initializers call them
    names = ("uniform", "normal", "truncated_normal")
    saved = {name: getattr(module, name) for name in names}

    def zeros(shape, *args, dtype=None, **kwargs):
        return keras.ops.zeros(tuple(shape), dtype=dtype or "float32")
    for name in names:
        setattr(module, name, zeros)
    try:
        yield
    finally:
        for name, f in saved.items():
            setattr(module, name, f)


def count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def params(model) -> tuple:
    """(total, trainable, non-trainable) as Keras counts them."""
    return model.count_params(), count(model.trainable_weights), count(model.non_trainable_weights)


def structure_differences(spec_nodes, ref_nodes, strict: bool = False) -> list:
    """Where the walked layers differ in kind, output shapes or weight shapes (empty: none)."""
    out = []
    if len(spec_nodes) != len(ref_nodes):
        out.append(f"{len(spec_nodes)} layers, the reference has {len(ref_nodes)}")
    for k, (s, r) in enumerate(zip(spec_nodes, ref_nodes)):
        where = f"layer {k}: {s.operation.name} vs the reference's {r.operation.name}"
        if kind(s.operation, strict) != kind(r.operation, strict):
            out.append(f"{where}: {kind(s.operation, strict)} vs {kind(r.operation, strict)}")
        elif [tuple(t.shape) for t in s.output_tensors] != [tuple(t.shape) for t in r.output_tensors]:
            out.append(f"{where}: shape {[tuple(t.shape) for t in s.output_tensors]} vs "
                       f"{[tuple(t.shape) for t in r.output_tensors]}")
        elif _weight_shapes(s.operation) != _weight_shapes(r.operation):
            out.append(f"{where}: weights {_weight_shapes(s.operation)} vs {_weight_shapes(r.operation)}")
        if len(out) >= 5:
            break
    return out


def name_differences(spec_nodes, ref_nodes) -> list:
    """(spec name, reference name) wherever the reference's name is not one Keras made up."""
    return [(s.operation.name, r.operation.name) for s, r in zip(spec_nodes, ref_nodes)
            if not auto_named(r.operation) and s.operation.name != r.operation.name]


def weighted(model) -> list:
    """The walked layer calls that have weights (for pairing a spec with a transcription whose weightless
    layers differ, e.g. cnndsl's Split layer against ``keras.ops.split``)."""
    return [n for n in walk(model) if getattr(n.operation, "weights", None)]


def pair_weighted(spec, ref) -> tuple:
    """Randomise the reference, pair both models' layers with weights in walk order and copy the
    reference's weights into the spec: (spec's nodes, reference's nodes)."""
    randomize(ref)
    s, r = weighted(spec), weighted(ref)
    assert len(s) == len(r), f"{len(s)} layers with weights, the reference has {len(r)}"
    for a, b in zip(s, r):
        a.operation.set_weights(b.operation.get_weights())
    return s, r


def pair_differences(spec_nodes, ref_nodes, config) -> list:
    """Where paired layers differ: class, weight shapes, ``config(layer)`` or output shapes."""
    out = []
    for k, (s, r) in enumerate(zip(spec_nodes, ref_nodes)):
        a, b = s.operation, r.operation
        if (type(a) is not type(b) or _weight_shapes(a) != _weight_shapes(b) or config(a) != config(b)
                or [tuple(t.shape) for t in s.output_tensors] != [tuple(t.shape) for t in r.output_tensors]):
            out.append(f"layer {k}: {a.name} vs {b.name}")
    return out


def _weight_shapes(op) -> list:
    """A layer's weight shapes; a bare Keras op (``x + 3.0``) has none."""
    return [tuple(w.shape) for w in getattr(op, "weights", [])]


def copy_weights(spec_nodes, ref_nodes) -> None:
    for s, r in zip(spec_nodes, ref_nodes):
        if hasattr(r.operation, "get_weights") and hasattr(s.operation, "set_weights"):
            s.operation.set_weights(r.operation.get_weights())


def output_differences(spec, ref, spec_nodes, ref_nodes, every_layer: bool = True, seed: int = 1) -> list:
    """Run both on one random input (inference mode); where outputs differ by more than TOLERANCE.

    With ``every_layer``, every corresponding layer's output is compared (relative to the
    reference's magnitude), not just the model's: a wrong activation or epsilon deep inside can
    hide behind a 1000-way softmax whose outputs are all near 0.001.
    """
    import keras
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(t.shape[0] or 1, *[d or UNKNOWN_SIZE for d in t.shape[1:]])).astype("float32")
          for t in ref.inputs]
    x = xs if len(xs) > 1 else xs[0]
    out = []
    if every_layer:
        outs = []
        for model, nodes in ((spec, spec_nodes), (ref, ref_nodes)):
            probe = keras.Model(model.inputs, [n.output_tensors[0] for n in nodes])
            outs.append([np.asarray(v) for v in probe(x, training=False)])
        for k, (g, w) in enumerate(zip(*outs)):
            where = f"layer {k} ({spec_nodes[k].operation.name})"
            if not np.all(np.isfinite(w)):
                out.append(f"{where}: the reference is not finite")
            elif np.abs(g - w).max() > TOLERANCE * max(1.0, np.abs(w).max()):
                out.append(f"{where}: max abs difference {np.abs(g - w).max():.3g}")
    finals = [np.asarray(v) for v in _as_list(spec(x, training=False))]
    wants = [np.asarray(v) for v in _as_list(ref(x, training=False))]
    for k, (g, w) in enumerate(zip(finals, wants)):
        if np.abs(w).max() == 0:
            out.append(f"output {k}: the reference output says nothing (all zero)")
        elif g.shape != w.shape or np.abs(g - w).max() > TOLERANCE:
            out.append(f"output {k}: max abs difference {np.abs(g - w).max():.3g}")
    return out


def _as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]
