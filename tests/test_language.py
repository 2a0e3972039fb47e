"""The language's features, one test each, asserting the IR they produce."""
from __future__ import annotations

import re

import pytest

from cnndsl import CnnError, check


def ops(g):
    return [n.op for n in g.nodes]


def test_chain_and_implicit_statement_chaining():
    g = check("network n(x: [8, 8, 3]) { conv(4, 3) -> bn\n relu; flatten }")
    assert ops(g) == ["input", "conv", "bn", "relu", "flatten"]
    assert [n.inputs[0].op for n in g.nodes[1:]] == ["input", "conv", "bn", "relu"]
    assert g.nodes[-1].shape == (None, 6 * 6 * 4)


def test_named_tensors_give_a_dag_by_name():
    g = check("""network n(x: [32, 32, 256], batch=1000) {
        y = conv(128, 3, padding=same, activation=relu)
        z = conv(128, 3, padding=same, activation=relu)
        t = maxpool(2, stride=2)
        r = x -> conv(128, 1, stride=2, padding=same)
        add(t, r)
    }""")
    add = g.nodes[-1]
    assert [i.op for i in add.inputs] == ["maxpool", "conv"]
    assert add.inputs[1].inputs[0] is g.inputs["x"]
    assert add.shape == (1000, 16, 16, 128) and g.total_params == 475_520


@pytest.mark.parametrize("merge, shape", [("concat", (None, 8, 8, 7)), ("add", None), ("multiply", None)])
def test_branch_groups(merge, shape):
    src = f"network n(x: [8, 8, 3]) {{ {merge} {{ conv(4, 1); conv(3, 3, padding=same) }} }}"
    if shape is None:
        with pytest.raises(CnnError, match="channels differ"):
            check(src)
    else:
        g = check(src)
        assert g.nodes[-1].shape == shape and len(g.nodes[-1].inputs) == 2


def test_identity_branch_and_multiply_broadcast():
    g = check("""network se(x: [14, 14, 256]) {
        multiply {
            identity
            global_avgpool(keepdims=true) -> dense(16, activation=relu) -> dense(256, activation=sigmoid)
        }
    }""")
    mul = g.nodes[-1]
    assert mul.inputs[0] is g.inputs["x"] and mul.inputs[1].shape == (None, 1, 1, 256)
    assert mul.shape == (None, 14, 14, 256) and g.total_params == 8_464


def test_repeat_with_index_in_expressions_and_names():
    g = check('network n(x: [8, 8, 3]) { repeat 3 as i { conv(4 * (i + 1), 1, name="c{i + 1}") } }')
    assert [(n.name, n.shape[-1]) for n in g.nodes[1:]] == [("c1", 4), ("c2", 8), ("c3", 12)]
    assert {n.scope[-1].label for n in g.nodes[1:]} == {"×3"}


def test_blocks_defaults_keywords_arithmetic_and_input_shape():
    g = check("""
    block se(ratio=16) {
        let c = in.channels
        multiply { identity; global_avgpool(keepdims=true) -> dense(c // ratio, activation=relu) -> dense(c, activation=sigmoid) }
    }
    block unit(filters, stride=1, expand=1.5) {
        conv(int(filters * expand), 3, stride=stride, padding=same) -> se(ratio=8)
    }
    network n(x: [16, 16, 32]) { unit(32) -> unit(filters=64, stride=2) }""")
    dense = [n for n in g.nodes if n.op == "dense"]
    assert [d.args["units"] for d in dense] == [6, 48, 12, 96]
    assert g.nodes[-1].shape == (None, 8, 8, 96)
    assert g.nodes[-1].scope[0].label == "unit(filters=64, stride=2)"


def test_conditionals_on_parameters():
    src = """block res(f, stride=1) {
        add { conv(f, 3, stride=stride, padding=same); if stride > 1 { conv(f, 1, stride=stride) } }
    }
    network n(x: [8, 8, 4], s=1) { res(4, stride=s) }"""
    assert ops(check(src)) == ["input", "conv", "add"]
    assert ops(check(src, s=2)) == ["input", "conv", "conv", "add"]


def test_if_elif_else_and_comparisons():
    src = """network n(x: [8, 8, 4], pooling=max, top=false) {
        if top and pooling == max { flatten }
        elif pooling == avg { global_avgpool }
        elif not (pooling != max) { global_maxpool }
        else { identity }
    }"""
    assert ops(check(src))[-1] == "global_maxpool"
    assert ops(check(src, pooling="avg"))[-1] == "global_avgpool"
    assert ops(check(src, top=True))[-1] == "flatten"
    with pytest.raises(CnnError, match="network `n` computes nothing"):
        check(src, pooling="none")


