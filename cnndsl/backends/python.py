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
   into a per-instance part and a fixed suffix: ``residual_3-conv_1`` is
   ``{name}-conv_1`` (``name`` is the instance's id, the prefix of derived
   names); ``conv2_block1_1_conv`` is ``{prefix}_1_conv`` (``prefix`` is the
   stem the instance's explicit names share).
3. Instances of a block whose statements agree apart from holes share one
   function. A hole with one value in all of them is written as a literal,
   the others become parameters (holes with the same keyword and the same
   values share one). Instances whose structure differs (an ``if`` took
   another arm, a repeat ran another count) get a variant: ``stack_v2``.
4. Blocks are written callees first, so a call's arguments are holes of
   its caller in turn.

No constructor is written by hand: ``keras.constructor`` runs each op's
registry builder against a recorder, so the emitted call is exactly what
``build_model`` makes (minus arguments equal to Keras's defaults). Same layers, names and merge order make Keras order the layers,
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

from ..ir import SEP, Node
from ..structure import Group, build_tree, ports, users
from ..ops import REGISTRY
from .keras import apply_template, constructor, parameters

EMPTY = inspect.Parameter.empty
OWN_LAYERS = ("LRN", "LayerScale", "StochasticDepth", "CustomScaleLayer", "Split", "Slice", "ChannelShuffle",
              "TorchPool", "AdaptivePool", "Divide", "Stack", "MatMul", "WeightedAdd", "Elementwise", "Reduce",
              "ClassToken", "PositionEmbedding", "GRN")   # the classes of keras_layers a builder makes
RESERVED = ({"x", "inputs", "keras", "layers", "build_model", *OWN_LAYERS} | set(keyword.kwlist)
            | set(dir(builtins)))


@dataclass(frozen=True)
class Hole:
    """A value that may differ between instances, passed as ``kw=`` (``kw`` None: positionally).

    Names have a ``suffix`` (written ``f"{param}{suffix}"``) and are ``namey``:
    a caller splits them again. A literal equal to ``default`` is left out.
    """

    key: str
    value: object
    kw: str | None = None
    suffix: str | None = None
    namey: bool = False
    default: object = EMPTY


@dataclass(eq=False)
class Instance:
    """A block call (``scope`` None: the network) and its direct items, nodes or instances, in order."""

    scope: object = None
    items: list = field(default_factory=list)
    nodes: list = field(default_factory=list)      # every node inside, nested ones too
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    call: tuple = ()                               # (function name, [(param, value, namey)])


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
    paths = [constructor(n)[0] for n in graph.nodes if n.op not in ("input", "take")]
    if any(p[0] == "layers" for p in paths):
        head.append("from keras import layers")
    own = sorted({p[-1] for p in paths if p[0] == "cnndsl"}, key=OWN_LAYERS.index)
    if own:
        head += ["", "", "\n\n\n".join(_own_source(cls) for cls in own)]
    return "\n\n".join(["\n".join(head) + "\n", *writer.functions, writer.network(graph, root),
                        'if __name__ == "__main__":\n    build_model().summary()\n'])


def _tree(graph):
    """The root instance, and every block's instances, callees' blocks first (``structure``'s tree of
    block calls; repeats are transparent)."""
    readers, calls, by_block = users(graph), {}, {}

    def instance(group, parent_block) -> Instance:
        inst = Instance(group.scope, nodes=group.nodes)
        if group.scope is not None:
            inst.inputs, inst.outputs = ports(group, readers, graph)
            calls.setdefault(parent_block, {})[_block(inst)] = None
            by_block.setdefault(_block(inst), []).append(inst)
        for item in group.items:
            if isinstance(item, Group):
                inst.items.append(instance(item, _block(inst)))
            elif item.op != "input":
                inst.items.append(item)
        return inst

    root = instance(build_tree(graph, kinds=("block",), inline_shared=True), None)
    root.inputs, root.outputs = list(graph.inputs.values()), list(graph.outputs.values())
    order = []

    def visit(name):
        if name not in order:
            for callee in calls.get(name, ()):
                visit(callee)
            order.append(name)
    for name in calls.get(None, ()):
        visit(name)
    return root, {name: by_block[name] for name in order}


def _block(inst: Instance) -> str | None:
    """The block's name as a Python function name: ``a.unit`` (imported as ``a``) is ``a_unit``."""
    return _ident(inst.scope.block) if inst.scope else None


class _Writer:
    """Writes the functions, and knows the names the module defines.

    A statement is ``(head, fixed, holes, tail)``, written ``head + ", ".join([fixed, *holes]) + tail``.
    """

    def __init__(self):
        self.functions, self.taken = [], set(RESERVED)

    def pick(self, names, taken: set) -> str:
        """The first of ``names`` free in ``taken`` and in the module; now taken."""
        name = next(n for n in names if n not in taken and n not in self.taken)
        taken.add(name)
        return name

    def body(self, inst: Instance, root: bool = False):
        """(input names, statements, output names, local names) of one instance."""
        uses = {}
        for k, item in enumerate(inst.items):
            for t in item.inputs:
                uses.setdefault(id(t), []).append(k)
        for t in inst.outputs:
            uses.setdefault(id(t), []).append(len(inst.items))
        taken, names = set(), {}
        for k, n in enumerate(inst.inputs, 1):
            if root:
                names[id(n)] = self.pick(_numbered(_ident(n.name)), taken)
            else:
                names[id(n)] = f"inputs_{k}" if len(inst.inputs) > 1 else "x" if uses.get(id(n)) == [0] else "inputs"
        stem, lines, members = _stem(inst), [], {}
        reused = {id(n.shares) for n in inst.items if isinstance(n, Node) and n.shares is not None}
        shared_vars = {}        # id(first application) -> the variable holding its layer
        for k, item in enumerate(inst.items):
            outs = [item] if isinstance(item, Node) else item.outputs
            name_hole = _name_hole(item.name, inst, stem, "name") if isinstance(item, Node) else None
            seq = _sequential(item)
            if seq is not None:   # a layer of a keras.Sequential: made now, called with the others below
                layer_var = self.pick(_numbered(_ident(item.name) + "_layer"), taken)
                members.setdefault(seq.id, []).append((item, layer_var))
                lines.append(self.layer(item, name_hole, f"{layer_var} = ", None))
                if item is not _last_of(seq, inst):
                    continue
                first = members[seq.id][0][0]
                out = "x" if uses.get(id(item)) == [k + 1] else self.pick(_var_names(item, name_hole, root), taken)
                names[id(item)] = out
                layer_list = "[" + ", ".join(v for _, v in members[seq.id]) + "]"
                lines.append((f"{out} = keras.Sequential({layer_list}, ", "", [_name_hole(seq.id, inst, stem, "name")],
                              f")({names[id(first.inputs[0])]})"))
                continue
            for t in outs:   # `x` when read once, by the next statement: a plain chain
                chained = len(outs) == 1 and uses.get(id(t)) == [k + 1]
                names[id(t)] = "x" if chained else self.pick(_var_names(item, name_hole, root), taken)
            head = ", ".join(names[id(t)] for t in outs) + " = " if outs else ""
            reads = [names[id(i)] for i in item.inputs]
            if isinstance(item, Node) and item.op != "take" and (id(item) in reused or item.shares is not None):
                # A shared layer: made once into a variable, called at each application.
                if item.shares is None:
                    var = shared_vars[id(item)] = self.pick(_numbered(_ident(item.name) + "_layer"), taken)
                    lines.append(self.layer(item, name_hole, f"{var} = ", None))
                lines.append((head + _call(item, shared_vars[id(item.shares or item)], reads), "", [], ""))
            elif isinstance(item, Node):
                lines.append(self.layer(item, name_hole, head, reads))
            else:
                holes = [_name_hole(v, inst, stem, p) if namey else Hole(re.sub(r"_\d+$", "", p), v, p)
                         for p, v, namey in item.call[1]]
                lines.append((f"{head}{item.call[0]}(", ", ".join(reads), holes, ")"))
        ins = [names[id(n)] for n in inst.inputs]
        return ins, lines, [names[id(t)] for t in inst.outputs], taken | set(names.values())

    def layer(self, node, name_hole, head, reads):
        if node.op == "take":        # one output of a split: an index into its list, no layer
            return f"{head}{reads[0]}[{node.args['index']}]", "", [], ""
        path, args, kwargs = constructor(node)
        params = parameters(path)
        holes = [Hole(p, v) for p, v in zip(params, args)]
        holes += [name_hole if key == "name" else Hole(key, value, key, default=params.get(key, EMPTY))
                  for key, value in kwargs.items()]
        cls = path[-1] if path[0] == "cnndsl" else ".".join(path)
        if reads is None:            # a layer object only (a sequential's member), not called here
            return f"{head}{cls}(", "", holes, ")"
        read = reads[0] if REGISTRY[node.op].arity is not None else "[" + ", ".join(reads) + "]"
        template = apply_template(node)
        if "{layer}" not in template:   # a Keras op on the tensors, no layer: `a + b`
            for k, r in enumerate(reads):
                template = template.replace("{x}[%d]" % k, r)
            return f"{head}{template}", "", [], ""
        before, after = template.split("{layer}")
        if len(reads) > 1 or REGISTRY[node.op].arity is None:   # `{x}[0]`: the tensor itself, by name
            after = re.sub(r"\{x\}\[(-?\d+)\]", lambda m: reads[int(m.group(1))], after)
        return f"{head}{before}{cls}(", "", holes, ")" + after.format(x=read)

    def write_block(self, block: str, instances: list):
        """One function per structure among the block's instances; sets each instance's ``call``."""
        groups = {}
        for inst in instances:
            ins, lines, outs, local = self.body(inst)
            skeleton = tuple((h, f, tuple((x.key, x.kw, x.suffix) for x in hs), t) for h, f, hs, t in lines)
            groups.setdefault((tuple(ins), tuple(outs), skeleton), []).append((inst, lines, local))
        for variant, ((ins, outs, _), members) in enumerate(groups.items(), 1):
            fn = self.pick(_numbered(block + "_block" if block in RESERVED else block, "_v"), self.taken)
            columns = list(zip(*([h for line in lines for h in line[2]] for _, lines, _ in members)))
            keys = [(column[0].key, tuple(_lit(h.value) for h in column)) for column in columns]
            params, taken = {}, set(members[0][2])     # (key, values) -> (parameter, first column)
            for j, key in enumerate(keys):
                if len(set(key[1])) > 1 and key not in params:
                    params[key] = self.pick(_numbered(key[0]), taken), j
            for k, (inst, _, _) in enumerate(members):
                inst.call = (fn, [(name, columns[j][k].value, columns[j][0].namey) for name, j in params.values()])
            text = _render(members[0][1], iter([params.get(key, (None,))[0] for key in keys]))
            doc = f"Block `{block}`" + (f" (variant {variant}: another `if` arm or repeat count)" if variant > 1 else "")
            doc += f"; {len(members)} calls, the first" if len(members) > 1 else "; called as"
            args = ", ".join([*ins, *(name for name, _ in params.values())])
            self.functions.append(f"def {fn}({args}):\n    {_doc(f'{doc} {members[0][0].scope.label}.')}\n{text}"
                                  + (f"\n    return {', '.join(outs)}" if outs else "") + "\n")

    def network(self, graph, root: Instance) -> str:
        ins, lines, outs, _ = self.body(root, root=True)
        text = [f"    {name} = keras.Input(shape={_lit(n.shape[1:])}"
                + (f", batch_size={n.shape[0]}" if n.shape[0] is not None else "") + f", name={n.name!r})"
                for name, n in zip(ins, root.inputs)]
        text.append(_render(lines, iter(lambda: None, 0)))
        model_in, model_out = (x[0] if len(x) == 1 else "[" + ", ".join(x) + "]" for x in (ins, outs))
        doc = (f"The `{graph.name}` network: {graph.total_params:,} parameters "
               f"({graph.trainable:,} trainable), {graph.layers} layers.")
        return (f"def build_model():\n    {_doc(doc)}\n" + "\n".join(text)
                + f"\n    return keras.Model(inputs={model_in}, outputs={model_out}, name={graph.name!r})\n")


def _call(node, layer: str, reads: list) -> str:
    """A layer held in a variable, called on the node's inputs (through its apply template)."""
    read = reads[0] if REGISTRY[node.op].arity is not None else "[" + ", ".join(reads) + "]"
    before, after = apply_template(node).split("{layer}")
    return f"{before}{layer}{after.format(x=read)}"


def _sequential(item):
    """The sequential scope a node sits in, or None."""
    if not isinstance(item, Node):
        return None
    return next((s for s in item.scope if s.kind == "sequential"), None)


def _last_of(seq, inst: Instance):
    return [n for n in inst.items if isinstance(n, Node) and seq in n.scope][-1]


def _numbered(base: str, sep: str = "_"):
    """``base``, then ``base_2``, ``base_3``... (``base_v2``... with ``sep="_v"``)."""
    return chain([base], (f"{base}{sep}{j}" for j in count(2)))


def _var_names(item, name_hole: Hole | None, root: bool):
    """Candidate variable names for an item's output: its layer name (in a block, the name's fixed part),
    else its op or function, numbered."""
    tail = name_hole.suffix.lstrip("._-") if name_hole and name_hole.suffix else ""
    if name_hole and (root or tail):
        return _numbered(_ident(item.name if root else tail))
    base = item.op if name_hole else item.call[0]
    return (f"{base}_{j}" for j in count(1))


def _stem(inst: Instance) -> str:
    """The common stem of an instance's explicit names, cut at a separator: ``conv2_block1``."""
    own = f"{inst.scope.id}{SEP}" if inst.scope else None
    names = []
    for item in inst.items:
        names += [item.name] if isinstance(item, Node) else [v for _, v, namey in item.call[1] if namey]
    common = os.path.commonprefix([n for n in names if not (own and n.startswith(own))])
    cut = max(common.rfind(c) for c in "_.-")
    return common[:cut] if cut > 0 else ""


def _name_hole(value: str, inst: Instance, stem: str, kw: str) -> Hole:
    """A layer name (or a callee's name argument) as a per-instance part plus a fixed suffix."""
    own = inst.scope.id if inst.scope else None
    if own and value.startswith(own + SEP):
        return Hole("name", own, kw, value[len(own):], True)
    if stem and value.startswith(stem):
        return Hole("prefix", stem, kw, value[len(stem):], True)
    return Hole("layer_name", value, kw, None, True)


def _render(lines, params) -> str:
    """The statements' source; ``params`` yields, hole by hole, its parameter or None (a literal)."""
    out = []
    for head, fixed, holes, tail in lines:
        args = [fixed]
        for hole in holes:
            param = next(params)
            if param is None and hole.kw and _same(hole.default, hole.value):
                continue
            if param is None:
                value = _lit(hole.value + hole.suffix if hole.suffix is not None else hole.value)
            elif hole.suffix is None:
                value = param
            else:
                value = "f" + repr("{" + param + "}" + hole.suffix.replace("{", "{{").replace("}", "}}"))
            args.append(f"{hole.kw}={value}" if hole.kw else value)
        out.append("    " + head + ", ".join(a for a in args if a) + tail)
    return "\n".join(out)


def _same(default, value) -> bool:
    return default is not EMPTY and type(default) is type(value) and default == value


def _lit(v) -> str:
    """A value as Python source."""
    if isinstance(v, float) and not math.isfinite(v):
        return f'float("{v}")'
    if isinstance(v, (tuple, list)):
        inner = ", ".join(map(_lit, v)) + ("," if len(v) == 1 and isinstance(v, tuple) else "")
        return f"({inner})" if isinstance(v, tuple) else f"[{inner}]"
    return repr(v)


def _ident(name: str) -> str:
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if s.isidentifier() else f"t_{s}"


def _doc(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"', '\\"') + '"""'


def _own_source(name: str) -> str:
    """A class of ``keras_layers``, decorator included, read from its source file."""
    with open(os.path.join(os.path.dirname(__file__), "keras_layers.py"), encoding="utf-8") as f:
        text = f.read()
    cls = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name)
    start = (cls.decorator_list[0] if cls.decorator_list else cls).lineno
    return "\n".join(text.splitlines()[start - 1:cls.end_lineno])
