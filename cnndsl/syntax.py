"""The AST of a .cnn file: frozen dataclasses, every node with a ``span``.

One line per node, in the spirit of CPython's ASDL. Bodies are tuples of
statements; a chain is a tuple of elements joined by ``->``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import Span


@dataclass(frozen=True)
class Node:
    span: Span


# --- expressions -------------------------------------------------------------
@dataclass(frozen=True)
class Num(Node): value: Union[int, float]
@dataclass(frozen=True)
class Str(Node): parts: tuple  # str pieces and Expr pieces of a "{template}"
@dataclass(frozen=True)
class Name(Node): id: str
@dataclass(frozen=True)
class Const(Node): value: object  # true / false / none
@dataclass(frozen=True)
class ListE(Node): items: tuple
@dataclass(frozen=True)
class Unary(Node): op: str; operand: "Expr"
@dataclass(frozen=True)
class BinOp(Node): op: str; left: "Expr"; right: "Expr"
@dataclass(frozen=True)
class Attr(Node): value: "Expr"; attr: str
@dataclass(frozen=True)
class Index(Node): value: "Expr"; index: "Expr"
@dataclass(frozen=True)
class FuncCall(Node): name: str; args: tuple


Expr = Union[Num, Str, Name, Const, ListE, Unary, BinOp, Attr, Index, FuncCall]


@dataclass(frozen=True)
class Arg(Node): name: str | None; value: Expr  # name is None for a positional


# --- chains and statements -----------------------------------------------------
@dataclass(frozen=True)
class Call(Node):
    """``conv(64, 3)``, bare ``bn``, a block call, a tensor name, or ``concat {...}``.

    ``args`` is None for a bare name; ``branches`` is None unless the call has
    a ``{ ... }`` group of branches.
    """
    name: str; args: tuple | None; branches: tuple | None
@dataclass(frozen=True)
class Repeat(Node): count: Expr; var: str | None; body: tuple
@dataclass(frozen=True)
class If(Node): arms: tuple; orelse: tuple | None  # arms: ((cond, body), ...)
@dataclass(frozen=True)
class Chain(Node): elems: tuple


@dataclass(frozen=True)
class Defaults(Node): op: str; args: tuple
@dataclass(frozen=True)
class Expect(Node): target: str; attr: str | None; value: Expr
@dataclass(frozen=True)
class Let(Node): name: str; value: Expr
@dataclass(frozen=True)
class Assign(Node): name: str; chain: Chain
@dataclass(frozen=True)
class ChainStmt(Node): chain: Chain


# --- definitions -----------------------------------------------------------------
@dataclass(frozen=True)
class Param(Node):
    """``x: [224, 224, 3]`` (an input), ``classes=10`` (a default) or ``filters``."""
    name: str; kind: str; value: Expr | None
@dataclass(frozen=True)
class BlockDef(Node): name: str; params: tuple; body: tuple
@dataclass(frozen=True)
class NetworkDef(Node): name: str; params: tuple; outputs: tuple | None; body: tuple
@dataclass(frozen=True)
class Import(Node): path: str
@dataclass(frozen=True)
class Module(Node): imports: tuple; blocks: tuple; networks: tuple
