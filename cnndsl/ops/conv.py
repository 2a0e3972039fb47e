"""Convolutions and pooling: conv, conv_transpose, sepconv, dwconv, maxpool, avgpool, global pools."""
from __future__ import annotations

from ..errors import CnnError
from .schema import (KERNEL_INITIALIZERS, KERNEL_REGULARIZERS, VECTOR_INITIALIZERS, Arg, Op, kxk, prod,
                     spatial)

PADDING = Arg("padding", "choice", "valid", ("valid", "same"))
ANY_RANK = (1, 2, 3)         # spatial ranks: [T, C], [H, W, C], [D, H, W, C]
UP_TO_2D = (1, 2)            # Keras has DepthwiseConv1D/2D and SeparableConv1D/2D only
ACT = Arg("activation", "activation", None)
BIAS = Arg("bias", "bool", True)
# Initializers and regularizers of a layer's weights (none: the framework's default).
# A conv's kernel is 4-D and its bias 1-D: the initializers and regularizers Keras makes for those ranks.
INITS = (Arg("kernel_init", "init", None, KERNEL_INITIALIZERS), Arg("bias_init", "init", None, VECTOR_INITIALIZERS),
         Arg("kernel_reg", "reg", None, KERNEL_REGULARIZERS))


def _suffix(a) -> str:
    """The part of a label every window op shares: ` /2`, ` same`, ` d2`."""
    stride, dilation = _tuple(a["stride"]), _tuple(a.get("dilation", 1))
    s = "" if stride is None or set(stride) == {1} else (f" /{stride[0]}" if len(set(stride)) == 1 else f" /{kxk(stride)}")
    if set(dilation) != {1}:
        s += f" d{dilation[0]}"
    return s


def _tuple(v):
    """A spatial size as a tuple (a number, before the input's rank is known, as a 1-tuple)."""
    return (v,) if isinstance(v, int) else v


def _k(v) -> str:
    """A kernel as a label shows it: ``3×3``; a number not yet fitted to a rank shows as itself."""
    return str(v) if isinstance(v, int) else kxk(v)


def _act(a) -> str:
    return f" · {a['activation']}" if a.get("activation") else ""


def _conv_shape(ins, a):
    c_in = ins[0][-1]
    if c_in is not None and c_in % a["groups"]:
        raise CnnError("shape", f"conv: groups={a['groups']} does not divide the {c_in} input channels")
    if a["filters"] % a["groups"]:
        raise CnnError("shape", f"conv: groups={a['groups']} does not divide filters={a['filters']}")
    if a["padding"] == "causal" and a["dims"] != 1:
        raise CnnError("type", "padding=causal is for 1-D inputs ([T, C]), as Keras's Conv1D has it", arg="padding")
    return (ins[0][0], *spatial(ins, a, a["kernel"], a["stride"], a["dilation"]), a["filters"])


def _conv_params(ins, a, out):
    return prod(a["kernel"]) * ins[0][-1] // a["groups"] * a["filters"] + (a["filters"] if a["bias"] else 0), 0


