"""A Keras model's config -> cnndsl's IR (``ir.Graph``), without Keras.

The Keras backend owns this table too: ``READERS`` maps a Keras class to a function of its config
that returns the cnndsl op and arguments, the inverse of ``BUILDERS`` (to read another class, add a
row). Reading works on the config dict alone (``config.json`` of a ``.keras`` file, or
``serialize_keras_object(model)``), so ``cnndsl draw model.keras`` never imports Keras.

``read_config`` returns a ``Graph`` like lowering a spec does: every node's arguments bound and
validated by the op registry (``bind_args``), its shape, parameters and MACs inferred as it is made.
Nested functional models become ``block`` scopes of their name, nested Sequentials ``sequential``
scopes. Where each node came from goes in ``node.meta``: ``layer`` (the Keras name), ``class``,
``config`` (its path in the config, ``layers[12]``), ``explicit`` (a name a person chose, not one
Keras generated like ``conv2d_12``) and ``submodel`` (the nested model it sits in). An error in the
config is one message located at that path (``model.keras: layers[12].config.filters``).

Everything Keras-specific stays here: which config keys mean what, the activations folded into
layers, ``x + y`` as an ``add``, MobileNetV3's hard sigmoid written as Keras ops (``fuse``). Nothing
after the reader knows Keras.

Nothing is dropped silently. Every config key of a layer is either read into an argument, or equal
to the value cnndsl's builder gives (Keras's default, from ``SIGNATURES``); anything else -- a
constraint, an activity regularizer, a mixed-precision policy, a Lambda, a custom class -- is
collected and reported in one error naming each layer and its class. A layer (or a nested model)
called more than once is one node per call, each later one sharing the first's layer (``shares``,
named ``NAME@k`` as a spec's shared layers are). A frozen layer
(``trainable=False``) becomes a ``frozen`` node (``trainable=false`` in a written spec); a
``Constant`` initializer holding an array becomes fixed weights (``kernel_init=[...]``).
"""
from __future__ import annotations

import json
import math
import re

from ..errors import CnnError, ConfigSpan, Source
from ..ir import LAYER_NAME, Graph, Node, Scope
from ..ops import REGISTRY
from ..ops.schema import ACTIVATIONS, SPATIAL_TYPES, Initializer, as_rank, bind_args, check_made, convert
from ..shapes import infer_node
from .keras import SIGNATURES

MAX_CONFIG = 64 * 1024 * 1024   # config.json of a .keras file; the largest zoo model's is ~2 MB
MAX_TOKENS = 8_000_000          # JSON values (counted by `{`, `[` and `,`) before parsing: bounds memory
MAX_JSON_DEPTH = 200            # nesting of the config JSON; Keras writes about 12


class Unsupported(Exception):
    """A layer (or one of its settings) with no cnndsl form; the reader collects these."""


class InvalidValue(Exception):
    """An initializer or regularizer whose arguments Keras's own constraints refuse (a negative
    ``stddev``): an error at the layer's config, not a missing form."""

    def __init__(self, config: dict, message: str):
        super().__init__(message)
        self.config = config     # the serialized initializer, as the layer's config holds it


# --- reading a .keras file or a model -----------------------------------------------------------------

def read_keras_file(path: str) -> dict:
    """The model config of a ``.keras`` file (a zip holding ``config.json``), without Keras; bounded in
    size (``MAX_CONFIG``), values (``MAX_TOKENS``) and nesting (``MAX_JSON_DEPTH``)."""
    from ..files import read_zip_member
    data = read_zip_member(path, "config.json", MAX_CONFIG)
    return parse_config(data, path)


