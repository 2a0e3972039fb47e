"""The IR: a flat list of nodes in topological order, like torch.fx's Graph.

A ``Node`` is one layer of the compiled model (identity emits none). Its
fields are the spec of the IR:

- ``name``: unique in the graph and valid as a layer name on every Keras
  backend (ASCII letters, digits, ``_`` and ``-``: torch refuses ``.``).
  Explicit (``name="fc1"``) or derived from the block path, its steps joined
  by ``SEP`` (``residual_3-conv_2``).
- ``op``: a key of ``ops.REGISTRY``; ``args``: the bound, validated arguments.
- ``inputs``: the nodes it reads, in order; always earlier in ``Graph.nodes``.
- ``shape``: the output shape, batch first, None where unknown.
- ``trainable`` / ``non_trainable``: parameter counts as Keras counts them.
- ``macs``: multiply-accumulates for one sample (None when H or W is unknown).
- ``span``: where in the source the node was written; ``scope``: the block
  calls and repeats it sits in, outermost first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import CnnError, Frame, Span

SEP = "-"   # joins the steps of a derived name: `stage_2-residual_1-conv_1`


@dataclass(frozen=True)
class Scope:
    """A block call or a repeat that nodes sit in (a cluster in diagrams), as structured data.

    A block call has the block's qualified name as written (``resnet.stack``) and its arguments as
    ``(keyword or None, value, text as written)``; a repeat its count and its index variable.
    ``label`` is derived from them, for display only.
    """

    id: str          # unique in the graph, e.g. "stage_2-residual_1" or "repeat_1"
    kind: str        # "block", "repeat" or "sequential" (a chain built as one nested model)
    span: Span
    block: str | None = None     # the block called, as written (qualified when imported `as`)
    args: tuple = ()             # ((keyword or None, value, text), ...)
    count: int | None = None     # a repeat's iterations
    var: str | None = None       # a repeat's index (`as i`), if any

    @property
    def label(self) -> str:
        """``residual(128, stride=2)`` or ``×3``: the call as written, its arguments cut short (``call_text``)."""
        if self.kind == "repeat":
            return f"×{self.count}"
        if self.kind == "sequential":
            return f"sequential {self.id}"
        return f"{self.block}({call_text(self.arg_texts)})"

    @property
    def display(self) -> str:
        """The label diagrams and summaries show: a private block's public name (``_convnext(...)`` reads
        ``convnext(...)``; the underscore only keeps it private to its file)."""
        if self.kind != "block":
            return self.label
        prefix, _, name = self.block.rpartition(".")
        return f"{prefix + '.' if prefix else ''}{name.lstrip('_') or name}({call_text(self.arg_texts)})"

    @property
    def arg_texts(self) -> list:
        """The arguments as written, whole: ``128``, ``stride=2``, ``[[3, 3, 9, 3], [96, 192, 384, 768]]``."""
        return [text if kw is None else f"{kw}={text}" for kw, _value, text in self.args]

    @property
    def frame(self) -> Frame:
        return Frame(self.label, self.span)


LABEL_ARGS = 60         # characters of arguments a label shows before it cuts them short


def call_text(texts: list, limit: int = LABEL_ARGS) -> str:
    """The arguments joined, cut at an argument boundary with ``…`` once they pass ``limit`` characters:
    an argument (a list, a string) is shown whole or not at all, so no bracket is left open."""
    shown, used = [], 0
    for text in texts:
        used += len(text) + (2 if shown else 0)
        if used > limit and text != "…":
            if shown[-1:] != ["…"]:
                shown.append("…")
            break
        shown.append(text)
    return ", ".join(shown)


@dataclass(eq=False)
class Node:
    name: str
    op: str
    args: dict
    inputs: tuple
    shape: tuple
    span: Span
    scope: tuple = ()
    trainable: int = 0
    non_trainable: int = 0
    macs: int | None = 0

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    def __repr__(self) -> str:
        ins = ", ".join(i.name for i in self.inputs)
        return f"<{self.op} {self.name}({ins}) -> {self.shape}>"


class Tensors(tuple):
    """The outputs of a block declared ``-> (a, b)``: bound with ``a, b = block(...)``."""

    def __new__(cls, nodes, block: str, names: tuple):
        self = super().__new__(cls, nodes)
        self.block, self.names = block, names
        return self


@dataclass(eq=False)
class Graph:
    """One network: its nodes, named inputs and outputs, and the values of its parameters."""

    name: str
    nodes: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)    # input name -> input node
    outputs: dict = field(default_factory=dict)   # output name -> node
    params: dict = field(default_factory=dict)    # network parameter values used
    span: Span | None = None
    warnings: list = field(default_factory=list)

    @property
    def trainable(self) -> int:
        return sum(n.trainable for n in self.nodes)

    @property
    def non_trainable(self) -> int:
        return sum(n.non_trainable for n in self.nodes)

    @property
    def total_params(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def layers(self) -> int:
        """How many layers the model has: every node but the inputs and a split's parts."""
        return sum(1 for n in self.nodes if n.op not in ("input", "take"))

    @property
    def macs(self) -> int | None:
        total = 0
        for n in self.nodes:
            if n.macs is None:
                return None
            total += n.macs
        return total

    def _repr_svg_(self) -> str:
        """Jupyter shows a network as its diagram."""
        from .backends.dot import repr_svg
        return repr_svg(self)

    def _repr_html_(self) -> str:
        """Jupyter: the interactive diagram (blocks open and close on a click), in an iframe."""
        from .backends.html import repr_html
        return repr_html(self)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def lint(self) -> None:
        """Check the invariants; raise ``CnnError(kind="internal")`` on the first broken one."""
        seen, names = set(), set()
        for n in self.nodes:
            if n.name in names or "/" in n.name or not n.name:
                raise CnnError("internal", f"bad or duplicate node name `{n.name}`", n.span)
            names.add(n.name)
            for i in n.inputs:
                if id(i) not in seen:
                    raise CnnError("internal", f"`{n.name}` reads `{i.name}`, which is not before it", n.span)
            if n.shape is None or n.trainable < 0 or n.non_trainable < 0:
                raise CnnError("internal", f"`{n.name}` has no shape or negative params", n.span)
            seen.add(id(n))
        for name, n in {**self.inputs, **self.outputs}.items():
            if id(n) not in seen:
                raise CnnError("internal", f"`{name}` is not a node of the graph")
        for n in self.inputs.values():
            if n.op != "input":
                raise CnnError("internal", f"input `{n.name}` is a {n.op} node", n.span)
