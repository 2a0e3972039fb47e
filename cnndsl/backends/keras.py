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
import importlib
import importlib.abc
import inspect
import sys

from ..errors import CnnError
from ..ops import REGISTRY

_LAYERS = f"{__package__}.keras_layers"


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


def install_import_hook() -> None:
    """Make ``keras.saving.load_model`` find cnndsl's layers, without importing Keras now.

    If Keras is already imported, the layers are registered at once.
    Otherwise a finder on ``sys.meta_path`` waits for ``import keras`` and
    registers them right after Keras has loaded, then removes itself.
    Calling this twice is harmless.
    """
    if "keras" in sys.modules:
        importlib.import_module(_LAYERS)
    elif not any(isinstance(f, _RegisterAfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKeras())


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Finds ``keras`` with the other finders and wraps its loader to import ``keras_layers`` after it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if isinstance(spec.loader, type) or not hasattr(spec.loader, "exec_module"):
            return spec   # not a file-backed package: leave it alone
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            importlib.import_module(_LAYERS)

        spec.loader.exec_module = exec_module
        return spec
