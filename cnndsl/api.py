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
    from .backends.keras_reader import model_config, read_keras_file
    if is_keras_model(model):
        config, source = model_config(model), f"Keras model `{model.name}`"
    elif is_keras_file(model):
        config, source = read_keras_file(os.fspath(model)), os.path.basename(os.fspath(model))
    else:
        raise CnnError("usage", f"from_keras takes a keras.Model or a .keras file, got {type(model).__name__}")
    return spec_of_config(config, source, blocks=blocks)


def spec_of_config(config: dict, source: str = "model", *, blocks: bool = True) -> str:
    """The spec of a serialized Keras model (a config.json's contents): ``from_keras`` without Keras.

    A config that is not what Keras writes (hand-edited, truncated, another tool's) is a ``CnnError``
    naming the source, never a traceback."""
    from .backends.keras_reader import read_config
    from .decompile import write_spec
    try:
        return write_spec(read_config(config, source), source, blocks=blocks)
    except CnnError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as e:
        raise CnnError("usage", f"{source}: the model config is not one cnndsl can read ({type(e).__name__}: "
                                f"{str(e)[:120]})", hint="cnndsl reads what Keras 3 writes to a .keras file") from None


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

    ``spec`` is a path or source text, or a ``keras.Model`` or ``.keras`` file (read through
    ``from_keras``, so its blocks are the recovered ones); ``network`` picks one when the file
    defines several; ``params`` set network parameters (``classes=5``), inputs
    included (``image=[300, 300, 3]``). Raises ``CnnError`` for anything wrong
    in the spec.
    """
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
