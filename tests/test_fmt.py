"""`cnndsl fmt` (issue 19): every spec keeps its meaning (the same syntax tree, the same checked graph:
names, ops, arguments, shapes, counts) and its comments, the layout is a fixed point, and the shipped
specs are formatted. No framework is imported."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cnndsl.errors import CnnError
from cnndsl.fmt import format_text
from cnndsl.parser import _lark, parse
from cnndsl.program import load
from conftest import FIXTURES, ROOT, SPECS, run_cli

SPEC_FILES = sorted(SPECS.rglob("*.cnn")) + sorted((ROOT / "tests").rglob("*.cnn"))


def signature(text: str, path: str) -> list:
    """What `check` makes of a spec, per network: every node's name, op, arguments, inputs, shape and
    counts, or the error (its kind and message, positions left out: formatting moves lines)."""
    try:
        program = load(text, path)
        names = program.network_names()
    except CnnError as e:
        return [("error", e.kind, re.sub(r"\d+:\d+", "L:C", e.message))]
    out = []
    for name in names:
        try:
            g = program.lower(name)
        except CnnError as e:
            out.append((name, "error", e.kind, re.sub(r"\d+:\d+", "L:C", e.message)))
            continue
        out.append((name, [(n.name, n.op, repr(n.args), tuple(i.name for i in n.inputs), n.shape, n.trainable,
                            n.non_trainable, n.macs) for n in g.nodes],
                    sorted(g.inputs), sorted(g.outputs), [re.sub(r"\d+:\d+", "L:C", w) for w in g.warnings]))
    return out


def comments(text: str) -> list:
    return [str(t).rstrip() for t in _lark().lex(text, dont_ignore=True) if t.type == "COMMENT"]


@pytest.mark.parametrize("path", SPEC_FILES, ids=[str(p.relative_to(ROOT)) for p in SPEC_FILES])
def test_every_spec_keeps_its_graph_and_comments_and_is_a_fixed_point(path):
    text = path.read_text(encoding="utf-8")
    try:
        before = parse(text, str(path))
    except CnnError as e:
        with pytest.raises(CnnError) as again:     # refused with the parser's own located error
            format_text(text, str(path))
        assert (again.value.kind, again.value.message, again.value.span.line) == (e.kind, e.message, e.span.line)
        return
    out = format_text(text, str(path))
    assert parse(out, str(path)) == before               # the same syntax tree (spans aside)
    assert format_text(out, str(path)) == out            # idempotent
    assert comments(out) == comments(text)               # every comment, in order
    assert signature(out, str(path)) == signature(text, str(path))
    for line in out.splitlines():                        # code over 100 columns: no `->` left to break at
        code = re.sub(r"\s+#[^\"']*$", "", line)
        assert len(code) <= 100 or line.lstrip().startswith("#") or _unbreakable(code), line


def _unbreakable(line: str) -> bool:
    """A line with no `->` outside brackets and braces but a leading one, or statements joined by `;`."""
    code = re.sub(r'"[^"]*"|\'[^\']*\'', "S", line.split("#")[0]).strip()
    while True:
        flat = re.sub(r"\([^()\[\]{}]*\)|\[[^()\[\]{}]*\]|\{[^(){}\[\]]*\}", "X", code)
        if flat == code:
            break
        code = flat
    code = re.split(r"[(\[{]", code)[0]                   # after a bracket left open: inside it
    code = re.split(r"[)\]}]", code)[-1]                  # before one closed here: inside it too
    return ";" in code or "->" not in code.strip().removeprefix("->")


def _inline_specs() -> list:
    """The spec strings in the tests' Python sources that parse (a network or a block in a string)."""
    found = {}
    for py in sorted((ROOT / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(
                    r"\b(network|block)\s+\w+\s*\(", node.value) and "{" in node.value:
                try:
                    parse(node.value)
                except (CnnError, RecursionError):
                    continue
                found.setdefault(node.value, f"{py.name}:{node.lineno}")
    return sorted(found.items(), key=lambda kv: kv[1])


INLINE = _inline_specs()


def test_the_inline_specs_of_the_tests_keep_their_syntax_and_check_the_same():
    assert len(INLINE) > 100
    for text, where in INLINE:
        out = format_text(text, where)
        assert parse(out) == parse(text), where
        assert format_text(out, where) == out, where
        assert comments(out) == comments(text), where
        if len(text) < 5000:
            assert signature(out, "<string>") == signature(text, "<string>"), where


def test_a_sample_layout():
    src = ("# head\nimport   \"lib/se.cnn\"\nlet  K=[1,2,\n 3]   # k\nblock b(f,s=1){add(when=s==1){identity;conv(f,3)} ->\n"
           "relu\n}\nnetwork n(x:[8,8,4],c=-1)->(y){\n\n\n repeat 2 as i { b(4) } conv(2) # a\n"
           "   # own\n  y=x->conv(K[1:2][0])\n  if c>0 { bn } else {relu}\n  let z = 2 if c else -c ** -2\n\n}\n\n")
    assert format_text(src) == (
        "# head\n"
        "import \"lib/se.cnn\"\n"
        "let K = [1, 2,\n"
        "         3]  # k\n"
        "block b(f, s=1) {\n"
        "    add(when=s == 1) { identity; conv(f, 3) }\n"
        "        -> relu\n"
        "}\n"
        "network n(x: [8, 8, 4], c=-1) -> (y) {\n"
        "    repeat 2 as i { b(4) }\n"
        "    conv(2)  # a\n"
        "    # own\n"
        "    y = x -> conv(K[1:2][0])\n"
        "    if c > 0 { bn } else { relu }\n"
        "    let z = 2 if c else -c ** -2\n"
        "}\n")


def test_a_long_chain_is_broken_before_its_arrows_as_late_as_fits():
    chain = " -> ".join(f"conv({i}, 3, padding=same)" for i in range(1, 9))
    out = format_text(f"network n(x: [8, 8, 3]) {{\n    {chain}\n}}\n")
    lines = out.splitlines()[1:-1]
    assert lines == ["    conv(1, 3, padding=same) -> conv(2, 3, padding=same) -> conv(3, 3, padding=same)",
                     "        -> conv(4, 3, padding=same) -> conv(5, 3, padding=same) -> conv(6, 3, padding=same)",
                     "        -> conv(7, 3, padding=same) -> conv(8, 3, padding=same)"]


def test_a_header_continued_onto_its_outputs_line_keeps_its_body_at_one_indent():
    # a network or block header too long for a line is broken before `-> (outputs)`: the body and its `}`
    # stay where a one-line header puts them (not one indent deeper, with `}` indented)
    outs = ", ".join(f"output_number_{i}" for i in range(6))
    body = "    output_number_0 = conv(4, 1)\n" + "".join(f"    output_number_{i} = output_number_0 -> relu\n"
                                                   for i in range(1, 6))
    for src in (f"network n(x: [8, 8, 3]) -> ({outs}) {{\n{body}}}\n",
                f"network n(x: [8, 8, 3])\n        -> ({outs}) {{\n{body}}}\n"):
        out = format_text(src)
        assert out == f"network n(x: [8, 8, 3])\n    -> ({outs}) {{\n{body}}}\n"
        assert format_text(out) == out
    block = "block b(f)\n        -> (first_output_tensor, second) {\n    first_output_tensor = conv(f, 1)\n}\n"
    assert format_text(block) == \
        "block b(f)\n    -> (first_output_tensor, second) {\n    first_output_tensor = conv(f, 1)\n}\n"


# --- generated specs, laid out at random -------------------------------------------------------------

OPS = ["conv(4, 3, padding=same)", "conv(8, 1, stride=2)", "bn", "relu", "maxpool(2, padding=same)", "identity",
       "dwconv(3, padding=same)", "dropout(0.5)", "unit(4)", "upsample", "zeropad(1)", "activation(relu)"]


@st.composite
def _spec(draw):
    chain = lambda: " -> ".join(draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=4)))
    stmts = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            stmts.append(f"{draw(st.sampled_from(['concat', 'add']))} {{ {chain()}; {chain()} }}")
        elif kind == 1:
            stmts.append(f"repeat {draw(st.integers(1, 3))} as i {{ {chain()} }}")
        elif kind == 2:
            stmts.append(f"if k > {draw(st.integers(0, 4))} {{ {chain()} }} else {{ {chain()} }}")
        elif kind == 3:
            stmts.append(f"let v{len(stmts)} = {draw(st.integers(-3, 9))} * k + [1, 2][0] if k >= 2 else -k")
        else:
            stmts.append(chain())
    stmts.append("expect shape = [none, 16, 16, " + draw(st.sampled_from(["4", "8", "none"])) + "]")
    return ("block unit(f, s=1) { conv(f, 1, stride=s) -> bn }\n"
            f"network n(x: [16, 16, 8], k={draw(st.integers(1, 4))}) {{\n" + "\n".join(stmts) + "\n}\n")


