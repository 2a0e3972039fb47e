"""Convolutions and pooling: conv, conv_transpose, sepconv, dwconv, maxpool, avgpool, global pools."""
from __future__ import annotations

from ..errors import CnnError
from .schema import (KERNEL_INITIALIZERS, KERNEL_REGULARIZERS, VECTOR_INITIALIZERS, Arg, Op, kxk, prod,
                     spatial)

PADDING = Arg("padding", "choice", "valid", ("valid", "same"))
ACT = Arg("activation", "activation", None)
BIAS = Arg("bias", "bool", True)
# Initializers and regularizers of a layer's weights (none: the framework's default).
# A conv's kernel is 4-D and its bias 1-D: the initializers and regularizers Keras makes for those ranks.
INITS = (Arg("kernel_init", "init", None, KERNEL_INITIALIZERS), Arg("bias_init", "init", None, VECTOR_INITIALIZERS),
         Arg("kernel_reg", "reg", None, KERNEL_REGULARIZERS))


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


CONV = Op(
    "conv", rank=4, family="conv",
    args=(Arg("filters", "int", low=1), Arg("kernel", "size2"), Arg("stride", "size2", (1, 1)), PADDING,
          Arg("dilation", "size2", (1, 1)), Arg("groups", "int", 1, low=1), BIAS, ACT, *INITS),
    shape=_conv_shape, params=_conv_params, macs=_conv_macs,
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
          Arg("dilation", "size2", (1, 1)), Arg("depth_multiplier", "int", 1, low=1), BIAS, ACT, *INITS),
    shape=_sep_shape, params=_sep_params, macs=_sep_macs,
    label=lambda a: f"sepconv {kxk(a['kernel'])}{_suffix(a)} · {a['filters']}{_act(a)}",
    doc="SeparableConv2D: a depthwise k_h×k_w conv, then a pointwise 1×1 conv. kernel_init and kernel_reg "
        "apply to both kernels.",
)


def _dw_shape(ins, a):
    h, w = spatial(ins, a, a["kernel"], a["stride"], a["dilation"])
    c = ins[0][3]
    return (ins[0][0], h, w, None if c is None else c * a["depth_multiplier"])


DWCONV = Op(
    "dwconv", rank=4, family="conv",
    args=(Arg("kernel", "size2"), Arg("stride", "size2", (1, 1)), PADDING, Arg("dilation", "size2", (1, 1)),
          Arg("depth_multiplier", "int", 1, low=1), BIAS, ACT, *INITS),
    shape=_dw_shape,
    params=lambda ins, a, out: (a["kernel"][0] * a["kernel"][1] * out[3] + (out[3] if a["bias"] else 0), 0),
    macs=lambda ins, a, out: prod((a["kernel"][0], a["kernel"][1], out[3], out[1], out[2])),
    label=lambda a: f"dwconv {kxk(a['kernel'])}{_suffix(a)}" + (f" ×{a['depth_multiplier']}" if a["depth_multiplier"] > 1 else "") + _act(a),
    doc="DepthwiseConv2D: one k_h×k_w filter per input channel (times depth_multiplier).",
)


