"""Dense, normalisation, activations and the shape-only ops."""
from __future__ import annotations

import math

from ..errors import CnnError
from .conv import ANY_RANK
from .schema import VECTOR_INITIALIZERS, KERNEL_INITIALIZERS, ACTIVATIONS, Arg, Op, describe, fmt_shape, prod


def _dense_shape(ins, a):
    return ins[0][:-1] + (a["units"],)


DENSE = Op(
    "dense", family="dense",
    # A dense kernel is 2-D: every initializer and regularizer Keras has fits it; its bias is 1-D.
    args=(Arg("units", "int", low=1), Arg("activation", "activation", None), Arg("bias", "bool", True),
          Arg("kernel_init", "init", None), Arg("bias_init", "init", None, VECTOR_INITIALIZERS),
          Arg("kernel_reg", "reg", None)),
    shape=_dense_shape,
    params=lambda ins, a, out: (ins[0][-1] * a["units"] + (a["units"] if a["bias"] else 0), 0),
    macs=lambda ins, a, out: prod(ins[0][1:] + (a["units"],)),
    label=lambda a: f"dense {a['units']}" + (f" · {a['activation']}" if a["activation"] else ""),
    doc="Dense on the last axis: in·units weights plus units biases.",
)

BN = Op(
    "bn", family="norm",
    args=(Arg("epsilon", "float", 0.001, low=0), Arg("momentum", "float", 0.99, low=0, high=1), Arg("center", "bool", True),
          Arg("scale", "bool", True)),
    shape=lambda ins, a: ins[0],
    params=lambda ins, a, out: (ins[0][-1] * (a["center"] + a["scale"]), 2 * ins[0][-1]),
    label=lambda a: "bn" + ("" if a["scale"] else " (no scale)") + ("" if a["center"] else " (no center)"),
    doc="BatchNormalization: gamma (scale) and beta (center) train; the moving mean and variance don't.",
)


def _axes_of(shape, axis, op):
    """The (non-negative) axes ``axis`` names in ``shape``; the batch axis is refused."""
    rank = len(shape)
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for ax in axes:
        if not -rank <= ax < rank or ax % rank == 0:
            raise CnnError("shape", f"{op}: axis {ax} is not a feature axis of {fmt_shape(shape)}", arg="axis")
        if ax % rank in out:
            raise CnnError("shape", f"{op}: axes {describe(list(axes))} name axis {ax % rank} of {fmt_shape(shape)} "
                                    "twice", arg="axis")
        out.append(ax % rank)
    return out


def _per_axes(ins, a, op):
    """Weights per normalised position: the product of the sizes of ``axis``, which must be known."""
    dims = [ins[0][ax] for ax in _axes_of(ins[0], a["axis"], op)]
    if None in dims:
        raise CnnError("shape", f"{op}: axis {describe(a['axis'])} of {fmt_shape(ins[0])} has an unknown size, "
                                "so the layer's weights have no size")
    return math.prod(dims)


LAYERNORM = Op(
    "layernorm", family="norm",
    args=(Arg("axis", "axes", -1), Arg("epsilon", "float", 0.001, low=0), Arg("center", "bool", True),
          Arg("scale", "bool", True)),
    shape=lambda ins, a: (_per_axes(ins, a, "layernorm"), ins[0])[1],
    params=lambda ins, a, out: (_per_axes(ins, a, "layernorm") * (a["center"] + a["scale"]), 0),
    label=lambda a: "layernorm",
    doc="LayerNormalization over `axis` (the channels by default): gamma and beta per position of those axes.",
)


def _normalize_shape(ins, a):
    n = _per_axes(ins, a, "normalize")
    for key in ("mean", "variance"):
        v = a[key]
        if isinstance(v, tuple) and len(v) not in (1, n):
            raise CnnError("shape", f"normalize: `{key}` has {len(v)} values for {n} channels")
    if (a["mean"] is None) != (a["variance"] is None):
        raise CnnError("type", "normalize: give both mean and variance, or neither", arg="mean")
    return ins[0]


NORMALIZE = Op(
    "normalize", family="norm",
    args=(Arg("mean", "floats", None), Arg("variance", "floats", None), Arg("axis", "axes", -1)),
    shape=_normalize_shape,
    # Unset, Keras keeps mean and variance per channel and a sample count, none of them trained.
    params=lambda ins, a, out: (0, 0 if a["mean"] is not None else 2 * _per_axes(ins, a, "normalize") + 1),
    label=lambda a: "normalize",
    doc="Normalization: (x - mean) / sqrt(variance). Given mean and variance are constants; unset, they are "
        "non-trainable weights (2·C + 1, a count included), as keras.applications' EfficientNet has them.",
)

LRN = Op(
    "lrn", rank=4, family="norm",
    args=(Arg("radius", "int", 5, low=0), Arg("alpha", "float", 1.0), Arg("beta", "float", 0.5), Arg("bias", "float", 1.0)),
    shape=lambda ins, a: ins[0],
    label=lambda a: f"lrn r{a['radius']}",
    doc="Local response normalisation across channels, as tf.nn.local_response_normalization "
        "(defaults are TensorFlow's); no weights.",
)

