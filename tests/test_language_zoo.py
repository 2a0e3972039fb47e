"""Language features the keras.applications zoo needs (issue 8), and the broadcast bug it found."""
from __future__ import annotations

import pytest

import cnndsl
from conftest import run_cli


def test_unknown_times_one_stays_unknown():
    """The issue's repro: multiplying an unknown H by a 1 must not give 1."""
    graph = cnndsl.check("""
    network t(image: [none, none, 8]) {
        multiply { identity; global_avgpool(keepdims=true) }
        expect shape = [none, none, none, 8]
    }""")
    assert graph.outputs["multiply_1"].shape == (None, None, None, 8)


@pytest.mark.parametrize("a, b, op, out", [
    ((None, None, 8), (1, 1, 8), "multiply", (None, None, None, 8)),
    ((4, None, 8), (1, 1, 8), "multiply", (None, 4, None, 8)),
    ((None, 5, 8), (3, 5, 8), "multiply", (None, 3, 5, 8)),      # unknown against n > 1 broadcasts to n
    ((None, 5, 8), (3, 5, 8), "add", (None, 3, 5, 8)),           # add needs equal sizes: the unknown is 3
    ((None, 5, 8), (1, 5, 8), "add", (None, 1, 5, 8)),
])
def test_broadcast_with_unknown_dimensions(a, b, op, out):
    shape = lambda s: "[" + ", ".join("none" if d is None else str(d) for d in s) + "]"
    graph = cnndsl.check(f"network t(a: {shape(a)}, b: {shape(b)}) {{ {op}(a, b) }}")
    (node,) = graph.outputs.values()
    assert node.shape == out


def test_ternary_without_parentheses():
    graph = cnndsl.check("""
    let WIDE = 2 if true else 1
    network t(x: [8, 8, 3], deep=false, f=4 if true else 5) {
        let n = 16 if deep else 8
        expect params = (3 * n + n) + 36 if true else 1
        conv(n * WIDE // 2, 1) -> conv(f, 1)
        if deep { relu }
    }""")
    assert [n.shape[-1] for n in graph.nodes[1:]] == [8, 4]


def test_an_if_statement_after_a_let_is_still_a_statement():
    graph = cnndsl.check("""
    network t(x: [8, 8, 3], deep=true) {
        let n = 4
        if deep { conv(n, 1) } else { conv(2 * n, 1) }
    }""")
    assert graph.nodes[-1].shape[-1] == 4


def test_slices_sum_ceil_floor():
    graph = cnndsl.check("""
    network t(x: [8, 8, 3]) {
        let reps = [1, 2, 2, 3]
        let before = sum(reps[:2])
        expect params = 0 * (before - 3) + 3 * 9 + 9
        conv(sum(reps[1:]) + ceil(1.2) + floor(-0.5) - len(reps[-2:]) + len(reps[:]) - 1, 1)
    }""")
    assert graph.nodes[-1].shape[-1] == 7 + 2 - 1 - 2 + 4 - 1


def test_a_global_block_index_from_slices():
    """EfficientNet's drop-connect rate: the block index counted across stages."""
    graph = cnndsl.check("""
    network t(x: [8, 8, 3]) {
        let reps = [1, 2, 3]
        repeat len(reps) as s {
            repeat reps[s] as i { dropout(0.2 * (sum(reps[:s]) + i) / sum(reps)) }
        }
    }""")
    rates = [n.args["rate"] for n in graph.nodes if n.op == "dropout"]
    assert rates == pytest.approx([0.2 * k / 6 for k in range(6)])


def test_an_optional_residual():
    src = """
    block unit(f, stride=1) {
        add(when=stride == 1 and in.channels == f) { identity; conv(f, 3, stride=stride, padding=same) -> bn }
    }
    network t(x: [8, 8, 4]) { unit(4) -> unit(8, stride=2) -> unit(8) }"""
    ops = [n.op for n in cnndsl.check(src).nodes]
    assert ops == ["input", "conv", "bn", "add", "conv", "bn", "conv", "bn", "add"]


def test_an_optional_merge_needs_one_other_branch():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check("network t(x: [8, 8, 4]) {\n  add(when=false) { relu; conv(4, 1) }\n}")
    assert "leaves 2 branches" in e.value.message and (e.value.span.line, e.value.span.col) == (2, 3)


def test_lists_of_tensors():
    graph = cnndsl.check("""
    network t(x: [8, 8, 4]) -> (out) {
        a = conv(4, 1)
        b = a -> conv(6, 1)
        let skips = [a, b]
        let s = skips[1]
        c = s -> conv(4, 1)
        d = add(skips[0], c)
        out = concat([d, s])
    }""")
    assert graph.outputs["out"].shape == (None, 8, 8, 10)
    assert [i.name for i in graph.outputs["out"].inputs] == ["add_1", "conv_2"]


def test_input_shapes_set_from_the_api_and_the_cli(tmp_path):
    src = "network t(image: [224, 224, 3]) { conv(8, 3, stride=2) }"
    graph = cnndsl.check(src, image=[300, 300, 3])
    assert graph.outputs["conv_1"].shape == (None, 149, 149, 8)
    spec = tmp_path / "t.cnn"
    spec.write_text(src)
    r = run_cli("check", spec, "--set", "image=[64, 32, 3]")
    assert r.returncode == 0 and "(None, 31, 15, 8)" in r.stdout
    r = run_cli("check", spec, "--set", "image=abc")
    assert r.returncode == 2 and "input `image` needs a shape" in r.stderr


def test_the_internal_input_op_cannot_be_named():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check("network n(x: [8, 8, 3]) {\n  input -> relu\n}")
    assert e.value.kind == "name" and (e.value.span.line, e.value.span.col) == (2, 3)


@pytest.mark.parametrize("arg, message", [
    ("kernel_init=he_nromal", "did you mean `he_normal`"),
    ("kernel_init=l2(1e-4)", "an initializer such as"),
    ("kernel_reg=he_normal", "one of l1, l2"),
    ("kernel_init=variance_scaling(2.0, mod=fan_out)", "has no argument `mod`"),
])
def test_initializer_errors(arg, message):
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(f"network n(x: [8, 8, 3]) {{ conv(4, 3, {arg}) }}")
    assert message in str(e.value)


def test_list_times_a_fraction_is_an_error():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check('network n(x: [8, 8, 3]) { conv(8, 3, name="{[1] * 1.5}") }')
    assert "whole number" in e.value.message


@pytest.mark.parametrize("call, message", [
    ('conv(4, 1, name="{n}_{idx}")', "unknown name `idx` in a name template"),
    ("conv(4, 1, name=idx)", "name must be a string, got unknown name `idx`"),
])
def test_a_misspelt_name_in_a_layer_name_is_an_error(call, message):
    """An unbound word in a name template (or as a name) used to become its own text silently."""
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(f'block b(n) {{\n  let k = 1\n  {call} }}\nnetwork t(x: [8, 8, 3]) {{ b("a") }}'.replace("  {call}", "  " + call))
    assert message in e.value.message and e.value.span.line == 3
