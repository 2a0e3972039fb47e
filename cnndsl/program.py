"""Loading specs: a file, its imports (resolved relative to the importing
file), and the blocks and networks they define."""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field

from . import syntax as S
from .errors import CnnError, did_you_mean
from .ir import Graph
from .lower import Limits, Lowerer
from .ops import REGISTRY
from .parser import parse
from .values import Evaluator


@dataclass
class Program:
    """Everything one spec file can see.

    Every file has its own namespace of blocks and constants (file-level
    ``let``): its own, plus what it imports. ``import "x.cnn"`` adds x's public
    ones (names not starting with ``_``) by name; ``import "x.cnn" as lib``
    adds them as ``lib.name``. Imports are not transitive, and a block body
    resolves names in its own file's namespace, wherever it is called from.
    """

    path: str
    blocks: dict = field(default_factory=dict)     # the top file's namespace: name -> BlockDef
    networks: dict = field(default_factory=dict)   # name -> NetworkDef (the top file's only)
    consts: dict = field(default_factory=dict)     # the top file's constants: name -> value
    home: dict = field(default_factory=dict)       # id(BlockDef) -> (blocks, constants) of its file

    def network_names(self) -> list:
        return list(self.networks)

    def lower(self, network: str | None = None, limits: Limits | None = None, **params) -> Graph:
        """Lower one network (the only one, or the one named) to a checked IR graph."""
        ndef = self.pick(network)
        enabled = gc.isenabled()
        gc.disable()  # lowering makes many long-lived objects and no cycles; collections would only cost time
        try:
            graph = Lowerer(self, limits or Limits()).network(ndef, params)
        finally:
            if enabled:
                gc.enable()
        graph.lint()
        return graph

    def pick(self, network: str | None) -> S.NetworkDef:
        if network is None:
            if len(self.networks) != 1:
                names = ", ".join(self.networks) or "none"
                raise CnnError("usage", f"{self.path} defines {len(self.networks)} networks ({names}); choose one with -n")
            return next(iter(self.networks.values()))
        if network not in self.networks:
            raise CnnError("usage", f"{self.path} has no network `{network}`",
                           hint=did_you_mean(network, self.networks) or f"its networks: {', '.join(self.networks) or 'none'}")
        return self.networks[network]


def load(text: str, path: str = "<string>") -> Program:
    """Parse ``text`` and everything it imports into a ``Program``."""
    program = Program(path)
    module = parse(text, path)
    program.blocks, program.consts = _namespace(program, module, path, (os.path.abspath(path),), {})
    for n in module.networks:
        if n.name in program.networks:
            raise CnnError("name", f"network `{n.name}` is defined twice (first at {program.networks[n.name].span})", n.span)
        program.networks[n.name] = n
    return program


def load_file(path: str) -> Program:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CnnError("usage", f"can't read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CnnError("usage", f"{path} is not UTF-8 text") from None
    return load(text, path)


def _namespace(program: Program, module: S.Module, path: str, loading: tuple, done: dict) -> tuple:
    """The blocks and constants visible in ``module``: imported ones first, then its own."""
    names, consts, origin = {}, {}, {}

    def add(table, name, value, where, span):
        if name in origin and origin[name] != where:
            what = "block" if isinstance(value, S.BlockDef) else "constant"
            raise CnnError("name", f"{what} `{name}` comes from both {origin[name]} and {where}", span,
                           hint="import one of the files `as` a name, e.g. import \"lib.cnn\" as lib")
        table[name], origin[name] = value, where

    for imp in module.imports:
        target = os.path.normpath(os.path.join(os.path.dirname(path), imp.path))
        key = os.path.abspath(target)
        if key in loading:
            raise CnnError("import", f"import cycle: {' -> '.join(os.path.basename(p) for p in loading + (key,))}", imp.span)
        if key not in done:
            try:
                with open(target, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                why = getattr(e, "strerror", None) or str(e)
                raise CnnError("import", f"can't import {imp.path}: {why} (looked for {target})", imp.span) from None
            sub = parse(text, target)
            _, sub_consts = _namespace(program, sub, target, loading + (key,), done)
            done[key] = (sub.blocks, {c.name: sub_consts[c.name] for c in sub.consts})
        blocks, own_consts = done[key]
        for b in blocks:
            if not b.name.startswith("_"):
                add(names, f"{imp.alias}.{b.name}" if imp.alias else b.name, b, imp.path, imp.span)
        for name, value in own_consts.items():
            if not name.startswith("_"):
                add(consts, f"{imp.alias}.{name}" if imp.alias else name, value, imp.path, imp.span)
    for c in module.consts:
        if c.name in origin:
            raise CnnError("name", f"constant `{c.name}` is defined twice (also from {origin[c.name]})", c.span)
        try:
            add(consts, c.name, Evaluator(consts)(c.value), path, c.span)
        except CnnError as e:
            raise e.located(c.value.span)
    for b in module.blocks:
        if b.name in REGISTRY:
            raise CnnError("name", f"block `{b.name}` has the name of an op; rename it", b.span)
        if b.name in origin:
            where = f"first at {names[b.name].span}" if origin[b.name] == path else f"also from {origin[b.name]}"
            raise CnnError("name", f"block `{b.name}` is defined twice ({where})", b.span)
        add(names, b.name, b, path, b.span)
    for b in module.blocks:
        program.home[id(b)] = (names, consts)
    return names, consts
