"""Operation counts by convention: what cnndsl, torchvision, fvcore, ptflops and thop would print.

FLOP counts of one network differ between tools by convention, not by error. For torchvision's
ResNet-50 at 224×224 (``specs/resnext.cnn`` with torchvision's ResNet-50 settings):

============  =================  ==============================================================
convention    ResNet-50          what is counted (one sample)
============  =================  ==============================================================
cnndsl        4,089,184,256      multiply-accumulates of convs and dense layers (``Node.macs``)
torchvision   4,089,184,256      the same: ``torch.utils.flop_counter`` (mm, addmm, bmm, conv), /2
fvcore        4,111,512,576      + batch norm (2 per value with affine), adaptive average pools
                                   (1 per input value), layer/group norm (5 per value), upsampling
ptflops       4,132,436,968      + conv and dense biases, batch norm (2 per value), and ReLU, ELU,
                                   GELU, PReLU and pools twice (its module hook and its patched
                                   ``torch.nn.functional`` both count them, as ptflops 0.7.5 does)
thop          4,133,742,592      batch norm 4 per value (2, doubled for the affine part), average
                                   pools, softmax; no biases, no ReLU, no max pool
============  =================  ==============================================================

Every figure above is what the tool itself prints for torchvision's ``resnet50`` (fvcore 0.1.5,
ptflops 0.7.5 with its default pytorch backend, thop 0.1.1; ``tests/test_counting.py`` runs them).
ptflops' README publishes 4.13 G (ResNet-18 1.83 G), as computed here; thop's README publishes 4.14 G,
which thop 0.1.1 itself no longer computes (its ResNet-18 figure, 1.82 G, it does).

A convention reads the network as cnndsl's torch layout builds it: one ``torch.nn`` module per op
(``relu`` is ``nn.ReLU``, ``global_avgpool`` is ``nn.AdaptiveAvgPool2d(1)``, a conv's padding is
its own), and merges and scalings written with Python's operators (``x + y``, ``x * s``), which no
tool counts. Where a tool's count for an op depends on more than that (how a torch layer would be
written, a mode the tool does not model), the rule is ``UNKNOWN``: the total is then unknown, and
``why_unknown`` names the op, rather than a number that looks exact and isn't.

``count="flops"`` doubles a convention's count: each of these tools counts a multiply-accumulate as
one, and a multiply-accumulate is two floating-point operations. The unit is always printed.
"""
from __future__ import annotations

import math

CONVENTIONS = ("cnndsl", "torchvision", "fvcore", "ptflops", "thop")
COUNTS = ("macs", "flops")
UNKNOWN = object()   # a rule's answer where the convention's count can't be known from the spec


def _numel(shape):
    dims = shape[1:]
    return None if None in dims else math.prod(dims)


def _out(node, ins):
    return _numel(node.shape)


def _in(node, ins):
    return _numel(ins[0])


def _times(k, f):
    def rule(node, ins):
        n = f(node, ins)
        return None if n is None else k * n
    return rule


def _zero(node, ins):
    return 0


def _macs(node, ins):
    """cnndsl's own count (the registry's MAC rule)."""
    return node.macs


def _spatial(shape):
    return shape[1:-1]


def _conv_core(node, ins):
    """k·C_in/groups·C_out·positions: the multiply-accumulates every tool counts for a conv (the
    registry's rule for conv and dwconv; a separable conv's two parts)."""
    return node.macs


def _bias_out(node, ins):
    """One add per output value when the layer has a bias (ptflops)."""
    return _out(node, ins) if node.args.get("bias") else 0


def _sum(*rules):
    def rule(node, ins):
        total = 0
        for r in rules:
            n = r(node, ins)
            if n is UNKNOWN or n is None:
                return n
            total += n
        return total
    return rule


def _dense_no_bias(node, ins):
    return node.macs


def _dense_bias(node, ins):
    n = _numel(node.shape)
    if n is None:
        return None
    return node.macs + (n if node.args.get("bias") else 0)


def _affine(node):
    """Whether a norm layer has torch's affine weights: both gamma and beta, or neither (a mix has no
    torch layer: UNKNOWN)."""
    center, scale = node.args.get("center", True), node.args.get("scale", True)
    return center if center == scale else UNKNOWN


def _bn(factor_affine, factor_plain):
    def rule(node, ins):
        affine = _affine(node)
        if affine is UNKNOWN:
            return UNKNOWN
        n = _numel(ins[0])
        return None if n is None else n * (factor_affine if affine else factor_plain)
    return rule