def parse_config(data: bytes, path: str) -> dict:
    """config.json's bytes -> the config dict; one located error for anything that is not one."""
    def fail(why, hint=None):
        return CnnError("value", f"the config {why}", ConfigSpan(Source(path, ""), 0, 0, 0, 0, where="config.json"),
                        hint=hint)

    tokens = data.count(b"{") + data.count(b"[") + data.count(b",")
    if tokens > MAX_TOKENS:
        raise fail(f"holds over {MAX_TOKENS:,} JSON values ({tokens:,}); a Keras model's config holds far fewer")
    depth = _json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise fail(f"nests {depth:,} levels deep, over the limit of {MAX_JSON_DEPTH}")
    try:
        config = json.loads(data)
    except UnicodeDecodeError as e:
        raise fail(f"is not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise fail(f"is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except (ValueError, RecursionError) as e:
        raise fail(f"is not valid JSON ({type(e).__name__})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise fail("holds no Keras model (no top-level class_name)")
    return config


def _json_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text (brackets inside strings counted too: an
    upper bound, which is what a limit needs). Runs in C: the running depth is a cumulative sum."""
    opens = data.count(b"[") + data.count(b"{")
    if opens <= MAX_JSON_DEPTH:
        return opens
    table = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")
    kept = data.translate(table, delete=bytes(c for c in range(256) if c not in b"[{]}"))
    # depth after each bracket: +1 for an opener, -1 for a closer; its maximum, by runs of openers
    best = depth = 0
    for run in re.finditer(rb"\x01+|\x02+", kept):
        n = run.end() - run.start()
        depth += n if kept[run.start()] == 1 else -n
        best = max(best, depth)
        if best > MAX_JSON_DEPTH:
            break
    return best


def model_config(model) -> dict:
    """The config of an in-memory ``keras.Model``: the dict ``model.save`` writes as config.json."""
    import keras
    if not isinstance(model, keras.Model):
        raise CnnError("usage", f"expected a keras.Model, got {type(model).__name__}")
    try:
        return json.loads(model.to_json())   # what config.json holds: lists, not tuples
    except Exception as e:  # a subclassed model without get_config, a custom layer that can't serialize
        raise CnnError("unsupported", f"model `{model.name}` ({type(model).__name__}) can't be read: Keras can't "
                                      f"serialize it ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})",
                       hint="cnndsl reads functional and Sequential models") from None


def read_config(config: dict, source: str = "model", limits=None) -> Graph:
    """The IR of a serialized functional or Sequential model; ``CnnError`` listing what it can't express.

    ``limits`` (an object with ``max_nodes`` and ``max_steps``, such as ``lower.Limits``) bounds the
    layers read; None: only ``MAX_NODES``."""
    reader = _Reader(source, limits)
    try:
        graph = reader.model(config)
    except RecursionError:
        raise CnnError("limit", f"{source}: the model nests sub-models too deeply") from None
    if reader.problems:
        shown = reader.problems[:40]
        more = len(reader.problems) - len(shown)
        lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  - ... and {more} more" if more else "")
        raise CnnError("unsupported", f"{len(reader.problems)} layer(s) have no cnndsl form, so the model "
                                      f"can't be read without dropping them:\n{lines}",
                       span=ConfigSpan(Source(source, ""), 0, 0, 0, 0, where=reader.first_problem),
                       hint="cnndsl reads Keras's built-in layers (and its own); a Lambda or a custom class has no "
                            "spec form")
    fuse(graph)
    return graph


# --- Keras ops that are one cnndsl op ------------------------------------------------------------------

def fuse(graph: Graph) -> None:
    """Keras ops around a layer that form one cnndsl op: MobileNetV3's hard sigmoid,
    ``ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``, is ``hard_sigmoid(layer=true)``. The ops on a tensor and a
    constant are nodes of the reader's own (``_const_add``, ``_const_multiply``) until fused here."""
    consts = [n for n in graph.nodes if n.op.startswith("_const_")]
    if not consts:
        return
    users = {}
    for n in graph.nodes:
        for slot, i in enumerate(n.inputs):
            users.setdefault(id(i), []).append((n, slot))
    outputs = {id(n) for n in graph.outputs.values()}
    dead = set()
    for node in consts:
        if node.op != "_const_add" or node.args["value"] != 3.0:
            continue
        relu = [u for u, _ in users.get(id(node), ())]
        if len(relu) != 1 or relu[0].op != "relu6" or not relu[0].args.get("layer") or relu[0].shares is not None:
            continue
        mul = [u for u, _ in users.get(id(relu[0]), ())]
        if len(mul) != 1 or mul[0].op != "_const_multiply" or abs(mul[0].args["value"] - 1.0 / 6.0) > 1e-12 \
                or id(relu[0]) in outputs:
            continue
        relu, mul = relu[0], mul[0]
        relu.op, relu.inputs = "hard_sigmoid", node.inputs
        relu.args = bind_args(REGISTRY["hard_sigmoid"], [], {"layer": True}, {})
        infer_node(relu)
        for u, slot in users.get(id(mul), ()):
            u.inputs = u.inputs[:slot] + (relu,) + u.inputs[slot + 1:]
        for k, out in list(graph.outputs.items()):
            if out is mul:
                graph.outputs[k] = relu
        dead.update((id(node), id(mul)))
    graph.nodes = [n for n in graph.nodes if id(n) not in dead]
    left = [n for n in graph.nodes if n.op.startswith("_const_")]
    if left:
        what = ", ".join(f"`{n.name}` (x {'+' if n.op == '_const_add' else '*'} {n.args['value']})" for n in left[:5])
        raise CnnError("unsupported", f"{len(left)} Keras op(s) on a tensor and a constant have no cnndsl op: {what}",
                       hint="cnndsl reads x + 3.0 and x * (1 / 6) only around a ReLU(6.0), as a hard sigmoid")


def _split_of(node):
    from ..ops.tensor import split_sizes
    return split_sizes(node.inputs[0].shape, node.args)


# --- values -------------------------------------------------------------------------------------------

def _pair(v):
    """[a, a] -> a (any number of equal sizes, one per spatial dimension); [a, b] stays a list."""
    if isinstance(v, (list, tuple)) and v and all(x == v[0] for x in v):
        return v[0]
    return list(v) if isinstance(v, (list, tuple)) else v


def _snake(name: str) -> str:
    """Keras's ``to_snake_case`` (keras/src/utils/naming.py), for initializer class names and auto names."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


# Initializer and regularizer classes cnndsl knows by name (no arguments), and those it writes as calls.
_INIT_NAMES = {"Zeros": "zeros", "Ones": "ones", "GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal",
               "HeUniform": "he_uniform", "HeNormal": "he_normal", "LecunUniform": "lecun_uniform",
               "LecunNormal": "lecun_normal", "Orthogonal": "orthogonal", "Identity": "identity",
               "RandomNormal": "random_normal", "RandomUniform": "random_uniform",
               "TruncatedNormal": "truncated_normal", "VarianceScaling": "variance_scaling"}
_INIT_CALLS = {"VarianceScaling": ("scale", "mode", "distribution", "seed"), "Constant": ("value",),
               "RandomNormal": ("mean", "stddev", "seed"), "RandomUniform": ("minval", "maxval", "seed"),
               "TruncatedNormal": ("mean", "stddev", "seed"), "L1": ("l1",), "L2": ("l2",), "L1L2": ("l1", "l2")}
# What Keras's serialized initializers carry besides their arguments (always None in what Keras writes).
_INIT_EXTRA = ("input_axes", "output_axes")
_DEFAULT_CALL_ARGS = {"VarianceScaling": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
                                          "seed": None},
                      "RandomNormal": {"mean": 0.0, "stddev": 0.05, "seed": None},
                      "RandomUniform": {"minval": -0.05, "maxval": 0.05, "seed": None},
                      "TruncatedNormal": {"mean": 0.0, "stddev": 0.05, "seed": None},
                      "L1L2": {"l1": 0.0, "l2": 0.0}}


def _initializer(v, kind: str):
    """A serialized initializer (or regularizer) -> cnndsl's value, or ``Unsupported``."""
    if v is None or isinstance(v, str):
        return v
    if not isinstance(v, dict) or not isinstance(v.get("class_name"), str):
        raise Unsupported(f"an initializer cnndsl can't read ({str(v)[:60]})")
    cls, cfg = v["class_name"], dict(v.get("config") or {})
    if cls == "Constant" and set(cfg) == {"value"}:
        value = cfg["value"]
        if isinstance(value, dict) and value.get("class_name") == "__numpy__":   # a numpy array, serialised
            value = (value.get("config") or {}).get("value")
        if isinstance(value, list):
            return value             # fixed weights: cnndsl's kernel_init=[...] (checked against the kernel)
    for extra in _INIT_EXTRA:
        if cfg.get(extra) is None:
            cfg.pop(extra, None)
    if cls in _INIT_CALLS:
        names = _INIT_CALLS[cls]
        if set(cfg) - set(names):
            raise Unsupported(f"{cls} with {', '.join(sorted(set(cfg) - set(names)))}")
        defaults = _DEFAULT_CALL_ARGS.get(cls, {})
        if cls in _INIT_NAMES and all(cfg.get(k, defaults.get(k)) == defaults.get(k) for k in names):
            return _INIT_NAMES[cls]
        args = tuple((k, cfg[k]) for k in names if k in cfg and not (k in defaults and cfg[k] == defaults[k]))
        for _, x in args:
            if not (x is None or isinstance(x, (int, float, str))) or isinstance(x, bool):
                raise Unsupported(f"{cls} with a non-number argument")
        made = Initializer("reg" if cls in ("L1", "L2", "L1L2") else "init", cls, args)
        try:
            check_made(made)
        except TypeError as e:
            raise InvalidValue(v, str(e)) from None
        return made
    if cls in _INIT_NAMES:
        if any(x is not None for x in cfg.values()):
            raise Unsupported(f"{cls} with {', '.join(f'{k}={x}' for k, x in cfg.items())}")
        return _INIT_NAMES[cls]
    raise Unsupported(f"the {kind} `{cls}`")


def _same(a, b) -> bool:
    """Config values equal as Keras means them: tuples and lists alike, an initializer by its name."""
    if isinstance(a, dict) and "class_name" in a or isinstance(b, dict) and "class_name" in b:
        try:
            return _initializer(a, "initializer") == _initializer(b, "initializer")
        except (Unsupported, InvalidValue):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, str) and isinstance(b, str):
        return _snake(a) == _snake(b) or a.lower() == b.lower()
    return a == b


def _activation(v):
    if v in (None, "linear"):
        return None
    if isinstance(v, str) and v in ACTIVATIONS:
        return v
    raise Unsupported(f"activation {v!r}")


# --- the table: Keras class -> (op, args) ----------------------------------------------------------------

def _conv(c):
    return "conv", dict(filters=c["filters"], kernel=_pair(c["kernel_size"]), stride=_pair(c["strides"]),
                        padding=c["padding"], dilation=_pair(c["dilation_rate"]), groups=c.get("groups", 1),
                        bias=c["use_bias"], activation=_activation(c["activation"]),
                        kernel_init=_initializer(c["kernel_initializer"], "initializer"),
                        bias_init=_initializer(c["bias_initializer"], "initializer"),
                        kernel_reg=_initializer(c["kernel_regularizer"], "regularizer"))


def _conv_transpose(c):
    op, a = _conv({**c, "groups": 1})
    a.pop("groups")
    op_ = c.get("output_padding")
    return "conv_transpose", {**a, "output_padding": None if op_ is None else _pair(op_)}


def _sepconv(c):
    if not _same(c["depthwise_initializer"], c["pointwise_initializer"]):
        raise Unsupported("different depthwise and pointwise initializers")
    if not _same(c["depthwise_regularizer"], c["pointwise_regularizer"]):
        raise Unsupported("different depthwise and pointwise regularizers")
    return "sepconv", dict(filters=c["filters"], kernel=_pair(c["kernel_size"]), stride=_pair(c["strides"]),
                           padding=c["padding"], dilation=_pair(c["dilation_rate"]),
                           depth_multiplier=c["depth_multiplier"], bias=c["use_bias"],
                           activation=_activation(c["activation"]),
                           kernel_init=_initializer(c["depthwise_initializer"], "initializer"),
                           bias_init=_initializer(c["bias_initializer"], "initializer"),
                           kernel_reg=_initializer(c["depthwise_regularizer"], "regularizer"))


def _dwconv(c):
    return "dwconv", dict(kernel=_pair(c["kernel_size"]), stride=_pair(c["strides"]), padding=c["padding"],
                          dilation=_pair(c["dilation_rate"]), depth_multiplier=c["depth_multiplier"],
                          bias=c["use_bias"], activation=_activation(c["activation"]),
                          kernel_init=_initializer(c["depthwise_initializer"], "initializer"),
                          bias_init=_initializer(c["bias_initializer"], "initializer"),
                          kernel_reg=_initializer(c["depthwise_regularizer"], "regularizer"))


def _pool(op):
    def read(c):
        pool = _pair(c["pool_size"])
        stride = _pair(c["strides"]) if c.get("strides") is not None else None
        return op, dict(pool=pool, stride=None if stride == pool else stride, padding=c["padding"])
    return read


def _torch_pool(c):
    pad = _pair(c["padding"])
    return ("maxpool" if c["mode"] == "max" else "avgpool"), dict(
        pool=_pair(c["pool_size"]), stride=_pair(c["strides"]), padding="valid" if pad == 0 and not c.get("ceil_mode")
        else pad, ceil_mode=bool(c.get("ceil_mode")),
        **({"count_include_pad": False} if c["mode"] == "avg" and c.get("count_include_pad") is False else {}))


def _axis(v):
    return v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else (list(v) if isinstance(v, (list, tuple)) else v)


def _relu(c):
    mv, ns, th = c.get("max_value"), c.get("negative_slope") or 0.0, c.get("threshold") or 0.0
    if mv is not None and float(mv) == 6.0 and not ns and not th:
        return "relu6", dict(layer=True)
    return "relu", dict(max_value=mv, negative_slope=ns, threshold=th, layer=True)


_ACTIVATION_OPS = {"relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "softmax": "softmax", "tanh": "tanh",
                   "swish": "swish", "silu": "silu", "gelu": "gelu", "hard_swish": "hard_swish",
                   "hard_sigmoid": "hard_sigmoid"}


def _activation_layer(c):
    fn = c["activation"]
    if not isinstance(fn, str) or fn not in ACTIVATIONS:
        raise Unsupported(f"activation {fn!r}")
    return (_ACTIVATION_OPS[fn], {}) if fn in _ACTIVATION_OPS else ("activation", dict(fn=fn))


def _zeropad(c, key="padding"):
    p = c[key]
    if isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, (list, tuple)) for x in p):
        (t, b), (l, r) = p
        if t == b and l == r:
            return t if t == l else [t, l]
        return [[t, b], [l, r]]
    return _pair(p)