def test_network_parameters_and_overrides():
    src = "network n(x: [8, 8, channels], channels=1, classes=10) { flatten -> dense(classes) }"
    g = check(src, classes=3, channels=2)
    assert g.inputs["x"].shape == (None, 8, 8, 2) and g.nodes[-1].shape == (None, 3)
    assert g.params == {"channels": 2, "classes": 3}
    with pytest.raises(CnnError) as e:
        check(src, clases=3)
    assert e.value.kind == "usage" and "did you mean `classes`" in e.value.hint


def test_scoped_defaults_are_dynamic_and_overridable():
    g = check("""
    block inner() { conv(4, 3) }
    block own() { defaults conv(padding=valid); conv(4, 3) }
    network n(x: [8, 8, 3]) {
        conv(4, 3)
        defaults conv(padding=same, bias=false)
        conv(4, 3) -> inner -> own -> conv(4, 3, bias=true)
    }""")
    convs = [(n.shape[1], n.args["bias"]) for n in g.nodes if n.op == "conv"]
    assert convs == [(6, True), (6, False), (6, False), (4, False), (4, True)]


def test_keras_defaults_when_none_given():
    g = check("network n(x: [8, 8, 3]) { conv(4, 3) -> bn -> maxpool }")
    conv, bn, pool = g.nodes[1:]
    assert conv.args["padding"] == "valid" and conv.args["bias"] and conv.args["stride"] == (1, 1)
    assert bn.args == {"epsilon": 0.001, "momentum": 0.99, "center": True, "scale": True}
    assert pool.args["pool"] == (2, 2) and pool.shape == (None, 3, 3, 4)


def test_explicit_name_templates_and_none_propagation():
    g = check("""
    block conv_bn(f, name=none) { conv(f, 1, name="{name}_conv") -> bn(scale=false, name="{name}_bn") }
    network n(x: [8, 8, 3]) {
        repeat 2 as b { conv_bn(8, name="conv2_block{b + 1}_1") }
        conv_bn(8)
    }""")
    assert [n.name for n in g.nodes] == ["x", "conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block2_1_conv",
                                         "conv2_block2_1_bn", "conv_bn_3-conv_1", "conv_bn_3-bn_1"]


def test_derived_names_are_deterministic_and_follow_the_block_path():
    src = "block b() { conv(4, 1) -> relu -> conv(4, 1) }\nnetwork n(x: [8, 8, 3]) { b -> b -> relu }"
    names = [n.name for n in check(src).nodes]
    assert names == ["x", "b_1-conv_1", "b_1-relu_1", "b_1-conv_2", "b_2-conv_1", "b_2-relu_1", "b_2-conv_2", "relu_1"]
    assert names == [n.name for n in check(src).nodes]


def test_imports_resolve_relative_to_the_importing_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "base.cnn").write_text("block unit(f) { conv(f, 1) }")
    (tmp_path / "lib" / "more.cnn").write_text('import "base.cnn"\nblock pair(f) { unit(f) -> unit(f) }')
    (tmp_path / "net.cnn").write_text('import "lib/more.cnn"\nimport "lib/base.cnn"\n'
                                      'network n(x: [8, 8, 3]) { pair(4) -> unit(2) }')
    g = check(tmp_path / "net.cnn")
    assert [n.shape[-1] for n in g.nodes[1:]] == [4, 4, 2]


def test_import_cycle_is_an_error(tmp_path):
    (tmp_path / "a.cnn").write_text('import "b.cnn"\nblock a() { relu }')
    (tmp_path / "b.cnn").write_text('import "a.cnn"\nblock b() { relu }')
    with pytest.raises(CnnError, match="import cycle: a.cnn -> b.cnn -> a.cnn"):
        check(tmp_path / "a.cnn")


def test_comments_strings_and_number_separators():
    g = check("""# a comment
    network n(x: [8, 8, 3]) {   # trailing comment
        conv(1_6, 3, name='single') -> dense(10, name="double")  # 1_6 == 16
        expect params = 4_48 + 1_70   # 448 + 170
    }""")
    assert [n.name for n in g.nodes[1:]] == ["single", "double"] and g.total_params == 618


def test_contracts_pass_and_fail():
    ok = "network n(x: [8, 8, 3]) -> (y) { y = conv(16, 3) \n expect params = 448 \n expect y.shape = [none, 6, 6, 16] }"
    assert check(ok).total_params == 448
    with pytest.raises(CnnError) as e:
        check(ok.replace("[none, 6, 6, 16]", "[none, 6, 6, 8]"))
    assert e.value.kind == "contract" and "is [none, 6, 6, 16], the spec expects [none, 6, 6, 8]" in e.value.message