LAYERSCALE = Op(
    "layerscale", family="norm", args=(Arg("init", "float", 1e-6),),
    shape=lambda ins, a: ins[0], params=lambda ins, a, out: (ins[0][-1], 0),
    label=lambda a: f"layerscale {a['init']:g}",
    doc="Per-channel learned scale (ConvNeXt's LayerScale): C weights, initialised to `init`.",
)


def _activation_op(fn, args=(), label=None, doc=None):
    return Op(fn, family="act", args=args, shape=lambda ins, a: ins[0],
              label=label or (lambda a: fn), doc=doc or f"Activation('{fn}').")


LAYER = Arg("layer", "bool", False)


def _relu_label(a):
    parts = [f"≤{a['max_value']:g}" if a["max_value"] is not None else "",
             f"slope {a['negative_slope']:g}" if a["negative_slope"] else "",
             f"> {a['threshold']:g}" if a["threshold"] else ""]
    return " ".join(["relu", *filter(None, parts)])


def _prelu_params(ins, a, out):
    shape = list(ins[0][1:])
    for ax in a["shared_axes"] or ():
        if not 1 <= ax <= len(shape):
            raise CnnError("shape", f"prelu: shared axis {ax} is not an axis of {fmt_shape(ins[0])} (1 is the first "
                                    "after the batch)")
        shape[ax - 1] = 1
    if a["alpha_init"] == "orthogonal" and len(shape) < 2:
        raise CnnError("type", f"prelu: alpha_init `orthogonal` needs an alpha of at least 2 axes, and "
                               f"{fmt_shape(ins[0])} gives it 1", arg="alpha_init")
    if None in shape:
        raise CnnError("shape", f"prelu: {fmt_shape(ins[0])} has an unknown size on an axis that is not shared",
                       hint="share the unknown axes: prelu(shared_axes=[1, 2])")
    return math.prod(shape), 0


ACTIVATION = Op(
    "activation", family="act", args=(Arg("fn", "choice", choices=ACTIVATIONS),), shape=lambda ins, a: ins[0],
    label=lambda a: a["fn"],
    doc="Any of Keras's activations by name (keras.activations, but threshold and glu), as an Activation layer.",
)

ACTIVATION_OPS = [
    _activation_op("relu", (Arg("max_value", "float", None, low=0), Arg("negative_slope", "float", 0.0, low=0),
                            Arg("threshold", "float", 0.0, low=0), LAYER), _relu_label,
                   "Activation('relu'); with max_value, negative_slope or threshold, or layer=true, a ReLU layer."),
    _activation_op("relu6", (LAYER,), None, "Activation('relu6'); layer=true: ReLU(6.0), as MobileNet builds it."),
    *(_activation_op(fn) for fn in ("sigmoid", "tanh", "swish", "silu", "gelu", "hard_swish")),
    Op("softmax", family="act", args=(Arg("axis", "axes", -1),),
       shape=lambda ins, a: (_axes_of(ins[0], a["axis"], "softmax"), ins[0])[1],
       label=lambda a: "softmax" if a["axis"] == -1 else f"softmax axis {describe(a['axis'])}",
       doc="Activation('softmax') over the last axis; over another `axis` (or several), a Softmax(axis) layer."),
    _activation_op("hard_sigmoid", (LAYER,), None,
                   "Activation('hard_sigmoid'), relu6(x + 3) / 6; layer=true: ReLU(6.0) of x + 3.0, times 1/6, as "
                   "MobileNetV3 builds it."),
    _activation_op("leaky_relu", (Arg("slope", "float", 0.3, low=0),), lambda a: f"leaky_relu {a['slope']:g}",
                   "LeakyReLU: x, or slope·x below 0."),
    _activation_op("elu", (Arg("alpha", "float", 1.0),), lambda a: "elu", "ELU layer."),
    Op("prelu", family="act", args=(Arg("shared_axes", "ints", None),
                                     Arg("alpha_init", "init", None, KERNEL_INITIALIZERS)),
       shape=lambda ins, a: ins[0], params=_prelu_params, label=lambda a: "prelu",
       doc="PReLU: a learned slope per position (per channel with shared_axes=[1, 2])."),
]


def _reshape(ins, a):
    target = list(a["shape"])
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise CnnError("shape", f"reshape: bad target {describe(target)} (at most one -1, no zeros)")
    total = prod(ins[0][1:])
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if total is not None and total % known:
            raise CnnError("shape", f"reshape: {fmt_shape(ins[0])} has {total} values, not a multiple of {known}")
        target[target.index(-1)] = None if total is None else total // known
    elif total is not None and total != known:
        raise CnnError("shape", f"reshape: {fmt_shape(ins[0])} has {total} values, the target {describe(list(a['shape']))} has {known}")
    return (ins[0][0],) + tuple(target)


def _zeropad(ins, a):
    return (ins[0][0], *(None if d is None else d + p + q for d, (p, q) in zip(ins[0][1:-1], a["padding"])), ins[0][-1])


