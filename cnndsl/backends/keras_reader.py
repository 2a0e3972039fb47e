"""A Keras model's config -> cnndsl's framework-free layer graph (``decompile.Net``).

The Keras backend owns this table too: ``READERS`` maps a Keras class to a function of its config
that returns the cnndsl op and arguments, the inverse of ``BUILDERS``. Reading works on the config
dict alone (``config.json`` of a ``.keras`` file, or ``serialize_keras_object(model)``), so ``cnndsl
draw model.keras`` never imports Keras.

Nothing is dropped silently. Every config key of a layer is either read into an argument, or equal
to the value cnndsl's builder gives (Keras's default, from ``SIGNATURES``); anything else -- a
constraint, an activity regularizer, a frozen layer, a mixed-precision policy, a Lambda, a custom
class, a shared layer -- is collected and reported in one error naming each layer and its class.
"""
from __future__ import annotations

import json
import math
import re
import zipfile

from ..decompile import Layer, Net, Unsupported
from ..errors import CnnError
from ..lower import LAYER_NAME
from ..ops import REGISTRY
from ..ops.schema import ACTIVATIONS, SPATIAL_TYPES, Initializer, as_rank, convert
from .keras import SIGNATURES

MAX_CONFIG = 256 * 1024 * 1024   # config.json of a .keras file; the largest zoo model's is ~2 MB


# --- reading a .keras file or a model -----------------------------------------------------------------

def read_keras_file(path: str) -> dict:
    """The model config of a ``.keras`` file (a zip holding ``config.json``), without Keras."""
    try:
        with zipfile.ZipFile(path) as z:
            try:
                info = z.getinfo("config.json")
            except KeyError:
                raise CnnError("usage", f"{path} is not a Keras 3 .keras file (it has no config.json)") from None
            if info.file_size > MAX_CONFIG:
                raise CnnError("usage", f"{path}: config.json is over {MAX_CONFIG:,} bytes")
            data = z.read(info)
    except zipfile.BadZipFile:
        raise CnnError("usage", f"{path} is not a .keras file (not a zip archive); legacy .h5 models: load them "
                                "with Keras and pass the model to cnndsl.from_keras") from None
    except OSError as e:
        raise CnnError("usage", f"can't read {path}: {e.strerror or e}") from None
    try:
        config = json.loads(data)
    except (ValueError, RecursionError):
        raise CnnError("usage", f"{path}: config.json is not valid JSON") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise CnnError("usage", f"{path}: config.json holds no Keras model")
    return config


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