def _conv_transpose_thop(node, ins):
    """thop counts a transposed conv like a conv, per output value: C_out·H_out·W_out·C_in·k."""
    n = _numel(node.shape)
    if n is None or ins[0][-1] is None:
        return None
    return n * ins[0][-1] * math.prod(node.args["kernel"])


def _adaptive_avg_thop(node, ins):
    """thop: (the pool window, as a float, + 1 division) per output value, truncated."""
    i = _spatial(ins[0])
    o = _spatial(node.shape) if len(node.shape) == len(ins[0]) else (1,) * len(i)   # keepdims or not
    n = _numel(node.shape)
    if n is None or None in i:
        return None
    window = math.prod(a / b for a, b in zip(i, o))
    return int((window + 1) * n)


def _softmax_thop(node, ins):
    """thop: exp, add and divide per value along the axis, less one add: (3n - 1) per row."""
    axis = node.args.get("axis", -1)
    n, total = ins[0][axis], _numel(ins[0])
    if n is None or total is None:
        return None
    return total // n * (3 * n - 1)


def _upsample(nearest, bilinear):
    def rule(node, ins):
        mode = node.args.get("interpolation", "nearest")
        k = {"nearest": nearest, "bilinear": bilinear}.get(mode, UNKNOWN)
        if k is UNKNOWN:
            return UNKNOWN
        n = _numel(node.shape)
        return None if n is None else k * n
    return rule


# Activation functions by the torch module that computes them, per convention: how many ops per value.
# ptflops hooks nn.ReLU, ReLU6, ELU, LeakyReLU, PReLU and GELU modules (1 per output value) and also
# patches F.relu, F.elu, F.gelu, F.prelu, F.silu and F.softmax, which those modules call (so ReLU, ELU,
# GELU and PReLU count twice; ReLU6 calls F.hardtanh and LeakyReLU F.leaky_relu, which it doesn't patch;
# SiLU and softmax only through the functional). thop counts PReLU (1 per value, eval) and softmax.
_ACT_PTFLOPS = {"relu": 2, "relu6": 1, "elu": 2, "leaky_relu": 1, "prelu": 2, "gelu": 2, "silu": 1, "swish": 1,
                "sigmoid": 0, "tanh": 0, "hard_sigmoid": 0, "hard_swish": 0, "hard_silu": 0, "linear": 0,
                "softmax": 1, "selu": 0, "softplus": 0, "softsign": 0, "mish": 0}
_ACT_THOP = {"relu": 0, "relu6": 0, "elu": 0, "leaky_relu": 0, "prelu": 1, "gelu": 0, "silu": 0, "swish": 0,
             "sigmoid": 0, "tanh": 0, "hard_sigmoid": 0, "hard_swish": 0, "hard_silu": 0, "linear": 0,
             "selu": 0, "softplus": 0, "softsign": 0, "mish": 0}


def _act_name(node):
    """The activation function an activation op computes (None for a node that isn't one)."""
    if node.op == "relu":
        a = node.args
        if a.get("negative_slope"):
            return "leaky_relu" if not a.get("max_value") and not a.get("threshold") else None
        if a.get("threshold"):
            return None
        return {None: "relu", 6: "relu6", 6.0: "relu6"}.get(a.get("max_value"))
    if node.op == "activation":
        return node.args.get("fn")
    if node.op in ("relu6", "sigmoid", "softmax", "tanh", "swish", "silu", "gelu", "hard_swish", "hard_sigmoid",
                   "leaky_relu", "elu", "prelu"):
        return node.op
    return None


def _activation(table, softmax=None):
    def rule(node, ins):
        name = _act_name(node)
        if name == "softmax" and softmax is not None:
            return softmax(node, ins)
        if name not in table:
            return UNKNOWN
        n = _numel(node.shape)
        return None if n is None else table[name] * n
    return rule


def _with_activation(rule, table, softmax=None):
    """A layer's own count plus its fused ``activation=`` (a separate torch module)."""
    act = _activation(table, softmax)

    def combined(node, ins):
        n = rule(node, ins)
        fn = node.args.get("activation")
        if fn is None or n is UNKNOWN or n is None:
            return n
        m = act(_ActView(node, fn), ins)
        return m if m is UNKNOWN or m is None else n + m
    return combined


