"""The Python API: load a spec, check a network, compile it.

``check`` and ``load`` never import Keras; ``compile`` does, lazily.
"""
from __future__ import annotations

import os
import sys


def _interrupted_while_starting(signum, frame):
    """SIGINT while the command line is still importing cnndsl: one line, exit 130, no traceback."""
    try:
        os.write(2, b"interrupted\n")
    finally:
        os._exit(130)


def _started_as_command() -> bool:
    """Whether this process is ``cnndsl ...`` (the console script) or ``python -m cnndsl ...``."""
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0).removesuffix(".exe") == "cnndsl":
        return True
    orig = list(getattr(sys, "orig_argv", []))
    return argv0 == "-m" and any((a == "-m" and b == "cnndsl") or a == "-mcnndsl" for a, b in zip(orig, orig[1:] + [""]))


# This module is the first one `import cnndsl` runs, so the command line's SIGINT guard goes here, before
# the imports that take most of its start-up; cnndsl.cli.main() puts the usual handler back once its own
# `except KeyboardInterrupt` is in place. A library import (any other program) changes nothing.
if _started_as_command():
    import signal
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _interrupted_while_starting)
    except ValueError:   # imported from another thread: not the command line's start
        pass

from .errors import CnnError  # noqa: E402  (after the guard, on purpose)
from .ir import Graph  # noqa: E402
from .lower import Limits  # noqa: E402
from .program import Program, load, load_file  # noqa: E402


def _is_path(spec) -> bool:
    if isinstance(spec, os.PathLike):
        return True
    return isinstance(spec, str) and "\n" not in spec and "{" not in spec