def torch_pool_len(n, k, s, p, ceil_mode):
    """Output length of a torch-style pool: explicit padding p per side, floor or ceil, and (ceil) no
    window that starts in the right padding."""
    if n is None:
        return None
    span = n + 2 * p - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_shape(ins, a):
    stride = a["stride"] or a["pool"]
    if isinstance(a["padding"], str) and not a["ceil_mode"]:
        h, w = spatial(ins, a, a["pool"], stride)
        return (ins[0][0], h, w, ins[0][3])
    pads = (0, 0) if a["padding"] == "valid" else a["padding"]
    if a["padding"] == "same":
        raise CnnError("type", "ceil_mode needs padding=valid or a number of pixels", arg="ceil_mode")
    if any(p > k // 2 for p, k in zip(pads, a["pool"])):
        raise CnnError("shape", f"padding {kxk(pads)} is more than half the {kxk(a['pool'])} window", arg="padding")
    out = tuple(torch_pool_len(n, k, s, p, a["ceil_mode"]) for n, k, s, p in zip(ins[0][1:3], a["pool"], stride, pads))
    if any(o is not None and o <= 0 for o in out):
        raise CnnError("shape", f"a {kxk(a['pool'])} window does not fit the input {ins[0][1]}×{ins[0][2]}")
    return (ins[0][0], *out, ins[0][3])


def _pool(name, keras_cls):
    return Op(
        name, rank=4, family="pool",
        args=(Arg("pool", "size2", (2, 2)), Arg("stride", "size2", None),
              Arg("padding", "pool_padding", "valid", ("valid", "same")), Arg("ceil_mode", "bool", False)),
        shape=_pool_shape,
        label=lambda a: f"{name} {kxk(a['pool'])}{_suffix({**a, 'stride': a['stride'] or a['pool']})}"
                        + (" same" if a["padding"] == "same" else "" if a["padding"] == "valid"
                           else f" pad {a['padding'][0]}") + (" ceil" if a["ceil_mode"] else ""),
        doc=f"{keras_cls}; stride defaults to the pool size, as in Keras. `padding` is valid, same, or pixels "
            "per side as torch pads (`padding=1`), with `ceil_mode` as torch's (cnndsl's TorchPool2D layer).",
    )


def _global(name, keras_cls):
    return Op(
        name, rank=4, family="pool", args=(Arg("keepdims", "bool", False),),
        shape=lambda ins, a: (ins[0][0], 1, 1, ins[0][3]) if a["keepdims"] else (ins[0][0], ins[0][3]),
        label=lambda a: name.replace("_", " "),
        doc=f"{keras_cls}; keepdims=true keeps a 1×1 spatial size (as SE blocks need).",
    )


def transpose_len(n, k, s, d, padding, output_padding):
    """Output length of a transposed conv along one axis, as Keras computes it."""
    if n is None:
        return None
    k = k + (k - 1) * (d - 1)
    if output_padding is None:
        return n * s + max(k - s, 0) if padding == "valid" else n * s
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + output_padding


def _tconv_shape(ins, a):
    op = a["output_padding"]
    if op is not None and any(p >= s for p, s in zip(op, a["stride"])):
        raise CnnError("shape", f"output_padding {kxk(op)} must be smaller than the stride {kxk(a['stride'])}")
    if max(a["stride"]) > 1 and max(a["dilation"]) > 1:
        raise CnnError("shape", "Keras can't combine a stride over 1 with a dilation over 1", hint="use stride=1, or dilation=1")
    _, h, w, _c = ins[0]
    out = tuple(transpose_len(n, k, s, d, a["padding"], None if op is None else p)
                for n, k, s, d, p in zip((h, w), a["kernel"], a["stride"], a["dilation"], op or (0, 0)))
    if any(o is not None and o <= 0 for o in out):
        raise CnnError("shape", f"the output would be empty ({'×'.join(map(str, out))})")
    return (ins[0][0], *out, a["filters"])


CONV_TRANSPOSE = Op(
    "conv_transpose", rank=4, family="conv",
    args=(Arg("filters", "int", low=1), Arg("kernel", "size2"), Arg("stride", "size2", (1, 1)), PADDING,
          Arg("output_padding", "offset2", None), Arg("dilation", "size2", (1, 1)), BIAS, ACT, *INITS),
    shape=_tconv_shape,
    params=lambda ins, a, out: (a["kernel"][0] * a["kernel"][1] * ins[0][3] * a["filters"]
                                + (a["filters"] if a["bias"] else 0), 0),
    # Each input position scatters one k_h×k_w×C_out kernel slice per input channel.
    macs=lambda ins, a, out: prod((a["kernel"][0], a["kernel"][1], ins[0][3], a["filters"], ins[0][1], ins[0][2])),
    label=lambda a: f"conv_transpose {kxk(a['kernel'])}{_suffix(a).replace(' /', ' ×')} · {a['filters']}{_act(a)}",
    doc="Conv2DTranspose (an up-convolution). k_h·k_w·C_in·filters weights plus filters biases; MACs "
        "k_h·k_w·C_in·C_out·H_in·W_in (every input position scatters a kernel).",
)


OPS = [CONV, CONV_TRANSPOSE, SEPCONV, DWCONV, _pool("maxpool", "MaxPooling2D"), _pool("avgpool", "AveragePooling2D"),
       _global("global_avgpool", "GlobalAveragePooling2D"), _global("global_maxpool", "GlobalMaxPooling2D")]
