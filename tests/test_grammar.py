"""Grammar fixtures: snippets that must parse, and ones that must fail at a given line:col."""
from __future__ import annotations

import pytest

from cnndsl import CnnError
from cnndsl import syntax as S
from cnndsl.parser import parse

VALID = [
    "",
    "# only a comment",
    "network n(x: [224, 224, 3]) { conv(64, 7, stride=2) }",
    "network n(x: [none, none, 3], classes=10, batch=none) -> (a, b) { a = relu; b = a -> sigmoid }",
    "block b(f, k=3, name=none) { conv(f, k, name=\"{name}_conv\"); bn }",
    "block b() { concat(axis=-1) { identity; relu -> conv(1, 1) } }",
    "block b() { add { identity\n conv(1, 1) } \n multiply { identity; sigmoid } }",
    "block b(s=1) { if s > 1 and not false { relu } elif s == 1 or s < 0 { tanh } else { identity } }",
    "block b(n) { repeat n as i { conv(2 ** i, [1, 7]) } }",
    "block b() { let c = in.channels // 16 * 2 - -1 % 3; dense(max(c, 1)) }",
    "block b() { defaults conv(padding=same, bias=false); conv(8, 3) }",
    "import 'lib.cnn'\nimport \"other.cnn\"",
    "network n(x: [8, 8, 3]) { expect params = 21_306_826; expect trainable = 1_000.5e3; expect y.shape = [none, 10] }",
    "network n(x: [8, 8, 3]) { y = add(x, x); z = y -> relu -> conv(1, 1); z -> flatten; }",
    "block b(l=[1, 2, 3,]) { dense(l[0] + l[-1]) }",
    "block b(f) { let s = (1 if f > 2 else 2); conv(f, 3, stride=2 if f == 64 else 1); dense([1 if true else 2][0]) }",
]

INVALID = [  # (source, line, col)
    ("network n(x: [8, 8, 3]) { conv(16, 3 }", 1, 38),
    ("network n(x: [8, 8, 3]) {\n  conv(16, 3) ->\n}", 3, 1),
    ("network n(x: [8, 8, 3]) {\n  conv(16, 3\n  relu\n}", 3, 3),
    ("network n(x: [8, 8, 3] {\n}", 1, 24),
    ("block b() {\n  x = 3\n}", 2, 7),
    ("block b() { conv(16, 3, name=\"x) }", 1, 30),
    ("blok b() { }", 1, 1),
    ("network n(x: [8, 8, 3]) { relu", 1, 31),
    ("network n() { conv(1, 2,, 3) }", 1, 25),
    ("block b() { repeat { relu } }", 1, 20),
    ("network n() { 3 -> relu }", 1, 15),
    ("block b() { conv(1, 2) $ }", 1, 24),
]


@pytest.mark.parametrize("src", VALID)
def test_valid_snippets_parse(src):
    assert isinstance(parse(src, "t.cnn"), S.Module)


@pytest.mark.parametrize("src, line, col", INVALID)
def test_invalid_snippets_fail_at_line_col(src, line, col):
    with pytest.raises(CnnError) as e:
        parse(src, "t.cnn")
    assert (e.value.kind, e.value.span.line, e.value.span.col) == ("syntax", line, col), str(e.value)
    assert str(e.value).startswith(f"t.cnn:{line}:{col}: error: ")


def test_unclosed_call_names_the_opening_bracket():
    with pytest.raises(CnnError) as e:
        parse("network n(x: [8, 8, 3]) {\n  conv(16, 3\n  relu\n}", "t.cnn")
    assert e.value.message == "expected `)` to close the `(` opened at 2:7, found `relu`"


def test_every_ast_node_carries_a_span():
    mod = parse(VALID[8] + "\n" + VALID[9] + "\n" + VALID[2], "t.cnn")
    seen = []

    def walk(x):
        if isinstance(x, S.Node):
            seen.append(x)
            assert x.span.line >= 1 and x.span.col >= 1 and (x.span.end_line, x.span.end_col) >= (x.span.line, x.span.col)
            for v in x.fields().values():
                walk(v)
        elif isinstance(x, tuple):
            for v in x:
                walk(v)
    walk(mod)
    assert len(seen) > 30


def test_template_expressions_point_inside_the_string():
    mod = parse('block b(i) { conv(1, 1, name="c{i + 1}") }', "t.cnn")
    arg = mod.blocks[0].body[0].chain.elems[0].args[2]
    expr = arg.value.parts[1]
    assert isinstance(expr, S.BinOp) and (expr.span.line, expr.span.col) == (1, 33)