def is_keras_model(obj) -> bool:
    """A ``keras.Model`` (checked without importing Keras: a model has come from an imported Keras)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


def is_keras_file(path) -> bool:
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(".keras")


def from_keras(model, *, blocks: bool = True) -> str:
    """The .cnn spec of a Keras model: a functional or Sequential ``keras.Model``, or a ``.keras`` file.

    Repeated structure becomes parameterised blocks and repeats (``blocks=False``: one flat network);
    explicit layer names are kept, Keras's generated ones (``conv2d_12``) dropped. A layer with no
    cnndsl op (a Lambda, a custom class) raises ``CnnError`` naming each such layer. Reading a
    ``.keras`` file does not import Keras.
    """
    from .backends.spec import emit_spec
    config, source = _keras_config(model)
    return emit_spec(graph_of_config(config, source, structure=False), source, blocks=blocks)


def _keras_config(model) -> tuple:
    from .backends.keras_reader import model_config, read_keras_file
    if is_keras_model(model):
        return model_config(model), f"Keras model `{model.name}`"
    if is_keras_file(model):
        return read_keras_file(os.fspath(model)), os.path.basename(os.fspath(model))
    raise CnnError("usage", f"from_keras takes a keras.Model or a .keras file, got {type(model).__name__}")


def keras_graph(model, limits: Limits | None = None, *, structure: bool = True) -> Graph:
    """The IR ``Graph`` of a Keras model (a ``keras.Model`` or a ``.keras`` file), read directly: no
    spec text in between. ``structure``: recovered blocks become the nodes' scopes (``motifs``), so
    diagrams and summaries show units as the imported spec writes them."""
    config, source = _keras_config(model)
    return graph_of_config(config, source, limits, structure=structure)


def graph_of_config(config: dict, source: str = "model", limits: Limits | None = None, *,
                    structure: bool = True) -> Graph:
    """The IR of a serialized Keras model (a config.json's contents), without Keras.

    A config that is not what Keras writes (hand-edited, truncated, another tool's) is a ``CnnError``
    naming the source, never a traceback."""
    from .backends.keras_reader import read_config
    try:
        graph = read_config(config, source, limits)
    except CnnError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as e:
        raise CnnError("value", f"{source}: the model config is not one cnndsl can read ({type(e).__name__}: "
                                f"{str(e)[:120]})", hint="cnndsl reads what Keras 3 writes to a .keras file") from None
    if structure:
        from .motifs import annotate, recover
        annotate(graph, recover(graph))
    return graph


def spec_of_config(config: dict, source: str = "model", *, blocks: bool = True) -> str:
    """The spec of a serialized Keras model (a config.json's contents): ``from_keras`` without Keras."""
    from .backends.spec import emit_spec
    return emit_spec(graph_of_config(config, source, structure=False), source, blocks=blocks)


class KerasProgram:
    """A ``.keras`` file where the command line expects a ``Program``: one network, the model's own
    graph (read when lowered, under the spec limits), with no parameters to set."""

    def __init__(self, path: str):
        from .backends.keras_reader import read_keras_file
        self.path, self.source = path, path
        self.config = read_keras_file(path)
        cfg = self.config.get("config")
        name = cfg.get("name") if isinstance(cfg, dict) else None
        self.name = name if isinstance(name, str) and name else "model"
        self.networks = {self.name: _ImportedNetwork(self.name)}
        self.blocks = {}
        self._graph = None

    def network_names(self) -> list:
        return [self.name]

    def pick(self, name=None):
        if name not in (None, self.name):
            raise CnnError("usage", f"{self.path} holds one network, `{self.name}`, not `{name}`")
        return self.networks[self.name]

    def lower(self, network=None, limits: Limits | None = None, **settings) -> Graph:
        self.pick(network)
        if settings:
            raise CnnError("usage", f"--set {next(iter(settings))}: a Keras model has no parameters to set")
        if self._graph is None:
            self._graph = graph_of_config(self.config, self.source, limits)
        return self._graph


class _ImportedNetwork:
    def __init__(self, name):
        self.name, self.params = name, []


def load_spec(spec, *, import_root: str | None = None) -> Program:
    """A ``Program`` from a path (str or PathLike) or from spec source text. With ``import_root``,
    imports may only read files inside that folder (for services checking specs they did not write).
    A ``keras.Model`` or a ``.keras`` file is imported first (``from_keras``)."""
    if isinstance(spec, Program):
        return spec
    if is_keras_model(spec) or is_keras_file(spec):
        name = getattr(spec, "name", None) if is_keras_model(spec) else os.fspath(spec)
        return load(from_keras(spec), f"{name} (imported)")
    root = None if import_root is None else os.fspath(import_root)
    return load_file(os.fspath(spec), root) if _is_path(spec) else load(spec, import_root=root)


def check(spec, network: str | None = None, limits: Limits | None = None, *, import_root=None, **params) -> Graph:
    """Parse, lower and shape-check one network; return its IR ``Graph``.

    ``spec`` is a path or source text, or a ``keras.Model`` or ``.keras`` file (read straight into
    the IR, its blocks the recovered ones); ``network`` picks one when the file
    defines several; ``params`` set network parameters (``classes=5``), inputs
    included (``image=[300, 300, 3]``). Raises ``CnnError`` for anything wrong
    in the spec.
    """
    if (is_keras_model(spec) or is_keras_file(spec)) and not isinstance(spec, Program):
        if params:
            raise CnnError("usage", f"`{next(iter(params))}`: a Keras model has no parameters to set")
        graph = keras_graph(spec, limits)
        if network not in (None, graph.name):
            raise CnnError("usage", f"the model is the network `{graph.name}`, not `{network}`")
        return graph
    return load_spec(spec, import_root=import_root).lower(network, limits, **params)


def compile(spec, network: str | None = None, **params):
    """Build the ``keras.Model`` for one network. Imports Keras."""
    from .backends.keras import build_model
    graph = spec if isinstance(spec, Graph) else check(spec, network, **params)
    return build_model(graph)


def to_torch(spec, network: str | None = None, **params):
    """Build the ``torch.nn.Module`` for one network (NCHW in and out). Imports torch, not Keras."""
    from .backends.torch import to_torch as build
    graph = spec if isinstance(spec, Graph) else check(spec, network, **params)
    return build(graph)


def parse_value(text: str, name: str = "value"):
    """A ``--set`` value: a .cnn expression such as ``5``, ``true``, ``max`` or ``[1, 7]``."""
    from .parser import parse_expr
    from .errors import Source
    from .values import evaluate
    try:
        expr = parse_expr(text, Source(f"--set {name}", text), 1, 1)
        return evaluate(expr, {})
    except CnnError as e:
        raise CnnError("usage", f"bad value for --set {name}: `{text}` ({e.message})") from None