class _ActView:
    """A node seen as the activation layer its ``activation=`` argument stands for."""

    def __init__(self, node, fn):
        self.op, self.args, self.shape = "activation", {"fn": fn}, node.shape


def _sepconv_ptflops(node, ins):
    """ptflops: the depthwise conv (no bias) plus the pointwise conv (its bias per output value)."""
    return _sum(_conv_core, _bias_out)(node, ins)


# The rules: op -> function(node, input shapes) -> count for one sample, None (a size is unknown) or
# UNKNOWN. An op missing from a convention's table is UNKNOWN there (tests/test_counting.py checks
# that every op of the registry has a rule in every table, so a new op needs a decision).
_SHAPE_OPS = ("flatten", "reshape", "dropout", "stochastic_depth", "zeropad", "crop", "identity", "split", "slice",
              "permute", "channel_shuffle", "concat", "add", "multiply", "scaled_add", "input", "take", "layerscale",
              "rescaling")
_ACT_OPS = ("activation", "relu", "relu6", "sigmoid", "softmax", "tanh", "swish", "silu", "gelu", "hard_swish",
            "hard_sigmoid", "leaky_relu", "elu", "prelu")


def _table(**rules):
    return rules


def _two_d(rule):
    """A rule measured on 2-D layers only: on a 1-D or 3-D input the tool's count is not known here."""
    def only(node, ins):
        return rule(node, ins) if node.args.get("dims", 2) == 2 else UNKNOWN
    return only


def _unknown(node, ins):
    return UNKNOWN


# Issue 16's ops. torch.utils.flop_counter counts matrix products and convolutions only, so it counts
# matmul (bmm/mm) and nothing of the others; how a torch layer would compute attention (fused or not)
# decides its count there. The other tools' counts for them depend on how a torch layout writes them
# (modules, functions or operators), which no tool run here has measured: unknown, not guessed.
_NEW_OPS = ("subtract", "divide", "maximum", "minimum", "average", "stack", "weighted_add", "abs", "square", "sqrt",
            "exp", "log", "power", "reduce_mean", "reduce_max", "reduce_sum", "class_token", "position_embedding",
            "grn", "groupnorm", "adaptive_avgpool", "adaptive_maxpool", "matmul", "attention")
_NEW_UNKNOWN = {op: _unknown for op in _NEW_OPS}


# torchvision: torch.utils.flop_counter's count halved: mm/addmm/bmm and convolutions, nothing else.
_MATMUL_ONLY = {**{op: _zero for op in _SHAPE_OPS + _ACT_OPS},
                "conv": _macs, "dwconv": _macs, "sepconv": _macs, "conv_transpose": _macs, "dense": _macs,
                "bn": _zero, "layernorm": _zero, "normalize": _zero, "lrn": _zero, "maxpool": _zero, "avgpool": _zero,
                "global_avgpool": _zero, "global_maxpool": _zero, "upsample": _zero, "resize": _zero,
                **{op: _zero for op in _NEW_OPS}, "matmul": _macs, "attention": _unknown}

