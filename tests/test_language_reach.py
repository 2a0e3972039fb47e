"""The language of issue 16 ("Reach"), checked without a framework: shared layers, frozen layers,
fixed weights, collected named tensors, recursive blocks, log/exp/log2, every Keras activation,
empty tensor lists. Keras's own counts and outputs for the same specs are in test_reach_keras.py."""
from __future__ import annotations

import math

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.errors import format_error

SIAMESE = """
block encoder(f) {
    conv(f, 3, padding=same) -> bn -> relu
    maxpool(2)
    conv(2 * f, 3, padding=same) -> relu -> global_avgpool
}
network siamese(a: [32, 32, 3], b: [32, 32, 3]) {
    shared enc = encoder(8)
    shared head = dense(16)
    ea = a -> enc -> head
    eb = enc(b) -> head
    concat(ea, eb) -> dense(1, activation=sigmoid)
}
"""


def error(src: str) -> CnnError:
    with pytest.raises(CnnError) as info:
        cnndsl.check(src)
    return info.value


def caret(err: CnnError) -> str:
    """The source text the error's caret is under."""
    sp = err.span
    return sp.source.line(sp.line)[sp.col - 1:sp.end_col - 1]


# --- shared layers ---------------------------------------------------------------------------
def test_a_shared_block_counts_its_weights_once_and_its_macs_per_application():
    graph = cnndsl.check(SIAMESE)
    graph.lint()
    first = [n for n in graph.nodes if n.scope and n.scope[0].id == "enc"]
    second = [n for n in graph.nodes if n.scope and n.scope[0].id == "enc@2"]
    assert [n.op for n in first] == [n.op for n in second] == [
        "conv", "bn", "relu", "maxpool", "conv", "relu", "global_avgpool"]
    assert all(b.shares is a and b.params == 0 and b.macs == a.macs for a, b in zip(first, second))
    assert [n.name for n in second][:2] == ["enc-conv_1@2", "enc-bn_1@2"]
    # conv 3*3*3*8 + 8, bn 4*8, conv 3*3*8*16 + 16, head 16*16 + 16, dense 32 + 1: once each
    assert graph.total_params == (3 * 3 * 3 * 8 + 8) + 4 * 8 + (3 * 3 * 8 * 16 + 16) + (16 * 16 + 16) + 33
    assert graph.non_trainable == 2 * 8
    conv_macs = 32 * 32 * 3 * 3 * 3 * 8 + 16 * 16 * 3 * 3 * 8 * 16
    assert graph.macs == 2 * (conv_macs + 16 * 16) + 32
    assert graph.layers == 10         # as Keras's model.layers, inputs aside: each shared layer once
    head = graph.node("head")
    assert graph.node("head@2").shares is head and head.shares is None


def test_a_shared_op_applies_to_other_sizes_with_the_same_channels():
    graph = cnndsl.check("""
        network fpn(a: [32, 32, 16], b: [16, 16, 16]) -> (pa, pb) {
            shared head = conv(4, 3, padding=same)
            pa = a -> head
            pb = head(b)
        }""")
    assert graph.outputs["pa"].shape == (None, 32, 32, 4) and graph.outputs["pb"].shape == (None, 16, 16, 4)
    assert graph.total_params == 3 * 3 * 16 * 4 + 4
    assert graph.macs == (32 * 32 + 16 * 16) * 3 * 3 * 16 * 4


def test_a_shared_instance_declared_in_a_block_is_one_per_call():
    graph = cnndsl.check("""
        block twice(f) { shared c = conv(f, 1); in -> c -> relu -> c }
        network n(x: [8, 8, 4]) { twice(4) -> twice(4) }""")
    assert graph.total_params == 2 * (4 * 4 + 4)
    assert [n.name for n in graph.nodes if n.op == "conv"] == ["twice_1-c", "twice_1-c@2", "twice_2-c", "twice_2-c@2"]


def test_shared_applied_to_the_wrong_shape_is_located():
    err = error("""network n(a: [8, 8, 16], b: [8, 8, 32]) -> (x, y) {
    shared head = conv(4, 3)
    x = a -> head
    y = b -> head
}""")
    assert "shared `head` was made for (None, 8, 8, 16)" in err.message and "(None, 8, 8, 32)" in err.message
    assert (err.span.line, caret(err)) == (4, "head")
    assert "^^^^" in format_error(err)