def _attention_output(v):
    """MultiHeadAttention's output_shape: cnndsl states the channels only."""
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise Unsupported(f"output_shape {list(v)} (cnndsl's attention gives the channels only)")
        return v[0]
    return v


def _pads_1d(key):
    """ZeroPadding1D's and Cropping1D's one (before, after) pair: `2`, or `[[2, 0]]`."""
    def read(c):
        p = c[key]
        p = (p, p) if isinstance(p, int) else tuple(p)
        return ("zeropad" if key == "padding" else "crop"), {key: p[0] if p[0] == p[1] else [list(p)]}
    return read


def _pads_3d(c, key="padding"):
    p = c[key]
    if isinstance(p, int):
        return p
    pairs = [(x, x) if isinstance(x, int) else tuple(x) for x in p]
    if all(a == b for a, b in pairs):
        return _pair([a for a, _ in pairs])
    return [list(x) for x in pairs]


def _split_sizes(c):
    return list(c["sizes"])


def _batch_norm_axis(c, rank):
    if c["axis"] not in (-1, [-1]) and not (rank is not None and c["axis"] in (rank - 1, [rank - 1])):
        raise Unsupported(f"BatchNormalization over axis {c['axis']} (cnndsl normalises the last axis)")


# class -> (signature key for the defaults of the keys not read, reader, keys read)
READERS = {
    "Conv2D": (("layers", "Conv2D"), _conv),
    "Conv2DTranspose": (("layers", "Conv2DTranspose"), _conv_transpose),
    "SeparableConv2D": (("layers", "SeparableConv2D"), _sepconv),
    "DepthwiseConv2D": (("layers", "DepthwiseConv2D"), _dwconv),
    "MaxPooling2D": (("layers", "MaxPooling2D"), _pool("maxpool")),
    "AveragePooling2D": (("layers", "AveragePooling2D"), _pool("avgpool")),
    "GlobalAveragePooling2D": (("layers", "GlobalAveragePooling2D"),
                               lambda c: ("global_avgpool", dict(keepdims=c["keepdims"]))),
    "GlobalMaxPooling2D": (("layers", "GlobalMaxPooling2D"),
                           lambda c: ("global_maxpool", dict(keepdims=c["keepdims"]))),
    "Dense": (("layers", "Dense"), lambda c: ("dense", dict(
        units=c["units"], activation=_activation(c["activation"]), bias=c["use_bias"],
        kernel_init=_initializer(c["kernel_initializer"], "initializer"),
        bias_init=_initializer(c["bias_initializer"], "initializer"),
        kernel_reg=_initializer(c["kernel_regularizer"], "regularizer")))),
    "BatchNormalization": (("layers", "BatchNormalization"), lambda c: ("bn", dict(
        epsilon=c["epsilon"], momentum=c["momentum"], center=c["center"], scale=c["scale"]))),
    "LayerNormalization": (("layers", "LayerNormalization"), lambda c: ("layernorm", dict(
        axis=_axis(c["axis"]), epsilon=c["epsilon"], center=c["center"], scale=c["scale"]))),
    "Normalization": (("layers", "Normalization"), lambda c: ("normalize", dict(
        mean=c.get("mean"), variance=c.get("variance"), axis=_axis(c["axis"])))),
    "Activation": (("layers", "Activation"), _activation_layer),
    "ReLU": (("layers", "ReLU"), _relu),
    "LeakyReLU": (("layers", "LeakyReLU"), lambda c: ("leaky_relu", dict(slope=c["negative_slope"]))),
    "ELU": (("layers", "ELU"), lambda c: ("elu", dict(alpha=c["alpha"]))),
    "PReLU": (("layers", "PReLU"), lambda c: ("prelu", dict(
        alpha_init=_initializer(c["alpha_initializer"], "initializer"),
        shared_axes=list(c["shared_axes"]) if c.get("shared_axes") else None))),
    "Flatten": (("layers", "Flatten"), lambda c: ("flatten", {})),
    "Reshape": (("layers", "Reshape"), lambda c: ("reshape", dict(shape=list(c["target_shape"])))),
    "Dropout": (("layers", "Dropout"), lambda c: ("dropout", dict(
        rate=c["rate"], noise_shape=list(c["noise_shape"]) if c.get("noise_shape") is not None else None))),
    "ZeroPadding2D": (("layers", "ZeroPadding2D"), lambda c: ("zeropad", dict(padding=_zeropad(c)))),
    "Cropping2D": (("layers", "Cropping2D"), lambda c: ("crop", dict(cropping=_zeropad(c, "cropping")))),
    "UpSampling2D": (("layers", "UpSampling2D"), lambda c: ("upsample", dict(
        size=_pair(c["size"]), interpolation=c["interpolation"]))),
    "Rescaling": (("layers", "Rescaling"), lambda c: ("rescaling", dict(scale=c["scale"], offset=c["offset"]))),
    "Concatenate": (("layers", "Concatenate"), lambda c: ("concat", dict(axis=c["axis"]))),
    "Add": (("layers", "Add"), lambda c: ("add", {})),
    "Multiply": (("layers", "Multiply"), lambda c: ("multiply", {})),
    "Permute": (("layers", "Permute"), lambda c: ("permute", dict(dims=list(c["dims"])))),
    "Resizing": (("layers", "Resizing"), lambda c: ("resize", dict(
        size=[c["height"], c["width"]], interpolation=c["interpolation"]))),
    # cnndsl's own layers, and keras.applications' (ConvNeXt's, InceptionResNetV2's) of the same name
    "LRN": (("cnndsl", "LRN"), lambda c: ("lrn", dict(radius=c["radius"], alpha=c["alpha"], beta=c["beta"],
                                                     bias=c["bias"]))),
    "LayerScale": (("cnndsl", "LayerScale"), lambda c: ("layerscale", dict(init=c["init_values"]))),
    "StochasticDepth": (("cnndsl", "StochasticDepth"), lambda c: ("stochastic_depth", dict(rate=c["drop_path_rate"]))),
    "CustomScaleLayer": (("cnndsl", "CustomScaleLayer"), lambda c: ("scaled_add", dict(scale=c["scale"]))),
    "Split": (("cnndsl", "Split"), lambda c: ("split", dict(parts=_split_sizes(c), axis=c["axis"]))),
    "Slice": (("cnndsl", "Slice"), lambda c: ("slice", dict(start=c["start"], stop=c["stop"], axis=c["axis"]))),
    "ChannelShuffle": (("cnndsl", "ChannelShuffle"), lambda c: ("channel_shuffle", dict(groups=c["groups"]))),
    "TorchPool2D": (("cnndsl", "TorchPool"), _torch_pool),
    "TorchPool": (("cnndsl", "TorchPool"), _torch_pool),
    # 1-D and 3-D layers: the same ops, their rank read off the input
    **{f"Conv{d}D": (("layers", f"Conv{d}D"), _conv) for d in (1, 3)},
    **{f"Conv{d}DTranspose": (("layers", f"Conv{d}DTranspose"), _conv_transpose) for d in (1, 3)},
    "SeparableConv1D": (("layers", "SeparableConv1D"), _sepconv),
    "DepthwiseConv1D": (("layers", "DepthwiseConv1D"), _dwconv),
    **{f"MaxPooling{d}D": (("layers", f"MaxPooling{d}D"), _pool("maxpool")) for d in (1, 3)},
    **{f"AveragePooling{d}D": (("layers", f"AveragePooling{d}D"), _pool("avgpool")) for d in (1, 3)},
    **{f"GlobalAveragePooling{d}D": (("layers", f"GlobalAveragePooling{d}D"),
                                     lambda c: ("global_avgpool", dict(keepdims=c["keepdims"]))) for d in (1, 3)},
    **{f"GlobalMaxPooling{d}D": (("layers", f"GlobalMaxPooling{d}D"),
                                 lambda c: ("global_maxpool", dict(keepdims=c["keepdims"]))) for d in (1, 3)},
    "ZeroPadding1D": (("layers", "ZeroPadding1D"), _pads_1d("padding")),
    "Cropping1D": (("layers", "Cropping1D"), _pads_1d("cropping")),
    "ZeroPadding3D": (("layers", "ZeroPadding3D"), lambda c: ("zeropad", dict(padding=_pads_3d(c)))),
    "Cropping3D": (("layers", "Cropping3D"), lambda c: ("crop", dict(cropping=_pads_3d(c, "cropping")))),
    "UpSampling1D": (("layers", "UpSampling1D"), lambda c: ("upsample", dict(size=c["size"]))),
    "UpSampling3D": (("layers", "UpSampling3D"), lambda c: ("upsample", dict(size=_pair(c["size"])))),
    # tensor math, attention and learned tensors
    "Softmax": (("layers", "Softmax"), lambda c: ("softmax", dict(axis=_axis(c["axis"])))),
    **{cls: (("layers", cls), (lambda op: lambda c: (op, {}))(cls.lower())) for cls in
       ("Subtract", "Maximum", "Minimum", "Average")},
    "GroupNormalization": (("layers", "GroupNormalization"), lambda c: ("groupnorm", dict(
        groups=c["groups"], epsilon=c["epsilon"], center=c["center"], scale=c["scale"]))),
    "AdaptivePool": (("cnndsl", "AdaptivePool"), lambda c: (
        "adaptive_avgpool" if c["mode"] == "avg" else "adaptive_maxpool", dict(size=_pair(c["size"])))),
    "Divide": (("cnndsl", "Divide"), lambda c: ("divide", {})),
    "Stack": (("cnndsl", "Stack"), lambda c: ("stack", dict(axis=c["axis"]))),
    "MatMul": (("cnndsl", "MatMul"), lambda c: ("matmul", dict(transpose_b=c["transpose_b"]))),
    "WeightedAdd": (("cnndsl", "WeightedAdd"), lambda c: ("weighted_add", dict(normalize=c["normalize"]))),
    "Elementwise": (("cnndsl", "Elementwise"), lambda c: (
        (c["function"], dict(p=c["exponent"])) if c["function"] == "power" else (c["function"], {}))),
    "Reduce": (("cnndsl", "Reduce"), lambda c: (f"reduce_{c['mode']}", dict(axis=_axis(c["axis"]),
                                                                          keepdims=c["keepdims"]))),
    "MultiHeadAttention": (("layers", "MultiHeadAttention"), lambda c: ("attention", dict(
        heads=c["num_heads"], key_dim=c["key_dim"], dropout=c["dropout"],
        value_dim=None if c["value_dim"] == c["key_dim"] else c["value_dim"],
        use_bias=c["use_bias"], output_shape=_attention_output(c["output_shape"]),
        axes=None if c.get("attention_axes") is None else _axis(c["attention_axes"])))),
    "ClassToken": (("cnndsl", "ClassToken"), lambda c: ("class_token", {})),
    "PositionEmbedding": (("cnndsl", "PositionEmbedding"), lambda c: ("position_embedding", {})),
    "GRN": (("cnndsl", "GRN"), lambda c: ("grn", dict(epsilon=c["epsilon"]))),
}

