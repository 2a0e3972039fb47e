"""Loading specs: a file, its imports (resolved relative to the importing
file), and the blocks and networks they define."""
from __future__ import annotations

import gc
import os
import stat
from dataclasses import dataclass, field

from . import syntax as S
from .errors import CnnError, Source, Span, deep_stack, did_you_mean
from .ir import Graph
from .lower import Limits, Lowerer
from .ops import REGISTRY
from .parser import parse
from .values import FUNCS, Function, evaluate


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
    import_root: str | None = None                 # imports may only read files inside this folder

    def network_names(self) -> list:
        return list(self.networks)

    def lower(self, network: str | None = None, limits: Limits | None = None, **params) -> Graph:
        """Lower one network (the only one, or the one named) to a checked IR graph."""
        ndef = self.pick(network)
        enabled = gc.isenabled()
        gc.disable()  # lowering makes many long-lived objects and no cycles; collections would only cost time
        limits = limits or Limits()
        try:
            with deep_stack(20_000 + 40 * limits.max_depth):
                graph = Lowerer(self, limits).network(ndef, params)
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


KEYWORDS = {"assert", "fn", "collect", "import", "as", "let", "block", "network", "defaults", "expect", "repeat", "if", "elif", "else",
            "true", "false", "none", "and", "or", "not", "in"}
MAX_IMPORT_DEPTH = 200    # a chain of imports (each file imports the next)
MAX_FILE = 10 * 2 ** 20   # bytes: a spec is text a person writes; anything bigger is a mistake


def read_text(path: str, kind: str = "usage", span: Span | None = None, import_root: str | None = None,
              written: str | None = None) -> str:
    """A spec file's text: a regular file of at most MAX_FILE bytes, UTF-8, a leading BOM dropped.

    Errors are ``kind`` (``usage`` for the file named on the command line, ``import`` for an import,
    located at ``span``); invalid UTF-8 is a syntax error at the line:col of its first bad byte.
    With ``import_root``, only files whose real path lies inside that folder may be read.
    ``written`` is an import's path as written in the spec, for the messages.
    """
    shown = repr(path)[1:-1]

    def fail(why, hint=None):
        if written is None:
            return CnnError(kind, f"can't read {shown}: {why}", span, hint=hint)
        return CnnError(kind, f"can't import {written}: {why} (looked for {shown})", span, hint=hint)
    if "\0" in path:
        raise fail("a path can't contain a NUL byte")
    if import_root is not None:
        root = os.path.realpath(import_root)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise fail(f"it is outside the import root {import_root}",
                       hint="--import-root confines imports to one folder (symlinks are followed first)")
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
            raise fail(f"it is {what}")
        if info.st_size > MAX_FILE:
            raise fail(f"{info.st_size:,} bytes is over the limit of {MAX_FILE:,} for a spec file")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError as e:
        raise fail(e.strerror or str(e)) from None
    if len(data) > MAX_FILE:
        raise fail(f"over the limit of {MAX_FILE:,} bytes for a spec file")
    return decode(data, path)


def decode(data: bytes, path: str) -> str:
    """UTF-8 text without a leading BOM, or a syntax error at the first bad byte's line:col."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        good = data[:e.start].decode("utf-8")
        line = good.count("\n") + 1
        col = len(good) - (good.rfind("\n") + 1) + 1
        source = Source(path, good + "\ufffd" + data[e.end:].decode("utf-8", "replace"))
        raise CnnError("syntax", f"invalid UTF-8: byte 0x{data[e.start]:02x} can't start or continue a character "
                                 "here", Span(source, line, col, line, col + 1),
                       hint="save the file as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def load(text: str, path: str = "<string>", import_root: str | None = None) -> Program:
    """Parse ``text`` and everything it imports into a ``Program``. With ``import_root``, imports
    may only read files inside that folder (for services that check specs they did not write)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    program = Program(path)
    program.import_root = import_root
    module = parse(text, path)
    key = os.path.realpath(path) if os.path.exists(path) else os.path.abspath(path)
    program.blocks, program.consts = _namespace(program, module, path, (key,), {})
    for n in module.networks:
        if n.name in program.networks:
            raise CnnError("name", f"network `{n.name}` is defined twice (first at {program.networks[n.name].span})", n.span)
        program.networks[n.name] = n
    return program


