"""Attention and learned tensors: attention (multi-head), class_token, position_embedding, and the
normalisations grn (ConvNeXt V2) and groupnorm."""
from __future__ import annotations

from ..errors import CnnError
from .schema import Arg, Op, describe, fmt_shape, prod


def _attention_inputs(ins):
    if len(ins) > 2:
        raise CnnError("shape", f"attention takes a query and at most one key/value tensor, got {len(ins)} tensors",
                       hint="x -> attention(4, 32) for self attention, attention(q, kv, 4, 32) across two")
    q, kv = ins[0], ins[-1]
    if len(q) < 3 or len(q) != len(kv):
        raise CnnError("shape", f"attention needs a query and a key/value of the same rank, at least "
                                f"[positions, channels]: got {fmt_shape(q)} and {fmt_shape(kv)}")
    if q[-1] is None or kv[-1] is None:
        raise CnnError("shape", f"attention needs known channel counts, got {fmt_shape(q)} and {fmt_shape(kv)}")
    return q, kv


def attended_axes(q, kv, axes):
    """The axes attention runs over (non-negative, batch 0): every axis between the batch and the
    channels when ``axes`` is none; otherwise those named, each a position axis. The other position
    axes are independent (as the batch): the query's and the key/value's must be the same."""
    rank = len(q)
    if axes is None:
        return tuple(range(1, rank - 1))
    out = []
    for ax in axes if isinstance(axes, tuple) else (axes,):
        if not -rank <= ax < rank or ax % rank in (0, rank - 1):
            raise CnnError("shape", f"attention: axis {ax} is not a position axis of {fmt_shape(q)} (the batch "
                                    f"and the channels are not attended over)", arg="axes")
        if ax % rank in out:
            raise CnnError("shape", f"attention: axes {describe(list(axes))} name axis {ax % rank} twice", arg="axes")
        out.append(ax % rank)
    out.sort()
    for ax in range(1, rank - 1):
        if ax not in out and q[ax] != kv[ax]:
            raise CnnError("shape", f"attention over axes {describe(out)}: the query {fmt_shape(q)} and the key/value "
                                    f"{fmt_shape(kv)} differ on axis {ax}, which is not attended over", arg="axes",
                           hint=f"attend over axis {ax} too (axes={describe(sorted(out + [ax]))}), or give tensors "
                                "that agree there")
    return tuple(out)


def _attention_shape(ins, a):
    q, kv = _attention_inputs(ins)
    attended_axes(q, kv, a["axes"])
    if a["value_dim"] not in (None, a["key_dim"]) and len(q) == 3 and a["dropout"] == 0:
        # Keras then calls ops.dot_product_attention, which JAX refuses for value_dim != key_dim.
        raise CnnError("type", f"value_dim={a['value_dim']} differs from key_dim={a['key_dim']} over a sequence "
                               "without dropout, which Keras 3's MultiHeadAttention can't run on JAX", arg="value_dim",
                       hint="leave value_dim out (it is key_dim), or give a dropout")
    return (*q[:-1], a["output_shape"] or q[-1])


def _attention_params(ins, a, out):
    q, kv = _attention_inputs(ins)
    h, kd = a["heads"], a["key_dim"]
    vd = a["value_dim"] or kd
    b = 1 if a["use_bias"] else 0
    c_out = out[-1]
    return (q[-1] * h * kd + b * h * kd          # query projection
            + kv[-1] * h * kd + b * h * kd       # key projection
            + kv[-1] * h * vd + b * h * vd       # value projection
            + h * vd * c_out + b * c_out), 0     # output projection


def _attention_macs(ins, a, out):
    q, kv = _attention_inputs(ins)
    h, kd = a["heads"], a["key_dim"]
    vd = a["value_dim"] or kd
    tq, tk = prod(q[1:-1]), prod([kv[ax] for ax in attended_axes(q, kv, a["axes"])])  # keys per query
    if tq is None or tk is None:
        return None
    tkv = prod(kv[1:-1])
    if tkv is None:
        return None
    return (tq * q[-1] * h * kd + tkv * kv[-1] * h * (kd + vd) + tq * h * vd * out[-1]  # projections
            + tq * tk * h * (kd + vd))                                                     # scores, weighted sum