# The modules a class of READERS may come from: Keras's layers, cnndsl's, keras.applications' own classes.
_MODULES = ("keras.layers", "keras.src.layers", "cnndsl")
_APP_CLASSES = {("keras.src.applications.convnext", "LayerScale"), ("keras.src.applications.convnext", "StochasticDepth"),
                ("keras.src.applications.inception_resnet_v2", "CustomScaleLayer")}
# Keys every layer config has, read elsewhere (name, trainable, dtype) or meaning nothing to the graph.
_COMMON = {"name", "trainable", "dtype", "autocast", "input_dim", "input_length"}
# Keys of the config a reader consumed (besides those of SIGNATURES it compares).
_READ = {"Conv2D": {"data_format"}, "Conv2DTranspose": {"data_format"}, "SeparableConv2D": {"data_format"},
         "DepthwiseConv2D": {"data_format"}, "MaxPooling2D": {"data_format"}, "AveragePooling2D": {"data_format"},
         "GlobalAveragePooling2D": {"data_format"}, "GlobalMaxPooling2D": {"data_format"}, "Flatten": {"data_format"},
         "ZeroPadding2D": {"data_format"}, "Cropping2D": {"data_format"}, "UpSampling2D": {"data_format"},
         "Resizing": {"data_format"}, "BatchNormalization": {"axis"}, "LayerScale": {"projection_dim"},
         "Dense": {"quantization_config"}, "LayerNormalization": {"rms_scaling"},
         **{f"{cls}{d}D": {"data_format"} for d in (1, 3) for cls in (
             "Conv", "MaxPooling", "AveragePooling", "GlobalAveragePooling", "GlobalMaxPooling", "ZeroPadding",
             "Cropping", "UpSampling")},
         "Conv1DTranspose": {"data_format"}, "Conv3DTranspose": {"data_format"}, "SeparableConv1D": {"data_format"},
         "DepthwiseConv1D": {"data_format"}}