def read_config(config: dict, source: str = "model") -> Net:
    """A ``Net`` from a serialized functional or Sequential model; ``CnnError`` listing what it can't express."""
    reader = _Reader(source)
    net = reader.model(config)
    if reader.problems:
        shown = reader.problems[:40]
        more = len(reader.problems) - len(shown)
        lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  - ... and {more} more" if more else "")
        raise CnnError("unsupported", f"{source}: {len(reader.problems)} layer(s) have no cnndsl form, so the model "
                                      f"can't be read without dropping them:\n{lines}",
                       hint="cnndsl reads Keras's built-in layers (and its own); a Lambda or a custom class has no "
                            "spec form")
    return net


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
        return Initializer("reg" if cls in ("L1", "L2", "L1L2") else "init", cls, args)
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
        except Unsupported:
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
    def __init__(self, source):
        self.source = source
        self.problems = []
        self.layers = []          # in the model's order
        self.shapes = {}          # id of a ref -> the shape its inbound tensor config gives

    def problem(self, name, cls, why):
        self.problems.append(f"`{name}` ({cls}): {why}")

    def model(self, config) -> Net:
        cls = config.get("class_name")
        cfg = config.get("config") or {}
        name = cfg.get("name") or "model"
        if cls == "Sequential":
            inputs, outputs = self.sequential(cfg, None, name)
        elif cls in ("Functional", "Model"):
            inputs, outputs = self.functional(cfg)
        else:
            raise CnnError("unsupported", f"{self.source}: `{name}` is a {cls}, not a functional or Sequential model",
                           hint="a subclassed model has no graph cnndsl can read; build it with the functional API")
        return Net(name=name, layers=self.layers, inputs=inputs, outputs=outputs)

    # -- functional --
    def functional(self, cfg):
        """A functional model's inputs and outputs, its layers read into ``self.layers``."""
        local, inputs = {}, []
        entries = cfg.get("layers") or []
        if not isinstance(entries, list):
            raise CnnError("usage", f"{self.source}: the model's layers are not a list")
        for lc in entries:
            if isinstance(lc, dict) and lc.get("class_name") == "InputLayer":
                layer = self.input_layer(lc)
                local[lc.get("name") or layer.name] = layer.outputs
                inputs.append(layer)
        self.read_layers(entries, local, None)
        outputs = [self.ref(t, local) for t in _tensor_list(cfg.get("output_layers"))]
        if any(o is None for o in outputs) and not self.problems:
            raise CnnError("usage", f"{self.source}: an output names a layer the model does not have")
        return inputs, outputs

    def read_layers(self, entries, local, block):
        """Each layer of a functional model (input layers aside) in order; ``local`` maps a layer's name
        to its output refs, and a nested model's layers are read as a block of its name."""
        for lc in entries:
            if not isinstance(lc, dict):
                raise CnnError("usage", f"{self.source}: a layer entry is not an object")
            cls = lc.get("class_name")
            name = lc.get("name") or (lc.get("config") or {}).get("name")
            if cls == "InputLayer":
                continue
            nodes = lc.get("inbound_nodes") or []
            if len(nodes) != 1:
                if nodes:
                    self.problem(name, cls, f"called {len(nodes)} times (a shared layer: cnndsl layers are used once)")
                continue
            args, kwargs = self.inbound(nodes[0], local, name, cls)
            if args is None:
                self.check_only(lc)   # its input was refused; still report its own problems
                continue
            if cls in ("Functional", "Model", "Sequential") and "layers" in (lc.get("config") or {}):
                outs = self.nested(lc, args, name, cls)
            else:
                layer = self.layer(lc, args, kwargs, block)
                outs = layer.outputs if layer is not None else None
            if outs is not None:
                local[name] = outs

    def nested(self, lc, args, name, cls):
        """A model used as a layer: Sequential -> a sequential group; functional -> its layers, in a block."""
        cfg = lc["config"]
        tensors = [a for a in args if isinstance(a, tuple)]
        if len(tensors) != 1:
            self.problem(name, cls, "a nested model with several inputs")
            return None
        if cls == "Sequential":
            _, out = self.sequential(cfg, tensors[0], name)
            return [out]
        ins = _tensor_list(cfg.get("input_layers"))
        if len(ins) != 1:
            self.problem(name, cls, "a nested model with several inputs")
            return None
        local = {ins[0][0]: [tensors[0]]}
        self.read_layers(list(cfg.get("layers") or []), local, name)
        outs = [self.ref(t, local) for t in _tensor_list(cfg.get("output_layers"))]
        if len(outs) != 1 or outs[0] is None:
            self.problem(name, cls, "a nested model with several outputs")
            return None
        return [outs[0]]

    def sequential(self, cfg, source, name):
        """A Sequential's layers chained; ``source`` is the tensor it is applied to (None: the model input)."""
        inputs = []
        cur = source
        group = name if source is not None else None
        for lc in cfg.get("layers") or []:
            cls, c = lc.get("class_name"), lc.get("config") or {}
            lname = c.get("name") or lc.get("name") or _snake(cls or "layer")
            if cls == "InputLayer":
                if source is None:
                    layer = self.input_layer(lc)
                    inputs.append(layer)
                    cur = layer.outputs[0]
                continue
            if cur is None:
                shape = cfg.get("build_input_shape") or (lc.get("build_config") or {}).get("input_shape")
                if not shape:
                    raise CnnError("unsupported", f"{self.source}: Sequential `{name}` was never built, so its input "
                                                  "shape is unknown", hint="build it (model.build(shape)) or give it "
                                                                           "a keras.Input")
                layer = self.input_layer({"class_name": "InputLayer", "name": "input_layer",
                                          "config": {"batch_shape": shape, "name": "input_layer"}})
                inputs.append(layer)
                cur = layer.outputs[0]
            if cls in ("Functional", "Model", "Sequential") and "layers" in c:
                outs = self.nested({**lc, "name": lname}, [cur], lname, cls)
                if outs:
                    cur = outs[0]
                continue
            layer = self.layer({**lc, "name": lname}, [cur], {}, None, group=group)
            if layer is not None:
                cur = layer.outputs[0]
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
            raise CnnError("unsupported", f"{self.source}: input `{name}` has no shape cnndsl can read ({_short(shape)})")
        for k, v in (("dtype", "float32"), ("sparse", False), ("ragged", False), ("optional", False)):
            if c.get(k, v) != v:
                self.problem(name, "InputLayer", f"{k}={c.get(k)!r}")
        layer = Layer(name=name, op="input", args={"shape": list(shape)}, klass="InputLayer",
                      explicit=not _generated(name, "InputLayer"))
        self.layers.append(layer)
        return layer

    def inbound(self, node, local, name, cls):
        """The tensors (and constants) a layer is called with: refs ``(Layer, index)`` for tensors."""
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
        r = self.ref(t, local)
        if r is not None:
            self.shapes[id(r)] = (t.get("config") or {}).get("shape")
        return r

    def ref(self, t, local):
        hist = t["config"]["keras_history"] if isinstance(t, dict) else t
        outs = local.get(hist[0])
        if outs is None:
            return None
        index = hist[2] if len(hist) > 2 else 0
        return outs[index] if index < len(outs) else None

    def layer(self, lc, args, kwargs, block, group=None):
        cls, c = lc.get("class_name"), dict(lc.get("config") or {})
        name = c.get("name") or lc.get("name") or _snake(cls or "layer")
        module = lc.get("module") or ""
        tensors = [a for a in args if isinstance(a, tuple)]
        consts = [a for a in args if not isinstance(a, tuple)]
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
        except (KeyError, TypeError, ValueError, IndexError) as e:
            self.problem(name, cls, f"a config cnndsl can't read ({type(e).__name__}: {e})")
            return None
        layer = self.add(name, op, a, cls, tensors, block, group)
        if layer is not None and c.get("trainable") is False:
            layer.args["trainable"] = False        # a frozen layer: `trainable=false`
        return layer

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

    def add(self, name, op, a, cls, tensors, block, group, explicit=None):
        if not isinstance(name, str) or not _writable(name):
            self.problem(name, cls, "its name has characters other than ASCII letters, digits, _ and - (rename it; "
                                    "cnndsl keeps every name it reads)")
            return None
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
        layer = Layer(name=name, op=op, args=args, klass=cls, inputs=list(tensors), block=block, group=group,
                      explicit=(not _generated(name, cls)) if explicit is None else explicit)
        if op == "split":
            n = len(a["parts"]) if isinstance(a["parts"], list) else a["parts"]
            layer.outputs = [(layer, i) for i in range(n)]
        self.layers.append(layer)
        return layer

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
            shape = self.shapes.get(id(tensors[0])) if tensors else None
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
            layer = Layer(name=name, op="_const_" + cls.lower(), args={"value": float(consts[0])}, klass=f"ops.{cls}",
                          inputs=list(tensors), block=block, group=group, explicit=False)
            self.layers.append(layer)
            return layer
        self.problem(name, f"ops.{cls}", "a Keras op on tensors that cnndsl has no op for")
        return None


_INIT_KEYS = {"kernel_init": ("kernel_initializer", "depthwise_initializer"), "bias_init": ("bias_initializer",),
              "kernel_reg": ("kernel_regularizer", "depthwise_regularizer"), "alpha_init": ("alpha_initializer",)}


def _short(v) -> str:
    text = json.dumps(v) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


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