def test_several_inputs_and_outputs():
    g = check("""network two(img: [32, 32, 3], meta: [10]) -> (cls, loc) {
        f = img -> conv(8, 3) -> global_avgpool
        m = meta -> dense(8)
        j = concat(f, m)
        cls = j -> dense(5, activation=softmax)
        loc = j -> dense(4)
        expect cls.shape = [none, 5]
    }""")
    assert list(g.inputs) == ["img", "meta"] and list(g.outputs) == ["cls", "loc"]
    assert g.outputs["loc"].shape == (None, 4) and g.nodes[-3].shape == (None, 16)


def test_unknown_spatial_size_for_fully_convolutional_nets():
    g = check("network fcn(x: [none, none, 3]) { conv(8, 3, stride=2, padding=same) -> conv(2, 1) }")
    assert g.nodes[-1].shape == (None, None, None, 2)
    assert g.macs is None and g.total_params == 224 + 18


def test_fixed_batch():
    g = check("network n(x: [28, 28, 256], batch=1000) { conv(64, 1, stride=2) }")
    assert g.nodes[-1].shape == (1000, 14, 14, 64)


def test_non_square_kernels_and_same_valid_arithmetic():
    g = check("network n(x: [17, 17, 8]) { conv(8, [1, 7], padding=same) -> conv(8, [7, 1]) -> maxpool(3, stride=2) }")
    assert [n.shape[1:3] for n in g.nodes[1:]] == [(17, 17), (11, 17), (5, 8)]
    assert g.nodes[1].trainable == 1 * 7 * 8 * 8 + 8


def test_dead_layers_are_left_out_with_a_warning():
    g = check("network n(x: [8, 8, 3]) { unused = conv(2, 1)\n x -> conv(4, 1) }")
    assert ops(g) == ["input", "conv"] and g.nodes[-1].shape[-1] == 4
    assert "reach no output" in g.warnings[0]


def test_limits_are_configurable():
    from cnndsl import Limits
    src = "network n(x: [8, 8, 3]) { repeat 50 { relu } }"
    assert len(check(src).nodes) == 51
    with pytest.raises(CnnError, match="over the limit of 10"):
        check(src, limits=Limits(max_repeat=10))
    with pytest.raises(CnnError, match="more than 20 nodes"):
        check(src, limits=Limits(max_nodes=20))
    deep = "block b(n) { if n > 0 { relu -> b(n - 1) } }\nnetwork n(x: [8, 8, 3]) { b(3) }"
    assert [n.op for n in check(deep).nodes] == ["input", "relu", "relu", "relu"]   # recursion ends at n == 0
    with pytest.raises(CnnError, match="calls itself more than 2 levels deep"):
        check(deep, limits=Limits(max_depth=2))


def test_import_as_a_namespace_and_private_blocks(tmp_path):
    (tmp_path / "a.cnn").write_text("block _helper(f) { conv(f, 1) }\nblock unit(f) { _helper(f) -> relu }")
    (tmp_path / "b.cnn").write_text("block unit(f) { conv(f, 3, padding=same) }")
    (tmp_path / "net.cnn").write_text('import "a.cnn" as a\nimport "b.cnn"\n'
                                      "network n(x: [8, 8, 3]) { a.unit(4) -> unit(2) }")
    g = check(tmp_path / "net.cnn")
    assert [n.name for n in g.nodes[1:]] == ["a_unit_1-_helper_1-conv_1", "a_unit_1-relu_1", "unit_1-conv_1"]
    (tmp_path / "clash.cnn").write_text('import "a.cnn"\nimport "b.cnn"\nnetwork n(x: [8, 8, 3]) { unit(2) }')
    with pytest.raises(CnnError, match="block `unit` comes from both a.cnn and b.cnn"):
        check(tmp_path / "clash.cnn")
    (tmp_path / "private.cnn").write_text('import "a.cnn"\nnetwork n(x: [8, 8, 3]) { _helper(2) }')
    with pytest.raises(CnnError, match="unknown op or block `_helper`"):
        check(tmp_path / "private.cnn")


def test_imports_are_not_transitive_and_blocks_resolve_in_their_own_file(tmp_path):
    (tmp_path / "base.cnn").write_text("block unit(f) { conv(f, 1) }")
    (tmp_path / "mid.cnn").write_text('import "base.cnn"\nblock pair(f) { unit(f) -> unit(f) }')
    (tmp_path / "top.cnn").write_text('import "mid.cnn"\nblock unit(f) { dense(f) }\n'
                                      "network n(x: [8, 8, 3]) { pair(4) -> unit(2) }")
    g = check(tmp_path / "top.cnn")
    assert [n.op for n in g.nodes[1:]] == ["conv", "conv", "dense"]


def test_none_means_not_given_so_wrappers_forward_scoped_defaults():
    g = check("""
    block conv_bn(f, k, stride=none, padding=none) { conv(f, k, stride=stride, padding=padding) -> bn }
    network n(x: [8, 8, 3]) {
        conv_bn(4, 3)
        defaults conv(padding=same)
        conv_bn(4, 3) -> conv_bn(4, 3, padding=valid)
    }""")
    assert [n.shape[1] for n in g.nodes if n.op == "conv"] == [6, 6, 4]