# Argument names cnndsl's op uses for a Keras config key (to tell which keys a reader consumed).
_KEY_ARGS = {"filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "use_bias", "activation",
             "kernel_initializer", "bias_initializer", "kernel_regularizer", "depthwise_initializer",
             "pointwise_initializer", "depthwise_regularizer", "pointwise_regularizer", "depth_multiplier",
             "output_padding", "pool_size", "keepdims", "units", "epsilon", "momentum", "center", "scale", "axis",
             "mean", "variance", "max_value", "negative_slope", "threshold", "alpha", "alpha_initializer",
             "shared_axes", "target_shape", "rate", "noise_shape", "cropping", "size", "interpolation", "offset",
             "dims", "height", "width", "radius", "beta", "bias", "init_values", "drop_path_rate", "sizes", "start",
             "stop", "mode", "ceil_mode", "count_include_pad", "function", "exponent", "normalize", "transpose_b",
             "num_heads", "key_dim", "value_dim", "dropout", "output_shape", "attention_axes"}


def _generated(name: str, cls: str) -> bool:
    """Whether ``name`` is one Keras made up (``conv2d_12``, ``re_lu``), not one a person chose."""
    base = _snake(cls)
    return re.fullmatch(re.escape(base) + r"(_\d+)?", name) is not None


# --- the reader ----------------------------------------------------------------------------------------

