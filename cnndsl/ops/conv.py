"""Convolutions and pooling: conv, sepconv, dwconv, maxpool, avgpool, global pools."""
from __future__ import annotations

from ..errors import CnnError
from .schema import CHANNELS_LAST, Arg, Op, kxk, prod, spatial

PADDING = Arg("padding", "choice", "valid", ("valid", "same"))
ACT = Arg("activation", "activation", None)
BIAS = Arg("bias", "bool", True)


def _suffix(a) -> str:
    """The part of a label every window op shares: ` /2`, ` same`, ` d2`."""
    s = "" if a["stride"] in (None, (1, 1)) else (f" /{a['stride'][0]}" if a["stride"][0] == a["stride"][1] else f" /{kxk(a['stride'])}")
    if a.get("dilation", (1, 1)) != (1, 1):
        s += f" d{a['dilation'][0]}"
    return s


def _act(a) -> str:
    return f" · {a['activation']}" if a.get("activation") else ""


def _conv_shape(ins, a):
    c_in = ins[0][3]
    if c_in is not None and c_in % a["groups"]:
        raise CnnError("shape", f"conv: groups={a['groups']} does not divide the {c_in} input channels")
    if a["filters"] % a["groups"]:
        raise CnnError("shape", f"conv: groups={a['groups']} does not divide filters={a['filters']}")
    h, w = spatial(ins, a, a["kernel"], a["stride"], a["dilation"])
    return (ins[0][0], h, w, a["filters"])


def _conv_params(ins, a, out):
    kh, kw = a["kernel"]
    return kh * kw * ins[0][3] // a["groups"] * a["filters"] + (a["filters"] if a["bias"] else 0), 0


