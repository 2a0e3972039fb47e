"""No input a user can write crashes, hangs or exhausts cnndsl (issue 10): the regression corpus.

Every reproducer of the issue, as a row: the spec text, the exit code, the line:col of the error
and a fragment of its message. Each runs in process through the command line's ``main`` and must
finish well inside a few seconds of CPU time (the budgets: --max-steps, value and size bounds, the syntax
nesting limit). A second table covers files: FIFOs, devices, import roots, symlinks.
"""
from __future__ import annotations

import os
import re
import time

import pytest

from cnndsl.cli import main

SUM = " + ".join(["1"] * 400)
ANDS = " and ".join(["true"] * 3000)
DOUBLING = "\n".join(f"block b{k}() {{ b{k - 1} -> b{k - 1} }}" for k in range(1, 41))

# (id, spec text, exit code, "line:col" or None, message fragment)
CORPUS = [
    ("input-op", "network n(x: [8, 8, 3]) {\n  input -> relu\n}", 1, "2:3", "unknown op or block `input`"),
    ("list-times-float", 'network n(x: [8, 8, 3]) {\n  conv(8, 3, name="{[1] * 1.5}")\n}', 1, "2:27", "whole number"),
    ("zero-to-negative", "network n(x: [8, 8, 3]) {\n  let a = 0 ** -1\n  relu\n}", 1, "2:11", "division by zero"),
    ("huge-int", "network n(x: [8, 8, 3]) {\n  let a = 10 ** 12\n  let b = a * a * a * a * a * a\n  relu\n}", 1,
     "3:11", "over the limit of 2**63"),
    ("huge-upsample", "network n(x: [8, 8, 3]) {\n  upsample(100000) -> upsample(100000) -> conv(8, 3)\n}", 1,
     "2:23", "over 2**31 - 1"),
    ("sum-of-400", f"network n(x: [8, 8, 3]) {{\n  let a = {SUM}\n  conv(a, 1)\n}}", 0, None, ""),
    ("3000-ands", f"network n(x: [8, 8, 3]) {{\n  let a = {ANDS}\n  relu\n}}", 0, None, ""),
    ("5000-minuses", "network n(x: [8, 8, 3]) {\n  let a = " + "-" * 5000 + "1\n  relu\n}", 1, None,
     "nested too deeply"),
    ("nested-lists", "network n(x: [8, 8, 3]) {\n  let a = " + "[" * 2000 + "]" * 2000 + "\n  relu\n}", 1, None,
     "nested too deeply"),
    ("nested-repeats", "network n(x: [8, 8, 3]) {\n" + "repeat 1 { " * 100 + "relu" + " }" * 100 + "\n}", 1, None,
     "nest deeper than 64 (max_depth)"),
    ("very-nested-repeats", "network n(x: [8, 8, 3]) {\n" + "repeat 1 { " * 3000 + "relu" + " }" * 3000 + "\n}", 1,
     None, "nested too deeply"),
    ("repeat-of-repeats", "network n(x: [8, 8, 3]) {\n  repeat 100000 { repeat 100000 { identity } }\n}", 1, "2:19",
     "--max-steps"),
    ("repeat-of-lets", "network n(x: [8, 8, 3]) {\n  repeat 100000 { repeat 100000 { let a = 1 } }\n}", 1, None,
     "--max-steps"),
    ("doubling-blocks", "block b0() { relu }\n" + DOUBLING + "\nnetwork n(x: [8, 8, 3]) { b40 }", 1, None,
     "--max-steps"),
    ("list-doubling", "network n(x: [8, 8, 3]) {\n  let a = [1]\n  repeat 100 { let a = a + a }\n  relu\n}", 1,
     "3:24", "over the limit of 1,000,000"),
    ("string-doubling", 'network n(x: [8, 8, 3]) {\n  let a = "ab"\n  repeat 100 { let a = a + a }\n  relu\n}', 1,
     "3:24", "over the limit of 1,000,000"),
    ("huge-list", "network n(x: [8, 8, 3]) {\n  let a = [0] * 10 ** 10\n  relu\n}", 1, "2:11", "over the limit"),
    ("squaring", "network n(x: [8, 8, 3]) {\n  let a = 3\n  repeat 40 { let a = a * a }\n  relu\n}", 1, "3:23",
     "over the limit of 2**63"),
    ("form-feed", "network n(x: [8, 8, 3]) {\n  # a \x0c form feed \u2028 and a line separator\n  conv(8, 3) -> nope\n}",
     1, "3:17", "unknown op or block `nope`"),
    ("bom", "\ufeffnetwork n(x: [8, 8, 3]) {\n  conv(8, 3) -> nope\n}", 1, "2:17", "`nope`"),
    ("template-syntax", 'network n(x: [8, 8, 3]) {\n  conv(8, 3, name="{1 +}")\n}', 1, "2:24", "end of the `{...}`"),
    ("eof-after-bracket", "network n(x: [8, 8, 3]) {\n  conv(8, 3\n", 1, "3:1", "found end of file"),
    ("unknown-tensor", "network n(x: [8, 8, 3]) {\n  a = conv(8, 1)\n  add(a, nope)\n}", 1, "3:10", "unknown tensor `nope`"),
    ("chained-comparison", "network n(x: [8, 8, 3]) {\n  let a = 1 < 2 < 3\n  relu\n}", 1, "2:11",
     "comparisons don't chain"),
    ("two-points", "network n(x: [8, 8, 3]) {\n  dropout(0.5.1)\n}", 1, "2:11", "`0.5.1` is not a number"),
    ("glued-keyword", "networknet(x: [8, 8, 3]) { relu }", 1, "1:1", "unexpected `networknet`"),
    ("keyword-block", "block repeat(f) { relu }\nnetwork n(x: [8, 8, 3]) { relu }", 1, "1:1", "`repeat` is a keyword"),
    ("nul-character", "network n(x: [8, 8, 3]) {\n  relu \x00\n}", 1, "2:8", "unexpected character `\\x00`"),
    ("long-identifier", "network n(x: [8, 8, 3]) {\n  " + "a" * 1_000_000 + "\n}", 1, "2:3", "…"),
    ("nul-import", 'import "a\x00b.cnn"\nnetwork n(x: [8, 8, 3]) { relu }', 1, "1:1", "NUL byte"),
    ("dev-zero-import", 'import "/dev/zero"\nnetwork n(x: [8, 8, 3]) { relu }', 1, "1:1", "not a regular file"),
    ("dev-urandom-import", 'import "/dev/urandom"\nnetwork n(x: [8, 8, 3]) { relu }', 1, "1:1", "not a regular file"),
    ("folder-import", 'import "/tmp"\nnetwork n(x: [8, 8, 3]) { relu }', 1, "1:1", "it is a folder"),
    ("chain-as-value", "block b(t) { relu }\nnetwork n(x: [8, 8, 3]) {\n  b(x -> relu)\n}", 1, "3:5",
     "can only be a merge's argument"),
    ("zeropad-by-height", "network n(x: [8, 8, 3]) {\n  a = relu\n  let h = a.height\n  zeropad(h * 1000000000)\n}", 1, "4:3",
     "over 2**31 - 1"),
]