RULES = {
    "torchvision": _MATMUL_ONLY,
    "fvcore": {
        **_NEW_UNKNOWN, "matmul": _macs,       # aten::matmul: one per multiply-accumulate
        **{op: _zero for op in _SHAPE_OPS + _ACT_OPS},
        "conv": _macs, "dwconv": _macs, "sepconv": _macs, "conv_transpose": _macs, "dense": _macs,
        "bn": _bn(2, 1),                       # aten::batch_norm in eval
        "layernorm": _bn(5, 4),                # aten::layer_norm
        "normalize": _zero, "lrn": _zero,      # plain arithmetic and avg_pool3d: not counted
        "maxpool": _zero, "avgpool": _zero, "global_maxpool": _zero,
        "global_avgpool": _two_d(_in),         # aten::adaptive_avg_pool2d: 1 per input value
        "upsample": _two_d(_upsample(1, 4)),   # aten::upsample_nearest2d / upsample_bilinear2d
        "resize": _upsample(1, 4),
    },
    "ptflops": {
        **_NEW_UNKNOWN,
        **{op: _zero for op in _SHAPE_OPS},
        **{op: _activation(_ACT_PTFLOPS) for op in _ACT_OPS},
        "conv": _with_activation(_sum(_conv_core, _bias_out), _ACT_PTFLOPS),
        "dwconv": _with_activation(_sum(_conv_core, _bias_out), _ACT_PTFLOPS),
        "sepconv": _with_activation(_sepconv_ptflops, _ACT_PTFLOPS),
        "conv_transpose": _with_activation(_sum(_conv_core, _bias_out), _ACT_PTFLOPS),
        "dense": _with_activation(_dense_bias, _ACT_PTFLOPS),
        "bn": _bn(2, 1),
        "layernorm": lambda node, ins: _in(node, ins),   # its hook looks for `affine`, which LayerNorm lacks
        "normalize": _zero,
        "lrn": lambda node, ins: UNKNOWN,      # F.local_response_norm calls the patched F.avg_pool
        "maxpool": _two_d(_times(2, _in)), "avgpool": _two_d(_times(2, _in)),   # module hook + patched F.*_pool2d
        "global_avgpool": _two_d(_times(2, _in)), "global_maxpool": _two_d(_times(2, _in)),
        "upsample": _two_d(_upsample(2, 2)),   # module hook + patched F.interpolate, one per output value each
        "resize": lambda node, ins: UNKNOWN,   # F.interpolate with a size: its count depends on the call
    },
    "thop": {
        **_NEW_UNKNOWN,
        **{op: _zero for op in _SHAPE_OPS},
        **{op: _activation(_ACT_THOP, _softmax_thop) for op in _ACT_OPS},
        "conv": _with_activation(_conv_core, _ACT_THOP, _softmax_thop),
        "dwconv": _with_activation(_conv_core, _ACT_THOP, _softmax_thop),
        "sepconv": _with_activation(_conv_core, _ACT_THOP, _softmax_thop),
        "conv_transpose": _with_activation(_conv_transpose_thop, _ACT_THOP, _softmax_thop),
        "dense": _with_activation(_dense_no_bias, _ACT_THOP, _softmax_thop),
        "bn": _bn(4, 2),
        "layernorm": _bn(4, 2),
        "normalize": _zero, "lrn": _zero,
        "maxpool": _zero, "global_maxpool": _zero,
        "avgpool": _two_d(_out),               # 1 per output value
        "global_avgpool": _two_d(_adaptive_avg_thop),  # nn.AdaptiveAvgPool2d: (window + 1) per output value
        "upsample": _two_d(_upsample(1, 11)),
        "resize": _upsample(1, 11),
    },
}


def node_count(node, convention: str = "cnndsl"):
    """One node's count in a convention: an int, None (a size is unknown) or UNKNOWN."""
    if convention == "cnndsl":
        return node.macs
    rule = RULES[convention].get(node.op)
    if rule is None:
        return UNKNOWN
    return rule(node, [i.shape for i in node.inputs])


def count(graph, convention: str = "cnndsl", unit: str = "macs"):
    """The network's count for one sample: an int, or None when it can't be known (a size is unknown, or
    the convention has no rule for an op: ``why_unknown`` says which)."""
    check_convention(convention, unit)
    if convention == "cnndsl":          # node.macs: the graph's own total (None if any is None), in one pass
        total = graph.macs
        return None if total is None else total * (2 if unit == "flops" else 1)
    total = 0
    for node in graph.nodes:
        n = node_count(node, convention)
        if n is None or n is UNKNOWN:
            return None
        total += n
    return total * (2 if unit == "flops" else 1)


def why_unknown(graph, convention: str = "cnndsl") -> str:
    """Why ``count`` is None: the first op whose count can't be known, and the reason."""
    for node in graph.nodes:
        n = node_count(node, convention)
        if n is UNKNOWN:
            return f"the {convention} convention has no count for `{node.op}` (layer `{node.name}`)"
        if n is None:
            return "H or W unknown"
    return ""


def unit_label(convention: str, unit: str) -> str:
    """``MACs`` for cnndsl's own count; ``FLOPs (fvcore)`` for another convention."""
    name = "MACs" if unit == "macs" else "FLOPs"
    return name if convention == "cnndsl" else f"{name} ({convention})"


def check_convention(convention: str, unit: str = "macs") -> None:
    from .errors import CnnError, did_you_mean
    if convention not in CONVENTIONS:
        raise CnnError("usage", f"unknown convention `{convention}`",
                       hint=did_you_mean(convention, CONVENTIONS) or f"one of {', '.join(CONVENTIONS)}")
    if unit not in COUNTS:
        raise CnnError("usage", f"--count is macs or flops, got `{unit}`")