def test_a_shared_block_that_builds_other_layers_is_located():
    err = error("""block enc() { if in.height == 8 { conv(4, 1) } else { conv(4, 1) -> relu } }
network n(a: [8, 8, 3], b: [16, 16, 3]) -> (x, y) {
    shared e = enc()
    x = a -> e
    y = b -> e
}""")
    assert "shared block `e` builds other layers on this input than at its first application (at " in err.message
    assert "layer 2 is relu here and nothing at the first" in err.message
    assert caret(err) == "relu" and err.chain[-1].span.line == 5       # in the block, applied at line 5
    err = error("""block enc() { conv(4, 1) }
network n(a: [8, 8, 3], b: [8, 8, 5]) -> (x, y) {
    shared e = enc()
    x = a -> e
    y = b -> e
}""")
    assert "shared `e-conv_1` was made for (None, 8, 8, 3)" in err.message and err.chain[-1].span.line == 5


def test_shared_redeclared_used_before_declared_and_misapplied_are_located():
    err = error("network n(x: [8, 8, 3]) {\n  shared h = conv(4, 1)\n  shared h = conv(8, 1)\n  x -> h\n}")
    assert "`h` is already declared here (at" in err.message and err.span.line == 3
    err = error("network n(x: [8, 8, 3]) {\n  x -> h\n  shared h = conv(4, 1)\n}")
    assert "`h` is used before its `shared` declaration (at <string>:3:3)" in err.message
    assert (err.span.line, caret(err)) == (2, "h")
    err = error("network n(x: [8, 8, 3]) {\n  shared h = conv(4, 1)\n  x -> h(8)\n}")
    assert "apply it to one tensor" in err.message and caret(err) == "h(8)"
    err = error("network n(x: [8, 8, 3]) {\n  shared h = conv(4, 1)\n  h = x -> relu\n}")
    assert "`h` is a shared instance" in err.message
    err = error("block b(l) { in -> l }\nnetwork n(x: [8, 8, 3]) {\n  shared h = conv(4, 1)\n  x -> b(h)\n}")
    assert "can't be passed to a block" in err.message and caret(err) == "h"
    err = error("network n(x: [8, 8, 3]) {\n  shared h = add\n  x -> h\n}")
    assert "only an op with one input" in err.message


def test_a_shared_instance_applies_inside_a_merges_arguments():
    graph = cnndsl.check("block e(f) { conv(f, 3) -> relu }\n"
                         "network n(a: [8, 8, 3], b: [8, 8, 3]) { shared enc = e(4)\n concat(a -> enc, enc(b)) }")
    concat = graph.nodes[-1]
    assert [i.name for i in concat.inputs] == ["enc-relu_1", "enc-relu_1@2"] and graph.total_params == 112


def test_a_shared_declaration_in_a_repeat_is_one_instance_per_iteration():
    graph = cnndsl.check("network n(x: [8, 8, 4]) { repeat 2 { shared h = conv(4, 1)\n h -> relu -> h } }")
    assert [n.name for n in graph.nodes if n.op == "conv"] == ["h", "h@2", "h_1", "h_1@2"]
    assert graph.total_params == 2 * (4 * 4 + 4)


def test_shared_is_still_a_tensor_name():
    graph = cnndsl.check("network n(x: [8, 8, 3]) { shared = x -> conv(4, 1)\n shared -> relu }")
    assert [n.op for n in graph.nodes] == ["input", "conv", "relu"]


def test_a_shared_never_applied_is_a_warning():
    graph = cnndsl.check("network n(x: [8, 8, 3]) { shared h = conv(4, 1)\n x -> relu }")
    assert any("shared `h` is never applied" in w for w in graph.warnings)


def test_the_diagram_shows_the_sharing():
    from cnndsl.backends.dot import SHARED, to_dot
    dot = to_dot(cnndsl.check(SIAMESE))
    assert "shared enc = encoder(8) · 1/2" in dot and "shared enc = encoder(8) · 2/2" in dot
    assert "shared head 1/2" in dot and "shared head 2/2" in dot
    assert dot.count("style=dashed") >= 2 and SHARED[1] in dot     # lines from first to later applications


