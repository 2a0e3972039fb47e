"""IR graph -> Keras 3 functional model.

The Keras backend owns its table of builders (``BUILDERS``), one per op, as
sqlglot's generators own their per-expression dispatch; the op registry knows
no framework. A builder is ``(k, a, name) -> layer``: ``k`` has ``layers``
(``keras.layers``) and ``cnndsl`` (cnndsl's own layers, ``keras_layers``),
``a`` the node's bound arguments. Builders only call constructors on ``k``, so
``constructor`` can run one against a recorder and the Python emitter writes
exactly the call ``build_model`` makes.

Most layers meet their input as ``layer(x)``. A few builders say otherwise
with an ``apply`` template, Python source in which ``{layer}`` is the
constructor call and ``{x}`` the input (a template without ``{layer}`` is a
Keras op alone: ``add(layer=false)`` is ``{x}[0] + {x}[1]``): MobileNetV3's hard sigmoid is
``{layer}({x} + 3.0) * (1.0 / 6.0)`` around a ``ReLU(6.0)``, Keras ops on the
symbolic tensor, as keras.applications writes it. ``build_model`` evaluates the
same template the emitter writes.

Keras orders a functional model's layers, and so its weights, by walking the
graph from the outputs, so the same graph always gives the same weight layout.
Keras is imported inside the functions only: ``import cnndsl`` and ``cnndsl
check`` must stay free of TensorFlow.
"""
from __future__ import annotations

import functools
import inspect
import os
import types
from dataclasses import dataclass
from typing import Callable

from ..errors import CnnError
from ..ops import REGISTRY
from ..ops.schema import CHANNELS_LAST, Initializer
from .hook import install_import_hook  # noqa: F401  (re-exported: the hook lives apart, so `import cnndsl` stays light)

CALL = "{layer}({x})"


@dataclass(frozen=True)
class Builder:
    """How one op becomes Keras: a constructor, and how the layer meets its input."""

    make: Callable            # (k, a, name) -> layer
    apply: str = CALL         # Python source; {layer} is the constructor call, {x} the input


def _opt(**kw) -> dict:
    """Keyword arguments that were given (not None): Keras keeps its own defaults for the rest."""
    return {k: v for k, v in kw.items() if v is not None}


def _init(v):
    """An initializer or regularizer as Keras takes it: its name, or its serialized config."""
    if isinstance(v, Initializer):
        return {"class_name": v.name, "config": {k: _lists(x) for k, x in v.args}}
    return v


def _lists(v):
    """Fixed weights (nested tuples) as the nested lists Keras's Constant initializer serialises."""
    return [_lists(x) for x in v] if isinstance(v, tuple) else v


def _weights(a, kernel="kernel_initializer", regularizer="kernel_regularizer") -> dict:
    return _opt(**{kernel: _init(a.get("kernel_init")), "bias_initializer": _init(a.get("bias_init")),
                   regularizer: _init(a.get("kernel_reg"))})


def _nd(a) -> str:
    """The Keras class suffix of a spatial op's rank: ``1D``, ``2D``, ``3D``."""
    return f"{a['dims']}D"


def _conv(k, a, name):
    return getattr(k.layers, f"Conv{_nd(a)}")(
        a["filters"], a["kernel"], strides=a["stride"], padding=a["padding"], dilation_rate=a["dilation"],
        groups=a["groups"], use_bias=a["bias"], activation=a["activation"], data_format=CHANNELS_LAST,
        **_weights(a), name=name)


def _conv_transpose(k, a, name):
    return getattr(k.layers, f"Conv{_nd(a)}Transpose")(
        a["filters"], a["kernel"], strides=a["stride"], padding=a["padding"],
        **_opt(output_padding=a["output_padding"]), dilation_rate=a["dilation"], use_bias=a["bias"],
        activation=a["activation"], data_format=CHANNELS_LAST, **_weights(a), name=name)