def load_file(path: str, import_root: str | None = None) -> Program:
    return load(read_text(path), path, import_root)


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
        if imp.alias in KEYWORDS:
            raise CnnError("name", f"`{imp.alias}` is a keyword, so `{imp.alias}.NAME` could never be called", imp.span,
                           hint="pick another name after `as`")
        if "\0" in imp.path:
            raise CnnError("import", "an import path can't contain a NUL byte", imp.span)
        target = os.path.normpath(os.path.join(os.path.dirname(path), imp.path))
        key = os.path.realpath(target)     # one file reached through links or `..` is one file
        if key in loading:
            raise CnnError("import", f"import cycle: {' -> '.join(os.path.basename(p) for p in loading + (key,))}", imp.span)
        if key not in done:
            if len(loading) > MAX_IMPORT_DEPTH:
                raise CnnError("limit", f"imports nest deeper than {MAX_IMPORT_DEPTH}", imp.span)
            text = read_text(target, "import", imp.span, program.import_root, written=imp.path)
            try:
                sub = parse(text, target)
                _, sub_consts = _namespace(program, sub, target, loading + (key,), done)
            except CnnError as e:
                e.notes.append(f"{imp.path} is imported at {imp.span}")
                raise
            done[key] = (sub.blocks, {c.name: sub_consts[c.name] for c in sub.consts})
        blocks, own_consts = done[key]
        for b in blocks:
            if not b.name.startswith("_"):
                add(names, f"{imp.alias}.{b.name}" if imp.alias else b.name, b, imp.path, imp.span)
        for name, value in own_consts.items():
            if not name.startswith("_"):
                add(consts, f"{imp.alias}.{name}" if imp.alias else name, value, imp.path, imp.span)
    budget = [0]

    def tick(span):
        budget[0] += 1
        if budget[0] > Limits().max_steps:
            raise CnnError("limit", f"the file's constants take more than {Limits().max_steps:,} function calls", span)
    for c in module.consts:
        what = "function" if isinstance(c, S.FnDef) else "constant"
        if c.name in origin:
            raise CnnError("name", f"{what} `{c.name}` is defined twice (also from {origin[c.name]})", c.span)
        if isinstance(c, S.FnDef):
            if c.name in FUNCS:
                raise CnnError("name", f"`{c.name}` is a built-in function; pick another name", c.span)
            add(consts, c.name, Function(c, consts), path, c.span)
            continue
        try:
            add(consts, c.name, evaluate(c.value, consts, tick), path, c.span)
        except CnnError as e:
            raise e.located(c.value.span)
    for b in module.blocks:
        if b.name in KEYWORDS:
            raise CnnError("name", f"`{b.name}` is a keyword, so a block of that name could never be called", b.span,
                           hint="pick another block name")
        if b.name in REGISTRY:
            raise CnnError("name", f"block `{b.name}` has the name of an op; rename it", b.span)
        if b.name in origin:
            where = f"first at {names[b.name].span}" if origin[b.name] == path else f"also from {origin[b.name]}"
            raise CnnError("name", f"block `{b.name}` is defined twice ({where})", b.span)
        add(names, b.name, b, path, b.span)
    for b in module.blocks:
        program.home[id(b)] = (names, consts)
    return names, consts


def parameter_defaults(program, ndef) -> dict:
    """The default values of a network's parameters, where they can be computed without the others' set values."""
    from .values import evaluate
    names, out = dict(program.consts), {}
    for p in ndef.params:
        if p.kind in ("input", "plain"):
            continue
        try:
            out[p.name] = names[p.name] = evaluate(p.value, names)
        except CnnError:
            pass
    return out
