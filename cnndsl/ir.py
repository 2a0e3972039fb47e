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
- ``shares``: None, or the node whose layer this node applies again (a
  ``shared`` op or block applied more than once). That node is the first
  application; it makes the layer and holds the weights. A node that shares
  makes no layer: its name is the first's with ``@k`` added (``head@2``, the
  k-th application), its ``trainable`` and ``non_trainable`` are 0 (Keras
  counts a layer's weights once), its ``macs`` are its own (every
  application computes). ``shares`` always names the first application,
  never another sharing node.
- ``frozen``: the layer's weights are not trained (``trainable=false`` on the
  op, or on a block call or ``sequential`` around it): all of its parameters
  count as non-trainable, as Keras counts a layer whose ``trainable`` is False.
- ``meta``: provenance and other annotations, a dict (empty unless written), as
  torch.fx keeps ``node.meta``: for a node read from a Keras model, ``layer``,
  ``class``, ``config`` (its path in the model config), ``explicit`` (a name a
  person chose) and ``submodel``; empty for a spec's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import attrgetter

from .errors import CnnError, Frame, Span

SEP = "-"   # joins the steps of a derived name: `stage_2-residual_1-conv_1`
LAYER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*")   # a name every Keras backend accepts for a layer


def module_path(name: str) -> tuple[str, ...]:
    """A layer name's torch module path: `-` separates the steps, a doubled `--` is a `-` inside one
    (torchvision's RegNet names a module `block1-0`: `trunk_output-block1-block1--0-f-a-0`)."""
    return tuple(step.replace("\0", "-") for step in name.replace("--", "\0").split(SEP))


@dataclass(slots=True, unsafe_hash=True)   # read-only by convention; not frozen: a frozen __init__ costs a setattr call per field
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
    shared: str | None = None    # a shared block's application: the id of its first application's scope
    application: int = 1         # which application of the shared block (1 for the first)
    name: str | None = None      # a shared block's declared name (`enc` of `shared enc = encoder(64)`)

    @property
    def label(self) -> str:
        """``residual(128, stride=2)``, ``shared enc = encoder(64)`` or ``×3``: the call as written, its
        arguments cut short (``call_text``)."""
        if self.kind == "repeat":
            return f"×{self.count}"
        if self.kind == "sequential":
            return f"sequential {self.id}"
        if self.shared:
            return f"shared {self.name} = {self.block}({call_text(self.arg_texts)})"
        return f"{self.block}({call_text(self.arg_texts)})"

    @property
    def display(self) -> str:
        """The label diagrams and summaries show: a private block's public name (``_convnext(...)`` reads
        ``convnext(...)``; the underscore only keeps it private to its file)."""
        if self.kind != "block":
            return self.label
        prefix, _, name = self.block.rpartition(".")
        shown = f"{prefix + '.' if prefix else ''}{name.lstrip('_') or name}({call_text(self.arg_texts)})"
        return f"shared {self.name} = {shown}" if self.shared else shown

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


class Node:
    """One layer (see the module's docstring). Slotted: a million of them fit in well under a GiB.

    Nodes made from the same call share their bound arguments (a read-only ``FrozenArgs``), shape
    tuple and counts; a node's own are its name, inputs and ``meta``. ``meta`` (provenance, e.g.
    what a node was imported from) is an empty dict until something is written to it, and costs a
    node nothing until then.
    """

    __slots__ = ("name", "op", "args", "inputs", "shape", "span", "scope", "trainable", "non_trainable", "macs",
                 "_meta", "shares", "frozen")

    def __init__(self, name: str, op: str, args: dict, inputs: tuple, shape: tuple, span: Span, scope: tuple = (),
                 trainable: int = 0, non_trainable: int = 0, macs: int | None = 0, meta: dict | None = None,
                 shares: "Node | None" = None, frozen: bool = False):
        self.name = name
        self.op = op
        self.args = args
        self.inputs = inputs
        self.shape = shape
        self.span = span
        self.scope = scope
        self.trainable = trainable
        self.non_trainable = non_trainable
        self.macs = macs
        self._meta = meta or None
        self.shares = shares        # the first application of a shared layer this node calls again
        self.frozen = frozen        # trainable=false: every weight non-trainable

    @property
    def meta(self) -> dict:
        m = self._meta
        return m if m is not None else _Meta(self)

    @meta.setter
    def meta(self, value: dict) -> None:
        self._meta = value

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable

    def __repr__(self) -> str:
        ins = ", ".join(i.name for i in self.inputs)
        return f"<{self.op} {self.name}({ins}) -> {self.shape}>"


class _Meta(dict):
    """A node's empty ``meta``: a dict that becomes the node's own on its first write."""

    __slots__ = ("_node",)

    def __init__(self, node: Node):
        super().__init__()
        self._node = node

    def _own(self) -> None:
        if self._node._meta is not self:
            self._node._meta = self

    def __setitem__(self, key, value):
        self._own()
        super().__setitem__(key, value)

    def update(self, *a, **k):
        self._own()
        super().update(*a, **k)

    def setdefault(self, key, default=None):
        self._own()
        return super().setdefault(key, default)

    def __ior__(self, other):
        self._own()
        return super().__ior__(other)


_TRAINABLE, _NON_TRAINABLE, _OP, _MACS = (attrgetter(k) for k in ("trainable", "non_trainable", "op", "macs"))


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
        return sum(map(_TRAINABLE, self.nodes))

    @property
    def non_trainable(self) -> int:
        return sum(map(_NON_TRAINABLE, self.nodes))

    @property
    def total_params(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def layers(self) -> int:
        """How many layers the model has: every node but the inputs, a split's parts and the later
        applications of a shared layer."""
        ops = list(map(_OP, self.nodes))
        return len(ops) - ops.count("input") - ops.count("take") - sum(1 for n in self.nodes if n.shares is not None)

    @property
    def macs(self) -> int | None:
        macs = list(map(_MACS, self.nodes))
        return None if None in macs else sum(macs)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def lint(self) -> None:
        """Check the invariants; raise ``CnnError(kind="internal")`` on the first broken one."""
        seen, names = set(), set()     # nodes hash by identity
        for n in self.nodes:
            name = n.name
            if name in names or not name or "/" in name:
                raise CnnError("internal", f"bad or duplicate node name `{n.name}`", n.span)
            names.add(name)
            if not seen.issuperset(n.inputs):      # the first input not before it, reported
                i = next(i for i in n.inputs if i not in seen)
                raise CnnError("internal", f"`{n.name}` reads `{i.name}`, which is not before it", n.span)
            if n.shares is not None and (n.shares not in seen or n.shares.shares is not None
                                         or n.shares.op != n.op or n.params):
                raise CnnError("internal", f"`{n.name}` shares `{n.shares.name}`, which is not an earlier first "
                                           "application of the same op, or counts its weights again", n.span)
            if n.shape is None or n.trainable < 0 or n.non_trainable < 0:
                raise CnnError("internal", f"`{n.name}` has no shape or negative params", n.span)
            seen.add(n)
        for name, n in {**self.inputs, **self.outputs}.items():
            if n not in seen:
                raise CnnError("internal", f"`{name}` is not a node of the graph")
        for n in self.inputs.values():
            if n.op != "input":
                raise CnnError("internal", f"input `{n.name}` is a {n.op} node", n.span)