@pytest.mark.parametrize("name, text, code, where, fragment", CORPUS, ids=[c[0] for c in CORPUS])
def test_the_corpus(name, text, code, where, fragment, tmp_path, capsys):
    spec = tmp_path / "spec.cnn"
    spec.write_text(text, encoding="utf-8")
    start = time.process_time()        # CPU time: what the check costs, however loaded the machine is
    assert main(["check", str(spec)]) == code
    elapsed = time.process_time() - start
    err = capsys.readouterr().err
    assert elapsed < 15, f"took {elapsed:.1f} s of CPU time"   # the slowest (doubling-blocks) takes about 3 s
    if code:
        first = err.splitlines()[0]
        assert "Traceback" not in err and "internal error" not in err
        assert fragment in first, first[:300]
        if where is not None:
            assert first.startswith(f"{spec}:{where}: error:"), first[:200]
        else:
            assert re.match(re.escape(str(spec)) + r":\d+:\d+: error:", first), first[:200]
        assert max(len(line) for line in err.splitlines()) < 400, "a huge token echoed in full"
        assert "\x00" not in err


def test_a_block_chain_deeper_than_python_allows_with_max_depth_raised(tmp_path, capsys):
    """3,000 blocks each calling the next, with --max-depth raised to allow them: no RecursionError."""
    chain = "\n".join(f"block b{k}() {{ b{k - 1} }}" for k in range(1, 3000))
    spec = tmp_path / "spec.cnn"
    spec.write_text("block b0() { relu }\n" + chain + "\nnetwork n(x: [8, 8, 3]) { b2999 }\n")
    assert main(["check", str(spec), "--max-depth", "5000"]) == 0
    assert main(["check", str(spec)]) == 1
    assert "max_depth" in capsys.readouterr().err


def test_invalid_utf8_is_located_at_its_first_bad_byte(tmp_path, capsys):
    spec = tmp_path / "spec.cnn"
    spec.write_bytes(b"network n(x: [8, 8, 3]) {\n  relu # caf\xe9\n}\n")
    assert main(["check", str(spec)]) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith(f"{spec}:2:13: error: invalid UTF-8")


def test_a_fifo_or_device_given_as_the_spec_is_refused_without_reading(tmp_path, capsys):
    fifo = tmp_path / "fifo.cnn"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        assert main(["check", path]) == 2
        assert "not a regular file" in capsys.readouterr().err