def _conv_macs(ins, a, out):
    return prod((*a["kernel"], ins[0][-1] // a["groups"], a["filters"], *out[1:-1]))


CONV = Op(
    "conv", ranks=ANY_RANK, family="conv",
    args=(Arg("filters", "int", low=1), Arg("kernel", "size"), Arg("stride", "size", 1),
          Arg("padding", "choice", "valid", ("valid", "same", "causal")),
          Arg("dilation", "size", 1), Arg("groups", "int", 1, low=1), BIAS, ACT, *INITS),
    shape=_conv_shape, params=_conv_params, macs=_conv_macs,
    label=lambda a: f"conv {_k(a['kernel'])}{_suffix(a)} · {a['filters']}{_act(a)}"
                    + (" causal" if a["padding"] == "causal" else ""),
    doc="Conv1D, Conv2D or Conv3D, by the input's rank. ∏kernel·C_in/groups·filters weights, plus filters "
        "biases; MACs ∏kernel·C_in/groups·filters per output position. padding=causal (1-D): all the padding "
        "before, as WaveNet's.",
)


def _sep_shape(ins, a):
    return (ins[0][0], *spatial(ins, a, a["kernel"], a["stride"], a["dilation"]), a["filters"])


def _sep_params(ins, a, out):
    c, m = ins[0][-1], a["depth_multiplier"]
    return prod(a["kernel"]) * c * m + c * m * a["filters"] + (a["filters"] if a["bias"] else 0), 0


def _sep_macs(ins, a, out):
    c, m = ins[0][-1], a["depth_multiplier"]
    positions = prod(out[1:-1])
    return None if positions is None else (prod(a["kernel"]) * c * m + c * m * a["filters"]) * positions


SEPCONV = Op(
    "sepconv", ranks=UP_TO_2D, family="conv",
    args=(Arg("filters", "int", low=1), Arg("kernel", "size"), Arg("stride", "size", 1), PADDING,
          Arg("dilation", "size", 1), Arg("depth_multiplier", "int", 1, low=1), BIAS, ACT, *INITS),
    shape=_sep_shape, params=_sep_params, macs=_sep_macs,
    label=lambda a: f"sepconv {_k(a['kernel'])}{_suffix(a)} · {a['filters']}{_act(a)}",
    doc="SeparableConv1D or SeparableConv2D: a depthwise conv, then a pointwise 1×1 conv. kernel_init and "
        "kernel_reg apply to both kernels.",
)


def _dw_shape(ins, a):
    c = ins[0][-1]
    return (ins[0][0], *spatial(ins, a, a["kernel"], a["stride"], a["dilation"]),
            None if c is None else c * a["depth_multiplier"])


DWCONV = Op(
    "dwconv", ranks=UP_TO_2D, family="conv",
    args=(Arg("kernel", "size"), Arg("stride", "size", 1), PADDING, Arg("dilation", "size", 1),
          Arg("depth_multiplier", "int", 1, low=1), BIAS, ACT, *INITS),
    shape=_dw_shape,
    params=lambda ins, a, out: (prod(a["kernel"]) * out[-1] + (out[-1] if a["bias"] else 0), 0),
    macs=lambda ins, a, out: prod((*a["kernel"], *out[1:])),
    label=lambda a: f"dwconv {_k(a['kernel'])}{_suffix(a)}" + (f" ×{a['depth_multiplier']}" if a["depth_multiplier"] > 1 else "") + _act(a),
    doc="DepthwiseConv1D or DepthwiseConv2D: one filter per input channel (times depth_multiplier).",
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
    cip = a.get("count_include_pad")
    if isinstance(a["padding"], str) and not a["ceil_mode"]:
        if cip is not None:
            raise CnnError("type", "count_include_pad is for padding given in pixels (torch's rule); padding=same "
                                   "never counts the padding, as Keras pools", arg="count_include_pad")
        return (ins[0][0], *spatial(ins, a, a["pool"], stride), ins[0][-1])
    if a["padding"] == "same":
        raise CnnError("type", "ceil_mode needs padding=valid or a number of pixels", arg="ceil_mode")
    pads = (0,) * a["dims"] if a["padding"] == "valid" else a["padding"]
    if any(p > k // 2 for p, k in zip(pads, a["pool"])):
        raise CnnError("shape", f"padding {kxk(pads)} is more than half the {kxk(a['pool'])} window", arg="padding")
    out = tuple(torch_pool_len(n, k, s, p, a["ceil_mode"]) for n, k, s, p in zip(ins[0][1:-1], a["pool"], stride, pads))
    if any(o is not None and o <= 0 for o in out):
        raise CnnError("shape", f"a {kxk(a['pool'])} window does not fit the input "
                                + "×".join("?" if d is None else str(d) for d in ins[0][1:-1]))
    return (ins[0][0], *out, ins[0][-1])


def _pool_label(name):
    def label(a):
        pad = a["padding"]
        text = (f"{name} {_k(a['pool'])}{_suffix({**a, 'stride': a['stride'] or a['pool']})}"
                + (" same" if pad == "same" else "" if pad == "valid"
                   else f" pad {pad if isinstance(pad, int) else _k(pad) if len(set(pad)) > 1 else pad[0]}")
                + (" ceil" if a["ceil_mode"] else ""))
        return text + (" excl. pad" if a.get("count_include_pad") is False else "")
    return label


def _pool(name, keras_cls, extra=(), doc=""):
    return Op(
        name, ranks=ANY_RANK, family="pool",
        args=(Arg("pool", "size", 2), Arg("stride", "size", None),
              Arg("padding", "pool_padding", "valid", ("valid", "same")), Arg("ceil_mode", "bool", False), *extra),
        shape=_pool_shape, label=_pool_label(name),
        doc=f"{keras_cls}1D/2D/3D by the input's rank; stride defaults to the pool size, as in Keras. `padding` is "
            "valid, same, or pixels per side as torch pads (`padding=1`), with `ceil_mode` as torch's (cnndsl's "
            f"TorchPool layer).{doc}",
    )


def _global_shape(ins, a):
    return (ins[0][0], *(1,) * a["dims"], ins[0][-1]) if a["keepdims"] else (ins[0][0], ins[0][-1])


def _global(name, keras_cls):
    return Op(
        name, ranks=ANY_RANK, family="pool", args=(Arg("keepdims", "bool", False),),
        shape=_global_shape, label=lambda a: name.replace("_", " "),
        doc=f"{keras_cls}1D/2D/3D by the input's rank; keepdims=true keeps a spatial size of 1 (as SE blocks need).",
    )


def adaptive_bins(n: int, out: int) -> list:
    """torch's adaptive pooling bins along one axis: bin i covers [floor(i·n/out), ceil((i+1)·n/out))."""
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


def _adaptive_shape(name):
    def shape(ins, a):
        dims = ins[0][1:-1]
        if None in dims:
            raise CnnError("shape", f"{name} needs known spatial sizes (its bins depend on them), got "
                                    + "×".join("?" if d is None else str(d) for d in dims))
        return (ins[0][0], *a["size"], ins[0][-1])
    return shape


def _adaptive(name, mode):
    return Op(
        name, ranks=ANY_RANK, family="pool", args=(Arg("size", "size"),),
        shape=_adaptive_shape(name), label=lambda a: f"{name.replace('_', ' ')} {_k(a['size'])}",
        doc=f"torch's adaptive {mode} pooling to `size` (a number, or one per dimension): output bin i covers "
            "inputs floor(i·L/size) to ceil((i+1)·L/size), so bins overlap where the size does not divide L "
            "(cnndsl's AdaptivePool layer). The input's spatial sizes must be known.",
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
    dims = ins[0][1:-1]
    out = tuple(transpose_len(n, k, s, d, a["padding"], None if op is None else p)
                for n, k, s, d, p in zip(dims, a["kernel"], a["stride"], a["dilation"], op or (0,) * len(dims)))
    if any(o is not None and o <= 0 for o in out):
        raise CnnError("shape", f"the output would be empty ({'×'.join(map(str, out))})")
    return (ins[0][0], *out, a["filters"])


CONV_TRANSPOSE = Op(
    "conv_transpose", ranks=ANY_RANK, family="conv",
    args=(Arg("filters", "int", low=1), Arg("kernel", "size"), Arg("stride", "size", 1), PADDING,
          Arg("output_padding", "offset", None), Arg("dilation", "size", 1), BIAS, ACT, *INITS),
    shape=_tconv_shape,
    params=lambda ins, a, out: (prod(a["kernel"]) * ins[0][-1] * a["filters"] + (a["filters"] if a["bias"] else 0), 0),
    # Each input position scatters one kernel slice per input channel.
    macs=lambda ins, a, out: prod((*a["kernel"], ins[0][-1], a["filters"], *ins[0][1:-1])),
    label=lambda a: f"conv_transpose {_k(a['kernel'])}{_suffix(a).replace(' /', ' ×')} · {a['filters']}{_act(a)}",
    doc="Conv1DTranspose, Conv2DTranspose or Conv3DTranspose (an up-convolution), by the input's rank. "
        "∏kernel·C_in·filters weights plus filters biases; MACs ∏kernel·C_in·C_out per input position "
        "(every input position scatters a kernel).",
)


OPS = [CONV, CONV_TRANSPOSE, SEPCONV, DWCONV, _pool("maxpool", "MaxPooling"),
       _pool("avgpool", "AveragePooling", (Arg("count_include_pad", "bool", None),),
             " With padding in pixels, `count_include_pad` says which torch rule the average follows: true "
             "(torch's default) divides by the whole window, padding included; false by the inputs inside it."),
       _global("global_avgpool", "GlobalAveragePooling"), _global("global_maxpool", "GlobalMaxPooling"),
       _adaptive("adaptive_avgpool", "average"), _adaptive("adaptive_maxpool", "max")]