def _sepconv(k, a, name):
    init, reg = _init(a["kernel_init"]), _init(a["kernel_reg"])
    return getattr(k.layers, f"SeparableConv{_nd(a)}")(
        a["filters"], a["kernel"], strides=a["stride"], padding=a["padding"], dilation_rate=a["dilation"],
        depth_multiplier=a["depth_multiplier"], use_bias=a["bias"], activation=a["activation"],
        data_format=CHANNELS_LAST,
        **_opt(depthwise_initializer=init, pointwise_initializer=init, bias_initializer=_init(a["bias_init"]),
               depthwise_regularizer=reg, pointwise_regularizer=reg), name=name)


def _dwconv(k, a, name):
    return getattr(k.layers, f"DepthwiseConv{_nd(a)}")(
        a["kernel"], strides=a["stride"], padding=a["padding"], depth_multiplier=a["depth_multiplier"],
        dilation_rate=a["dilation"], use_bias=a["bias"], activation=a["activation"], data_format=CHANNELS_LAST,
        **_weights(a, "depthwise_initializer", "depthwise_regularizer"), name=name)


def _pool(cls, mode):
    def build(k, a, name):
        strides = a["stride"] or a["pool"]
        if isinstance(a["padding"], str) and not a["ceil_mode"]:
            return getattr(k.layers, f"{cls}{_nd(a)}")(pool_size=a["pool"], strides=strides, padding=a["padding"],
                                                       data_format=CHANNELS_LAST, name=name)
        padding = (0,) * a["dims"] if a["padding"] == "valid" else a["padding"]
        include = a.get("count_include_pad")
        return k.cnndsl.TorchPool(mode, a["pool"], strides, padding=padding, ceil_mode=a["ceil_mode"],
                                  **_opt(count_include_pad=None if include is None or include else False), name=name)
    return build


def _global(cls):
    return lambda k, a, name: getattr(k.layers, f"{cls}{_nd(a)}")(keepdims=a["keepdims"], data_format=CHANNELS_LAST,
                                                                  name=name)


def _upsample(k, a, name):
    if a["dims"] == 2:
        return k.layers.UpSampling2D(a["size"], interpolation=a["interpolation"], data_format=CHANNELS_LAST, name=name)
    if a["dims"] == 1:
        return k.layers.UpSampling1D(a["size"][0], name=name)
    return k.layers.UpSampling3D(a["size"], data_format=CHANNELS_LAST, name=name)


def _pads(cls):
    def build(k, a, name):
        key = "padding" if cls == "ZeroPadding" else "cropping"
        value = a[key][0] if a["dims"] == 1 else a[key]     # 1-D layers take one (before, after) pair
        fmt = {} if cls == "Cropping" and a["dims"] == 1 else {"data_format": CHANNELS_LAST}
        return getattr(k.layers, f"{cls}{_nd(a)}")(value, **fmt, name=name)
    return build


def _softmax(k, a, name):
    if a["axis"] == -1:
        return k.layers.Activation("softmax", name=name)
    return k.layers.Softmax(axis=list(a["axis"]) if isinstance(a["axis"], tuple) else a["axis"], name=name)


def _axis(v):
    return list(v) if isinstance(v, tuple) else v


def _attention(k, a, name):
    return k.layers.MultiHeadAttention(a["heads"], a["key_dim"], **_opt(value_dim=a["value_dim"]),
                                       dropout=a["dropout"], use_bias=a["use_bias"],
                                       **_opt(output_shape=a["output_shape"]),
                                       **_opt(attention_axes=_axes_tuple(a["axes"])), name=name)


def _axes_tuple(v):
    return None if v is None else tuple(v) if isinstance(v, (list, tuple)) else (v,)


def _activation(fn):
    return lambda k, a, name: k.layers.Activation(fn, name=name)


def _relu(k, a, name):
    if a["layer"] or a["max_value"] is not None or a["negative_slope"] or a["threshold"]:
        return k.layers.ReLU(**_opt(max_value=a["max_value"], negative_slope=a["negative_slope"] or None,
                                    threshold=a["threshold"] or None), name=name)
    return k.layers.Activation("relu", name=name)