@st.composite
def _scrambled(draw):
    """A generated spec with its tokens re-joined by random white space and comments."""
    text = draw(_spec())
    seps = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\n  \t", " # note\n", "\n# own line\n", "\t"])
    out = []
    for t in _lark().lex(text, dont_ignore=False):
        out.append(str(t))
        out.append(draw(seps))
    return "".join(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_scrambled())
def test_generated_specs_laid_out_at_random_keep_their_graph_and_format_to_a_fixed_point(src):
    out = format_text(src)
    assert format_text(out) == out
    assert parse(out) == parse(src)
    assert comments(out) == comments(src)
    assert signature(out, "<string>") == signature(src, "<string>")


# --- the command line --------------------------------------------------------------------------------

MESSY = "network n(x:[8,8,3]){conv(4,3)->relu # r\n}\n"
NEAT = "network n(x: [8, 8, 3]) {\n    conv(4, 3) -> relu  # r\n}\n"


def test_fmt_rewrites_in_place_and_check_lists_what_it_would_change(tmp_path):
    messy, neat = tmp_path / "messy.cnn", tmp_path / "neat.cnn"
    messy.write_text(MESSY)
    neat.write_text(NEAT)
    r = run_cli("fmt", "--check", messy, neat)
    assert r.returncode == 1 and r.stdout == f"would reformat {messy}\n", r
    assert messy.read_text() == MESSY                    # --check changes nothing
    r = run_cli("fmt", tmp_path)                         # a folder: its .cnn files
    assert r.returncode == 0 and r.stdout == f"reformatted {messy}\n", r
    assert messy.read_text() == NEAT and neat.read_text() == NEAT
    assert run_cli("fmt", "--check", messy, neat).returncode == 0