def _class_token_shape(ins, a):
    if len(ins[0]) != 3:
        raise CnnError("shape", f"class_token prepends a token to a sequence [N, C], got {fmt_shape(ins[0])}",
                       hint="reshape the feature map to [N, C] first: reshape([-1, C])")
    n = ins[0][1]
    return (ins[0][0], None if n is None else n + 1, ins[0][2])


def _position_params(ins, a, out):
    if None in ins[0][1:]:
        raise CnnError("shape", f"position_embedding needs a known shape (its weights have it), got {fmt_shape(ins[0])}")
    return prod(ins[0][1:]), 0


def _groupnorm_shape(ins, a):
    c = ins[0][-1]
    if c % a["groups"]:
        raise CnnError("shape", f"groupnorm: groups={a['groups']} does not divide the {c} channels", arg="groups")
    return ins[0]


def _grn_shape(ins, a):
    if len(ins[0]) < 3:
        raise CnnError("shape", f"grn normalises over spatial axes, and {fmt_shape(ins[0])} has none")
    return ins[0]


OPS = [
    Op("attention", family="attention", arity=None, least=1,
       args=(Arg("heads", "int", low=1), Arg("key_dim", "int", low=1), Arg("value_dim", "int", None, low=1),
             Arg("dropout", "float", 0.0, low=0, high=1), Arg("use_bias", "bool", True),
             Arg("output_shape", "int", None, low=1), Arg("axes", "axes", None)),
       shape=_attention_shape, params=_attention_params, macs=_attention_macs,
       label=lambda a: f"attention {a['heads']}×{a['key_dim']}",
       doc="MultiHeadAttention: `x -> attention(4, 32)` attends x to itself; `attention(q, kv, 4, 32)` (or "
           "`q -> attention(kv, 4, 32)`) attends q to kv. Attends over every axis between the batch and the "
           "channels, or over `axes` only (Keras's attention_axes, the batch axis 0: `axes=2` on [P, N, C] "
           "attends over N for each of the P independently, MobileViT's patches); the output has the query's "
           "shape (output_shape: its channels). Weights as Keras counts them; MACs: the four projections, plus "
           "T_q·T_k·heads·(key_dim + value_dim) for the scores and the weighted sum (T_k: the keys each query "
           "sees)."),
    Op("class_token", family="attention", args=(), shape=_class_token_shape,
       params=lambda ins, a, out: (ins[0][-1], 0), label=lambda a: "class token",
       doc="Prepends a learned token (C weights, zeros at first) to a sequence: [N, C] -> [N + 1, C], ViT's "
           "class token (cnndsl's ClassToken layer). 0 MACs."),
    Op("position_embedding", family="attention", args=(), shape=lambda ins, a: ins[0], params=_position_params,
       label=lambda a: "position embedding",
       doc="Adds a learned tensor of the input's shape (batch aside), ViT's position embedding (cnndsl's "
           "PositionEmbedding layer). 0 MACs."),
    Op("grn", family="norm", args=(Arg("epsilon", "float", 1e-6, low=0),), shape=_grn_shape,
       params=lambda ins, a, out: (2 * ins[0][-1], 0), label=lambda a: "grn",
       doc="ConvNeXt V2's Global Response Normalization: Gx = ‖x‖₂ over the spatial axes, Nx = Gx / "
           "(mean over channels of Gx + epsilon), out = gamma·(x·Nx) + beta + x; gamma and beta (C each) start "
           "at 0 (cnndsl's GRN layer). 0 MACs, as bn."),
    Op("groupnorm", family="norm",
       args=(Arg("groups", "int", 32, low=1), Arg("epsilon", "float", 1e-3, low=0), Arg("center", "bool", True),
             Arg("scale", "bool", True)),
       shape=_groupnorm_shape, params=lambda ins, a, out: (ins[0][-1] * (a["center"] + a["scale"]), 0),
       label=lambda a: f"groupnorm {a['groups']}",
       doc="GroupNormalization: mean and variance per sample over groups of channels (and every spatial "
           "position); gamma and beta per channel. epsilon defaults to Keras's 1e-3; torch's GroupNorm uses "
           "1e-5 (say `epsilon=1e-5` to match it). 0 MACs, as bn."),
]


