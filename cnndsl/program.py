"""Loading specs: a file, its imports (resolved relative to the importing
file), and the blocks and networks they define."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import syntax as S
from .errors import CnnError, did_you_mean
from .ir import Graph
from .lower import Limits, Lowerer
from .ops import REGISTRY
from .parser import parse


@dataclass
class Program:
    """Everything one spec file can see: its own and its imports' blocks, and its networks."""

    path: str
    blocks: dict = field(default_factory=dict)     # name -> BlockDef
    networks: dict = field(default_factory=dict)   # name -> NetworkDef (this file's only)

    def network_names(self) -> list:
        return list(self.networks)

    def lower(self, network: str | None = None, limits: Limits | None = None, **params) -> Graph:
        """Lower one network (the only one, or the one named) to a checked IR graph."""
        ndef = self.pick(network)
        graph = Lowerer(self, limits or Limits()).network(ndef, params)
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
    _add(program, parse(text, path), path, loading=(os.path.abspath(path),), own=True, seen={})
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


def _add(program: Program, module: S.Module, path: str, loading: tuple, own: bool, seen: dict):
    for imp in module.imports:
        target = os.path.normpath(os.path.join(os.path.dirname(path), imp.path))
        key = os.path.abspath(target)
        if key in loading:
            raise CnnError("import", f"import cycle: {' -> '.join(os.path.basename(p) for p in loading + (key,))}", imp.span)
        if key in seen:
            continue
        try:
            with open(target, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise CnnError("import", f"can't import {imp.path}: {e.strerror or e} (looked for {target})", imp.span) from None
        seen[key] = True
        _add(program, parse(text, target), target, loading + (key,), own=False, seen=seen)
    for b in module.blocks:
        if b.name in REGISTRY:
            raise CnnError("name", f"block `{b.name}` has the name of an op; rename it", b.span)
        if b.name in program.blocks:
            raise CnnError("name", f"block `{b.name}` is defined twice (first at {program.blocks[b.name].span})", b.span)
        program.blocks[b.name] = b
    if own:
        for n in module.networks:
            if n.name in program.networks:
                raise CnnError("name", f"network `{n.name}` is defined twice (first at {program.networks[n.name].span})", n.span)
            program.networks[n.name] = n
