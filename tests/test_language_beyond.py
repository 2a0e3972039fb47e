"""Language for networks beyond keras.applications (issue 12): collected repeats, chains as merge
arguments, value functions, and the two surprises answered by a warning and an error."""
from __future__ import annotations

import pytest

import cnndsl

C2F = """
fn make_div(c, d=8) = max(d, int(c + d / 2) // d * d)
block bottleneck(c) { add { identity; conv(c, 3, padding=same) -> conv(c, 3, padding=same) } }
block c2f(c, n) {
    a, b = split(2)
    ys = b -> repeat n collect { bottleneck(c // 2) }
    concat(a, b, ys) -> conv(c, 1)
}
network n(x: [16, 16, 3], width=0.25) {
    conv(make_div(64 * width), 3) -> c2f(make_div(64 * width), 3)
}
"""


def test_a_collected_repeat_is_a_list_of_its_outputs():
    graph = cnndsl.check(C2F)
    concat = next(n for n in graph.nodes if n.op == "concat")
    assert [i.op for i in concat.inputs] == ["take", "take", "add", "add", "add"]
    assert concat.shape == (None, 14, 14, 8 + 8 + 3 * 8)


def test_a_collected_repeat_can_feed_a_merge_in_the_chain():
    graph = cnndsl.check("network n(x: [8, 8, 4]) { repeat 3 collect { conv(4, 1) } -> concat }")
    assert graph.nodes[-1].op == "concat" and graph.nodes[-1].shape == (None, 8, 8, 12)


def test_value_functions():
    graph = cnndsl.check(C2F)
    assert graph.nodes[1].shape[-1] == 16                      # make_div(16) = 16
    assert cnndsl.check(C2F, width=0.5).nodes[1].shape[-1] == 32   # make_div(32) = 32


@pytest.mark.parametrize("src, message", [
    ("fn f(n) = f(n + 1)\nnetwork n(x: [8, 8, 3]) { conv(f(1), 1) }", "function calls nest deeper than 500"),
    ("fn f(n) = f(n - 1) + f(n - 1) if n > 0 else 1\nnetwork n(x: [8, 8, 3]) { conv(f(40), 1) }", "evaluation steps"),
    ("fn f(n) = n\nnetwork n(x: [8, 8, 3]) { conv(f(1, 2), 1) }", "f() takes 1 argument(s), got 2"),
    ("fn max(a) = a\nnetwork n(x: [8, 8, 3]) { relu }", "is a built-in function"),
    ("fn f(a) = a + none_such\nnetwork n(x: [8, 8, 3]) { conv(f(1), 1) }", "expected a number"),
])
def test_value_function_errors(src, message):
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(src)
    assert message in str(e.value)
    assert e.value.span is not None


def test_chains_as_merge_arguments():
    graph = cnndsl.check("network n(x: [8, 8, 4]) { y = conv(8, 1, stride=2); concat(y -> upsample(2), x) }")
    concat = graph.nodes[-1]
    assert [i.op for i in concat.inputs] == ["upsample", "input"] and concat.shape == (None, 8, 8, 12)


def test_a_chain_argument_needs_a_merge():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check("network n(x: [8, 8, 4]) { conv(8, x -> relu) }")
    assert "pass chains only to merges" in e.value.message


def test_a_named_statement_reading_the_one_before_gets_a_warning():
    graph = cnndsl.check("network n(x: [8, 8, 4]) -> (a, b) {\n  a = conv(8, 1)\n  b = conv(8, 1)\n}")
    assert len(graph.warnings) == 1 and "<string>:3:3: `b = conv...` reads `a`" in graph.warnings[0]
    clear = cnndsl.check("network n(x: [8, 8, 4]) -> (a, b) {\n  a = conv(8, 1)\n  b = x -> conv(8, 1)\n}")
    assert clear.warnings == []


def test_in_is_a_block_input_and_a_network_is_told_so():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check("network n(image: [8, 8, 4]) { in -> relu }")
    assert "`in` is a block's input" in e.value.message and "`image`" in e.value.hint


def test_assert_states_a_specs_own_check():
    src = ('block pool2() {\n  assert in.height % 2 == 0, "a 2x2 pool needs an even size, got {in.height}"\n'
           '  maxpool(2)\n}\nnetwork n(x: [9, 8, 3]) { pool2 }')
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(src)
    assert e.value.message == "a 2x2 pool needs an even size, got 9" and e.value.span.line == 2
    assert cnndsl.check(src.replace("[9, 8, 3]", "[8, 8, 3]")).nodes[-1].shape == (None, 4, 4, 3)


def test_error_fails_with_the_specs_message_where_it_is_called():
    src = ('fn chans(s) = 24 if s == 1.0 else error("scale must be 0.5, 1.0, 1.5 or 2.0")\n'
           "network n(x: [8, 8, 3], scale=0.75) { conv(chans(scale), 1) }")
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(src)
    assert e.value.message == "scale must be 0.5, 1.0, 1.5 or 2.0" and (e.value.span.line, e.value.span.col) == (1, 35)
    assert "in chans(0.75), called at <string>:2:44" in e.value.notes[0]


SEQ = '''block down(f, name) { sequential(name="{name}_seq") { layernorm(epsilon=1e-6, name="{name}_ln")
                                                       conv(f, 2, stride=2, name="{name}_conv") } }
network n(x: [16, 16, 3]) {
    sequential(name="stem") { conv(8, 4, stride=4, name="stem_conv"); layernorm(epsilon=1e-6, name="stem_ln") }
    down(16, "d1")
    add { identity; conv(16, 1) }
}'''


@pytest.mark.slow                       # Keras builds the model
def test_a_sequential_is_one_nested_keras_model():
    import keras
    graph = cnndsl.check(SEQ)
    model = cnndsl.compile(graph)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Sequential", "Sequential", "Conv2D", "Add"]
    assert [layer.name for layer in model.get_layer("stem").layers] == ["stem_conv", "stem_ln"]
    assert model.count_params() == graph.total_params
    assert isinstance(model.get_layer("d1_seq"), keras.Sequential)


@pytest.mark.parametrize("body, message", [
    ('sequential(name="s") { conv(4, 1) -> split(2) }', "bind them by name first"),
    ('sequential(name="s") { concat { conv(4, 1); conv(4, 1) } }', "a plain chain of one-input layers"),
])
def test_a_sequential_hides_its_inside(body, message):
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(f"network n(x: [8, 8, 3]) {{\n  {body}\n}}")
    assert message in e.value.message and e.value.span is not None