def _as_layer(fn, make_layer):
    return lambda k, a, name: make_layer(k, name) if a["layer"] else k.layers.Activation(fn, name=name)


def _merge(cls):
    return lambda k, a, name: getattr(k.layers, cls)(name=name)


def _floats(v):
    return list(v) if isinstance(v, tuple) else v


BUILDERS: dict[str, Callable | Builder] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "sepconv": _sepconv,
    "dwconv": _dwconv,
    "maxpool": _pool("MaxPooling", "max"),
    "avgpool": _pool("AveragePooling", "avg"),
    "global_avgpool": _global("GlobalAveragePooling"),
    "global_maxpool": _global("GlobalMaxPooling"),
    "adaptive_avgpool": lambda k, a, name: k.cnndsl.AdaptivePool("avg", a["size"], name=name),
    "adaptive_maxpool": lambda k, a, name: k.cnndsl.AdaptivePool("max", a["size"], name=name),
    "dense": lambda k, a, name: k.layers.Dense(a["units"], activation=a["activation"], use_bias=a["bias"],
                                               **_weights(a), name=name),
    "bn": lambda k, a, name: k.layers.BatchNormalization(epsilon=a["epsilon"], momentum=a["momentum"],
                                                         center=a["center"], scale=a["scale"], name=name),
    "layernorm": lambda k, a, name: k.layers.LayerNormalization(
        axis=list(a["axis"]) if isinstance(a["axis"], tuple) else a["axis"], epsilon=a["epsilon"],
        center=a["center"], scale=a["scale"], name=name),
    "normalize": lambda k, a, name: k.layers.Normalization(
        axis=list(a["axis"]) if isinstance(a["axis"], tuple) else a["axis"],
        **_opt(mean=_floats(a["mean"]), variance=_floats(a["variance"])), name=name),
    "lrn": lambda k, a, name: k.cnndsl.LRN(radius=a["radius"], alpha=a["alpha"], beta=a["beta"], bias=a["bias"],
                                           name=name),
    "layerscale": lambda k, a, name: k.cnndsl.LayerScale(a["init"], name=name),
    "stochastic_depth": lambda k, a, name: k.cnndsl.StochasticDepth(a["rate"], name=name),
    "activation": lambda k, a, name: k.layers.Activation(a["fn"], name=name),
    "relu": _relu,
    "relu6": _as_layer("relu6", lambda k, name: k.layers.ReLU(6.0, name=name)),
    "hard_sigmoid": lambda k, a, name: (k.layers.ReLU(6.0, name=name) if a["layer"]
                                        else k.layers.Activation("hard_sigmoid", name=name)),
    **{fn: _activation(fn) for fn in ("sigmoid", "tanh", "swish", "silu", "gelu", "hard_swish")},
    "softmax": _softmax,
    "leaky_relu": lambda k, a, name: k.layers.LeakyReLU(negative_slope=a["slope"], name=name),
    "elu": lambda k, a, name: k.layers.ELU(alpha=a["alpha"], name=name),
    "prelu": lambda k, a, name: k.layers.PReLU(**_opt(alpha_initializer=_init(a["alpha_init"]),
                                                      shared_axes=list(a["shared_axes"]) if a["shared_axes"] else None),
                                               name=name),
    "flatten": lambda k, a, name: k.layers.Flatten(data_format=CHANNELS_LAST, name=name),
    "reshape": lambda k, a, name: k.layers.Reshape(tuple(a["shape"]), name=name),
    "dropout": lambda k, a, name: k.layers.Dropout(a["rate"], **_opt(noise_shape=a["noise_shape"]), name=name),
    "zeropad": _pads("ZeroPadding"),
    "crop": _pads("Cropping"),
    "upsample": _upsample,
    "rescaling": lambda k, a, name: k.layers.Rescaling(a["scale"], offset=a["offset"], name=name),
    "concat": lambda k, a, name: k.layers.Concatenate(axis=a["axis"], name=name),
    "add": _merge("Add"),
    "multiply": _merge("Multiply"),
    "subtract": _merge("Subtract"),
    "maximum": _merge("Maximum"),
    "minimum": _merge("Minimum"),
    "average": _merge("Average"),
    "divide": lambda k, a, name: k.cnndsl.Divide(name=name),
    "stack": lambda k, a, name: k.cnndsl.Stack(axis=a["axis"], name=name),
    "matmul": lambda k, a, name: k.cnndsl.MatMul(transpose_b=a["transpose_b"], name=name),
    "weighted_add": lambda k, a, name: k.cnndsl.WeightedAdd(a["normalize"], name=name),
    **{fn: (lambda fn: lambda k, a, name: k.cnndsl.Elementwise(fn, name=name))(fn)
       for fn in ("abs", "square", "sqrt", "exp", "log")},
    "power": lambda k, a, name: k.cnndsl.Elementwise("power", exponent=a["p"], name=name),
    **{op: (lambda mode: lambda k, a, name: k.cnndsl.Reduce(mode, axis=_axis(a["axis"]), keepdims=a["keepdims"],
                                                             name=name))(op[len("reduce_"):])
       for op in ("reduce_mean", "reduce_max", "reduce_sum")},
    "attention": _attention,
    "class_token": lambda k, a, name: k.cnndsl.ClassToken(name=name),
    "position_embedding": lambda k, a, name: k.cnndsl.PositionEmbedding(name=name),
    "grn": lambda k, a, name: k.cnndsl.GRN(epsilon=a["epsilon"], name=name),
    "groupnorm": lambda k, a, name: k.layers.GroupNormalization(a["groups"], epsilon=a["epsilon"], center=a["center"],
                                                                scale=a["scale"], name=name),
    "scaled_add": lambda k, a, name: k.cnndsl.CustomScaleLayer(a["scale"], name=name),
    "split": lambda k, a, name: k.cnndsl.Split(list(_split_sizes(a)), axis=a["axis"], name=name),
    "slice": lambda k, a, name: k.cnndsl.Slice(a["start"], a["stop"], axis=a["axis"], name=name),
    "permute": lambda k, a, name: k.layers.Permute(tuple(a["dims"]), name=name),
    "channel_shuffle": lambda k, a, name: k.cnndsl.ChannelShuffle(a["groups"], name=name),
    "resize": lambda k, a, name: k.layers.Resizing(a["size"][0], a["size"][1], interpolation=a["interpolation"],
                                                   data_format=CHANNELS_LAST, name=name),
}