def _crop(ins, a):
    out = (ins[0][0], *(None if d is None else d - p - q for d, (p, q) in zip(ins[0][1:-1], a["cropping"])), ins[0][-1])
    if any(d is not None and d <= 0 for d in out[1:-1]):
        raise CnnError("shape", f"crop: cropping {describe([list(p) for p in a['cropping']])} leaves nothing of "
                                f"{fmt_shape(ins[0])}")
    return out


def _upsample(ins, a):
    if a["interpolation"] != "nearest" and a["dims"] != 2:
        raise CnnError("type", f"interpolation={a['interpolation']} needs a 2-D input: Keras's UpSampling1D and "
                               "UpSampling3D repeat values (nearest)", arg="interpolation")
    return (ins[0][0], *(None if d is None else d * s for d, s in zip(ins[0][1:-1], a["size"])), ins[0][-1])


def _pads_label(v) -> str:
    return describe(v if isinstance(v, int) else [list(p) for p in v])


def _dropout_shape(ins, a):
    ns = a["noise_shape"]
    if ns is not None:
        if len(ns) != len(ins[0]):
            raise CnnError("shape", f"dropout: noise_shape {describe(list(ns))} has {len(ns)} axes, the input "
                                    f"{fmt_shape(ins[0])} has {len(ins[0])}")
        for n, d in zip(ns, ins[0]):
            if n is not None and n != 1 and d is not None and n != d:
                raise CnnError("shape", f"dropout: noise_shape {describe(list(ns))} does not broadcast against "
                                        f"{fmt_shape(ins[0])}")
    return ins[0]


OPS = [
    DENSE, BN, LAYERNORM, NORMALIZE, LRN, LAYERSCALE, ACTIVATION, *ACTIVATION_OPS,
    Op("flatten", family="shape", args=(), shape=lambda ins, a: (ins[0][0], prod(ins[0][1:])), label=lambda a: "flatten",
       doc="Flattens everything but the batch."),
    Op("reshape", family="shape", args=(Arg("shape", "ints"),), shape=_reshape,
       label=lambda a: "reshape " + describe(list(a["shape"])),
       doc="Reshape to `shape` (batch excluded); one -1 takes what is left."),
    Op("dropout", family="shape", args=(Arg("rate", "float", low=0, high=1), Arg("noise_shape", "noise_shape", None)),
       shape=_dropout_shape, label=lambda a: f"dropout {a['rate']:g}",
       doc="Dropout; noise_shape (batch first, none for the input's size) shares one mask along axes of size 1, "
           "e.g. [none, 1, 1, 1] drops whole samples (EfficientNet's stochastic depth)."),
    Op("stochastic_depth", family="shape", args=(Arg("rate", "float", low=0, high=1),), shape=lambda ins, a: ins[0],
       label=lambda a: f"stochastic depth {a['rate']:g}",
       doc="Drops the whole residual path of a sample with probability `rate` in training (ConvNeXt's StochasticDepth)."),
    Op("zeropad", ranks=ANY_RANK, family="shape", args=(Arg("padding", "pads", 1),), shape=_zeropad,
       label=lambda a: "zeropad " + _pads_label(a["padding"]),
       doc="ZeroPadding1D/2D/3D by the input's rank: `1`, one number per dimension (`[h, w]`), or "
           "[before, after] pairs (`[[top, bottom], [left, right]]`)."),
    Op("crop", ranks=ANY_RANK, family="shape", args=(Arg("cropping", "pads"),), shape=_crop,
       label=lambda a: "crop " + _pads_label(a["cropping"]),
       doc="Cropping1D/2D/3D by the input's rank: `1`, one number per dimension (`[h, w]`), or [before, after] "
           "pairs (`[[top, bottom], [left, right]]`)."),
    Op("upsample", ranks=ANY_RANK, family="shape",
       args=(Arg("size", "size", 2), Arg("interpolation", "choice", "nearest", ("nearest", "bilinear"))),
       shape=_upsample,
       label=lambda a: "upsample ×" + (str(a["size"]) if isinstance(a["size"], int) else str(a["size"][0])
                                         if len(set(a["size"])) == 1 else "×".join(map(str, a["size"]))),
       doc="UpSampling1D/2D/3D by the input's rank: repeats each position `size` times (nearest), or "
           "interpolates (bilinear, 2-D only)."),
    Op("rescaling", family="shape", args=(Arg("scale", "float"), Arg("offset", "float", 0.0)),
       shape=lambda ins, a: ins[0],
       label=lambda a: f"rescale ×{a['scale']:g}" + (f" +{a['offset']:g}" if a["offset"] else ""),
       doc="x · scale + offset."),
    Op("identity", family="shape", args=(), shape=lambda ins, a: ins[0], passthrough=True,
       label=lambda a: "identity", doc="Passes its input through; emits no layer."),
    Op("input", family="io", args=(), arity=0, shape=lambda ins, a: a["shape"], label=lambda a: "input", internal=True),
]