# --- frozen layers and fixed weights --------------------------------------------------------------
def test_trainable_false_moves_every_weight_to_non_trainable():
    graph = cnndsl.check("""
        block cb(f) { conv(f, 3) -> bn }
        network n(x: [8, 8, 3]) {
            conv(4, 1, trainable=false) -> bn(trainable=false)
            cb(4, trainable=false)
            sequential(name="s", trainable=false) { dense(5) -> layernorm }
            dense(2)
        }""")
    by = {n.name: n for n in graph.nodes}
    assert (by["conv_1"].trainable, by["conv_1"].non_trainable) == (0, 3 * 4 + 4)
    assert (by["bn_1"].trainable, by["bn_1"].non_trainable) == (0, 16)       # all four of BN's weights
    assert all(n.frozen and n.trainable == 0 for n in graph.nodes if n.scope and n.op != "input")
    # only the last dense trains; conv, bn, the block's conv and bn, the sequential's dense and layernorm don't
    assert graph.trainable == 5 * 2 + 2
    assert graph.non_trainable == (3 * 4 + 4) + 16 + (3 * 3 * 4 * 4 + 4) + 16 + (4 * 5 + 5) + 10


def test_trainable_must_be_true_or_false():
    err = error("network n(x: [8, 8, 3]) {\n  conv(4, 1, trainable=0)\n}")
    assert "trainable must be true or false" in err.message and caret(err) == "trainable=0"


def test_a_block_with_a_trainable_parameter_keeps_it():
    graph = cnndsl.check("block b(trainable=true) { conv(4, 1, trainable=trainable) }\n"
                         "network n(x: [8, 8, 3]) { b(trainable=false) }")
    assert graph.trainable == 0 and graph.non_trainable == 16


DFL = "[[[" + ", ".join(f"[{i}]" for i in range(16)) + "]]]"


def test_kernel_init_takes_fixed_weights_of_the_kernel_shape():
    graph = cnndsl.check(f"network dfl(x: [8, 8, 16]) {{ x -> conv(1, 1, bias=false, trainable=false, "
                         f"kernel_init={DFL}) }}")
    conv = graph.nodes[-1]
    assert (conv.trainable, conv.non_trainable) == (0, 16)
    from cnndsl.ops.schema import fixed_weights
    assert [row[0] for row in fixed_weights(conv.args["kernel_init"])[0][0]] == [float(i) for i in range(16)]
    err = error(f"network dfl(x: [8, 8, 15]) {{\n  x -> conv(1, 1, kernel_init={DFL})\n}}")
    assert "`kernel_init` is a 1×1×16×1 list; the kernel here is 1×1×15×1" in err.message
    err = error("network n(x: [8, 8, 2]) {\n  x -> conv(1, 1, kernel_init=[[1, 2], [3]])\n}")
    assert "rows of different lengths" in err.message and caret(err).startswith("kernel_init=")
    graph = cnndsl.check("network n(x: [4]) { x -> dense(2, kernel_init=[[1, 2], [3, 4], [5, 6], [7, 8]], "
                         "bias_init=[0.5, -0.5]) }")
    assert graph.total_params == 10


# --- collect, recursion, functions, activations, empty lists ----------------------------------------
def test_repeat_collects_a_named_tensor_of_each_iteration():
    graph = cnndsl.check("""
        network wavenet(x: [64, 64, 8]) {
            skips = repeat 3 as i collect skip {
                h = conv(8, 3, padding=same, dilation=2 ** i) -> tanh
                skip = h -> conv(4, 1, name="skip_{i}")
                x = add(x, h -> conv(8, 1))
            }
            add(skips) -> relu
        }""")
    merge = next(n for n in graph.nodes if n.op == "add" and len(n.inputs) == 3)
    assert [i.name for i in merge.inputs] == ["skip_0", "skip_1", "skip_2"]
    err = error("network n(x: [8, 8, 3]) {\n  ys = repeat 2 collect s { conv(4, 1) }\n  concat(ys)\n}")
    assert "`collect s`: iteration 1 binds no new tensor `s`" in err.message and err.span.line == 2


DLA_TREE = """
block tree(levels, f) {
    if levels == 1 {
        conv(f, 3, padding=same)
    } else {
        a = tree(levels - 1, f)
        b = a -> tree(levels - 1, f)
        concat(a, b) -> conv(f, 1)
    }
}
network dla(x: [16, 16, 3], depth=3) { x -> tree(depth, 4) }
"""


def test_a_block_may_call_itself_until_its_arguments_stop_it():
    graph = cnndsl.check(DLA_TREE)
    convs = sum(n.op == "conv" for n in graph.nodes)
    assert convs == 4 + 3          # 2**(depth - 1) leaves, one fusing conv per inner node
    assert max(len(n.scope) for n in graph.nodes) == 3


