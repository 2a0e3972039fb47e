"""IR graph -> a readable, standalone Python module that rebuilds the model with Keras only.

The module has one function per block of the spec, named after the block, and
``build_model()``. The IR keeps no block definitions, only expanded calls (a
node's ``scope`` lists the block calls it sits in), so the functions are
recovered from those calls:

1. Nodes are grouped into a tree of block calls ("instances"; repeats are
   transparent). An instance's inputs are the tensors it reads from outside;
   its outputs, its tensors read outside it.
2. Each instance is written as statements whose varying parts are *holes*:
   a layer argument, a callee's parameter, or a layer name. A name is split
   into a per-instance part and a fixed suffix: ``residual_3.conv_1`` is
   ``{name}.conv_1`` (``name`` is the instance's id, the prefix of derived
   names); ``conv2_block1_1_conv`` is ``{prefix}_1_conv`` (``prefix`` is the
   stem the instance's explicit names share).
3. Instances of a block whose statements agree apart from holes share one
   function. A hole with one value in all of them is written as a literal,
   the others become parameters (holes with the same keyword and the same
   values share one). Instances whose structure differs (an ``if`` took
   another arm, a repeat ran another count) get a variant: ``stack_v2``.
4. Blocks are written callees first, so a call's arguments are holes of
   its caller in turn.

No constructor is written by hand: each op's registry ``keras`` builder runs
against a recorder standing in for the keras module, so the emitted call is
exactly what ``build_model`` makes (minus arguments equal to Keras's
defaults). Same layers, names and merge order make Keras order the layers,
and so the weights, the same way: ``set_weights(compiled.get_weights())``
works on the rebuilt model. Keras is imported only to read those defaults.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import math
import os
import re
from dataclasses import dataclass, field
from itertools import chain, count

from ..errors import CnnError
from ..ir import Node
from ..ops import REGISTRY

EMPTY = inspect.Parameter.empty
RESERVED = {"x", "inputs", "keras", "layers", "LRN", "build_model"} | set(keyword.kwlist) | set(dir(builtins))


@dataclass(frozen=True)
class Hole:
    """A value that may differ between instances.

    ``suffix`` is set for names, written ``f"{param}{suffix}"``; ``namey``
    marks names (a caller splits them again); ``kw`` is the keyword it is
    passed with (None: positional); a literal equal to ``default`` is left out.
    """

    key: str
    value: object
    kw: str | None = None
    suffix: str | None = None
    namey: bool = False
    default: object = EMPTY


@dataclass(eq=False)
class Instance:
    """A block call (``scope`` None: the network) with its direct items, nodes or instances, in order."""

    scope: object = None
    items: list = field(default_factory=list)
    nodes: list = field(default_factory=list)      # every node inside, nested ones too
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    call: tuple = ()                               # (function name, [(param, value, namey)])

    @property
    def block(self) -> str:
        return self.scope.label.partition("(")[0]


def emit_python(graph) -> str:
    """The source of a module whose ``build_model()`` returns the same model as ``build_model(graph)``."""
    root, blocks = _tree(graph)
    writer = _Writer()
    for name, instances in blocks.items():
        writer.write_block(name, instances)
    values = ", ".join(f"{k}={v!r}" for k, v in graph.params.items()) or "none"
    doc = (f"The `{graph.name}` network, written by `cnndsl compile --emit python`.\n\n"
           "`build_model()` returns the keras.Model; run this file to print its summary.\n"
           f"Network parameters: {values}.\nOne function per block of the spec. Layer names and weight "
           "order match `cnndsl.compile`,\nso `set_weights(compiled.get_weights())` works.\n")
    head = [_doc(doc), "import keras"]
    if any(n.op not in ("input", "lrn") for n in graph.nodes):
        head.append("from keras import layers")
    if any(n.op == "lrn" for n in graph.nodes):
        head += ["", "", _lrn_source()]
    parts = ["\n".join(head) + "\n", *writer.functions, writer.network(graph, root),
             'if __name__ == "__main__":\n    build_model().summary()\n']
    return "\n\n".join(parts)


def _tree(graph):
    """The root instance, and every block's instances, callees' blocks first."""
    root, by_id, calls = Instance(), {}, {}
    for node in graph.nodes:
        if node.op == "input":
            continue
        inst = root
        root.nodes.append(node)
        for s in node.scope:
            if s.kind != "block":
                continue
            child = by_id.get(s.id)
            if child is None:
                child = by_id[s.id] = Instance(s)
                inst.items.append(child)
                calls.setdefault(inst.block if inst.scope else None, {})[child.block] = None
            inst = child
            inst.nodes.append(node)
        inst.items.append(node)
    users = {id(n): [] for n in graph.nodes}
    for n in graph.nodes:
        for i in n.inputs:
            users[id(i)].append(n)
    outs = {id(n) for n in graph.outputs.values()}
    for inst in by_id.values():
        inside = {id(n) for n in inst.nodes}
        reads = [i for n in inst.nodes for i in n.inputs if id(i) not in inside]
        inst.inputs = list({id(i): i for i in reads}.values())
        inst.outputs = [n for n in inst.nodes if id(n) in outs or any(id(u) not in inside for u in users[id(n)])]
    root.inputs, root.outputs = list(graph.inputs.values()), list(graph.outputs.values())
    order = []

    def visit(name):
        if name not in order:
            for callee in calls.get(name, ()):
                visit(callee)
            order.append(name)
    for name in calls.get(None, ()):
        visit(name)
    return root, {name: [i for i in by_id.values() if i.block == name] for name in order}


class _Recorder:
    """Stands in for the keras module: records the constructor a registry builder calls."""

    def __init__(self, path=()):
        self._path = path

    def __getattr__(self, attr):
        return _Recorder(self._path + (attr,))

    def __call__(self, *args, **kwargs):
        return self._path, args, kwargs


class _Writer:
    """Writes the functions, remembering their names and Keras's constructor signatures.

    A statement ("line") is ``(head, fixed, holes, tail)``, written as
    ``head + ", ".join([fixed, *holes]) + tail``.
    """

    def __init__(self):
        self.functions, self.taken, self.signatures = [], set(RESERVED), {}

    def pick(self, names, taken: set) -> str:
        """The first of ``names`` free in ``taken`` and among the module's names; taken now."""
        name = next(n for n in names if n not in taken and n not in self.taken)
        taken.add(name)
        return name

    # --- one instance as statements with holes ------------------------------------
    def body(self, inst: Instance, root: bool = False):
        """(input names, lines, output names, local names) of one instance."""
        uses = {}
        for k, item in enumerate(inst.items):
            for t in item.inputs:
                uses.setdefault(id(t), []).append(k)
        for t in inst.outputs:
            uses.setdefault(id(t), []).append(len(inst.items))
        taken, names = set(), {}
        for k, n in enumerate(inst.inputs, 1):
            if root:
                base = _ident(n.name)
                names[id(n)] = self.pick(chain([base], (f"{base}_{j}" for j in count(2))), taken)
            elif len(inst.inputs) == 1:
                names[id(n)] = "x" if uses.get(id(n)) == [0] else "inputs"
            else:
                names[id(n)] = f"inputs_{k}"
        stem = _stem(inst)
        lines = []
        for k, item in enumerate(inst.items):
            outs = [item] if isinstance(item, Node) else item.outputs
            base = item.op if isinstance(item, Node) else item.call[0]
            for t in outs:
                chained = len(outs) == 1 and uses.get(id(t)) == [k + 1]
                names[id(t)] = "x" if chained else self.pick((f"{base}_{j}" for j in count(1)), taken)
            target = ", ".join(names[id(t)] for t in outs)
            head = f"{target} = " if target else ""
            reads = [names[id(i)] for i in item.inputs]
            if isinstance(item, Node):
                lines.append(self.layer(item, inst, stem, head, reads))
            else:
                holes = [_name_hole(v, inst, stem, p) if namey else Hole(re.sub(r"_\d+$", "", p), v, p)
                         for p, v, namey in item.call[1]]
                lines.append((f"{head}{item.call[0]}(", ", ".join(reads), holes, ")"))
        ins = [names[id(n)] for n in inst.inputs]
        return ins, lines, [names[id(t)] for t in inst.outputs], taken | set(names.values())

    def layer(self, node, inst, stem, head, reads):
        path, args, kwargs = self.record(node)
        params = self.signature(path)
        holes = [Hole(p, v) for p, v in zip(params, args)]
        for key, value in kwargs.items():
            holes.append(_name_hole(value, inst, stem, "name") if key == "name"
                         else Hole(key, value, key, default=params.get(key, EMPTY)))
        read = reads[0] if REGISTRY[node.op].arity is not None else "[" + ", ".join(reads) + "]"
        return f"{head}{'.'.join(path)}(", "", holes, f")({read})"

    def record(self, node):
        """(path, args, kwargs) of the constructor the op's builder calls."""
        if node.op == "lrn":
            return ("LRN",), (), {**node.args, "name": node.name}
        made = REGISTRY[node.op].keras(_Recorder(), node.args, node.name)
        if not (isinstance(made, tuple) and len(made) == 3):
            raise CnnError("internal", f"can't write Python for op `{node.op}`: its builder bypasses the keras argument")
        return made

    def signature(self, path) -> dict:
        """Constructor parameter -> default (``EMPTY`` when required), in order."""
        if path not in self.signatures:
            import keras

            from .keras_layers import LRN
            cls = LRN if path == ("LRN",) else keras
            for attr in path if path != ("LRN",) else ():
                cls = getattr(cls, attr)
            self.signatures[path] = {p.name: p.default for p in inspect.signature(cls).parameters.values()
                                     if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        return self.signatures[path]

    # --- instances of one block -> functions ----------------------------------------
    def write_block(self, block: str, instances: list):
        groups = {}
        for inst in instances:
            ins, lines, outs, local = self.body(inst)
            skeleton = (tuple(ins), tuple(outs), tuple((h, f, tuple((x.key, x.kw, x.suffix) for x in hs), t)
                                                       for h, f, hs, t in lines))
            groups.setdefault(skeleton, []).append((inst, lines, local))
        for variant, ((ins, outs, _), members) in enumerate(groups.items(), 1):
            base = block + "_block" if block in RESERVED else block
            fn = self.pick(chain([base], (f"{base}_v{j}" for j in count(2))), self.taken)
            columns = list(zip(*([h for line in lines for h in line[2]] for _, lines, _ in members)))
            params, taken = {}, set(members[0][2])
            for column in columns:
                key = (column[0].key, tuple(_lit(h.value) for h in column))
                if len(set(key[1])) > 1 and key not in params:
                    params[key] = self.pick(chain([key[0]], (f"{key[0]}_{j}" for j in count(2))), taken)
            first = {key: j for j, column in reversed(list(enumerate(columns)))
                     for key in [(column[0].key, tuple(_lit(h.value) for h in column))]}
            for k, (inst, _, _) in enumerate(members):
                inst.call = (fn, [(name, columns[first[key]][k].value, columns[first[key]][0].namey)
                                  for key, name in params.items()])
            param_of = [params.get((c[0].key, tuple(_lit(h.value) for h in c))) for c in columns]
            text = _render_lines(members[0][1], iter(param_of))
            labels = list(dict.fromkeys(m[0].scope.label for m in members))
            doc = f"Block `{block}`" + (f" (variant {variant}: another `if` arm or repeat count)" if variant > 1 else "")
            doc += f", as called: {labels[0]}" + (f" and {len(labels) - 1} more" if len(labels) > 1 else "") + "."
            args = ", ".join([*ins, *params.values()])
            self.functions.append(f"def {fn}({args}):\n    {_doc(doc)}\n{text}"
                                  + (f"\n    return {', '.join(outs)}" if outs else "") + "\n")

    def network(self, graph, root: Instance) -> str:
        ins, lines, outs, _ = self.body(root, root=True)
        text = [f"    {name} = keras.Input(shape={_lit(n.shape[1:])}"
                + (f", batch_size={n.shape[0]}" if n.shape[0] is not None else "") + f", name={n.name!r})"
                for name, n in zip(ins, root.inputs)]
        text.append(_render_lines(lines, iter(lambda: None, 0)))
        model_in = ins[0] if len(ins) == 1 else "[" + ", ".join(ins) + "]"
        model_out = outs[0] if len(outs) == 1 else "[" + ", ".join(outs) + "]"
        doc = (f"The `{graph.name}` network: {graph.total_params:,} parameters "
               f"({graph.trainable:,} trainable), {len(graph.nodes) - len(graph.inputs)} layers.")
        return (f"def build_model():\n    {_doc(doc)}\n" + "\n".join(text)
                + f"\n    return keras.Model(inputs={model_in}, outputs={model_out}, name={graph.name!r})\n")


def _render_lines(lines, params) -> str:
    """The statements' source; ``params`` yields, hole by hole, its parameter name or None (a literal)."""
    out = []
    for head, fixed, holes, tail in lines:
        args = [fixed] + [_render(h, next(params)) for h in holes]
        out.append("    " + head + ", ".join(a for a in args if a) + tail)
    return "\n".join(out)


def _stem(inst: Instance) -> str:
    """The common stem of an instance's explicit names, cut at a separator: ``conv2_block1``."""
    own = f"{inst.scope.id}." if inst.scope else None
    names = []
    for item in inst.items:
        names += [item.name] if isinstance(item, Node) else [v for _, v, namey in item.call[1] if namey]
    common = os.path.commonprefix([n for n in names if not (own and n.startswith(own))])
    cut = max(common.rfind(c) for c in "_.-")
    return common[:cut] if cut > 0 else ""


def _name_hole(value: str, inst: Instance, stem: str, kw: str) -> Hole:
    """A layer name (or a callee's name argument) as a per-instance part plus a fixed suffix."""
    own = inst.scope.id if inst.scope else None
    if own and value.startswith(own + "."):
        return Hole("name", own, kw, value[len(own):], True)
    if stem and value.startswith(stem):
        return Hole("prefix", stem, kw, value[len(stem):], True)
    return Hole("layer_name", value, kw, None, True)


def _render(hole: Hole, param: str | None) -> str:
    """``kw=value``: the parameter, or the literal (nothing when it is the default)."""
    if param is None:
        if hole.kw and _same(hole.default, hole.value):
            return ""
        value = _lit(hole.value + hole.suffix if hole.suffix is not None else hole.value)
    elif hole.suffix is None:
        value = param
    else:
        value = "f" + repr("{" + param + "}" + hole.suffix.replace("{", "{{").replace("}", "}}"))
    return f"{hole.kw}={value}" if hole.kw else value


def _same(default, value) -> bool:
    return default is not EMPTY and type(default) is type(value) and default == value


def _lit(v) -> str:
    """A value as Python source."""
    if isinstance(v, float) and not math.isfinite(v):
        return f'float("{v}")'
    if isinstance(v, tuple):
        return "(" + ", ".join(map(_lit, v)) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(map(_lit, v)) + "]"
    return repr(v)


def _ident(name: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if s.isidentifier() else f"t_{s}"


def _doc(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'


def _lrn_source() -> str:
    """The LRN class of ``keras_layers``, decorator included, read from its source file."""
    path = os.path.join(os.path.dirname(__file__), "keras_layers.py")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cls = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "LRN")
    lines = text.splitlines()
    return "\n".join(lines[cls.decorator_list[0].lineno - 1 if cls.decorator_list else cls.lineno - 1:cls.end_lineno])
