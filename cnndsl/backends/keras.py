"""IR graph -> Keras 3 functional model.

Every IR node becomes one built-in Keras layer (LRN is cnndsl's own, in
``keras_layers``), built by its registry entry and named exactly as the node.
Keras 3 accepts the ``.`` of derived names (``residual_3.conv_2``) in layer
names and in ``.keras`` files, so no name mapping is needed. Keras orders a
functional model's layers, and so its weights, by walking the graph from the
outputs, so the same graph always gives the same weight layout.

Keras is imported inside the functions only: ``import cnndsl`` and ``cnndsl
check`` must stay free of TensorFlow.
"""
from __future__ import annotations

import functools
import inspect

from ..errors import CnnError
from ..ops import REGISTRY
from .hook import install_import_hook  # noqa: F401  (re-exported: the hook lives apart, so `import cnndsl` stays light)


def build_model(graph):
    """The ``keras.Model`` for an IR ``Graph``: inputs and outputs in the graph's order.

    A model with one input (or output) takes (or returns) a tensor; with
    several, a list. A layer Keras refuses raises ``CnnError("internal")``
    located at its node, never a bare Keras traceback.
    """
    import keras
    tensors = {}
    for node in graph.nodes:
        if node.op == "input":
            out = keras.Input(shape=node.shape[1:], batch_size=node.shape[0], name=node.name)
        else:
            op = REGISTRY[node.op]
            ins = [tensors[id(i)] for i in node.inputs]
            try:
                out = op.keras(keras, node.args, node.name)(ins if op.arity is None else ins[0])
            except Exception as e:  # Keras refused what the checker accepted: a cnndsl bug
                raise CnnError("internal", f"Keras rejected layer `{node.name}`: {str(e).strip().splitlines()[0]}",
                               node.span, tuple(s.frame for s in node.scope if s.kind == "block"),
                               hint="`cnndsl check` accepted this layer, so this is a bug in cnndsl; "
                                    "please report it") from e
        tensors[id(node)] = out
    inputs = [tensors[id(n)] for n in graph.inputs.values()]
    outputs = [tensors[id(n)] for n in graph.outputs.values()]
    return keras.Model(inputs=_one_or_list(inputs), outputs=_one_or_list(outputs), name=graph.name)


def _one_or_list(xs):
    return xs[0] if len(xs) == 1 else xs


class _Recorder:
    """Stands in for the keras module: records the constructor a registry builder calls."""

    def __init__(self, path=()):
        self._path = path

    def __getattr__(self, attr):
        return _Recorder(self._path + (attr,))

    def __call__(self, *args, **kwargs):
        return self._path, args, kwargs


def constructor(node) -> tuple:
    """``(path, args, kwargs)`` of the layer ``build_model`` makes for a node, without Keras.

    ``path`` leads from the keras module to the class (``("layers", "Conv2D")``),
    or is ``("LRN",)`` for cnndsl's own layer. The registry builder runs
    against a recorder, so this is exactly the call ``build_model`` makes.
    """
    if node.op == "lrn":
        return ("LRN",), (), {**node.args, "name": node.name}
    made = REGISTRY[node.op].keras(_Recorder(), node.args, node.name)
    if not (isinstance(made, tuple) and len(made) == 3):
        raise CnnError("internal", f"the `{node.op}` builder bypasses its keras argument", node.span)
    return made


@functools.lru_cache(maxsize=None)
def parameters(path: tuple) -> dict:
    """The constructor's parameter -> default (``inspect.Parameter.empty`` when required), in order."""
    import keras

    from .keras_layers import LRN
    cls = LRN if path == ("LRN",) else functools.reduce(getattr, path, keras)
    return {p.name: p.default for p in inspect.signature(cls).parameters.values()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