def _split_sizes(a):
    """A split node's sizes: lowering records them (``sizes``) once its input's shape is known."""
    return a["sizes"]

# Ops whose layer meets its input some other way than ``layer(x)``, by the node's arguments.
APPLY = {
    "hard_sigmoid": lambda a: "{layer}({x} + 3.0) * (1.0 / 6.0)" if a["layer"] else CALL,
    # layer=false: the operator on the two symbolic tensors, a Keras op with no layer (ConvNeXt's inputs + x)
    "add": lambda a: CALL if a["layer"] else "{x}[0] + {x}[1]",
    "multiply": lambda a: CALL if a["layer"] else "{x}[0] * {x}[1]",
    # query, then value (which is also the key): the same tensor for self attention
    "attention": lambda a: "{layer}({x}[0], {x}[-1])",
}


def builder(node) -> Callable:
    """The node's builder, or a located "not supported by this backend" error."""
    make = BUILDERS.get(node.op)
    if make is None:
        raise CnnError("unsupported", f"`{node.op}` is not supported by the Keras backend", node.span,
                       tuple(s.frame for s in node.scope if s.kind == "block"))
    return make


def apply_template(node) -> str:
    return APPLY[node.op](node.args) if node.op in APPLY else CALL


@functools.lru_cache(maxsize=None)
def _compiled(template: str):
    return compile(template.format(layer="layer", x="x"), f"<apply {template}>", "eval")