class _Reader:
    MAX_NODES = 2_000_000

    def __init__(self, source, limits=None):
        self.source = source
        self.problems = []
        self.graph = Graph("model")
        self.scopes = {}          # (kind, name) -> the Scope of a nested model
        self.where = "config"     # the config path of the layer being read
        self.max_nodes = getattr(limits, "max_nodes", self.MAX_NODES)
        self.max_steps = getattr(limits, "max_steps", None)
        self.steps = 0

    def problem(self, name, cls, why):
        if not self.problems:
            self.first_problem = self.where
        self.problems.append(f"{self.where} `{name}` ({cls}): {why}")

    def fail(self, where, why, kind="value", hint=None):
        """A structural error in the config, located at its path."""
        return CnnError(kind, why, ConfigSpan(Source(self.source, ""), 0, 0, 0, 0, where=where), hint=hint)

    def tick(self):
        """One layer read: the limits of specs (``--max-nodes``, ``--max-steps``) hold for models too."""
        self.steps += 1
        if len(self.graph.nodes) >= self.max_nodes:
            raise self.fail(self.where, f"the model has more than {self.max_nodes:,} layers (--max-nodes)", "limit")
        if self.max_steps is not None and self.steps > self.max_steps:
            raise self.fail(self.where, f"reading the model takes more than {self.max_steps:,} steps, one a layer "
                                        "(--max-steps)", "limit", hint="raise --max-steps if this model is intended")

    def model(self, config) -> Graph:
        cls = config.get("class_name")
        cfg = config.get("config") or {}
        if not isinstance(cfg, dict):
            raise self.fail("config", "the model's config is not an object")
        name = cfg.get("name") or "model"
        if not isinstance(name, str):
            raise self.fail("config.name", "the model's name is not a string")
        if cls == "Sequential":
            inputs, outputs = self.sequential(cfg, None, name, "config")
        elif cls in ("Functional", "Model"):
            inputs, outputs = self.functional(cfg)
        else:
            raise CnnError("unsupported", f"{self.source}: `{name}` is a {cls}, not a functional or Sequential model",
                           hint="a subclassed model has no graph cnndsl can read; build it with the functional API")
        if not inputs:
            raise self.fail("config", "the model has no input layer")
        graph = self.graph
        graph.name, graph.span = name, ConfigSpan(Source(self.source, ""), 0, 0, 0, 0, where="config")
        for k, node in enumerate(outputs):
            if node is None:
                continue           # a refused layer's output: reported with the problems
            graph.outputs[node.name if node.name not in graph.outputs else f"{node.name}_{k}"] = node
        return graph

    # -- functional --
    def functional(self, cfg):
        """A functional model's inputs and outputs, its layers read into ``self.graph``."""
        local, inputs = {}, []
        entries = cfg.get("layers") or []
        if not isinstance(entries, list):
            raise self.fail("config.layers", "the model's layers are not a list")
        for k, lc in enumerate(entries):
            if isinstance(lc, dict) and lc.get("class_name") == "InputLayer":
                self.where = f"layers[{k}]"
                layer = self.input_layer(lc)
                local[lc.get("name") or layer.name] = {0: [layer]}
                inputs.append(layer)
        self.read_layers(entries, local, None, "layers")
        outputs = self.outputs(cfg, local, "config.output_layers")
        return inputs, outputs

    def outputs(self, cfg, local, where):
        refs = _tensor_list(cfg.get("output_layers"))
        if not refs:
            raise self.fail(where, "the model names no outputs")
        out = []
        for k, t in enumerate(refs):
            r = self.ref(t, local)
            if r is None and not self.problems:
                raise self.fail(f"{where}[{k}]", f"output `{_name(t[0])}` is no layer of the model"
                                if t[0] not in local else f"output `{t[0]}` has no output {t[2] if len(t) > 2 else 0}")
            out.append(r)
        return out

    def order(self, entries, local, path):
        """The calls ``(entry index, inbound node index)`` in a topological order (the model's own where
        it is one): a layer called twice (a shared layer) may be called again after layers that read its
        first call. A layer read before it is made is fine; an inbound layer that doesn't exist or a
        cycle is an error."""
        names = {}
        for k, lc in enumerate(entries):
            if not isinstance(lc, dict):
                raise self.fail(f"{path}[{k}]", "a layer entry is not an object")
            name = lc.get("name") or (lc.get("config") or {}).get("name") if isinstance(lc.get("config") or {}, dict) \
                else lc.get("name")
            if isinstance(name, str):
                if name in names and lc.get("class_name") != "InputLayer":
                    raise self.fail(f"{path}[{k}].name", f"two layers are named `{name}` ({path}[{names[name]}] "
                                                         f"and {path}[{k}])")
                names[name] = k
        calls, index = [], {}         # (k, n) per call; an input layer is one call
        for k, lc in enumerate(entries):
            nodes = lc.get("inbound_nodes") or []
            count = len(nodes) if isinstance(nodes, list) and lc.get("class_name") != "InputLayer" else 0
            for n in range(max(count, 1)):
                index[(k, n)] = len(calls)
                calls.append((k, n))
        deps = []
        for k, n in calls:
            lc = entries[k]
            mine = set()
            nodes = lc.get("inbound_nodes") or []
            node = nodes[n] if isinstance(nodes, list) and n < len(nodes) and lc.get("class_name") != "InputLayer" \
                else None
            for t in _tensors_in(node):
                hist = _history(t)
                if hist is None:
                    continue
                src = hist[0]
                m = hist[1] if len(hist) > 1 and type(hist[1]) is int and hist[1] >= 0 else 0
                if src in names and names[src] != k:
                    if (names[src], m) not in index:
                        m = 0 if (names[src], 0) in index and entries[names[src]].get("class_name") == "InputLayer" \
                            else m
                    if (names[src], m) not in index:
                        raise self.fail(f"{path}[{k}].inbound_nodes[{n}]",
                                        f"layer `{_name(lc.get('name'))}` reads call {m} of `{_name(src)}`, which is "
                                        "called fewer times")
                    mine.add(index[(names[src], m)])
                elif src == lc.get("name") and src not in local:
                    if m < n and (k, m) in index:
                        mine.add(index[(k, m)])      # a shared layer applied to its own earlier output
                    else:
                        raise self.fail(f"{path}[{k}].inbound_nodes[{n}]", f"layer `{_name(src)}` reads its own "
                                                                            "output (a cycle)")
                elif src not in names and src not in local:
                    raise self.fail(f"{path}[{k}].inbound_nodes[{n}]",
                                    f"layer `{_name(lc.get('name'))}` reads `{_name(src)}`, which is no layer "
                                    "of the model")
            deps.append(mine)
        import heapq
        indeg = [len(d) for d in deps]
        users = [[] for _ in calls]
        for c, d in enumerate(deps):
            for j in d:
                users[j].append(c)
        ready = [c for c in range(len(calls)) if indeg[c] == 0]
        heapq.heapify(ready)
        out = []
        while ready:
            c = heapq.heappop(ready)
            out.append(calls[c])
            for u in users[c]:
                indeg[u] -= 1
                if indeg[u] == 0:
                    heapq.heappush(ready, u)
        if len(out) < len(calls):
            left = {c for c in range(len(calls)) if indeg[c] > 0}
            cycle = _a_cycle(left, deps)
            cycle = cycle[::-1]     # in the direction data flows, from the first layer of it in the config
            c = cycle.index(min(cycle))
            cycle = cycle[c:] + cycle[:c]
            names_in = " -> ".join(f"`{_name(entries[calls[c][0]].get('name'))}`" for c in cycle + cycle[:1])
            raise self.fail(f"{path}[{calls[cycle[0]][0]}]", f"the layers form a cycle: {names_in}")
        return out

    def read_layers(self, entries, local, block, path):
        """Each call of each layer of a functional model (input layers aside) in order; ``local`` maps a
        layer's name to its output refs per call, and a nested model's layers are read as a block of its
        name. A layer called more than once (a shared layer) gives one layer per call, each later one
        sharing the first's weights (``shares``)."""
        first = {}         # entry index -> the Layers its first call made
        for k, n in self.order(entries, local, path):
            lc = entries[k]
            self.where = f"{path}[{k}]"
            cls = lc.get("class_name")
            name = lc.get("name") or (lc.get("config") or {}).get("name")
            if cls == "InputLayer":
                continue
            nodes = lc.get("inbound_nodes") or []
            if not isinstance(nodes, list):
                raise self.fail(f"{self.where}.inbound_nodes", "inbound_nodes is not a list")
            if not nodes:
                continue
            self.tick()
            args, kwargs = self.inbound(nodes[n], local, name, cls)
            if args is None:
                if n == 0:
                    self.check_only(lc)   # its input was refused; still report its own problems
                continue
            if n > 0 and k not in first:
                continue                  # its first call was refused (and reported)
            made = len(self.graph.nodes)
            if cls in ("Functional", "Model", "Sequential") and "layers" in (lc.get("config") or {}):
                outs = self.nested(lc, args, name, cls, self.where, shared=len(nodes) > 1, first=n == 0)
            else:
                outs = self.layer(lc, args, kwargs, block)
            if outs is None:
                continue
            mine = [m for m in self.graph.nodes[made:] if m.op != "take"]
            if n == 0:
                first[k] = mine
            else:
                self.share(first[k], mine, n + 1, name, cls)
            local.setdefault(name, {})[n] = outs

    def share(self, firsts, again, k, name, cls):
        """The layers of a layer's (or nested model's) k-th call: each the first call's layer, applied again."""
        if len(firsts) != len(again) or any(a.op != f.op for a, f in zip(firsts, again)):
            self.problem(name, cls, f"its call {k} builds other layers than its first")
            return
        for f, a in zip(firsts, again):
            a.shares, a.name, a.frozen = f, f"{f.name}@{k}", f.frozen
            a.meta["explicit"] = f.meta.get("explicit", True)
            infer_node(a)          # its weights are the first call's: 0 params here, and they must fit
            for t in self.graph.nodes:
                if t.op == "take" and t.inputs[0] is a:
                    t.name = f"{a.name}[{t.args['index']}]"

    def nested(self, lc, args, name, cls, where, shared=False, first=True):
        """A model used as a layer: Sequential -> a sequential group; functional -> its layers, in a block.
        A model called more than once (``shared``) is a block at its first call, whatever its kind, and
        nothing at the later ones (their layers share the first call's)."""
        cfg = lc["config"]
        tensors = [a for a in args if isinstance(a, Node)]
        if len(tensors) != 1:
            self.problem(name, cls, "a nested model with several inputs")
            return None
        if cls == "Sequential":
            _, out = self.sequential(cfg, tensors[0], name, f"{where}.config",
                                     block=(name if first else None) if shared else False)
            return [out]
        ins = _tensor_list(cfg.get("input_layers"))
        if len(ins) != 1:
            self.problem(name, cls, "a nested model with several inputs")
            return None
        entries = cfg.get("layers") or []
        if not isinstance(entries, list):
            raise self.fail(f"{where}.config.layers", "the nested model's layers are not a list")
        local = {ins[0][0]: {0: [tensors[0]]}}
        self.read_layers(list(entries), local, name if first else None, f"{where}.config.layers")
        self.where = where
        outs = [self.ref(t, local) for t in _tensor_list(cfg.get("output_layers"))]
        if len(outs) != 1 or outs[0] is None:
            self.problem(name, cls, "a nested model with several outputs")
            return None
        return [outs[0]]

    def sequential(self, cfg, source, name, path, block=False):
        """A Sequential's layers chained; ``source`` is the tensor it is applied to (None: the model input).
        ``block``: False, a sequential group; else the block its layers sit in (None: none)."""
        inputs = []
        cur = source
        group = name if source is not None and block is False else None
        block = None if block is False else block
        entries = cfg.get("layers") or []
        if not isinstance(entries, list):
            raise self.fail(f"{path}.layers", "the Sequential's layers are not a list")
        for k, lc in enumerate(entries):
            self.where = f"{path}.layers[{k}]"
            if not isinstance(lc, dict):
                raise self.fail(self.where, "a layer entry is not an object")
            cls, c = lc.get("class_name"), lc.get("config") or {}
            if not isinstance(c, dict):
                raise self.fail(f"{self.where}.config", "a layer's config is not an object")
            lname = c.get("name") or lc.get("name") or _snake(cls if isinstance(cls, str) else "layer")
            if cls == "InputLayer":
                if source is None:
                    layer = self.input_layer(lc)
                    inputs.append(layer)
                    cur = layer
                continue
            self.tick()
            if cur is None:
                shape = cfg.get("build_input_shape") or (lc.get("build_config") or {}).get("input_shape")
                if not shape:
                    raise CnnError("unsupported", f"{self.source}: Sequential `{name}` was never built, so its input "
                                                  "shape is unknown", hint="build it (model.build(shape)) or give it "
                                                                           "a keras.Input")
                layer = self.input_layer({"class_name": "InputLayer", "name": "input_layer",
                                          "config": {"batch_shape": shape, "name": "input_layer"}})
                inputs.append(layer)
                cur = layer
            if cls in ("Functional", "Model", "Sequential") and "layers" in c:
                outs = self.nested({**lc, "name": lname}, [cur], lname, cls, self.where)
                if outs:
                    cur = outs[0]
                continue
            outs = self.layer({**lc, "name": lname}, [cur], {}, block, group=group)
            if outs is not None:
                cur = outs[0]
        if source is None:
            return inputs, [cur]
        return None, cur

    # -- layers --
    def input_layer(self, lc):
        c = lc.get("config") or {}
        shape = c.get("batch_shape") or c.get("batch_input_shape")
        name = c.get("name") or lc.get("name") or "input"
        if (not isinstance(shape, list) or len(shape) < 2 or not isinstance(name, str)
                or not all(d is None or (type(d) is int and 0 < d < 2 ** 31) for d in shape)):
            raise self.fail(f"{self.where}.config.batch_shape", f"input `{_short(name)}` has no shape cnndsl can read "
                                                                f"({_short(shape)})", "unsupported")
        for k, v in (("dtype", "float32"), ("sparse", False), ("ragged", False), ("optional", False)):
            if c.get(k, v) != v:
                self.problem(name, "InputLayer", f"{k}={c.get(k)!r}")
        if not _writable(name):
            self.problem(name, "InputLayer", "its name has characters other than ASCII letters, digits, _ and -")
        span = ConfigSpan(Source(self.source, ""), 0, 0, 0, 0, where=self.where)
        meta = {"layer": name, "class": "InputLayer", "config": self.where,
                "explicit": not _generated(name, "InputLayer")}
        if name in self.graph.inputs or any(n.name == name for n in self.graph.nodes):
            raise self.fail(f"{self.where}.config.name", f"two layers are named `{_name(name)}`")
        shape = tuple(shape)
        node = Node(name, "input", {"shape": shape}, (), shape, span, meta=meta)
        self.graph.nodes.append(node)
        self.graph.inputs[name] = node
        return node

    def inbound(self, node, local, name, cls):
        """The tensors (and constants) a layer is called with: the nodes of the tensors."""
        if not isinstance(node, dict):
            self.problem(name, cls, "an inbound node cnndsl can't read")
            return None, None
        kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if v is not None}
        kwargs.pop("training", None) if kwargs.get("training") in (False, True) else None
        args = []
        for a in node.get("args") or []:
            if isinstance(a, list) and a and all(_is_tensor(t) for t in a):
                args.extend(self.tensor(t, local) for t in a)
            elif _is_tensor(a):
                args.append(self.tensor(a, local))
            else:
                args.append(a)
        if any(a is None for a in args):
            return None, None   # an input layer the reader refused
        return args, kwargs

    def tensor(self, t, local):
        return self.ref(t, local)

    def ref(self, t, local):
        hist = t["config"]["keras_history"] if isinstance(t, dict) else t
        calls = local.get(hist[0])
        if calls is None:
            return None
        outs = calls.get(hist[1] if len(hist) > 1 and type(hist[1]) is int else 0)
        if outs is None:
            outs = calls.get(0) if len(calls) == 1 else None
        if outs is None:
            return None
        index = hist[2] if len(hist) > 2 else 0
        return outs[index] if index < len(outs) else None

    def layer(self, lc, args, kwargs, block, group=None):
        cls, c = lc.get("class_name"), dict(lc.get("config") or {})
        name = c.get("name") or lc.get("name") or _snake(cls or "layer")
        module = lc.get("module") or ""
        tensors = [a for a in args if isinstance(a, Node)]
        consts = [a for a in args if not isinstance(a, Node)]
        if module.startswith("keras.src.ops") or module.startswith("keras.ops"):
            return self.op_node(name, cls, tensors, consts, kwargs, block, group)
        known = cls in READERS and (module.split(".")[0] in ("keras", "cnndsl") and
                                    (module.startswith(_MODULES) or (module, cls) in _APP_CLASSES or
                                     (lc.get("registered_name") or "").startswith("cnndsl>")))
        if cls == "Lambda":
            self.problem(name, cls, "a Lambda layer (arbitrary Python code) has no cnndsl op")
            return None
        if not known:
            what = f"{module}.{cls}" if module else cls
            self.problem(name, cls, f"no cnndsl op for the class `{what}`")
            return None
        if consts or kwargs:
            self.problem(name, cls, "called with arguments besides its input tensor(s)")
            return None
        why = self.leftovers(cls, c, tensors)
        if why:
            self.problem(name, cls, why)
            return None
        try:
            op, a = READERS[cls][1](c)
            sig = SIGNATURES.get(READERS[cls][0], {})
            for arg, keys in _INIT_KEYS.items():   # Keras's own default initializer: "not given"
                key = next((k for k in keys if k in sig and k in c), None)
                if a.get(arg) is not None and key is not None and _same(c[key], sig[key]):
                    a[arg] = None
        except Unsupported as e:
            self.problem(name, cls, str(e))
            return None
        except InvalidValue as e:
            key = next((k for k, x in c.items() if x is e.config), None)
            raise self.fail(f"{self.where}.config" + (f".{key}" if key else ""), f"`{name}` ({cls}): {e}") from None
        except (KeyError, TypeError, ValueError, IndexError) as e:
            self.problem(name, cls, f"a config cnndsl can't read ({type(e).__name__}: {e})")
            return None
        return self.add(name, op, a, cls, tensors, block, group, frozen=c.get("trainable") is False)

    def check_only(self, lc):
        """The problems of a layer whose input could not be read (an earlier layer was refused)."""
        cls, c = lc.get("class_name"), dict(lc.get("config") or {})
        name = c.get("name") or lc.get("name") or _snake(cls or "layer")
        module = lc.get("module") or ""
        if module.startswith(("keras.src.ops", "keras.ops")) or cls in ("Functional", "Model", "Sequential"):
            return
        if not isinstance(name, str) or not _writable(name):
            self.problem(name, cls, "its name has characters other than ASCII letters, digits, _ and - (rename it; "
                                    "cnndsl keeps every name it reads)")
        elif cls == "Lambda":
            self.problem(name, cls, "a Lambda layer (arbitrary Python code) has no cnndsl op")
        elif cls not in READERS:
            self.problem(name, cls, f"no cnndsl op for the class `{module + '.' if module else ''}{cls}`")
        else:
            why = self.leftovers(cls, c, [])
            if why:
                self.problem(name, cls, why)

    def add(self, name, op, a, cls, tensors, block, group, explicit=None, frozen=False):
        """The node of a layer (and its parts, where it splits): its arguments bound and validated by the
        registry, its shape inferred now; the node's outputs, or None where the layer is a problem. An
        argument or shape the registry refuses is an error at the layer's config path."""
        if not isinstance(name, str) or not _writable(name):
            self.problem(name, cls, "its name has characters other than ASCII letters, digits, _ and - (rename it; "
                                    "cnndsl keeps every name it reads)")
            return None
        if op.startswith("_const_"):       # an op on a tensor and a constant, until `fuse`
            span = ConfigSpan(Source(self.source, ""), 0, 0, 0, 0, where=self.where)
            meta = {"layer": name, "class": cls, "config": self.where, "explicit": False}
            node = Node(name, op, dict(a), tuple(tensors), tensors[0].shape, span, self.scope(block, group, span),
                        meta=meta)
            self.graph.nodes.append(node)
            return [node]
        spec = REGISTRY[op]
        defaults = {arg.name: arg.default for arg in spec.args}
        args = {}
        for k, v in a.items():
            if k not in defaults or v is None:
                continue
            try:
                converted = convert(spec, k, v)
            except CnnError as e:
                self.problem(name, cls, f"{k}={_short(v)}: {e.message}")
                return None
            arg = next(x for x in spec.args if x.name == k)
            if not (_equal(converted, defaults[k]) or arg.type in SPATIAL_TYPES and isinstance(defaults[k], int)
                    and _equal(as_rank(arg, converted, 2), as_rank(arg, defaults[k], 2))):   # 1 and [1, 1]
                args[k] = v
        src, where = Source(self.source, ""), self.where
        span = ConfigSpan(src, 0, 0, 0, 0, where=where)
        scope = self.scope(block, group, span)
        meta = {"layer": name, "class": cls, "config": where,
                "explicit": (not _generated(name, cls)) if explicit is None else explicit}
        if block is not None:
            meta["submodel"] = block
        try:
            bound = bind_args(REGISTRY[op], [], args, {})
        except CnnError as e:
            e.span = ConfigSpan(src, 0, 0, 0, 0, where=f"{where}.config" + (f" ({e.arg})" if e.arg else ""))
            e.message = f"`{name}` ({cls}): {e.message}"
            raise
        node = Node(name, op, bound, tuple(tensors), None, span, scope, meta=meta, frozen=frozen)
        try:
            infer_node(node)
        except CnnError as e:
            e.message = f"`{name}` ({cls}): {e.message}"
            raise
        self.graph.nodes.append(node)
        if op != "split":
            return [node]
        sizes = _split_of(node)
        node.args["sizes"] = sizes
        outs = []
        for i in range(len(sizes)):
            take = Node(f"{name}[{i}]", "take", {"index": i, "sizes": sizes, "axis": node.args["axis"]}, (node,), None,
                        span, scope, meta={"config": where})
            infer_node(take)
            self.graph.nodes.append(take)
            outs.append(take)
        return outs

    def scope(self, block, group, span) -> tuple:
        """The scopes of a node of a nested model: its block, its sequential group."""
        scope = ()
        if block is not None:
            scope += (self.scopes.setdefault(("block", block), Scope(block, "block", span, block=block)),)
        if group is not None:
            scope += (self.scopes.setdefault(("seq", group), Scope(
                group, "sequential", span, block="sequential", args=(("name", group, repr(group)),))),)
        return scope

    def leftovers(self, cls, c, tensors):
        """Config keys neither read nor at the value cnndsl's builder gives: why the layer can't be read."""
        dtype = c.get("dtype")
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name")
        if dtype not in (None, "float32"):
            return f"dtype policy {dtype!r} (cnndsl builds float32 layers)"
        if "data_format" in _READ.get(cls, ()) and c.get("data_format", "channels_last") != "channels_last":
            return f"data_format={c.get('data_format')!r} (cnndsl is channels-last)"
        if cls == "BatchNormalization":
            shape = list(tensors[0].shape) if tensors else None
            rank = len(shape) if isinstance(shape, list) else None
            try:
                _batch_norm_axis(c, rank)
            except Unsupported as e:
                return str(e)
        if cls == "Dense" and c.get("quantization_config") is not None:
            return "a quantized Dense"
        if cls == "Dense" and c.get("lora_rank"):
            return "LoRA (lora_rank)"
        sig = SIGNATURES.get(READERS[cls][0], {})
        bad = []
        own = READERS[cls][0][0] == "cnndsl"
        for k, v in c.items():
            if k in _COMMON or k in _READ.get(cls, ()) or (k in _KEY_ARGS and (own or k in sig)):
                continue                                   # read by the reader
            if k in sig:
                if not _same(v, sig[k]):
                    bad.append(f"{k}={_short(v)}")
            elif v not in (None, False, {}, []):
                bad.append(f"{k}={_short(v)}")
        return ", ".join(bad) + " (no cnndsl argument)" if bad else None

    def op_node(self, name, cls, tensors, consts, kwargs, block, group):
        """A Keras op on symbolic tensors (``x + y``, ``x * 0.5``): the merges cnndsl has, or the hard sigmoid."""
        if kwargs:
            self.problem(name, f"ops.{cls}", "a Keras op called with keyword arguments")
            return None
        if cls in ("Add", "Multiply") and len(tensors) == 2 and not consts:
            return self.add(name, cls.lower(), {"layer": False}, f"ops.{cls}", tensors, block, group, explicit=False)
        if cls in ("Add", "Multiply") and len(tensors) == 1 and len(consts) == 1 and _number(consts[0]):
            return self.add(name, "_const_" + cls.lower(), {"value": float(consts[0])}, f"ops.{cls}", tensors, block,
                            group, explicit=False)
        self.problem(name, f"ops.{cls}", "a Keras op on tensors that cnndsl has no op for")
        return None