def test_recursion_past_max_depth_is_a_located_limit_error():
    from cnndsl import Limits
    src = DLA_TREE.replace("levels == 1", "levels == 0 - 100")
    with pytest.raises(CnnError) as info:
        cnndsl.check(src, limits=Limits(max_depth=12))
    err = info.value
    assert "block `tree` calls itself more than 12 levels deep" in err.message and "--max-depth" in err.message
    assert (err.span.line, caret(err)) == (6, "tree(levels - 1, f)")
    assert len(err.chain) == 5 and err.notes == ["7 nested calls between these are left out"]


def test_log_exp_and_log2_in_expressions():
    graph = cnndsl.check("""
        fn eca_k(c, gamma=2, b=1) = int(abs(log2(c) / gamma + b / gamma)) // 2 * 2 + 1
        network n(x: [8, 8, 256]) {
            assert eca_k(256) == 5, "ECA's k for 256 channels"
            assert eca_k(64) == 3, "and for 64"
            assert exp(0) == 1.0 and log(exp(2.5)) == 2.5, "exp and log"
            x -> conv(4, eca_k(256), padding=same)
        }""")
    assert graph.nodes[-1].args["kernel"] == (5, 5)
    assert int(abs(math.log2(256) / 2 + 1 / 2)) // 2 * 2 + 1 == 5   # ECA's formula, in Python
    err = error("network n(x: [8, 8, 3]) {\n  let a = log2(0)\n  x -> relu\n}")
    assert "log2(): needs a number above 0" in err.message and caret(err) == "log2(0)"
    err = error("network n(x: [8, 8, 3]) {\n  let a = exp(1000)\n  x -> relu\n}")
    assert "too large" in err.message


def test_every_keras_activation_name_is_known():
    from cnndsl.ops.schema import ACTIVATIONS
    assert len(ACTIVATIONS) == 30 and len(set(ACTIVATIONS)) == 30
    for fn in ACTIVATIONS:
        graph = cnndsl.check(f"network n(x: [8, 8, 4]) {{ x -> activation({fn}) -> dense(3, activation={fn}) }}")
        assert graph.nodes[-1].shape == (None, 8, 8, 3)
    err = error("network n(x: [8, 8, 4]) {\n  x -> activation(squarplus)\n}")
    assert "did you mean `squareplus`" in (err.message + (err.hint or ""))
    err = error("network n(x: [8, 8, 4]) {\n  x -> dense(4, activation=glu)\n}")
    assert "`glu` halves the last axis" in err.message and caret(err) == "activation=glu"
    err = error("network n(x: [8, 8, 3]) {\n  x -> activation(threshold)\n}")
    assert "`threshold` needs its threshold and default value" in err.message


def test_an_empty_tensor_list_is_never_an_axis():
    err = error("network n(x: [8, 8, 3]) {\n  ys = repeat 0 collect { conv(4, 1) }\n  concat(x, ys)\n}")
    # one tensor left: the error names the empty list as the cause (an empty list beside two tensors adds none)
    assert "`ys` is an empty list, so concat has no tensors from it" in err.message and "axis" not in err.message
    graph = cnndsl.check("network n(x: [8, 8, 3]) {\n  ys = repeat 0 collect { conv(4, 1) }\n"
                         "  concat(x, x -> relu, ys, axis=-1)\n}")
    assert graph.nodes[-1].shape == (None, 8, 8, 6)


def test_attention_over_some_axes_counts_the_keys_each_query_sees():
    """`attention(..., axes=2)` on [P, N, C] (MobileViT's patches): each of the P x N queries sees the N keys
    of its own P, so the scores and the weighted sum cost P x N x N x heads x (key_dim + value_dim); the
    weights are the same as over every axis (Keras's MultiHeadAttention with attention_axes=(2,))."""
    src = "network n(x: [4, 16, 8]) {\n    attention(2, 4, axes=%s)\n}"
    some, every = cnndsl.check(src % "2"), cnndsl.check(src % "[1, 2]")
    projections = 4 * 16 * 8 * 2 * 4 * 3 + 4 * 16 * 2 * 4 * 8
    assert some.macs == projections + 4 * 16 * 16 * 2 * (4 + 4)
    assert every.macs == projections + 64 * 64 * 2 * (4 + 4)
    assert some.trainable == every.trainable == 3 * (8 * 2 * 4 + 2 * 4) + 2 * 4 * 8 + 8
    assert cnndsl.check(src % "-2").macs == some.macs