def test_fmt_reads_standard_input_and_writes_standard_output():
    r = run_cli("fmt", "-", stdin=MESSY)
    assert (r.returncode, r.stdout, r.stderr) == (0, NEAT, "")


def test_fmt_refuses_a_spec_that_does_not_parse_with_the_located_error_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.cnn"
    text = (FIXTURES / "errors" / "syntax_unclosed.cnn").read_text()
    bad.write_text(text)
    good = tmp_path / "good.cnn"
    good.write_text(MESSY)
    r = run_cli("fmt", bad, good)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{bad}:3:16: error: expected `)` to close the `(` opened at 3:9"), r.stderr
    assert "^" in r.stderr and "Traceback" not in r.stderr
    assert bad.read_text() == text                       # untouched
    assert good.read_text() == NEAT                      # the other file is still formatted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.cnn", "good.cnn"]    # no temporary file left


def test_fmt_a_missing_file_is_one_line():
    r = run_cli("fmt", "no/such.cnn")
    assert r.returncode == 2 and r.stderr.startswith("error: can't read no/such.cnn") and "Traceback" not in r.stderr


def test_the_shipped_specs_are_formatted():
    r = run_cli("fmt", "--check", "specs/")
    assert (r.returncode, r.stdout) == (0, ""), r.stdout + r.stderr


def test_fmt_imports_no_framework():
    import subprocess
    import sys
    code = ("import sys; from cnndsl.cli import main; main(['fmt', '--check', 'specs/resnet34.cnn']); "
            "print(sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax', 'onnx', 'graphviz', 'pygls') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