def test_expect_inside_a_network_level_if():
    src = """network n(x: [8, 8, 3], top=true) {
        conv(4, 3)
        if top { flatten -> dense(10); expect params = 1_562 } else { expect params = 112 }
    }"""
    assert check(src).total_params == 1_562 and check(src, top=False).total_params == 112
    with pytest.raises(CnnError, match="not in a block"):
        check("block b() { expect params = 1 }\nnetwork n(x: [8, 8, 3]) { b }")


def test_repeat_over_a_list_and_let_unpacking():
    g = check("""network n(x: [8, 8, 3], widths=[[4, 8], [16, 2]]) {
        repeat widths as w { let [a, b] = w; conv(a, 1) -> conv(b, 1) }
    }""")
    assert [n.shape[-1] for n in g.nodes[1:]] == [4, 8, 16, 2]
    assert g.nodes[1].scope[-1].label == "×2"
    with pytest.raises(CnnError, match=r"needs a list of 2, got \[1, 2, 3\]"):
        check("network n(x: [8, 8, 3]) { let [a, b] = [1, 2, 3]; relu }")
    with pytest.raises(CnnError, match="needs `as NAME`"):
        check("network n(x: [8, 8, 3]) { repeat [1, 2] { relu } }")


def test_conditional_expressions_in_arguments_lists_and_parentheses():
    src = """block unit(filters, prev) {
        conv(filters, 3, stride=1 if filters == prev else 2, padding=same)
    }
    network n(x: [8, 8, 4], wide=false) {
        let f = (16 if wide else 8)
        unit(f, 4) -> unit(f, f) -> dense([f, 2 * f][1] if not wide else 1)
    }"""
    assert [n.shape for n in check(src).nodes[1:]] == [(None, 4, 4, 8), (None, 4, 4, 8), (None, 4, 4, 16)]
    assert check(src, wide=True).nodes[-1].shape == (None, 4, 4, 1)
    with pytest.raises(CnnError, match="expected true or false, got 3"):
        check("network n(x: [8, 8, 4]) { conv(1 if 3 else 2, 1) }")


def test_file_level_constants_are_visible_and_importable(tmp_path):
    (tmp_path / "lib.cnn").write_text("let WIDTH = 8\nlet _SECRET = 1\nlet DOUBLE = WIDTH * 2\n"
                                      "block unit(f=WIDTH) { conv(f, 1) }")
    (tmp_path / "net.cnn").write_text('import "lib.cnn"\nimport "lib.cnn" as lib\nlet OUT = lib.DOUBLE + 1\n'
                                      "network n(x: [8, 8, 3]) { unit -> conv(DOUBLE, 1) -> dense(OUT) }")
    assert [n.shape[-1] for n in check(tmp_path / "net.cnn").nodes[1:]] == [8, 16, 17]
    (tmp_path / "bad.cnn").write_text('import "lib.cnn"\nnetwork n(x: [8, 8, 3]) { conv(_SECRET, 1) }')
    with pytest.raises(CnnError, match="unknown name `_SECRET`"):
        check(tmp_path / "bad.cnn")
    with pytest.raises(CnnError, match="constant `A` is defined twice"):
        check("let A = 1\nlet A = 2\nnetwork n(x: [8, 8, 3]) { relu }")


def test_blocks_with_several_outputs():
    src = """block entry(f) -> (x, shortcut) {
        shortcut = conv(f, 1, stride=2, padding=same)
        x = in -> conv(f, 3, padding=same) -> maxpool(3, stride=2, padding=same)
    }
    network n(img: [8, 8, 3]) {
        x, s = entry(4)
        BODY
    }"""
    g = check(src.replace("BODY", "add(x, s)"))
    assert g.nodes[-1].shape == (None, 4, 4, 4) and [i.op for i in g.nodes[-1].inputs] == ["maxpool", "conv"]
    for body, message in [("img -> entry(4) -> relu", "block `entry` gives 2 tensors; bind them by name first"),
                          ("y = img -> entry(4)", "block `entry` gives 2 tensors"),
                          ("a, b, c = img -> entry(4)", "binds 3 tensors, the chain gives 2"),
                          ("relu", "`relu` has no input tensor here")]:
        with pytest.raises(CnnError, match=re.escape(message)) as e:
            check(src.replace("BODY", body))
        if "gives 2 tensors" in message:
            assert e.value.hint == "x, shortcut = entry(...)"
    with pytest.raises(CnnError, match="declares output `z`"):
        check("block b() -> (z) { y = relu }\nnetwork n(x: [8, 8, 3]) { b }")