def import_keras():
    """``import keras``, or a clear error naming the extra to install (exit 1), never a traceback."""
    try:
        import keras
    except ImportError as e:
        missing = (getattr(e, "name", None) or "keras").split(".")[0]
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        extra = {"jax": "jax", "jaxlib": "jax", "torch": "keras-torch"}.get(
            missing, {"jax": "jax", "torch": "keras-torch"}.get(backend, "tensorflow"))
        raise CnnError("backend", f"compiling needs Keras 3 and its {backend} backend, but `{missing}` can't be "
                                  f"imported ({e})", hint=f"pip install 'cnndsl[{extra}]'") from None
    return keras


def keras_namespace():
    keras = import_keras()
    from . import keras_layers
    return types.SimpleNamespace(layers=keras.layers, cnndsl=keras_layers)


def build_model(graph):
    """The ``keras.Model`` for an IR ``Graph``: inputs and outputs in the graph's order.

    A model with one input (or output) takes (or returns) a tensor; with
    several, a list. A layer Keras refuses raises ``CnnError("internal")``
    located at its node, never a bare Keras traceback.
    """
    k = keras_namespace()
    import keras
    tensors, built, made = {}, set(), {}     # made: id(node) -> its layer, for a shared layer's later calls
    for node in graph.nodes:
        group = next((s for s in node.scope if s.kind == "sequential"), None)
        if group is not None:
            if group.id not in built:
                built.add(group.id)
                members = [n for n in graph.nodes if group in n.scope]
                seq = keras.Sequential([_layer(k, n) for n in members], name=group.id)
                tensors[id(members[-1])] = seq(tensors[id(members[0].inputs[0])])
            continue
        if node.op == "input":
            out = keras.Input(shape=node.shape[1:], batch_size=node.shape[0], name=node.name)
        elif node.op == "take":        # one output of a split: an index into its list, no layer
            out = tensors[id(node.inputs[0])][node.args["index"]]
        else:
            ins = [tensors[id(i)] for i in node.inputs]
            x = ins if REGISTRY[node.op].arity is None else ins[0]
            # A shared layer is made at its first application and called again at the others.
            layer = made[id(node.shares)] if node.shares is not None else _layer(k, node)
            made[id(node)] = layer
            out = _guard(node, lambda: eval(_compiled(apply_template(node)), {"layer": layer, "x": x}))
        tensors[id(node)] = out
    inputs = [tensors[id(n)] for n in graph.inputs.values()]
    outputs = [tensors[id(n)] for n in graph.outputs.values()]
    return keras.Model(inputs=_one_or_list(inputs), outputs=_one_or_list(outputs), name=graph.name)


def _layer(k, node):
    """The node's layer (a node inside a sequential must be a plain layer: no Keras ops around it)."""
    if any(s.kind == "sequential" for s in node.scope) and apply_template(node) != CALL:
        raise CnnError("unsupported", f"`{node.op}` with these arguments is Keras ops around a layer, which a "
                                      "sequential can't hold", node.span)
    return _guard(node, lambda: builder(node)(_Frozen(k) if node.frozen else k, node.args, node.name))


