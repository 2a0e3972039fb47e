"""IR graph -> PyTorch: a standalone module's source (``emit_torch``), and the ``nn.Module`` (``to_torch``).

The torch backend owns its table of builders (``BUILDERS``), one per op, as the Keras backend owns
its own. A builder takes the node and returns a ``Layer``: the constructor of its ``nn.Module``, as
Python source (``nn.Conv2d(64, 128, 3, padding=1, bias=False)``), or None for a computation with no
module (a merge, a reshape), and how the node is computed in ``forward`` from that module and its
input variables. Writing the source needs no torch; ``to_torch`` executes exactly that source, so
the module in process and the written file are one code path.

torch conventions, exactly:

- **Layout.** Tensors of rank 4 and more are channels-first (NCHW); ranks 2 and 3 keep the IR's
  order ((N, C), and (N, L, C) tokens, as torch's transformers have them). Axes the spec gives
  (``concat(axis=-1)``, ``split``, ``slice``, softmax) are mapped. 1-D window ops (Conv1d, pools,
  padding) read torch's (N, C, L): the (N, L, C) sequence is transposed around each; 3-D ones NCDHW; ``reshape`` and ``permute`` work
  in the IR's channels-last order (moving the channels back and forth), so their values are the
  Keras model's.
- **Padding.** TensorFlow's ``same`` is written as explicit padding, from the static L, H×W or D×H×W: symmetric
  in the layer's own ``padding=`` where it is, else an ``F.pad`` before it (a stride-2 3×3 conv on
  an even input pads 0 before and 1 after). Max pools pad with -inf, average pools with
  ``padding=same`` leave the padding out of the count (``count_include_pad=False``, or a
  sum/count where the padding is asymmetric); with explicit pixels they count it, as torch's
  default (the spec's ``padding=1``).
- **Normalisation.** BatchNorm's momentum is ``1 - Keras's`` and its epsilon is the spec's.
  ``layerscale`` is a bare ``nn.Parameter`` of its parent module, (C, 1, 1) over NCHW, as
  torchvision's ConvNeXt has its ``layer_scale``.
- **Flatten.** ``flatten`` is torch's (C, H, W order) where only dense layers read it (through
  dropout and activations), as torchvision's VGG and AlexNet have it: those dense layers' weight
  rows are in torch's order, and ``cnndsl.weights`` permutes them when it moves Keras weights
  (the root module's ``cnndsl_flatten`` names them, with the Keras (H, W, C) shape). A flatten read
  by anything else keeps Keras's (H, W, C) order, so its values are the Keras model's.

- **Attention.** Keras's MultiHeadAttention over token sequences (N, L, C), with one width C for
  the query, key/value, heads x key_dim and output, is torch's ``nn.MultiheadAttention`` (batch
  first): one packed (3 C, C) ``in_proj_weight`` and ``out_proj``, as torchvision's ViT has it.
  Any other is the preamble's ``MultiHeadAttention``: ``query``, ``key``, ``value`` and
  ``attention_output`` ``nn.Linear`` layers (Keras's (C, heads, dim) kernels flattened),
  softmax(Q K^T / sqrt(key_dim)) over every key/value position.
- **Learned tensors.** ``class_token`` and ``position_embedding`` are bare ``nn.Parameter``s of
  their parent module, (1, 1, C) and (1, L, C) (the input's torch shape with a batch axis of 1),
  as torchvision's ViT has its ``class_token`` and ``encoder.pos_embedding``.

Module paths come from layer names: the IR's name separator ``-`` is torch's ``.``. A derived name
``residual_3-conv_2`` is ``residual_3.conv_2``; a spec that writes ``name="layer1-0-conv1"`` gets
torchvision's ``layer1.0.conv1``. A container whose children are ``0``, ``1``, ... is an
``nn.Sequential``; a container that holds exactly the layers of one block call is a class named
after the block, with its own ``forward``; the network is the root class, and ``build()`` returns it.
"""
from __future__ import annotations

import keyword
import math
import re
import textwrap
from dataclasses import dataclass, field
from typing import Callable

from ..errors import CnnError
from ..ir import SEP, module_path
from ..ops import REGISTRY
from ..ops.learned import attended_axes


@dataclass(frozen=True)
class Layer:
    """How a node becomes torch: its module's constructor (source, or None) and its forward expression.

    ``call(m, xs)`` gives the expression computing the node from ``m`` (the module's expression,
    ``self.layer1[0].conv1``) and ``xs`` (its input variables). ``helpers`` are the classes of this
    backend's preamble (``HELPERS``) the constructor or expression uses."""

    init: str | None
    call: Callable
    helpers: tuple = ()


def _unsupported(node, why, hint=None):
    return CnnError("unsupported", f"`{node.op}` {why}: the torch backend can't build it exactly", node.span,
                    tuple(s.frame for s in node.scope if s.kind == "block"), hint=hint)


# --- layout and padding ------------------------------------------------------------------------------

def channels_first(shape) -> bool:
    """Whether torch holds a tensor of this IR shape channels-first (rank 4 and more)."""
    return len(shape) >= 4


def torch_axis(axis: int, shape) -> int:
    """The torch dim of an IR axis (channels-last, batch first) of a tensor of this shape."""
    rank = len(shape)
    a = axis % rank
    if not channels_first(shape) or a == 0:
        return a
    return 1 if a == rank - 1 else a + 1


def to_last(x: str, shape) -> str:
    """NCHW -> NHWC (explicit permutations: ONNX's exporter mistranslates negative movedim dims)."""
    r = len(shape)
    return f"{x}.permute(0, {', '.join(map(str, range(2, r)))}, 1)" if channels_first(shape) else x


def to_first(x: str, shape) -> str:
    r = len(shape)
    return f"{x}.permute(0, {r - 1}, {', '.join(map(str, range(1, r - 1)))})" if channels_first(shape) else x


def same_pads(node, n, k, s, d=1):
    """TensorFlow's 'same' padding of one axis, (before, after)."""
    if n is None:
        if s == 1:
            total = (k - 1) * d
            return total // 2, total - total // 2
        raise _unsupported(node, f"with padding=same and stride {s} over an unknown size",
                           hint="give the input a size (e.g. --set image=[224, 224, 3]): torch pads explicitly")
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def _pads(node, kernel, stride, dilation=None):
    """((before, after), ...) per spatial axis of a window op's padding (zeros for valid; Keras's
    causal 1-D padding all before)."""
    d = len(kernel)
    dilation = dilation or (1,) * d
    pad = node.args["padding"]
    if pad == "causal":
        return tuple(((k - 1) * dl, 0) for k, dl in zip(kernel, dilation))
    if pad != "same":
        return ((0, 0),) * d
    sizes = node.inputs[0].shape[1:-1]
    return tuple(same_pads(node, n, k, s, dl) for n, k, s, dl in zip(sizes, kernel, stride, dilation))


def _one(v):
    """``3`` for (3, 3), ``(1, 7)`` otherwise: how torch's constructors read best."""
    v = tuple(v)
    return str(v[0]) if len(set(v)) == 1 else str(v)


def _kw(**kw) -> str:
    return "".join(f", {k}={v}" for k, v in kw.items() if v is not None)


def _num(v) -> str:
    """A float as source, rounded where a conversion left noise (1 - 0.99)."""
    v = round(float(v), 12)
    return repr(int(v)) + ".0" if v == int(v) and abs(v) < 1e15 else repr(v)


def _padded(pads, x, value=None):
    """``F.pad`` of a channels-first tensor where padding is asymmetric, or the input itself."""
    if not any(p for pair in pads for p in pair):
        return x
    flat = ", ".join(f"{b}, {a}" for b, a in reversed(pads))   # F.pad lists the last axis first
    return f"F.pad({x}, ({flat})" + (f", value={value}" if value is not None else "") + ")"


def _symmetric(pads):
    return all(b == a for b, a in pads)


def _ndim(node) -> int:
    """The spatial rank of a window op's input: 1, 2 or 3."""
    return len(node.inputs[0].shape) - 2