def _conv_macs(ins, a, out):
    kh, kw = a["kernel"]
    return prod((kh, kw, ins[0][3] // a["groups"], a["filters"], out[1], out[2]))


def _conv_keras(keras, a, name):
    return keras.layers.Conv2D(a["filters"], a["kernel"], strides=a["stride"], padding=a["padding"],
                               dilation_rate=a["dilation"], groups=a["groups"], use_bias=a["bias"],
                               activation=a["activation"], data_format=CHANNELS_LAST, name=name)


CONV = Op(
    "conv", rank=4, family="conv",
    args=(Arg("filters", "int", low=1), Arg("kernel", "size2"), Arg("stride", "size2", (1, 1)), PADDING,
          Arg("dilation", "size2", (1, 1)), Arg("groups", "int", 1, low=1), BIAS, ACT),
    shape=_conv_shape, params=_conv_params, macs=_conv_macs, keras=_conv_keras,
    label=lambda a: f"conv {kxk(a['kernel'])}{_suffix(a)} · {a['filters']}{_act(a)}",
    doc="Conv2D. k_h·k_w·C_in/groups·filters weights, plus filters biases.",
)


def _sep_shape(ins, a):
    h, w = spatial(ins, a, a["kernel"], a["stride"], a["dilation"])
    return (ins[0][0], h, w, a["filters"])


def _sep_params(ins, a, out):
    kh, kw = a["kernel"]
    c, m = ins[0][3], a["depth_multiplier"]
    return kh * kw * c * m + c * m * a["filters"] + (a["filters"] if a["bias"] else 0), 0


def _sep_macs(ins, a, out):
    kh, kw = a["kernel"]
    c, m = ins[0][3], a["depth_multiplier"]
    hw = prod(out[1:3])
    return None if hw is None else (kh * kw * c * m + c * m * a["filters"]) * hw


SEPCONV = Op(
    "sepconv", rank=4, family="conv",
    args=(Arg("filters", "int", low=1), Arg("kernel", "size2"), Arg("stride", "size2", (1, 1)), PADDING,
          Arg("dilation", "size2", (1, 1)), Arg("depth_multiplier", "int", 1, low=1), BIAS, ACT),
    shape=_sep_shape, params=_sep_params, macs=_sep_macs,
    keras=lambda keras, a, name: keras.layers.SeparableConv2D(
        a["filters"], a["kernel"], strides=a["stride"], padding=a["padding"], dilation_rate=a["dilation"],
        depth_multiplier=a["depth_multiplier"], use_bias=a["bias"], activation=a["activation"],
        data_format=CHANNELS_LAST, name=name),
    label=lambda a: f"sepconv {kxk(a['kernel'])}{_suffix(a)} · {a['filters']}{_act(a)}",
    doc="SeparableConv2D: a depthwise k_h×k_w conv, then a pointwise 1×1 conv.",
)


def _dw_shape(ins, a):
    h, w = spatial(ins, a, a["kernel"], a["stride"], a["dilation"])
    c = ins[0][3]
    return (ins[0][0], h, w, None if c is None else c * a["depth_multiplier"])


DWCONV = Op(
    "dwconv", rank=4, family="conv",
    args=(Arg("kernel", "size2"), Arg("stride", "size2", (1, 1)), PADDING, Arg("dilation", "size2", (1, 1)),
          Arg("depth_multiplier", "int", 1, low=1), BIAS, ACT),
    shape=_dw_shape,
    params=lambda ins, a, out: (a["kernel"][0] * a["kernel"][1] * out[3] + (out[3] if a["bias"] else 0), 0),
    macs=lambda ins, a, out: prod((a["kernel"][0], a["kernel"][1], out[3], out[1], out[2])),
    keras=lambda keras, a, name: keras.layers.DepthwiseConv2D(
        a["kernel"], strides=a["stride"], padding=a["padding"], depth_multiplier=a["depth_multiplier"],
        dilation_rate=a["dilation"], use_bias=a["bias"], activation=a["activation"], data_format=CHANNELS_LAST,
        name=name),
    label=lambda a: f"dwconv {kxk(a['kernel'])}{_suffix(a)}" + (f" ×{a['depth_multiplier']}" if a["depth_multiplier"] > 1 else "") + _act(a),
    doc="DepthwiseConv2D: one k_h×k_w filter per input channel (times depth_multiplier).",
)


def _pool_shape(ins, a):
    stride = a["stride"] or a["pool"]
    h, w = spatial(ins, a, a["pool"], stride)
    return (ins[0][0], h, w, ins[0][3])


def _pool(name, keras_cls):
    return Op(
        name, rank=4, family="pool",
        args=(Arg("pool", "size2", (2, 2)), Arg("stride", "size2", None), PADDING),
        shape=_pool_shape,
        keras=lambda keras, a, n: getattr(keras.layers, keras_cls)(
            pool_size=a["pool"], strides=a["stride"] or a["pool"], padding=a["padding"], data_format=CHANNELS_LAST,
            name=n),
        label=lambda a: f"{name} {kxk(a['pool'])}{_suffix({**a, 'stride': a['stride'] or a['pool']})}"
                        + (" same" if a["padding"] == "same" else ""),
        doc=f"{keras_cls}; stride defaults to the pool size, as in Keras.",
    )


def _global(name, keras_cls):
    return Op(
        name, rank=4, family="pool", args=(Arg("keepdims", "bool", False),),
        shape=lambda ins, a: (ins[0][0], 1, 1, ins[0][3]) if a["keepdims"] else (ins[0][0], ins[0][3]),
        keras=lambda keras, a, n: getattr(keras.layers, keras_cls)(
            keepdims=a["keepdims"], data_format=CHANNELS_LAST, name=n),
        label=lambda a: name.replace("_", " "),
        doc=f"{keras_cls}; keepdims=true keeps a 1×1 spatial size (as SE blocks need).",
    )


OPS = [CONV, SEPCONV, DWCONV, _pool("maxpool", "MaxPooling2D"), _pool("avgpool", "AveragePooling2D"),
       _global("global_avgpool", "GlobalAveragePooling2D"), _global("global_maxpool", "GlobalMaxPooling2D")]