class _Frozen:
    """A builder's namespace whose constructors get ``trainable=False`` (a frozen node's layer)."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, attr):
        return _Frozen(getattr(self._target, attr))

    def __call__(self, *args, **kwargs):
        return self._target(*args, **kwargs, trainable=False)


def _guard(node, make):
    try:
        return make()
    except CnnError:
        raise
    except Exception as e:  # Keras refused what the checker accepted: a cnndsl bug
        raise CnnError("internal", f"Keras rejected layer `{node.name}`: {str(e).strip().splitlines()[0]}",
                       node.span, tuple(s.frame for s in node.scope if s.kind == "block"),
                       hint="`cnndsl check` accepted this layer, so this is a bug in cnndsl; please report it") from e


def _one_or_list(xs):
    return xs[0] if len(xs) == 1 else xs


class _Recorder:
    """Stands in for the keras namespace: records the constructor a builder calls."""

    def __init__(self, path=()):
        self._path = path

    def __getattr__(self, attr):
        return _Recorder(self._path + (attr,))

    def __call__(self, *args, **kwargs):
        return self._path, args, kwargs


def constructor(node) -> tuple:
    """``(path, args, kwargs)`` of the layer ``build_model`` makes for a node, without Keras.

    ``path`` leads from the builder's namespace to the class: ``("layers", "Conv2D")``, or
    ``("cnndsl", "LRN")`` for cnndsl's own layers. The builder runs against a recorder, so this is
    exactly the call ``build_model`` makes.
    """
    made = builder(node)(_Frozen(_Recorder()) if node.frozen else _Recorder(), node.args, node.name)
    if not (isinstance(made, tuple) and len(made) == 3):
        raise CnnError("internal", f"the `{node.op}` builder bypasses its namespace argument", node.span)
    return made


# The signatures of the constructors the builders call: parameter -> default (REQUIRED when it has
# none), in order, as Keras 3 declares them. The Python emitter names positional arguments and leaves
# out keyword arguments equal to their default with these, so writing Python needs no Keras; a test
# checks every entry against Keras's own signature.
REQUIRED = inspect.Parameter.empty
SIGNATURES = {
    ("layers", "Conv2D"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": (1, 1), "padding": "valid",
        "data_format": None, "dilation_rate": (1, 1), "groups": 1, "activation": None, "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None},
    ("layers", "Conv2DTranspose"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": (1, 1),
        "padding": "valid", "output_padding": None, "data_format": None, "dilation_rate": (1, 1),
        "activation": None, "use_bias": True, "kernel_initializer": "glorot_uniform",
        "bias_initializer": "zeros", "kernel_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
    ("layers", "SeparableConv2D"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": (1, 1),
        "padding": "valid", "data_format": None, "dilation_rate": (1, 1), "depth_multiplier": 1,
        "activation": None, "use_bias": True, "depthwise_initializer": "glorot_uniform",
        "pointwise_initializer": "glorot_uniform", "bias_initializer": "zeros", "depthwise_regularizer": None,
        "pointwise_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "depthwise_constraint": None, "pointwise_constraint": None, "bias_constraint": None},
    ("layers", "DepthwiseConv2D"): {"kernel_size": REQUIRED, "strides": (1, 1), "padding": "valid",
        "depth_multiplier": 1, "data_format": None, "dilation_rate": (1, 1), "activation": None,
        "use_bias": True, "depthwise_initializer": "glorot_uniform", "bias_initializer": "zeros",
        "depthwise_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "depthwise_constraint": None, "bias_constraint": None},
    ("layers", "MaxPooling2D"): {"pool_size": (2, 2), "strides": None, "padding": "valid", "data_format": None,
        "name": None},
    ("layers", "AveragePooling2D"): {"pool_size": REQUIRED, "strides": None, "padding": "valid",
        "data_format": None, "name": None},
    ("layers", "GlobalAveragePooling2D"): {"data_format": None, "keepdims": False},
    ("layers", "GlobalMaxPooling2D"): {"data_format": None, "keepdims": False},
    ("layers", "Dense"): {"units": REQUIRED, "activation": None, "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None, "lora_rank": None, "lora_alpha": None, "quantization_config": None},
    ("layers", "BatchNormalization"): {"axis": -1, "momentum": 0.99, "epsilon": 0.001, "center": True,
        "scale": True, "beta_initializer": "zeros", "gamma_initializer": "ones",
        "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones", "beta_regularizer": None,
        "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None, "renorm": False,
        "renorm_clipping": None, "renorm_momentum": 0.99, "synchronized": False},
    ("layers", "LayerNormalization"): {"axis": -1, "epsilon": 0.001, "center": True, "scale": True,
        "beta_initializer": "zeros", "gamma_initializer": "ones", "beta_regularizer": None,
        "gamma_regularizer": None, "beta_constraint": None, "gamma_constraint": None},
    ("layers", "Normalization"): {"axis": -1, "mean": None, "variance": None, "invert": False},
    ("layers", "Activation"): {"activation": REQUIRED},
    ("layers", "ReLU"): {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    ("layers", "LeakyReLU"): {"negative_slope": 0.3},
    ("layers", "ELU"): {"alpha": 1.0},
    ("layers", "PReLU"): {"alpha_initializer": "Zeros", "alpha_regularizer": None, "alpha_constraint": None,
        "shared_axes": None},
    ("layers", "Flatten"): {"data_format": None},
    ("layers", "Reshape"): {"target_shape": REQUIRED},
    ("layers", "Dropout"): {"rate": REQUIRED, "noise_shape": None, "seed": None},
    ("layers", "ZeroPadding2D"): {"padding": (1, 1), "data_format": None},
    ("layers", "Cropping2D"): {"cropping": ((0, 0), (0, 0)), "data_format": None},
    ("layers", "UpSampling2D"): {"size": (2, 2), "data_format": None, "interpolation": "nearest"},
    ("layers", "Rescaling"): {"scale": REQUIRED, "offset": 0.0},
    ("layers", "Concatenate"): {"axis": -1},
    ("layers", "Add"): {},
    ("layers", "Multiply"): {},
    ("layers", "Permute"): {"dims": REQUIRED},
    ("layers", "Resizing"): {"height": REQUIRED, "width": REQUIRED, "interpolation": "bilinear",
        "crop_to_aspect_ratio": False, "pad_to_aspect_ratio": False, "fill_mode": "constant",
        "fill_value": 0.0, "antialias": False, "data_format": None},
    ("cnndsl", "Split"): {"sizes": REQUIRED, "axis": -1},
    ("cnndsl", "Slice"): {"start": REQUIRED, "stop": None, "axis": -1},
    ("cnndsl", "ChannelShuffle"): {"groups": REQUIRED},
    ("cnndsl", "TorchPool"): {"mode": REQUIRED, "pool_size": REQUIRED, "strides": REQUIRED, "padding": (0, 0),
        "ceil_mode": False, "count_include_pad": True},
    ("cnndsl", "AdaptivePool"): {"mode": REQUIRED, "size": REQUIRED},
    ("cnndsl", "Divide"): {},
    ("cnndsl", "Stack"): {"axis": -1},
    ("cnndsl", "MatMul"): {"transpose_b": False},
    ("cnndsl", "WeightedAdd"): {"normalize": "fast"},
    ("cnndsl", "Elementwise"): {"function": REQUIRED, "exponent": None},
    ("cnndsl", "Reduce"): {"mode": REQUIRED, "axis": -1, "keepdims": False},
    ("cnndsl", "ClassToken"): {},
    ("cnndsl", "PositionEmbedding"): {},
    ("cnndsl", "GRN"): {"epsilon": 1e-6},
    ("cnndsl", "LRN"): {"radius": 5, "alpha": 1.0, "beta": 0.5, "bias": 1.0},
    ("cnndsl", "LayerScale"): {"init_values": REQUIRED, "projection_dim": None},
    ("cnndsl", "StochasticDepth"): {"drop_path_rate": REQUIRED},
    ("cnndsl", "CustomScaleLayer"): {"scale": REQUIRED},
    ("layers", "Conv1D"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": 1, "padding": "valid",
        "data_format": None, "dilation_rate": 1, "groups": 1, "activation": None, "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
    ("layers", "Conv3D"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": (1, 1, 1), "padding": "valid",
        "data_format": None, "dilation_rate": (1, 1, 1), "groups": 1, "activation": None, "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
    ("layers", "Conv1DTranspose"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": 1, "padding": "valid",
        "output_padding": None, "data_format": None, "dilation_rate": 1, "activation": None, "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
    ("layers", "Conv3DTranspose"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": (1, 1, 1), "padding":
        "valid", "data_format": None, "output_padding": None, "dilation_rate": (1, 1, 1), "activation": None,
        "use_bias": True, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer":
        None, "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint":
        None},
    ("layers", "SeparableConv1D"): {"filters": REQUIRED, "kernel_size": REQUIRED, "strides": 1, "padding": "valid",
        "data_format": None, "dilation_rate": 1, "depth_multiplier": 1, "activation": None, "use_bias": True,
        "depthwise_initializer": "glorot_uniform", "pointwise_initializer": "glorot_uniform", "bias_initializer":
        "zeros", "depthwise_regularizer": None, "pointwise_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "depthwise_constraint": None, "pointwise_constraint": None, "bias_constraint":
        None},
    ("layers", "DepthwiseConv1D"): {"kernel_size": REQUIRED, "strides": 1, "padding": "valid", "depth_multiplier": 1,
        "data_format": None, "dilation_rate": 1, "activation": None, "use_bias": True, "depthwise_initializer":
        "glorot_uniform", "bias_initializer": "zeros", "depthwise_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "depthwise_constraint": None, "bias_constraint": None},
    ("layers", "MaxPooling1D"): {"pool_size": 2, "strides": None, "padding": "valid", "data_format": None, "name":
        None},
    ("layers", "MaxPooling3D"): {"pool_size": (2, 2, 2), "strides": None, "padding": "valid", "data_format": None,
        "name": None},
    ("layers", "AveragePooling1D"): {"pool_size": REQUIRED, "strides": None, "padding": "valid", "data_format": None,
        "name": None},
    ("layers", "AveragePooling3D"): {"pool_size": REQUIRED, "strides": None, "padding": "valid", "data_format": None,
        "name": None},
    ("layers", "GlobalAveragePooling1D"): {"data_format": None, "keepdims": False},
    ("layers", "GlobalAveragePooling3D"): {"data_format": None, "keepdims": False},
    ("layers", "GlobalMaxPooling1D"): {"data_format": None, "keepdims": False},
    ("layers", "GlobalMaxPooling3D"): {"data_format": None, "keepdims": False},
    ("layers", "UpSampling1D"): {"size": 2},
    ("layers", "UpSampling3D"): {"size": (2, 2, 2), "data_format": None},
    ("layers", "ZeroPadding1D"): {"padding": 1, "data_format": None},
    ("layers", "ZeroPadding3D"): {"padding": ((1, 1), (1, 1), (1, 1)), "data_format": None},
    ("layers", "Cropping1D"): {"cropping": (1, 1)},
    ("layers", "Cropping3D"): {"cropping": ((1, 1), (1, 1), (1, 1)), "data_format": None},
    ("layers", "Softmax"): {"axis": -1},
    ("layers", "Subtract"): {},
    ("layers", "Maximum"): {},
    ("layers", "Minimum"): {},
    ("layers", "Average"): {},
    ("layers", "MultiHeadAttention"): {"num_heads": REQUIRED, "key_dim": REQUIRED, "value_dim": None, "dropout": 0.0,
        "use_bias": True, "output_shape": None, "attention_axes": None, "sliding_window": None, "flash_attention":
        None, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
        "use_gate": False, "seed": None},
    ("layers", "GroupNormalization"): {"groups": 32, "axis": -1, "epsilon": 0.001, "center": True, "scale": True,
        "beta_initializer": "zeros", "gamma_initializer": "ones", "beta_regularizer": None, "gamma_regularizer": None,
        "beta_constraint": None, "gamma_constraint": None},
}


def parameters(path: tuple) -> dict:
    """The constructor's parameter -> default (``REQUIRED`` when it has none), in order."""
    return SIGNATURES[path]