def _cf_call(node, inner):
    """A channels-first call over the node's input: a 1-D input ((N, L, C) tokens in this backend) is
    transposed to torch's (N, C, L) and back; 2-D and 3-D inputs are channels-first already.
    ``inner(m, x)`` gets the channels-first input expression."""
    if len(node.inputs[0].shape) == 3:
        out_rank = len(node.shape)
        back = ".transpose(1, 2)" if out_rank == 3 else ""
        return lambda m, xs: f"{inner(m, xs[0] + '.transpose(1, 2)')}{back}"
    return lambda m, xs: inner(m, xs[0])


# --- activations -----------------------------------------------------------------------------------

def _softmax_dim(shape):
    return torch_axis(-1, shape)


def act_expr(fn, x: str, shape) -> str:
    """A Keras activation, by name, applied to ``x``, as a torch expression."""
    if fn in (None, "linear"):
        return x
    table = {
        "relu": "F.relu({})", "relu6": "F.relu6({})", "sigmoid": "torch.sigmoid({})", "tanh": "torch.tanh({})",
        "swish": "F.silu({})", "silu": "F.silu({})", "gelu": "F.gelu({})", "elu": "F.elu({})",
        "selu": "F.selu({})", "softplus": "F.softplus({})", "softsign": "F.softsign({})",
        "hard_sigmoid": "F.hardsigmoid({})", "hard_swish": "F.hardswish({})", "hard_silu": "F.hardswish({})",
        "leaky_relu": "F.leaky_relu({}, 0.2)", "exponential": "torch.exp({})", "mish": "F.mish({})",
        "softmax": "F.softmax({}, dim=%d)" % _softmax_dim(shape),
        "log_softmax": "F.log_softmax({}, dim=%d)" % _softmax_dim(shape),
        # Keras 3's further activations, by Keras's definitions (its default thresholds)
        "celu": "F.celu({})", "squareplus": "(({0}) + torch.sqrt(torch.square({0}) + 4.0)) / 2",
        "soft_shrink": "F.softshrink({}, 0.5)", "hard_shrink": "F.hardshrink({}, 0.5)",
        "sparse_plus": "torch.where(({0}) >= 1, {0}, torch.square(torch.clamp(({0}) + 1, min=0)) / 4)",
        "tanh_shrink": "F.tanhshrink({})", "sparse_sigmoid": "torch.clamp((({0}) + 1) / 2, 0.0, 1.0)",
        "hard_tanh": "F.hardtanh({})", "log_sigmoid": "F.logsigmoid({})",
    }
    return table[fn].format(x)


ACT_MODULES = {
    "relu": "nn.ReLU()", "relu6": "nn.ReLU6()", "sigmoid": "nn.Sigmoid()", "tanh": "nn.Tanh()",
    "swish": "nn.SiLU()", "silu": "nn.SiLU()", "gelu": "nn.GELU()", "elu": "nn.ELU()", "selu": "nn.SELU()",
    "softplus": "nn.Softplus()", "softsign": "nn.Softsign()", "hard_sigmoid": "nn.Hardsigmoid()",
    "hard_swish": "nn.Hardswish()", "hard_silu": "nn.Hardswish()", "leaky_relu": "nn.LeakyReLU(0.2)",
    "mish": "nn.Mish()", "linear": "nn.Identity()",
}


def _call(m, xs):
    return f"{m}({xs[0]})"


def _activation_layer(fn, node):
    shape = node.shape
    if fn in ("softmax", "log_softmax"):
        cls = "Softmax" if fn == "softmax" else "LogSoftmax"
        return Layer(f"nn.{cls}(dim={_softmax_dim(shape)})", _call)
    if fn == "sparsemax":
        return Layer(f"Sparsemax(dim={_softmax_dim(shape)})", _call, ("Sparsemax",))
    if fn in ACT_MODULES:
        return Layer(ACT_MODULES[fn], _call)
    return Layer(None, lambda m, xs: act_expr(fn, xs[0], shape))


def _with_act(node, call):
    """A layer's call followed by its ``activation=`` argument."""
    fn = node.args.get("activation")
    if fn == "sparsemax":
        raise _unsupported(node, "with activation=sparsemax (give it as its own layer: -> activation(sparsemax))")
    return lambda m, xs: act_expr(fn, call(m, xs), node.shape)


# --- builders --------------------------------------------------------------------------------------

def _ones(v) -> bool:
    return all(x == 1 for x in v)


def _window_kw(a, pads, sym):
    return dict(stride=_one(a["stride"]) if not _ones(a["stride"]) else None,
                padding=_one(tuple(p[0] for p in pads)) if sym and any(p[0] for p in pads) else None,
                dilation=_one(a["dilation"]) if not _ones(a["dilation"]) else None)


def _conv(node):
    a = node.args
    d = _ndim(node)
    cin = node.inputs[0].shape[-1]
    pads = _pads(node, a["kernel"], a["stride"], a["dilation"])
    sym = _symmetric(pads)
    init = (f"nn.Conv{d}d({cin}, {a['filters']}, {_one(a['kernel'])}"
            + _kw(**_window_kw(a, pads, sym),
                  groups=a["groups"] if a["groups"] != 1 else None, bias=None if a["bias"] else False) + ")")
    return Layer(init, _with_act(node, _cf_call(node, lambda m, x: f"{m}({x if sym else _padded(pads, x)})")))


def _dwconv(node):
    a = node.args
    d = _ndim(node)
    cin = node.inputs[0].shape[-1]
    pads = _pads(node, a["kernel"], a["stride"], a["dilation"])
    sym = _symmetric(pads)
    init = (f"nn.Conv{d}d({cin}, {cin * a['depth_multiplier']}, {_one(a['kernel'])}"
            + _kw(**_window_kw(a, pads, sym), groups=cin, bias=None if a["bias"] else False) + ")")
    return Layer(init, _with_act(node, _cf_call(node, lambda m, x: f"{m}({x if sym else _padded(pads, x)})")))


def _sepconv(node):
    a = node.args
    d = _ndim(node)
    if d == 3:
        raise _unsupported(node, "over a 3-D input (Keras has no SeparableConv3D)")
    cin = node.inputs[0].shape[-1]
    pads = _pads(node, a["kernel"], a["stride"], a["dilation"])
    sym = _symmetric(pads)
    init = (f"SeparableConv{d}d({cin}, {a['filters']}, {_one(a['kernel'])}"
            + _kw(**_window_kw(a, pads, sym),
                  depth_multiplier=a["depth_multiplier"] if a["depth_multiplier"] != 1 else None,
                  bias=None if a["bias"] else False) + ")")
    return Layer(init, _with_act(node, _cf_call(node, lambda m, x: f"{m}({x if sym else _padded(pads, x)})")),
                 (f"SeparableConv{d}d",))


