"""Dense, normalisation, activations and the shape-only ops."""
from __future__ import annotations

import math

from ..errors import CnnError
from .schema import ACTIVATIONS, CHANNELS_LAST, Arg, Op, describe, fmt_shape, prod


def _dense_shape(ins, a):
    return ins[0][:-1] + (a["units"],)


DENSE = Op(
    "dense", family="dense",
    args=(Arg("units", "int", low=1), Arg("activation", "activation", None), Arg("bias", "bool", True)),
    shape=_dense_shape,
    params=lambda ins, a, out: (ins[0][-1] * a["units"] + (a["units"] if a["bias"] else 0), 0),
    macs=lambda ins, a, out: prod(ins[0][1:] + (a["units"],)),
    keras=lambda keras, a, name: keras.layers.Dense(a["units"], activation=a["activation"],
                                                    use_bias=a["bias"], name=name),
    label=lambda a: f"dense {a['units']}" + (f" · {a['activation']}" if a["activation"] else ""),
    doc="Dense on the last axis: in·units weights plus units biases.",
)

BN = Op(
    "bn", family="norm",
    args=(Arg("epsilon", "float", 0.001, low=0), Arg("momentum", "float", 0.99, low=0, high=1), Arg("center", "bool", True),
          Arg("scale", "bool", True)),
    shape=lambda ins, a: ins[0],
    params=lambda ins, a, out: (ins[0][-1] * (a["center"] + a["scale"]), 2 * ins[0][-1]),
    keras=lambda keras, a, name: keras.layers.BatchNormalization(
        epsilon=a["epsilon"], momentum=a["momentum"], center=a["center"], scale=a["scale"], name=name),
    label=lambda a: "bn" + ("" if a["scale"] else " (no scale)") + ("" if a["center"] else " (no center)"),
    doc="BatchNormalization: gamma (scale) and beta (center) train; the moving mean and variance don't.",
)


def _lrn_keras(keras, a, name):
    from ..backends.keras_layers import LRN
    return LRN(radius=a["radius"], alpha=a["alpha"], beta=a["beta"], bias=a["bias"], name=name)


LRN = Op(
    "lrn", rank=4, family="norm",
    args=(Arg("radius", "int", 5, low=0), Arg("alpha", "float", 1.0), Arg("beta", "float", 0.5), Arg("bias", "float", 1.0)),
    shape=lambda ins, a: ins[0], keras=_lrn_keras,
    label=lambda a: f"lrn r{a['radius']}",
    doc="Local response normalisation across channels, as tf.nn.local_response_normalization "
        "(defaults are TensorFlow's); no weights.",
)


def _activation_op(fn):
    return Op(fn, family="act", args=(), shape=lambda ins, a: ins[0],
              keras=lambda keras, a, name: keras.layers.Activation(fn, name=name),
              label=lambda a: fn, doc=f"Activation('{fn}').")


ACTIVATION = Op(
    "activation", family="act", args=(Arg("fn", "choice", choices=ACTIVATIONS),), shape=lambda ins, a: ins[0],
    keras=lambda keras, a, name: keras.layers.Activation(a["fn"], name=name), label=lambda a: a["fn"],
    doc="Any Keras activation by name.",
)


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
    (t, b), (l, r) = a["padding"]
    n, h, w, c = ins[0]
    return (n, None if h is None else h + t + b, None if w is None else w + l + r, c)


def _crop(ins, a):
    (t, b), (l, r) = a["cropping"]
    n, h, w, c = ins[0]
    out = (n, None if h is None else h - t - b, None if w is None else w - l - r, c)
    if any(d is not None and d <= 0 for d in out[1:3]):
        raise CnnError("shape", f"crop: cropping {describe([[t, b], [l, r]])} leaves nothing of {fmt_shape(ins[0])}")
    return out


def _upsample(ins, a):
    n, h, w, c = ins[0]
    sh, sw = a["size"]
    return (n, None if h is None else h * sh, None if w is None else w * sw, c)


OPS = [
    DENSE, BN, LRN, ACTIVATION,
    *(_activation_op(fn) for fn in ("relu", "relu6", "sigmoid", "softmax", "tanh", "swish", "silu", "gelu")),
    Op("flatten", family="shape", args=(), shape=lambda ins, a: (ins[0][0], prod(ins[0][1:])),
       keras=lambda keras, a, name: keras.layers.Flatten(data_format=CHANNELS_LAST, name=name), label=lambda a: "flatten"),
    Op("reshape", family="shape", args=(Arg("shape", "ints"),), shape=_reshape,
       keras=lambda keras, a, name: keras.layers.Reshape(tuple(a["shape"]), name=name),
       label=lambda a: "reshape " + describe(list(a["shape"]))),
    Op("dropout", family="shape", args=(Arg("rate", "float", low=0, high=1),), shape=lambda ins, a: ins[0],
       keras=lambda keras, a, name: keras.layers.Dropout(a["rate"], name=name),
       label=lambda a: f"dropout {a['rate']:g}"),
    Op("zeropad", rank=4, family="shape", args=(Arg("padding", "pad2", 1),), shape=_zeropad,
       keras=lambda keras, a, name: keras.layers.ZeroPadding2D(a["padding"], data_format=CHANNELS_LAST, name=name),
       label=lambda a: "zeropad " + describe([list(p) for p in a["padding"]])),
    Op("crop", rank=4, family="shape", args=(Arg("cropping", "pad2"),), shape=_crop,
       keras=lambda keras, a, name: keras.layers.Cropping2D(a["cropping"], data_format=CHANNELS_LAST, name=name),
       label=lambda a: "crop " + describe([list(p) for p in a["cropping"]])),
    Op("upsample", rank=4, family="shape",
       args=(Arg("size", "size2", (2, 2)), Arg("interpolation", "choice", "nearest", ("nearest", "bilinear"))),
       shape=_upsample,
       keras=lambda keras, a, name: keras.layers.UpSampling2D(
           a["size"], interpolation=a["interpolation"], data_format=CHANNELS_LAST, name=name),
       label=lambda a: f"upsample ×{a['size'][0]}"),
    Op("rescaling", family="shape", args=(Arg("scale", "float"), Arg("offset", "float", 0.0)),
       shape=lambda ins, a: ins[0],
       keras=lambda keras, a, name: keras.layers.Rescaling(a["scale"], offset=a["offset"], name=name),
       label=lambda a: f"rescale ×{a['scale']:g}" + (f" +{a['offset']:g}" if a["offset"] else "")),
    Op("identity", family="shape", args=(), shape=lambda ins, a: ins[0], passthrough=True,
       label=lambda a: "identity", doc="Passes its input through; emits no layer."),
    Op("input", family="io", args=(), arity=0, shape=lambda ins, a: a["shape"], label=lambda a: "input"),
]