def test_an_import_cycle_through_a_symlink_is_found(tmp_path, capsys):
    (tmp_path / "a.cnn").write_text('import "link.cnn"\nblock a() { relu }\n')
    (tmp_path / "link.cnn").symlink_to(tmp_path / "main.cnn")
    (tmp_path / "main.cnn").write_text('import "a.cnn"\nnetwork n(x: [8, 8, 3]) { a }\n')
    assert main(["check", str(tmp_path / "main.cnn")]) == 1
    assert "import cycle" in capsys.readouterr().err


def test_an_error_in_an_imported_file_names_the_imports(tmp_path, capsys):
    (tmp_path / "c.cnn").write_text("block c() { relu ->\n}\n")
    (tmp_path / "b.cnn").write_text('import "c.cnn"\n')
    (tmp_path / "main.cnn").write_text('import "b.cnn"\nnetwork n(x: [8, 8, 3]) { relu }\n')
    assert main(["check", str(tmp_path / "main.cnn")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path / 'c.cnn'}:2:1: error:")
    assert f"note: c.cnn is imported at {tmp_path / 'b.cnn'}:1:1" in err
    assert f"note: b.cnn is imported at {tmp_path / 'main.cnn'}:1:1" in err


@pytest.mark.parametrize("target", ["../outside.cnn", "/ABS/outside.cnn", "sneaky.cnn"])
def test_the_import_root_cannot_be_escaped(target, tmp_path, capsys):
    root, outside = tmp_path / "root", tmp_path / "outside.cnn"
    root.mkdir()
    outside.write_text("block b() { relu }\n")
    (root / "sneaky.cnn").symlink_to(outside)             # a link inside the root, to a file outside it
    target = target.replace("/ABS/", f"{tmp_path}/")
    (root / "main.cnn").write_text(f'import "{target}"\nnetwork n(x: [8, 8, 3]) {{ b }}\n')
    assert main(["check", str(root / "main.cnn"), "--import-root", str(root)]) == 1
    assert "outside the import root" in capsys.readouterr().err
    assert main(["check", str(root / "main.cnn")]) == 0                  # without the option it reads it


def test_the_import_root_allows_imports_inside_it(tmp_path):
    import cnndsl
    (tmp_path / "lib.cnn").write_text("block b() { relu }\n")
    (tmp_path / "main.cnn").write_text('import "lib.cnn"\nnetwork n(x: [8, 8, 3]) { b }\n')
    assert len(cnndsl.check(tmp_path / "main.cnn", import_root=tmp_path).nodes) == 2
    with pytest.raises(cnndsl.CnnError, match="outside the import root"):
        cnndsl.check(tmp_path / "main.cnn", import_root=tmp_path / "elsewhere")


def test_a_summary_into_a_closed_pipe_ends_quietly():
    import subprocess
    import sys
    r = subprocess.run(f"{sys.executable} -m cnndsl summary specs/resnet152.cnn | head -1", shell=True,
                       capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.stdout.startswith("resnet152") and r.stderr == ""


def test_an_internal_error_exits_3():
    from cnndsl import CnnError
    assert CnnError("internal", "x").exit_code == 3 and CnnError("usage", "x").exit_code == 2


# --- issue 22: an `if` (or any statement) after every statement kind -------------------------------
# Each statement parses to the same AST alone and followed by any other: no statement swallows the
# next one (the old ternary lookahead read `let k = 3` + `if (k if c else 1) > 2 { relu }` as one).
STATEMENTS = [
    "let v = k", "let v = (k)", "let v = k if flag else 1", "let v = 1 if flag else 2 if k > 1 else 3",
    "let [v, w] = [k, 2]", "let [v, w] = [k, 2] if flag else [1, 1]", 'assert k > 0, "m"',
    'assert k > 0 if flag else true, "m" if flag else "n"', "expect params = k", "expect y.shape = [none, 8, 8, 4]",
    "expect params = 1 if flag else 2", "defaults conv(padding=same)", "defaults conv(strides=2 if flag else 1)",
    "y = conv(4, 1)", "y = x -> conv(k if flag else 1, 1)", "y, z = b2()", "relu", "conv(4, 1) -> relu; bn",
    "concat { relu; identity }", "add(when=k if flag else false) { identity; relu }", "ys[0] -> relu",
    "if k > 1 { relu }", "if (k if flag else 1) > 2 { relu }", 'if mode == "else" { relu } else { identity }',
    "if flag { relu } elif (k > 1 if flag else false) { identity } else { bn }", "if k > 1 { relu } -> bn",
    "repeat 2 { relu }", "repeat (k if flag else 1) as i { relu }", "ys = repeat 2 collect { relu }",
]


def _body(text):
    from cnndsl.parser import parse
    return parse("network n(x: [8, 8, 3]) {\n" + text + "\n}").networks[0].body


@pytest.mark.parametrize("first", STATEMENTS)
def test_a_statement_is_the_same_before_every_other(first):
    alone = _body(first)
    for second in STATEMENTS:
        for sep in ("\n", " ", "; "):
            assert _body(first + sep + second) == alone + _body(second), (first, sep, second)


def test_a_constant_is_the_same_before_every_file_item():
    from cnndsl.parser import parse
    items = ["let A = 1 if true else 2", "fn f(a) = a if a > 0 else 0", "let B = [1]", 'import "x.cnn" as y',
             "block b() { relu }", "network m(x: [8, 8, 3]) { relu }"]
    for first in items:
        for second in items:
            both, a, b = parse(first + "\n" + second), parse(first), parse(second)
            for field in ("imports", "consts", "blocks", "networks"):
                assert getattr(both, field) == getattr(a, field) + getattr(b, field), (first, second)


# --- issue 22: the reproducers ------------------------------------------------------------------------
NET = "network n(x: [8, 8, 6], flag=true, c=false, mode=\"a\") {\n"
LIBTEXT = "let W = 1\nblock blk() { relu }\n"
CORPUS22 = [
    # 1. the total size of a value
    ("list-of-lists", "let A = [0] * 1000000\nlet B = [A] * 1000000\nnetwork n(x: [8, 8, 6]) { conv(B, 1) }", 1,
     "2:9", "1,000,000,000,000 items in all"),
    ("list-of-lists-template", NET + "  let A = [0] * 1000000\n  let B = [A, A]\n  conv(4, 1, name=\"{B}\")\n}", 1,
     "3:11", "2,000,000 items in all"),
    ("list-of-lists-compare", NET + "  let A = [0] * 1000000\n  assert [A] * 1000000 != [[0] * 1000000] * 1000000, "
     "\"x\"\n  relu\n}", 1, "3:10", "items in all"),
    ("empty-lists", NET + "  let A = [[]] * 1000000\n  let B = [A, A]\n  relu\n}", 1, "3:11", "items in all"),
    # 2. check refuses what Keras would
    ("variance-scaling-mode", NET + "  conv(4, 1, kernel_init=variance_scaling(2.0, mode=fan_sideways))\n}", 1, "2:48",
     "`mode` must be one of fan_in, fan_out, fan_avg, got `fan_sideways`"),
    ("variance-scaling-negative", NET + "  conv(4, 1, kernel_init=variance_scaling(-2.0))\n}", 1, "2:43",
     "`scale` must be a number above 0"),
    ("l2-negative", NET + "  conv(4, 1, kernel_reg=l2(-1))\n}", 1, "2:28", "`l2` must be at least 0"),
    ("l2-symbol", NET + "  conv(4, 1, kernel_reg=l2(strong))\n}", 1, "2:28", "`l2` must be a number, got unknown name"),
    ("normalize-axis-twice", NET + "  normalize(axis=[3, -1])\n}", 1, "2:3", "name axis 3 of (None, 8, 8, 6) twice"),
    ("identity-on-a-conv", NET + "  conv(4, 1, kernel_init=identity)\n}", 1, "2:14", "only for 2-D weights"),
    ("orthogonal-bias", NET + "  dense(4, bias_init=orthogonal)\n}", 1, "2:12", "at least 2-D weights"),
    ("relu-threshold", NET + "  relu(threshold=-1)\n}", 1, "2:8", "`threshold` must be at least 0"),
    ("keyword-twice", NET + "  conv(filters=2, kernel=1, filters=0)\n}", 1, "2:29", "argument `filters` given twice"),
    # 3. valid specs
    ("if-after-let", NET + "  let k = 3\n  if (k if flag else 1) > 2 { relu }\n}", 0, None, ""),
    ("else-string-after-let", NET + "  let k = 3\n  if mode == \"else\" { identity } else { relu }\n}", 0, None, ""),
    ("indexed-chain", NET + "  a = conv(4, 1)\n  b = x -> conv(4, 1)\n  let ps = [a, b]\n  ys = ps[0] -> conv(4, 1)\n"
     "  concat(ys, ps[1] -> relu)\n}", 0, None, ""),
    ("merge-of-merges", NET + "  a = conv(4, 1)\n  b = x -> conv(4, 1)\n  add(multiply(a, b), a)\n}", 0, None, ""),
    ("tensor-list-chain", NET + "  ys = repeat 3 collect { conv(4, 1) }\n  ys -> concat\n}", 0, None, ""),
    # 4. messages from the real cause
    ("error-without-message", NET + "  conv(error(), 1)\n}", 1, "2:8", "error() takes 1 argument(s), got 0"),
    ("expect-a-string", NET + "  conv(4, 1)\n  expect params = \"28\"\n}", 1, "3:19",
     "`expect params` needs a whole number, got the string \"28\""),
    ("list-then-op", NET + "  ys = repeat 3 collect { conv(4, 1) }\n  ys -> relu\n}", 1, "3:9",
     "`ys` is a list of 3 tensors; merge them first"),
    ("concat-a-value", NET + "  y = conv(4, 1)\n  concat([x, y, 3])\n}", 1, "3:10", "`[x, y, 3]` holds 3, which is not a tensor"),
    ("concat-empty-slice", NET + "  ys = repeat 3 collect { conv(4, 1) }\n  y = concat(ys[3:])\n}", 1, "3:14",
     "`ys[3:]` is an empty list"),
    ("alias-without-member", 'import "lib.cnn" as l\n' + NET + "  conv(l.V, 1)\n}", 1, "3:8",
     "`l` (an imported file) has no `V`"),
    ("alias-without-block", 'import "lib.cnn" as l\n' + NET + "  l.V\n}", 1, "3:3",
     "`l` (an imported file) has no block `V`"),
    ("unknown-merge-function", NET + "  a = conv(4, 1)\n  let z = frob(a, a)\n  relu\n}", 1, "3:11", "unknown function `frob`"),
    ("op-as-value", NET + "  a = conv(4, 1)\n  let z = add(a, a)\n  relu\n}", 1, "3:11",
     "`add(...)` is an op: it makes a tensor, and tensors are not values"),
    ("block-without-parentheses", "block encoder {\n  relu\n}\n" + NET + "  encoder\n}", 1, "1:15",
     "a block declares its parameters in `( )`"),
    ("recursion-under-if", "block b(n) {\n  if n > 0 { conv(4, 1) -> b(n - 1) }\n}\n" + NET + "  b(3)\n}", 0, None,
     ""),     # issue 16 made recursion bounded by an `if` work
    ("one-tensor-concat", NET + "  skip = conv(4, 1)\n  u = conv_transpose(4, 2, stride=2)\n  concat(skip)\n}", 1, "4:3",
     "concat(skip) merges only `skip`: a merge that starts a statement reads its arguments, not the tensor before "
     "it (`u`)"),
    ("ternary-of-tensors", NET + "  t = conv(4, 1)\n  u = conv(4, 1)\n  let v = t if c else add(t, u)\n  relu\n}", 1, "4:11",
     "`add(t, u)` makes a tensor, and tensors are not values"),
    # 5. locations
    ("deep-calls", "fn f(n) = " + "-" * 900 + "(n if n <= 0 else f(n - 1))\n" + NET + "  conv(f(499) + 4, 1)\n}", 1,
     None, "nest deeper than 5,000 levels"),
    ("deep-calls-in-a-constant", "fn f(n) = " + "-" * 900 + "(n if n <= 0 else f(n - 1))\nlet A = f(499)\n" + NET +
     "  relu\n}", 1, None, "nest deeper than 5,000 levels"),
    # 6. a keyword as an import alias
    ("keyword-alias", 'import "lib.cnn" as repeat\n' + NET + "  relu\n}", 1, "1:1", "`repeat` is a keyword"),
]


@pytest.mark.parametrize("name, text, code, where, fragment", CORPUS22, ids=[c[0] for c in CORPUS22])
def test_the_issue_22_corpus(name, text, code, where, fragment, tmp_path, capsys):
    (tmp_path / "lib.cnn").write_text(LIBTEXT)
    test_the_corpus(name, text, code, where, fragment, tmp_path, capsys)
    if code == 0:
        assert "error" not in capsys.readouterr().err


def test_the_hints_of_the_issue_22_corpus(tmp_path, capsys):
    """Each message says what to write instead."""
    (tmp_path / "lib.cnn").write_text(LIBTEXT)
    hints = {"ternary-of-tensors": "`v = if c { t } else { add(t, u) }`", "one-tensor-concat": "concat(u, skip), or u -> concat(skip)",
             "block-without-parentheses": "block encoder() { ... }", "alias-without-member": "it gives: W, blk",
             "error-without-message": 'error("message")'}
    for name, text, *_ in CORPUS22:
        if name in hints:
            (tmp_path / "spec.cnn").write_text(text)
            assert main(["check", str(tmp_path / "spec.cnn")]) == 1
            err = capsys.readouterr().err
            assert hints[name] in err, err


def test_the_unknown_function_hint_lists_documented_functions_only():
    """`error` is listed among the functions because LANGUAGE.md documents it; every function it lists is there."""
    from conftest import ROOT
    from cnndsl.values import FUNCS
    docs = (ROOT / "docs" / "LANGUAGE.md").read_text()
    assert all(f"`{name}" in docs or f" {name} " in docs or f" {name}`" in docs for name in FUNCS), \
        [n for n in FUNCS if f"`{n}" not in docs and f" {n} " not in docs and f" {n}`" not in docs]


def test_results_and_errors_keep_their_order_on_one_pipe(tmp_path):
    """stdout and stderr on one pipe: each result line ends before the next error begins (issue 22, 7)."""
    import subprocess
    import sys
    good = "network n(x: [8, 8, 3]) { relu }\n"
    bad = "network n(x: [8, 8, 3]) { nope }\n"
    paths = []
    for k in range(6):
        p = tmp_path / f"s{k}.cnn"
        p.write_text(good if k % 2 == 0 else bad)
        paths.append(str(p))
    r = subprocess.run([sys.executable, "-m", "cnndsl", "check", *paths], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    errors = [k for k, line in enumerate(lines) if ": error: unknown op or block `nope`" in line]
    assert len(errors) == 3 and all(lines[k].startswith(paths[2 * j + 1]) for j, k in enumerate(errors)), r.stdout
    results = [line for line in lines if line.startswith("n: x")]
    assert len(results) == 3 and all(line.endswith("(None, 8, 8, 3)") for line in results), r.stdout


# --- issue 22: initializers and regularizers, generated from their schemas ----------------------------
def _maker_use(name, args_text):
    """A layer using ``name(args_text)`` where its kind goes: (spec text, column of the call)."""
    from cnndsl.ops.schema import MAKERS
    slot = "kernel_reg" if MAKERS[name][0] == "reg" else "kernel_init"
    prefix = f"  conv(4, 1, {slot}={name}("
    return NET + prefix + args_text + "))\n}", len(prefix) + 1


def _out_of_range(arg):
    """Values ``arg``'s schema refuses (a type's wrong kind, past a bound, outside the choices), as spec text."""
    bad = ["bogus", "[1]", '"x"', "true"]
    if arg.type in ("float", "positive", "int") and arg.low is not None:
        bad.append(f"{arg.low - 1:g}")
    if arg.type == "positive":
        bad += ["0", "-0.5"]
    if arg.type == "int":
        bad += ["1.5"] + ([f"{int(arg.high)}"] if arg.high is not None else [])
    if arg.type == "choice":
        bad += ["3", f"{arg.choices[0]}x"]
    return bad


def _bad_maker_cases():
    from cnndsl.ops.schema import MAKERS
    for name, (_, _, schema) in MAKERS.items():
        for k, arg in enumerate(schema.args):
            for value in _out_of_range(arg):
                yield name, arg.name, f"{arg.name}={value}", 0
                yield name, arg.name, ", ".join(["none"] * k + [value]), len("none, ") * k


@pytest.mark.parametrize("name, arg, args_text, offset", list(_bad_maker_cases()),
                         ids=[f"{n}-{t}" for n, _, t, _ in _bad_maker_cases()])
def test_every_initializer_argument_out_of_range_is_a_located_error(name, arg, args_text, offset):
    import cnndsl
    text, col = _maker_use(name, args_text)
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.check(text)
    e = info.value
    assert (e.span.line, e.span.col) == (2, col + offset), str(e)
    assert f"{name}: `{arg}` must be" in e.message, e.message


def test_the_bad_maker_family_covers_every_function_and_argument():
    from cnndsl.ops.schema import MAKERS
    from cnndsl.values import FUNCS
    covered = {(n, a) for n, a, _, _ in _bad_maker_cases()}
    assert covered == {(n, a.name) for n, (_, _, s) in MAKERS.items() for a in s.args}
    assert set(MAKERS) == {n for n in FUNCS if n in MAKERS} and len(MAKERS) == 8


def _accepted_values(arg):
    """Values at and inside ``arg``'s bounds, each of its choices."""
    if arg.type == "choice":
        return list(arg.choices)
    if arg.type == "positive":
        return ["0.001", "2"]
    if arg.type == "int":
        return ["none", "0", str(int(arg.high) - 1)]
    return [f"{arg.low:g}", "0.5"] if arg.low is not None else ["-1.5", "0", "2"]


def accepted_variants():
    """Every initializer/regularizer call varied one argument at a time within its schema: (kind, text)."""
    from cnndsl.ops.schema import MAKERS, REQUIRED
    out = []
    for name, (kind, _, schema) in MAKERS.items():
        if all(a.default is not REQUIRED for a in schema.args):
            out.append((kind, f"{name}()"))
        for arg in schema.args:
            out += [(kind, f"{name}({arg.name}={v})") for v in _accepted_values(arg)]
    return out


def _weight_names():
    """Every name an initializer or regularizer argument may take, by the weight it initializes."""
    from cnndsl.ops import REGISTRY
    conv, dense, prelu = REGISTRY["conv"], REGISTRY["dense"], REGISTRY["prelu"]
    arg = lambda op, n: next(a for a in op.args if a.name == n)
    return {k: arg(op, n).choices for k, op, n in [
        ("conv_kernel", conv, "kernel_init"), ("conv_bias", conv, "bias_init"), ("conv_reg", conv, "kernel_reg"),
        ("dense_bias", dense, "bias_init"), ("prelu", prelu, "alpha_init")]}


def variants_spec():
    """A spec of four networks whose layers use every accepted variant: each must build in Keras."""
    from cnndsl.ops.schema import INITIALIZERS, REGULARIZERS
    names = _weight_names()
    inits = [t for k, t in accepted_variants() if k == "init"]
    regs = [t for k, t in accepted_variants() if k == "reg"]
    convs = [f"conv(2, 1, kernel_init={t})" for t in inits + list(names["conv_kernel"])]
    convs += [f"conv(2, 1, bias_init={t})" for t in inits + list(names["conv_bias"])]
    convs += [f"conv(2, 1, kernel_reg={t})" for t in regs + list(names["conv_reg"])]
    convs += [f"sepconv(2, 1, kernel_init={t}, kernel_reg={r})" for t, r in zip(names["conv_kernel"], regs)]
    dense = [f"dense(3, kernel_init={t})" for t in inits + list(INITIALIZERS)]
    dense += [f"dense(3, bias_init={t})" for t in names["dense_bias"]]
    dense += [f"dense(3, kernel_reg={t})" for t in regs + list(REGULARIZERS)]
    prelu = [f"prelu(alpha_init={t})" for t in names["prelu"]]
    norm = ["normalize(axis=[1, 2, 3])", "normalize(axis=[-1, 1])", "layernorm(axis=[1, -1])", "relu(threshold=0)"]
    body = lambda layers: "\n".join(f"  {x}" for x in layers)
    return (f"network convs(x: [4, 4, 2]) {{\n{body(convs)}\n}}\nnetwork denses(x: [3]) {{\n{body(dense)}\n}}\n"
            f"network prelus(x: [4, 4, 2]) {{\n{body(prelu)}\n}}\nnetwork norms(x: [4, 4, 2]) {{\n{body(norm)}\n}}\n")


def test_every_accepted_variant_checks_and_the_refused_names_are_located(tmp_path):
    import cnndsl
    from cnndsl.ops.schema import INITIALIZERS
    spec = tmp_path / "variants.cnn"
    spec.write_text(variants_spec())
    from cnndsl.api import load_spec
    program = load_spec(spec)
    for name, text in zip(("convs", "denses", "prelus", "norms"), spec.read_text().split("network ")[1:]):
        assert len(program.lower(name).nodes) == 1 + text.count("\n  "), name   # the input and one node per line
    assert len(accepted_variants()) == 55
    for kind, allowed in _weight_names().items():
        op, arg = {"conv_kernel": ("conv(4, 1, ", "kernel_init"), "conv_bias": ("conv(4, 1, ", "bias_init"),
                   "conv_reg": ("conv(4, 1, ", "kernel_reg"), "dense_bias": ("dense(4, ", "bias_init"),
                   "prelu": ("prelu(", "alpha_init")}[kind]
        pool = INITIALIZERS if arg != "kernel_reg" else ("orthogonal_regularizer",)
        for name in set(pool) - set(allowed):
            with pytest.raises(cnndsl.CnnError, match="Keras makes only for") as info:
                cnndsl.check(NET + f"  {op}{arg}={name})\n}}")
            assert (info.value.span.line, info.value.span.col) == (2, 3 + len(op))


# --- issue 22: merges of merges ---------------------------------------------------------------------------
MERGES = ("add", "multiply", "concat")


def _merge_cases():
    """outer(inner(a, b), c), with c as wide as the inner merge's result: (text, channels by hand)."""
    for outer in MERGES:
        for inner in MERGES:
            inner_c = 8 if inner == "concat" else 4
            c = "c8" if inner_c == 8 else "a"
            yield f"{outer}({inner}(a, b), {c})", inner_c * (2 if outer == "concat" else 1)
            yield f"{outer}({c}, {inner}(a, b))", inner_c * (2 if outer == "concat" else 1)
            yield f"{outer}({inner}(a, b) -> conv(5, 1), {inner}(a, b) -> conv(5, 1))", 10 if outer == "concat" else 5
    yield "add(concat(multiply(a, b), a), concat(b, add(a, b)))", 8
    yield "concat(add(a, b, layer=false), multiply(a, b, layer=false), concat(a, b, c8))", 24


def merges_spec():
    body = "\n".join(f"  m{k} = {text}" for k, (text, _) in enumerate(_merge_cases()))
    outs = ", ".join(f"m{k}" for k in range(len(list(_merge_cases()))))
    return (f"network merges(x: [6, 6, 3]) -> ({outs}) {{\n  a = conv(4, 1)\n  b = x -> conv(4, 3, padding=same)\n"
            f"  c8 = x -> conv(8, 1)\n{body}\n}}\n")


def test_merges_take_merges_as_arguments():
    import cnndsl
    graph = cnndsl.check(merges_spec())
    cases = list(_merge_cases())
    assert len(graph.outputs) == len(cases) == 29
    for k, (text, channels) in enumerate(cases):
        assert graph.outputs[f"m{k}"].shape == (None, 6, 6, channels), text
    inner = [n for n in graph.nodes if n.op in MERGES and n.name not in {o.name for o in graph.outputs.values()}]
    assert len(inner) == 9 * 4 + 4 + 3, "each inner merge is a layer of its own"


def test_a_merge_of_mismatched_merges_is_located_at_the_outer_merge():
    import cnndsl
    with pytest.raises(cnndsl.CnnError, match="add: channels differ") as info:
        cnndsl.check(NET + "  a = conv(4, 1)\n  b = x -> conv(4, 1)\n  add(concat(a, b), a)\n}")
    assert (info.value.span.line, info.value.span.col) == (4, 3)


@pytest.mark.slow
def test_every_accepted_variant_builds_on_tensorflow(tmp_path):
    """What check accepts, Keras accepts: each network of variants is built on TensorFlow, run on zeros, and its
    regularization losses computed (one subprocess, so the backend is TensorFlow whatever the session's is)."""
    import subprocess
    import sys
    spec = tmp_path / "variants.cnn"
    spec.write_text(variants_spec() + merges_spec())
    script = (
        "import sys, numpy as np, cnndsl, keras\n"
        "assert keras.backend.backend() == 'tensorflow'\n"
        "for name in ('convs', 'denses', 'prelus', 'norms', 'merges'):\n"
        "    model = cnndsl.compile(sys.argv[1], network=name)\n"
        "    x = np.ones((2,) + tuple(model.inputs[0].shape[1:]), 'float32')\n"
        "    outs = model(x)\n"
        "    outs = outs if isinstance(outs, (list, tuple)) else [outs]\n"
        "    losses = [float(keras.ops.convert_to_numpy(l)) for l in model.losses]\n"
        "    assert all(np.isfinite(keras.ops.convert_to_numpy(o)).all() for o in outs), name\n"
        "    assert all(np.isfinite(losses)), name\n"
        "    print(name, len(model.layers), len(losses), *[o.shape[-1] for o in outs])\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    r = subprocess.run([sys.executable, "-c", script, str(spec)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    counts = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()}
    assert set(counts) == {"convs", "denses", "prelus", "norms", "merges"}
    assert [int(c) for c in counts["merges"][2:]] == [c for _, c in _merge_cases()]   # Keras's own output widths


# --- issue 22: every op argument past its schema's bounds or choices ----------------------------------------
REQUIRED_VALUES = {"int": "2", "size2": "1", "float": "0.5", "parts": "2", "hw": "[4, 4]", "ints": "[-1]",
                   "choice": None, "pad2": "1", "init": "he_normal", "activation": "relu", "size": "1", "pads": "1",
                   "offset": "0", "axes": "-1"}
REQUIRED_BY_OP = {"permute": "dims=[1, 2, 3]", "activation": "fn=relu"}


def _op_call(op, extra=""):
    from cnndsl.ops.schema import REQUIRED
    if op.name in REQUIRED_BY_OP:
        args = [REQUIRED_BY_OP[op.name]]
    else:
        args = [f"{a.name}={REQUIRED_VALUES[a.type] or a.choices[0]}" for a in op.args
                if a.default is REQUIRED and not extra.startswith(a.name + "=")]
    args = [a for a in args if not extra.startswith(a.split("=")[0] + "=")]
    return f"{op.name}(" + ", ".join(args + ([extra] if extra else [])) + ")"


def _bounded_op_args():
    from cnndsl.ops import REGISTRY
    for op in REGISTRY.values():
        if op.internal or op.arity is None or op.passthrough:
            continue
        for arg in op.args:
            bad = []
            if arg.low is not None:
                bad.append(f"{arg.low - 1:g}")
            if arg.high is not None:
                bad.append(f"{arg.high:g}")
            if arg.type == "choice" and arg.choices:
                bad.append(f"{arg.choices[0]}_not")
            for value in bad:
                yield op, arg, value


INPUTS = ("[8, 8, 6]", "[8, 6]", "[6]", "[4, 8, 8, 6]", "[8, 8, 32]")


def _net_for(op):
    """The first network head whose input ``op`` takes with its required arguments alone (ops want ranks)."""
    import cnndsl
    bind = "p, q = " if op.name == "split" else ""
    for shape in INPUTS:
        head = NET.replace("[8, 8, 6]", shape)
        try:
            cnndsl.check(head + f"  {bind}{_op_call(op)}\n  x -> relu\n}}")
            return head
        except cnndsl.CnnError as e:
            if e.kind != "shape":
                raise
    raise AssertionError(f"{op.name} takes none of the inputs {INPUTS}")


def test_every_op_checks_with_its_required_arguments_alone():
    from cnndsl.ops import REGISTRY
    for op in REGISTRY.values():
        if not op.internal and op.arity is not None and not op.passthrough:
            _net_for(op)


@pytest.mark.parametrize("op, arg, value", list(_bounded_op_args()),
                         ids=[f"{o.name}-{a.name}={v}" for o, a, v in _bounded_op_args()])
def test_every_op_argument_past_its_bounds_is_a_located_error(op, arg, value):
    import cnndsl
    call = _op_call(op, f"{arg.name}={value}")
    with pytest.raises(cnndsl.CnnError) as info:
        cnndsl.check(_net_for(op) + f"  {call}\n}}")
    e = info.value
    assert (e.span.line, e.span.col) == (2, 3 + call.index(f"{arg.name}=")), str(e)
    assert f"`{arg.name}` must be" in e.message, e.message