def _conv_transpose(node):
    """Keras's output sizes: explicit output_padding as torch's; without it, 'valid' gives n·s +
    max(k - s, 0) and 'same' n·s, the full transposed conv cropped as TensorFlow crops it (the odd
    row at the end)."""
    a = node.args
    d = _ndim(node)
    cin = node.inputs[0].shape[-1]
    pad, opad, crop = [], [], []
    for k, s, dl, i in zip(a["kernel"], a["stride"], a["dilation"], range(d)):
        k = dl * (k - 1) + 1
        if a["output_padding"] is not None:
            pad.append(k // 2 if a["padding"] == "same" else 0)
            opad.append(a["output_padding"][i])
            crop.append((0, 0))
        elif a["padding"] == "valid" or k <= s:
            pad.append(0)
            opad.append(max(s - k, 0))
            crop.append((0, 0))
        else:
            total = k - s
            before = total // 2
            if before == total - before:
                pad.append(before)
                crop.append((0, 0))
            else:
                pad.append(0)
                crop.append((before, total - before))
            opad.append(0)
    init = (f"nn.ConvTranspose{d}d({cin}, {a['filters']}, {_one(a['kernel'])}"
            + _kw(stride=_one(a["stride"]) if not _ones(a["stride"]) else None,
                  padding=_one(pad) if any(pad) else None, output_padding=_one(opad) if any(opad) else None,
                  dilation=_one(a["dilation"]) if not _ones(a["dilation"]) else None,
                  bias=None if a["bias"] else False) + ")")

    def call(m, x):
        y = f"{m}({x})"
        if any(c != (0, 0) for c in crop):
            y += _crop_index(crop)
        return y
    return Layer(init, _with_act(node, _cf_call(node, call)))


def _crop_index(crop) -> str:
    """``[:, :, t:-b, l:-r]``: a channels-first tensor cropped per spatial axis."""
    return "[:, :, " + ", ".join(f"{b}:{-a if a else ''}" for b, a in crop) + "]"


NEG_INF = 'float("-inf")'


def _pool(mode):
    def build(node):
        a = node.args
        d = _ndim(node)
        cls = f"MaxPool{d}d" if mode == "max" else f"AvgPool{d}d"
        pool, stride = a["pool"], a["stride"] or a["pool"]
        kw = {"stride": _one(stride) if stride != pool else None}
        if a["padding"] == "valid" and not a["ceil_mode"]:
            return Layer(f"nn.{cls}({_one(pool)}{_kw(**kw)})", _cf_call(node, lambda m, x: f"{m}({x})"))
        if a["padding"] != "same":      # pixels per side, as torch pads (TorchPool2D)
            pads = (0,) * d if a["padding"] == "valid" else a["padding"]
            kw.update(padding=_one(pads) if any(pads) else None, ceil_mode=True if a["ceil_mode"] else None,
                      count_include_pad=False if mode == "avg" and a.get("count_include_pad") is False else None)
            return Layer(f"nn.{cls}({_one(pool)}{_kw(**kw)})", _cf_call(node, lambda m, x: f"{m}({x})"))
        pads = _pads(node, pool, stride)
        fits = _symmetric(pads) and all(p[0] <= k // 2 for p, k in zip(pads, pool))
        if fits:
            pad = tuple(p[0] for p in pads)
            kw.update(padding=_one(pad) if any(pad) else None,
                      count_include_pad=False if mode == "avg" and any(pad) else None)
            return Layer(f"nn.{cls}({_one(pool)}{_kw(**kw)})", _cf_call(node, lambda m, x: f"{m}({x})"))
        if mode == "max":
            return Layer(f"nn.{cls}({_one(pool)}{_kw(**kw)})",
                         _cf_call(node, lambda m, x: f"{m}({_padded(pads, x, NEG_INF)})"))
        flat = tuple(p for pair in reversed(pads) for p in pair)
        return Layer(f"AvgPool{d}dSame({_one(pool)}, {_one(stride)}, {flat})",
                     _cf_call(node, lambda m, x: f"{m}({x})"), (f"AvgPool{d}dSame",))
    return build


def _global(kind):
    def build(node):
        d = _ndim(node)
        keep = node.args["keepdims"]
        init = f"nn.Adaptive{kind}Pool{d}d(1)"
        if d == 1:     # (N, L, C) -> (N, C, 1) -> (N, 1, C) or (N, C)
            return Layer(init, (lambda m, xs: f"{m}({xs[0]}.transpose(1, 2)).transpose(1, 2)") if keep
                         else (lambda m, xs: f"{m}({xs[0]}.transpose(1, 2)).flatten(1)"))
        return Layer(init, (lambda m, xs: f"{m}({xs[0]})") if keep else (lambda m, xs: f"{m}({xs[0]}).flatten(1)"))
    return build


def _dense(node):
    a = node.args
    shape = node.inputs[0].shape
    init = f"nn.Linear({shape[-1]}, {a['units']}" + _kw(bias=None if a["bias"] else False) + ")"
    if channels_first(shape):
        call = lambda m, xs: to_first(f"{m}({to_last(xs[0], shape)})", shape)  # noqa: E731
    else:
        call = _call
    return Layer(init, _with_act(node, call))


def _bn(node):
    a = node.args
    shape = node.inputs[0].shape
    c = shape[-1]
    rank = len(shape)
    eps, mom = _num(a["epsilon"]), _num(1 - a["momentum"])
    if rank == 3:    # (N, L, C) tokens: BatchNorm1d reads (N, C, L)
        call = lambda m, xs: f"{m}({xs[0]}.transpose(1, 2)).transpose(1, 2)"  # noqa: E731
    else:
        call = _call
    if a["center"] and a["scale"]:
        dims = {2: 1, 3: 1, 4: 2, 5: 3}.get(rank)
        if dims is None:
            raise _unsupported(node, f"over a rank-{rank} tensor")
        return Layer(f"nn.BatchNorm{dims}d({c}, eps={eps}, momentum={mom})", call)
    return Layer(f"BatchNorm({c}, eps={eps}, momentum={mom}, center={a['center']}, scale={a['scale']})", call,
                 ("BatchNorm",))


def _layernorm(node):
    a = node.args
    shape = node.inputs[0].shape
    rank = len(shape)
    axes = sorted({x % rank for x in (a["axis"] if isinstance(a["axis"], tuple) else (a["axis"],))})
    eps = _num(a["epsilon"])
    if a["scale"] != a["center"] and not (a["scale"] and not a["center"]):
        raise _unsupported(node, "with center=true and scale=false (torch's LayerNorm has no bias without a weight)")
    affine = _kw(elementwise_affine=None if a["scale"] else False, bias=None if a["center"] or not a["scale"] else False)
    if channels_first(shape):
        if axes == [rank - 1]:
            return Layer(f"LayerNorm2d({shape[-1]}, eps={eps}{affine})", _call, ("LayerNorm2d",))
        if axes == list(range(1, rank)):     # every feature axis: torch's (C, H, W) order
            dims = (shape[-1], *shape[1:-1])
            return Layer(f"nn.LayerNorm({list(dims)}, eps={eps}{affine})", _call)
        raise _unsupported(node, f"over axes {axes} of a channels-first tensor")
    if axes != list(range(axes[0], rank)):
        raise _unsupported(node, "over axes that are not the last ones")
    dims = [shape[x] for x in axes]
    return Layer(f"nn.LayerNorm({dims[0] if len(dims) == 1 else dims}, eps={eps}{affine})", _call)


def _normalize(node):
    a = node.args
    shape = node.inputs[0].shape
    rank = len(shape)
    if (a["axis"] if isinstance(a["axis"], int) else None) is None or a["axis"] % rank != rank - 1:
        raise _unsupported(node, "over an axis other than the channels")
    dims = rank if channels_first(shape) else 0
    mean = None if a["mean"] is None else list(a["mean"]) if isinstance(a["mean"], tuple) else [a["mean"]]
    var = None if a["variance"] is None else list(a["variance"]) if isinstance(a["variance"], tuple) else [a["variance"]]
    return Layer(f"Normalization({shape[-1]}, {rank}, channels_first={bool(dims)}"
                 + _kw(mean=mean, variance=var) + ")", _call, ("Normalization",))


def _relu(node):
    a = node.args
    mx, slope, t = a["max_value"], a["negative_slope"], a["threshold"]
    if mx is None and not slope and not t:
        return Layer("nn.ReLU()", _call)
    if mx == 6 and not slope and not t:
        return Layer("nn.ReLU6()", _call)
    if slope and mx is None and not t:
        return Layer(f"nn.LeakyReLU({_num(slope)})", _call)

    def call(m, xs):   # Keras's relu: threshold, clip, then the negative slope below the threshold
        x = xs[0]
        y = f"F.relu({x})" if not t else f"{x} * ({x} > {_num(t)})"
        if mx is not None:
            y = f"({y}).clamp(0.0, {_num(mx)})"
        if slope:
            y = f"{y} - {_num(slope)} * F.relu({_num(t)} - {x})" if t else f"{y} - {_num(slope)} * F.relu(-{x})"
        return y
    return Layer(None, call)


def _hard_sigmoid(node):
    if node.args["layer"]:    # MobileNetV3's ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
        return Layer("nn.ReLU6()", lambda m, xs: f"{m}({xs[0]} + 3.0) * (1.0 / 6.0)")
    return Layer("nn.Hardsigmoid()", _call)


def _prelu(node):
    shape = list(node.inputs[0].shape[1:])
    for ax in node.args["shared_axes"] or ():
        shape[ax - 1] = 1
    if channels_first(node.inputs[0].shape):
        shape = [shape[-1]] + shape[:-1]
    return Layer(f"PReLU({shape})", _call, ("PReLU",))


def _layerscale(node):
    """A bare ``nn.Parameter`` of its parent module, shaped to broadcast ((C, 1, 1) over NCHW), as
    torchvision's ConvNeXt has its ``layer_scale``."""
    shape = node.shape
    dims = (shape[-1],) + (1,) * (len(shape) - 2) if channels_first(shape) else (shape[-1],)
    return Layer(f"nn.Parameter(torch.full({dims}, {_num(node.args['init'])}))", lambda m, xs: f"{xs[0]} * {m}")


def _flatten(node):
    """Keras's (H, W, C) order; the writer makes it torch's own where only dense layers read it."""
    shape = node.inputs[0].shape
    return Layer(None, lambda m, xs: f"{to_last(xs[0], shape)}.flatten(1)")


def _reshape(node):
    shape_in, shape_out = node.inputs[0].shape, node.shape
    dims = ", ".join(str(d) for d in node.args["shape"])

    def call(m, xs):
        return to_first(f"{to_last(xs[0], shape_in)}.reshape({xs[0]}.shape[0], {dims})", shape_out)
    return Layer(None, call)


def _dropout(node):
    a = node.args
    if a["noise_shape"] is None:
        return Layer(f"nn.Dropout({_num(a['rate'])})", _call)
    ns = list(a["noise_shape"])
    if channels_first(node.shape):
        ns = [ns[0], ns[-1], *ns[1:-1]]
    return Layer(f"Dropout({_num(a['rate'])}, {ns})", _call, ("Dropout",))


def _zeropad(node):
    pads = node.args["padding"]
    d = _ndim(node)
    flat = tuple(p for pair in reversed(pads) for p in pair)
    return Layer(f"nn.ZeroPad{d}d({flat})", _cf_call(node, lambda m, x: f"{m}({x})"))


def _crop(node):
    crop = node.args["cropping"]
    if len(node.inputs[0].shape) == 3:     # (N, L, C): the length is axis 1
        (b, a), = crop
        return Layer(None, lambda m, xs: f"{xs[0]}[:, {b}:{-a if a else ''}]")
    return Layer(None, lambda m, xs: f"{xs[0]}{_crop_index(crop)}")


def _upsample(node):
    a = node.args
    d = _ndim(node)
    mode = a["interpolation"]
    if d != 2 and mode != "nearest":
        raise _unsupported(node, f"with interpolation={mode} over a {d}-D input (Keras's UpSampling{d}D repeats)")
    size = (a["size"],) * d if isinstance(a["size"], int) else tuple(a["size"])
    extra = ", align_corners=False" if mode == "bilinear" else ""
    scale = _one(tuple(float(s) for s in size))
    return Layer(f'nn.Upsample(scale_factor={scale}, mode="{mode}"{extra})', _cf_call(node, lambda m, x: f"{m}({x})"))


def _resize(node):
    a = node.args
    mode = {"bilinear": ("bilinear", ", align_corners=False"), "nearest": ("nearest-exact", "")}.get(a["interpolation"])
    if mode is None:
        raise _unsupported(node, f"with interpolation={a['interpolation']} (torch's differs from TensorFlow's)")
    return Layer(f'nn.Upsample(size={tuple(a["size"])}, mode="{mode[0]}"{mode[1]})', _call)


def _split(node):
    a = node.args
    dim = torch_axis(a["axis"], node.inputs[0].shape)
    return Layer(None, lambda m, xs: f"torch.split({xs[0]}, {list(a['sizes'])}, dim={dim})")


def _slice(node):
    a = node.args
    shape = node.inputs[0].shape
    dim = torch_axis(a["axis"], shape)
    stop = "" if a["stop"] is None else a["stop"]
    return Layer(None, lambda m, xs: f"{xs[0]}[{':, ' * dim}{a['start']}:{stop}]")


def _permute(node):
    shape_in, shape_out = node.inputs[0].shape, node.shape
    dims = ", ".join(str(d) for d in node.args["dims"])
    return Layer(None, lambda m, xs: to_first(f"{to_last(xs[0], shape_in)}.permute(0, {dims})", shape_out))


def _concat(node):
    dim = torch_axis(node.args["axis"], node.shape)
    return Layer(None, lambda m, xs: f"torch.cat([{', '.join(xs)}], dim={dim})")


def _softmax(node):
    """Softmax over the last axis (Keras's Activation), or over the given axes."""
    axis = node.args.get("axis", -1)
    if axis == -1:
        return _activation_layer("softmax", node)
    axes = axis if isinstance(axis, tuple) else (axis,)
    dims = tuple(sorted(torch_axis(a, node.shape) for a in axes))
    if len(dims) == 1:
        return Layer(f"nn.Softmax(dim={dims[0]})", _call)
    return Layer(None, lambda m, xs: f"torch.exp({xs[0]} - torch.logsumexp({xs[0]}, dim={dims}, keepdim=True))")


def _fold(fn, xs):
    out = xs[0]
    for x in xs[1:]:
        out = f"{fn}({out}, {x})"
    return out


def _torch_dims(dims) -> tuple:
    """IR dims after the batch, in torch's order (channels first from rank 4 on)."""
    dims = tuple(dims)
    return (dims[-1], *dims[:-1]) if len(dims) >= 3 else dims


def _merge(sign):
    return lambda node: Layer(None, lambda m, xs: f" {sign} ".join(xs))


def _activation(fn):
    return lambda node: _activation_layer(fn, node)


def _as_layer(fn):
    return lambda node: _activation_layer(fn, node)


# --- elementwise math, reductions and the learned ops -------------------------------------------------

def _via_last(node, expr):
    """Compute in the IR's channels-last order (each input moved there, the output moved back): exact
    for broadcasting across ranks, new axes and IR axis numbers. ``expr(xs)`` gets the moved inputs."""
    shapes = [i.shape for i in node.inputs]
    if not any(channels_first(sh) for sh in shapes) and not channels_first(node.shape):
        return Layer(None, lambda m, xs: expr(list(xs)))
    return Layer(None, lambda m, xs: to_first(f"({expr([to_last(x, sh) for x, sh in zip(xs, shapes)])})",
                                              node.shape))


def _axes(node):
    a = node.args["axis"]
    rank = len(node.inputs[0].shape)
    axes = tuple(x % rank for x in (a if isinstance(a, tuple) else (a,)))
    return axes[0] if len(axes) == 1 else axes


def _reduce(fn):
    def build(node):
        keep = ", keepdim=True" if node.args["keepdims"] else ""
        return _via_last(node, lambda xs: f"{xs[0]}.{fn}(dim={_axes(node)}{keep})")
    return build


def _elementwise(template):
    return lambda node: Layer(None, lambda m, xs: template.format(*xs, **node.args))


def _stack(node):
    axis = node.args["axis"] % len(node.shape)
    return _via_last(node, lambda xs: f"torch.stack([{', '.join(xs)}], dim={axis})")


def _matmul(node):
    tb = ".transpose(-1, -2)" if node.args["transpose_b"] else ""
    return _via_last(node, lambda xs: f"torch.matmul({xs[0]}, {xs[1]}{tb})")


def _adaptive(kind):
    def build(node):
        shape = node.inputs[0].shape
        size = tuple(node.args["size"])
        d = len(shape) - 2
        init = f"nn.Adaptive{kind}Pool{d}d({size[0] if len(set(size)) == 1 else size})"
        if channels_first(shape):
            return Layer(init, _call)
        return Layer(init, lambda m, xs: f"{m}({xs[0]}.transpose(1, 2)).transpose(1, 2)")
    return build


def _groupnorm(node):
    a = node.args
    shape = node.inputs[0].shape
    if a["center"] != a["scale"]:
        raise _unsupported(node, "with only one of center and scale (torch's GroupNorm has both or neither)")
    init = f"nn.GroupNorm({a['groups']}, {shape[-1]}, eps={_num(a['epsilon'])}" + _kw(
        affine=None if a["scale"] else False) + ")"
    if channels_first(shape) or len(shape) == 2:
        return Layer(init, _call)
    return Layer(init, lambda m, xs: f"{m}({xs[0]}.transpose(1, -1)).transpose(1, -1)")


def _packed_attention(node) -> bool:
    """Whether torch's own ``nn.MultiheadAttention`` computes the node exactly, with its packed
    (3 C, C) ``in_proj_weight``: token sequences (N, L, C) with one width C for the query, the
    key/value, heads x key_dim and the output, value_dim key_dim, and biases on every projection or
    none (torchvision's ViT, ``self_attention.in_proj_weight``)."""
    a = node.args
    q_shape, kv_shape = node.inputs[0].shape, node.inputs[-1].shape
    c = q_shape[-1]
    return (len(q_shape) == 3 and len(kv_shape) == 3 and kv_shape[-1] == c == a["heads"] * a["key_dim"]
            and a["value_dim"] in (None, a["key_dim"]) and node.shape[-1] == c)


def _attention(node):
    """torch's ``nn.MultiheadAttention`` (packed ``in_proj_weight`` and ``out_proj``, batch first) where
    it is exactly Keras's MultiHeadAttention (``_packed_attention``); else the preamble's
    ``MultiHeadAttention``: the query, key and value Linear layers, softmax(QK^T / sqrt(key_dim)) over
    every position of the key/value, the output Linear. That one reads channels-last (moved there and
    back over a feature map)."""
    a = node.args
    q_shape, kv_shape = node.inputs[0].shape, node.inputs[-1].shape
    if _packed_attention(node):
        init = (f"nn.MultiheadAttention({q_shape[-1]}, {a['heads']}"
                + _kw(dropout=_num(a["dropout"]) if a["dropout"] else None, bias=None if a["use_bias"] else False)
                + ", batch_first=True)")

        def packed(m, xs):
            return f"{m}({xs[0]}, {xs[-1]}, {xs[-1]}, need_weights=False)[0]"
        return Layer(init, packed)
    vd = a["value_dim"] or a["key_dim"]
    axes = attended_axes(q_shape, kv_shape, a["axes"])
    init = (f"MultiHeadAttention({q_shape[-1]}, {kv_shape[-1]}, {a['heads']}, {a['key_dim']}, {vd}, {node.shape[-1]}"
            + _kw(dropout=_num(a["dropout"]) if a["dropout"] else None, bias=None if a["use_bias"] else False,
                  axes=None if a["axes"] is None else list(axes)) + ")")

    def call(m, xs):
        return to_first(f"{m}({to_last(xs[0], q_shape)}, {to_last(xs[-1], kv_shape)})", node.shape)
    return Layer(init, call, ("MultiHeadAttention",))


def _class_token(node):
    """A bare ``nn.Parameter`` (1, 1, C) of its parent module, put before the sequence, as torchvision's
    ViT has its ``class_token``."""
    return Layer(f"nn.Parameter(torch.zeros(1, 1, {node.shape[-1]}))",
                 lambda m, xs: f"torch.cat([{m}.expand({xs[0]}.shape[0], -1, -1), {xs[0]}], dim=1)")


def _position_embedding(node):
    """A bare ``nn.Parameter`` of the input's torch shape with a batch axis of 1, added, as torchvision's
    ViT has its ``encoder.pos_embedding`` (1, L, C)."""
    dims = (1, *_torch_dims(node.shape[1:]))
    return Layer(f"nn.Parameter(torch.randn({dims}) * 0.02)", lambda m, xs: f"{xs[0]} + {m}")


BUILDERS: dict[str, Callable] = {
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "sepconv": _sepconv,
    "dwconv": _dwconv,
    "maxpool": _pool("max"),
    "avgpool": _pool("avg"),
    "global_avgpool": _global("Avg"),
    "global_maxpool": _global("Max"),
    "adaptive_avgpool": _adaptive("Avg"),
    "adaptive_maxpool": _adaptive("Max"),
    "dense": _dense,
    "bn": _bn,
    "layernorm": _layernorm,
    "normalize": _normalize,
    "lrn": lambda node: Layer("LRN({radius}, {alpha}, {beta}, {bias})".format(
        radius=node.args["radius"], **{k: _num(node.args[k]) for k in ("alpha", "beta", "bias")}), _call, ("LRN",)),
    "layerscale": lambda node: _layerscale(node),
    "stochastic_depth": lambda node: Layer(f"StochasticDepth({_num(node.args['rate'])})", _call, ("StochasticDepth",)),
    "activation": lambda node: _activation_layer(node.args["fn"], node),
    "relu": _relu,
    "relu6": _as_layer("relu6"),
    "hard_sigmoid": _hard_sigmoid,
    **{fn: _activation(fn) for fn in ("sigmoid", "tanh", "swish", "silu", "gelu", "hard_swish")},
    "softmax": lambda node: _softmax(node),
    "leaky_relu": lambda node: Layer(f"nn.LeakyReLU({_num(node.args['slope'])})", _call),
    "elu": lambda node: Layer(f"nn.ELU({_num(node.args['alpha'])})", _call),
    "prelu": _prelu,
    "flatten": _flatten,
    "reshape": _reshape,
    "dropout": _dropout,
    "zeropad": _zeropad,
    "crop": _crop,
    "upsample": _upsample,
    "rescaling": lambda node: Layer(None, lambda m, xs: f"{xs[0]} * {_num(node.args['scale'])}"
                                    + (f" + {_num(node.args['offset'])}" if node.args["offset"] else "")),
    "concat": _concat,
    "add": _merge("+"),
    "multiply": _merge("*"),
    "subtract": _merge("-"),
    "maximum": lambda node: Layer(None, lambda m, xs: _fold("torch.maximum", xs)),
    "minimum": lambda node: Layer(None, lambda m, xs: _fold("torch.minimum", xs)),
    "average": lambda node: Layer(None, lambda m, xs: f"({' + '.join(xs)}) / {len(xs)}"),
    "divide": lambda node: _via_last(node, lambda xs: f"{xs[0]} / {xs[1]}"),
    "stack": _stack,
    "matmul": _matmul,
    "weighted_add": lambda node: Layer(f'WeightedAdd({len(node.inputs)}, "{node.args["normalize"]}")',
                                       lambda m, xs: f"{m}([{', '.join(xs)}])", ("WeightedAdd",)),
    "abs": _elementwise("torch.abs({0})"),
    "square": _elementwise("torch.square({0})"),
    "sqrt": _elementwise("torch.sqrt({0})"),
    "exp": _elementwise("torch.exp({0})"),
    "log": _elementwise("torch.log({0})"),
    "power": lambda node: Layer(None, lambda m, xs: f"torch.pow({xs[0]}, {_num(node.args['p'])})"),
    "reduce_mean": _reduce("mean"),
    "reduce_max": _reduce("amax"),
    "reduce_sum": _reduce("sum"),
    "attention": _attention,
    "class_token": _class_token,
    "position_embedding": _position_embedding,
    "grn": lambda node: Layer(f"GRN({node.shape[-1]}, {_num(node.args['epsilon'])}, "
                              f"channels_first={channels_first(node.shape)})", _call, ("GRN",)),
    "groupnorm": _groupnorm,
    "scaled_add": lambda node: Layer(None, lambda m, xs: f"{xs[0]} + {xs[1]} * {_num(node.args['scale'])}"),
    "split": _split,
    "slice": _slice,
    "permute": _permute,
    "channel_shuffle": lambda node: Layer(f"ChannelShuffle({node.args['groups']})", _call, ("ChannelShuffle",)),
    "resize": _resize,
}


def builder(node) -> Callable:
    """The node's torch builder, or a located "not supported by this backend" error."""
    make = BUILDERS.get(node.op)
    if make is None:
        raise CnnError("unsupported", f"`{node.op}` is not supported by the torch backend", node.span,
                       tuple(s.frame for s in node.scope if s.kind == "block"))
    return make


# --- the preamble: the few modules torch.nn lacks ------------------------------------------------------

HELPERS = {
    "SeparableConv2d": '''
class SeparableConv2d(nn.Module):
    """Keras's SeparableConv2D: a depthwise conv (depth_multiplier per channel), then a 1x1 pointwise conv."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 depth_multiplier=1, bias=True):
        super().__init__()
        mid = in_channels * depth_multiplier
        self.depthwise = nn.Conv2d(in_channels, mid, kernel_size, stride=stride, padding=padding,
                                   dilation=dilation, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(mid, out_channels, 1, bias=bias)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
''',
    "AvgPool2dSame": '''
class AvgPool2dSame(nn.Module):
    """Average pooling with TensorFlow's asymmetric 'same' padding: the padding is left out of the count."""

    def __init__(self, kernel_size, stride, pad):
        super().__init__()
        self.kernel_size, self.stride, self.pad = kernel_size, stride, pad

    def forward(self, x):
        sums = F.avg_pool2d(F.pad(x, self.pad), self.kernel_size, self.stride)
        counts = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), self.pad), self.kernel_size, self.stride)
        return sums / counts
''',
    "BatchNorm": '''
class BatchNorm(nn.Module):
    """BatchNorm with a scale (weight) or a center (bias) alone, as Keras's center= and scale= allow."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, center=True, scale=True):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features)) if scale else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if center else None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)
''',
    "LayerNorm2d": '''
class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (as torchvision's ConvNeXt has it)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
''',
    "Normalization": '''
class Normalization(nn.Module):
    """Keras's Normalization over the channels: (x - mean) / max(sqrt(variance), 1e-7). Given mean and
    variance are constants; unset, they are state (with Keras's sample count)."""

    def __init__(self, channels, rank, channels_first=True, mean=None, variance=None):
        super().__init__()
        shape = [1, channels] + [1] * (rank - 2) if channels_first else [1] * (rank - 1) + [channels]
        given = mean is not None
        mean = torch.tensor(mean if given else [0.0] * channels).expand(channels).reshape(shape)
        variance = torch.tensor(variance if given else [1.0] * channels).expand(channels).reshape(shape)
        self.register_buffer("mean", mean.clone(), persistent=not given)
        self.register_buffer("variance", variance.clone(), persistent=not given)
        if not given:
            self.register_buffer("count", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        return (x - self.mean) / torch.clamp(torch.sqrt(self.variance), min=1e-7)
''',
    "LRN": '''
class LRN(nn.Module):
    """Local response normalisation across channels, as tf.nn.local_response_normalization:
    x / (bias + alpha * sum of x**2 over channels c - radius .. c + radius) ** beta."""

    def __init__(self, radius=5, alpha=1.0, beta=0.5, bias=1.0):
        super().__init__()
        self.radius, self.alpha, self.beta, self.bias = radius, alpha, beta, bias

    def forward(self, x):
        r, c = self.radius, x.shape[1]
        padded = F.pad(x * x, (0, 0, 0, 0, r, r))
        total = padded[:, :c]
        for offset in range(1, 2 * r + 1):
            total = total + padded[:, offset:offset + c]
        return x / (self.bias + self.alpha * total) ** self.beta
''',
    "StochasticDepth": '''
class StochasticDepth(nn.Module):
    """Drops a sample's whole residual path with probability `rate` in training; the identity in eval."""

    def __init__(self, rate):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = torch.empty([x.shape[0]] + [1] * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep
''',
    "Dropout": '''
class Dropout(nn.Module):
    """Dropout with one mask shared along the axes where Keras's noise_shape is 1."""

    def __init__(self, rate, noise_shape):
        super().__init__()
        self.rate, self.noise_shape = rate, noise_shape

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        shape = [x.shape[i] if n is None else n for i, n in enumerate(self.noise_shape)]
        keep = 1.0 - self.rate
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep
''',
    "PReLU": '''
class PReLU(nn.Module):
    """Keras's PReLU: a learned slope per position (shape: the input's, 1 along shared axes)."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self, x):
        return F.relu(x) - self.weight * F.relu(-x)
''',
    "WeightedAdd": '''
class WeightedAdd(nn.Module):
    """A learned weight per input (BiFPN's fusion): `fast` is relu(w) / (sum relu(w) + 1e-4), `softmax`
    softmax(w), `none` relu(w)."""

    def __init__(self, n, normalize="fast"):
        super().__init__()
        self.normalize = normalize
        self.w = nn.Parameter(torch.ones(n))

    def forward(self, xs):
        if self.normalize == "softmax":
            w = torch.softmax(self.w, 0)
        else:
            w = F.relu(self.w)
            if self.normalize == "fast":
                w = w / (w.sum() + 1e-4)
        out = xs[0] * w[0]
        for i in range(1, len(xs)):
            out = out + xs[i] * w[i]
        return out
''',
    "GRN": '''
class GRN(nn.Module):
    """ConvNeXt V2's global response normalisation: Gx = ||x||_2 over the spatial axes,
    Nx = Gx / (mean over channels of Gx + eps), out = gamma * (x * Nx) + beta + x."""

    def __init__(self, channels, eps=1e-6, channels_first=True):
        super().__init__()
        self.eps, self.channels_first = eps, channels_first
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        if self.channels_first:
            spatial, channel = tuple(range(2, x.dim())), 1
            shape = [-1] + [1] * (x.dim() - 2)
        else:
            spatial, channel = tuple(range(1, x.dim() - 1)), -1
            shape = [-1]
        gx = torch.sqrt(torch.sum(x * x, dim=spatial, keepdim=True))
        nx = gx / (gx.mean(dim=channel, keepdim=True) + self.eps)
        return self.gamma.reshape(shape) * (x * nx) + self.beta.reshape(shape) + x
''',
    "ChannelShuffle": '''
class ChannelShuffle(nn.Module):
    """ShuffleNet's shuffle: channels seen as (groups, C / groups), transposed, flattened back."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c = x.shape[0], x.shape[1]
        x = x.reshape(n, self.groups, c // self.groups, *x.shape[2:]).transpose(1, 2)
        return x.reshape(n, c, *x.shape[3:])
''',
    "MultiHeadAttention": '''
class MultiHeadAttention(nn.Module):
    """Keras's MultiHeadAttention: query, key and value projections to `heads` heads, softmax(Q K^T /
    sqrt(key_dim)) over every position of the key/value (dropout on those weights), the output
    projection. Inputs are channels-last (N, ..., C); the positions are every axis between, or the
    `axes` given (the other position axes are then independent, as the batch)."""

    def __init__(self, query_dim, kv_dim, heads, key_dim, value_dim, out_dim, dropout=0.0, bias=True, axes=None):
        super().__init__()
        self.heads, self.key_dim, self.value_dim, self.axes = heads, key_dim, value_dim, axes
        self.query = nn.Linear(query_dim, heads * key_dim, bias=bias)
        self.key = nn.Linear(kv_dim, heads * key_dim, bias=bias)
        self.value = nn.Linear(kv_dim, heads * value_dim, bias=bias)
        self.attention_output = nn.Linear(heads * value_dim, out_dim, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x, dim):
        return x.reshape(x.shape[0], -1, self.heads, dim).transpose(1, 2)      # (N, heads, positions, dim)

    def forward(self, query, value):
        if self.axes is None:
            return self._attend(query, value)
        # attention over `axes` only (Keras's attention_axes): the other position axes join the batch
        rank = query.dim()
        keep = [a for a in range(1, rank - 1) if a not in self.axes]
        order = [0, *keep, *self.axes, rank - 1]
        q, v = query.permute(order), value.permute(order)
        lead = q.shape[:1 + len(keep)]
        y = self._attend(q.reshape(-1, *q.shape[1 + len(keep):]), v.reshape(-1, *v.shape[1 + len(keep):]))
        y = y.reshape(*lead, *y.shape[1:])
        return y.permute([order.index(a) for a in range(rank)])

    def _attend(self, query, value):
        n, positions = query.shape[0], query.shape[1:-1]
        q = self._heads(self.query(query), self.key_dim) * self.key_dim ** -0.5
        k = self._heads(self.key(value), self.key_dim)
        v = self._heads(self.value(value), self.value_dim)
        weights = self.dropout(torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1))
        y = torch.matmul(weights, v).transpose(1, 2).reshape(n, *positions, self.heads * self.value_dim)
        return self.attention_output(y)
''',
    "Sparsemax": '''
class Sparsemax(nn.Module):
    """Sparsemax (Martins & Astudillo, 2016), as Keras's: the Euclidean projection onto the simplex."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        z = x.movedim(self.dim, -1)
        zs = torch.sort(z, dim=-1, descending=True).values
        k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
        cum = zs.cumsum(-1)
        support = (1 + k * zs > cum).sum(-1, keepdim=True)
        tau = (cum.gather(-1, support - 1) - 1) / support.to(z.dtype)
        return torch.clamp(z - tau, min=0).movedim(-1, self.dim)
''',
}


# the 1-D and 3-D forms of the 2-D helpers: the same code over torch's other ranks
HELPERS["SeparableConv1d"] = HELPERS["SeparableConv2d"].replace("2d", "1d").replace("2D", "1D")
for _d in (1, 3):
    HELPERS[f"AvgPool{_d}dSame"] = HELPERS["AvgPool2dSame"].replace("2d", f"{_d}d")


# --- the module tree ---------------------------------------------------------------------------------

@dataclass(eq=False)
class Box:
    """A module of the tree: a leaf (one node's module) or a container of named children."""

    path: tuple
    node: object = None                      # a leaf's node
    layer: Layer | None = None
    children: dict = field(default_factory=dict)
    scope: object = None                     # the block call whose layers this container holds exactly
    nodes: list = field(default_factory=list)   # the nodes its forward computes (a block or the root)

    @property
    def sequential(self) -> bool:
        return bool(self.children) and self.scope is None and sorted(self.children) == [str(i) for i in range(len(self.children))]


def _camel(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return out if out and not out[0].isdigit() else "M" + out


def _ident(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or s[0].isdigit():
        s = "x" + s
    return s + "_" if keyword.iskeyword(s) or s in ("self", "torch", "nn", "F", "build") else s


def _flatten_torch_order(graph) -> dict:
    """Flatten nodes whose only readers are dense layers (through dropout and activations): those
    flatten in torch's order. Returns {dense node name: Keras (H, W, C) shape it reads}."""
    readers = {n.name: [] for n in graph.nodes}
    for n in graph.nodes:
        for i in n.inputs:
            readers[i.name].append(n)
    outputs = {n.name for n in graph.outputs.values()}
    through = {"dropout", "stochastic_depth", "relu", "relu6", "sigmoid", "tanh", "swish", "silu", "gelu",
               "hard_swish", "hard_sigmoid", "leaky_relu", "elu", "identity"}
    permuted, flat = {}, set()
    for n in graph.nodes:
        if n.op != "flatten" or not channels_first(n.inputs[0].shape):
            continue
        if n.inputs[0].shape[1:3] == (1, 1):
            continue
        denses, stack, ok = [], [n], True
        while stack and ok:
            m = stack.pop()
            if m.name in outputs:
                ok = False
                break
            for r in readers[m.name]:
                if r.op == "dense":
                    denses.append(r)
                elif r.op in through and len(r.inputs) == 1:
                    stack.append(r)
                else:
                    ok = False
        if ok and denses:
            flat.add(n.name)
            for d in denses:
                permuted[d.name] = tuple(n.inputs[0].shape[1:])
    return permuted, flat


def _tree(graph, torch_flatten=frozenset()):
    """The module tree from the layer names, with block calls mapped to the containers they fill."""
    root = Box(())
    leaves = {}
    for node in graph.nodes:
        if node.op in ("input", "take"):
            continue
        layer = Layer("nn.Flatten()", _call) if node.name in torch_flatten else builder(node)(node)
        if layer.init is None:
            leaves[node.name] = (None, layer)
            continue
        shared = getattr(node, "shares", None)
        if shared is not None:          # `shared`: the first call's module, used again
            leaves[node.name] = (leaves[shared.name][0], layer)
            continue
        path = module_path(node.name)
        if any(not p for p in path):
            raise CnnError("unsupported", f"layer name `{node.name}` has an empty step between `{SEP}`s, so it "
                                          "is no torch module path", node.span)
        box = root
        for k, step in enumerate(path[:-1]):
            nxt = box.children.get(step)
            if nxt is None:
                nxt = box.children[step] = Box(path[:k + 1])
            if nxt.node is not None:
                raise CnnError("unsupported", f"`{'.'.join(path[:k + 1])}` is a layer and also holds `{node.name}` "
                                              "(torch modules have one path each)", node.span)
            box = nxt
        if path[-1] in box.children:
            raise CnnError("unsupported", f"layer `{node.name}` is also the path of other layers "
                                          "(torch modules have one path each)", node.span)
        leaf = box.children[path[-1]] = Box(path, node, layer)
        leaves[node.name] = (leaf, layer)
    # Block calls onto containers: the container at the layers' common path, holding exactly them.
    by_path = {}

    def index(box):
        by_path[box.path] = box
        for c in box.children.values():
            index(c)
    index(root)
    below = {}

    def collect(box):
        if box.node is not None:
            out = {box.node.name}
        else:
            out = set()
            for c in box.children.values():
                out |= collect(c)
        below[box.path] = out
        return out
    collect(root)
    scopes = {}
    for node in graph.nodes:
        for s in node.scope:
            if s.kind == "block":
                scopes.setdefault(s.id, (s, []))[1].append(node)
    for sid, (scope, nodes) in scopes.items():     # parents first (dict order follows the graph)
        if any(getattr(n, "shares", None) is not None for n in nodes):
            continue      # a shared module may live outside this block: its calls are the root's
        owned = [n for n in nodes if n.name in leaves and leaves[n.name][0] is not None]
        if not owned:
            continue
        paths = [module_path(n.name) for n in owned]
        common = paths[0][:-1]
        for p in paths[1:]:
            k = 0
            while k < min(len(common), len(p) - 1) and common[k] == p[k]:
                k += 1
            common = common[:k]
        box = by_path.get(common)
        if not common or box is None or box.scope is not None or below[common] != {n.name for n in owned}:
            continue
        box.scope = scope
    return root, leaves


# --- the source ----------------------------------------------------------------------------------

def _ref(rel: tuple, parent_seq: list) -> str:
    """``self.layer1[0].conv1``: a descendant's expression, from the relative path."""
    out = "self"
    for step, seq in zip(rel, parent_seq):
        if seq and step.isdigit():
            out += f"[{step}]"
        elif step.isidentifier() and not keyword.iskeyword(step):
            out += f".{step}"
        else:
            out = f'getattr({out}, "{step}")'
    return out


class _Writer:
    def __init__(self, graph):
        self.graph = graph
        self.permuted, flat = _flatten_torch_order(graph)
        self.root, self.leaves = _tree(graph, flat)
        self.classes = {}            # class source -> class name
        self.order = []              # (name, source) in definition order
        self.helpers = set()
        self.readers = {n.name: [] for n in graph.nodes}
        for n in graph.nodes:
            for i in n.inputs:
                self.readers[i.name].append(n)
        self.outputs = {n.name for n in graph.outputs.values()}
        self.by_path = {}
        self._index(self.root)
        self.mapped = {b.scope.id: b for b in self.by_path.values() if b.scope is not None}
        self.members = {}           # scope id -> its nodes, in graph order
        for n in graph.nodes:
            for s in n.scope:
                self.members.setdefault(s.id, []).append(n)
        self.position = {n.name: k for k, n in enumerate(graph.nodes)}

    def _index(self, box):
        self.by_path[box.path] = box
        for c in box.children.values():
            self._index(c)

    # constructors
    def construct(self, box) -> str:
        """The expression constructing a box's module."""
        if box.node is not None:
            self.helpers.update(box.layer.helpers)
            return box.layer.init
        if box.sequential:
            items = [self.construct(box.children[str(i)]) for i in range(len(box.children))]
            return "nn.Sequential(\n" + textwrap.indent(",\n".join(items), "    ") + ",\n)"
        return self.define(box) + "()"

    def define(self, box, root_name=None) -> str:
        """Define the class of a container (once per distinct source); its name."""
        lines = []
        for name, child in box.children.items():
            expr = self.construct(child)
            if name.isidentifier() and not keyword.iskeyword(name):
                lines.append(f"self.{name} = {expr}")
            else:
                lines.append(f'self.add_module("{name}", {expr})')
        if box is self.root:
            base = _camel(self.graph.name)
        elif box.scope is not None:
            base = _camel(box.scope.block.split(".")[-1])
        else:
            base = _camel(box.path[-1])
        if box is self.root:            # `trainable=false`: frozen weights
            for n in self.graph.nodes:
                leaf = self.leaves.get(n.name, (None,))[0]
                if getattr(n, "frozen", False) and leaf is not None and getattr(n, "shares", None) is None:
                    path = ".".join(leaf.path)
                    what = "get_parameter" if leaf.layer.init.startswith("nn.Parameter") else "get_submodule"
                    lines.append(f'self.{what}("{path}").requires_grad_(False)     # trainable=false')
        body = "def __init__(self):\n    super().__init__()\n" + textwrap.indent("\n".join(lines), "    ")
        doc = None
        if box is self.root:
            doc = f'"""The network `{self.graph.name}` of the spec."""'
            if self.permuted:
                body = ("# Dense layers that read a flatten in torch's (C, H, W) order, with the Keras (H, W, C)\n"
                        "# shape of what they flatten: cnndsl.weights permutes their rows when moving Keras weights.\n"
                        f"cnndsl_flatten = {self.permuted!r}\n\n" + body)
        elif box.scope is not None:
            doc = f'"""{box.scope.label}"""\n\ncnndsl_block = {box.scope.block!r}'
        if box is self.root or box.scope is not None:
            body += "\n\n" + self.forward(box)
        key = body
        if key in self.classes:
            return self.classes[key]
        taken = set(self.classes.values()) | set(HELPERS)
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}{k}"
        self.classes[key] = name
        src = f"class {name}(nn.Module):\n" + (textwrap.indent(doc, "    ") + "\n\n" if doc else "") + textwrap.indent(body, "    ")
        self.order.append((name, src))
        return name

    # forward
    def forward(self, box) -> str:
        graph = self.graph
        if box is self.root:
            nodes = [n for n in graph.nodes]
        else:
            nodes = self.members[box.scope.id]
        inside = {n.name for n in nodes}
        if box is self.root:
            ins = list(graph.inputs.values())
            outs = list(graph.outputs.values())
        else:
            ins, outs = [], []
            for n in nodes:
                for i in n.inputs:
                    if i.name not in inside and i not in ins:
                        ins.append(i)
                if n.name in self.outputs or any(r.name not in inside for r in self.readers[n.name]):
                    outs.append(n)
        names, var = set(), {}

        def fresh(node, label=None):
            base = _ident(label or (module_path(node.name)[-1] if node.op != "take" else
                                    module_path(node.inputs[0].name)[-1] + f"_{node.args['index'] + 1}"))
            v, k = base, 1
            while v in names:
                k += 1
                v = f"{base}_{k}"
            names.add(v)
            var[node.name] = v
            return v
        if box is self.root:
            params = [fresh(n) for n in ins]
        else:
            params = []
            for k, n in enumerate(ins):
                v = "x" if len(ins) == 1 else f"x{k + 1}"
                names.add(v)
                var[n.name] = v
                params.append(v)
        lines = []
        depth = len(box.path)
        at = {n.name: j for j, n in enumerate(nodes)}
        done = set()
        k = 0
        while k < len(nodes):
            n = nodes[k]
            if n.op == "input":
                k += 1
                continue
            sub = self._sub_block(n, box)
            if sub is not None:
                members = self.members[sub.scope.id]
                k = at[members[-1].name] + 1
                run = self._sequential_run(sub, at, k, box)
                if run is not None:
                    seq, members2, k = run
                    members = members2
                    target = seq
                else:
                    target = sub
                sub_ins, sub_outs = self._ports(members)
                expr = f"{_ref(target.path[depth:], self._seqs(target.path, depth))}({', '.join(var[i.name] for i in sub_ins)})"
                outs_v = [fresh(o) for o in sub_outs]
                if len(sub_outs) == 1:     # named after the block's module: `layer1 = self.layer1(x)`
                    names.discard(outs_v[0])
                    del var[sub_outs[0].name]
                    outs_v = [fresh(sub_outs[0], target.path[-1])]
                lines.append(f"{', '.join(outs_v)} = {expr}")
                done.update(m.name for m in members)
                continue
            k += 1
            if n.op == "take":
                lines.append(f"{fresh(n)} = {var[n.inputs[0].name]}[{n.args['index']}]")
                continue
            leaf, layer = self.leaves[n.name]
            m = None if leaf is None else _ref(leaf.path[depth:], self._seqs(leaf.path, depth))
            if leaf is None:
                self.helpers.update(layer.helpers)
            expr = layer.call(m, [var[i.name] for i in n.inputs])
            lines.append(f"{fresh(n)} = {expr}")
        ret = ", ".join(var[o.name] for o in outs)
        lines.append(f"return {ret}")
        return f"def forward(self, {', '.join(params)}):\n" + textwrap.indent("\n".join(lines), "    ")

    def _seqs(self, path, depth):
        """For each step of path after depth: whether its parent is an nn.Sequential."""
        return [self.by_path[path[:j]].sequential for j in range(depth, len(path))]

    def _sub_block(self, node, box):
        """The outermost container-mapped block call below ``box`` that holds ``node``, if any."""
        scopes = node.scope
        start = 0 if box is self.root else [s.id for s in scopes].index(box.scope.id) + 1
        for s in scopes[start:]:
            if s.kind == "block" and s.id in self.mapped:
                return self.mapped[s.id]
        return None

    def _ports(self, members):
        inside = {m.name for m in members}
        ins, outs = [], []
        for n in members:
            for i in n.inputs:
                if i.name not in inside and i not in ins:
                    ins.append(i)
            if n.name in self.outputs or any(r.name not in inside for r in self.readers[n.name]):
                outs.append(n)
        return ins, outs

    def _sequential_run(self, sub, at, k, box):
        """A whole nn.Sequential of chained blocks (``self.layer1(x)``), when ``sub`` is its first child."""
        parent = self.by_path.get(sub.path[:-1])
        if parent is None or parent is box or not parent.sequential or sub.path[-1] != "0":
            return None
        children = [parent.children[str(i)] for i in range(len(parent.children))]
        if any(c.scope is None for c in children):
            return None
        members, prev_out = [], None
        pos = k - len(self.members[sub.scope.id])
        for c in children:
            ms = self.members[c.scope.id]
            if not ms or at.get(ms[0].name) != pos:
                return None
            ins, outs = self._ports(ms)
            if len(ins) != 1 or len(outs) != 1 or (prev_out is not None and ins[0] is not prev_out):
                return None
            if prev_out is not None and len(self.readers[prev_out.name]) != 1:
                return None
            members += ms
            prev_out = outs[0]
            pos += len(ms)
        return parent, members, pos


def emit_torch(graph) -> str:
    """The source of a standalone PyTorch module for the graph: torch only, ``build()`` returns it."""
    w = _Writer(graph)
    root = w.define(w.root)
    helpers = "".join("\n" + HELPERS[h] for h in HELPERS if h in w.helpers)
    classes = "\n\n\n".join(src for _name, src in w.order)
    ins = ", ".join(f"{n.name} {tuple(n.shape)}" for n in graph.inputs.values())
    header = (f'"""The network `{graph.name}`, written by cnndsl for PyTorch: `build()` returns the module.\n\n'
              f"Inputs (IR shapes, channels-last; torch takes NCHW): {ins}.\n"
              '"""\n')
    body = helpers + "\n" + classes
    imports = ("import torch\n" if re.search(r"\btorch\.", body) else "") + "from torch import nn\n" \
        + ("import torch.nn.functional as F\n" if re.search(r"\bF\.", body) else "")
    return header + imports + "\n" + body + f"\n\n\ndef build():\n    return {root}()\n"


def to_torch(graph):
    """The ``torch.nn.Module`` for an IR ``Graph`` (the source ``emit_torch`` writes, executed)."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise CnnError("backend", f"the torch target needs PyTorch, but it can't be imported ({e})",
                       hint="pip install 'cnndsl[torch]'") from None
    import sys
    import types
    source = emit_torch(graph)
    name = f"cnndsl_torch_{_ident(graph.name)}"
    module = types.ModuleType(name)
    module.__file__ = f"<cnndsl torch {graph.name}>"
    sys.modules[name] = module          # classes pickle and torch.export finds their module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    model = module.build()
    model.cnndsl_source = source
    return model