_INIT_KEYS = {"kernel_init": ("kernel_initializer", "depthwise_initializer"), "bias_init": ("bias_initializer",),
              "kernel_reg": ("kernel_regularizer", "depthwise_regularizer"), "alpha_init": ("alpha_initializer",)}


def _short(v) -> str:
    text = json.dumps(v, default=str) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _name(v) -> str:
    """A layer name as a message quotes it (a non-string shown as JSON, cut short)."""
    return v[:80] if isinstance(v, str) else _short(v)


def _writable(name: str) -> bool:
    """Whether a layer name is one cnndsl can give a layer: ASCII letters, digits, _ and - (what every
    Keras backend accepts)."""
    return LAYER_NAME.fullmatch(name) is not None


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _equal(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b and type(a) is type(b) or (_number(a) and _number(b) and a == b)


def _is_tensor(t) -> bool:
    return isinstance(t, dict) and t.get("class_name") == "__keras_tensor__"


def _tensor_list(v):
    """``output_layers``: ``[name, node, index]`` or a list of them."""
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
        return [v]
    return [x for x in v or [] if isinstance(x, list) and x and isinstance(x[0], str)]


def _tensors_in(node):
    """The tensor configs an inbound node passes (at any list depth of its args)."""
    if not isinstance(node, dict):
        return []
    out, stack = [], [node.get("args")]
    while stack:
        a = stack.pop()
        if _is_tensor(a):
            out.append(a)
        elif isinstance(a, list):
            stack.extend(a)
    return out


def _history(t):
    hist = (t.get("config") or {}).get("keras_history") if isinstance(t.get("config"), dict) else None
    if isinstance(hist, list) and hist and isinstance(hist[0], str):
        return hist
    return None


def _a_cycle(left, deps):
    """Layers (indices) on one cycle among ``left``, which has no topological order."""
    k = min(left)
    seen, path = {}, []
    while k not in seen:
        seen[k] = len(path)
        path.append(k)
        k = min(j for j in deps[k] if j in left)
    return path[seen[k]:]
