"""Error fixtures: each file's first line states the expected ``line:col kind``;
the whole message is compared with a snapshot (``.err``) beside it."""
from __future__ import annotations

import re

import pytest

from cnndsl import CnnError, check
from conftest import FIXTURES, golden, run_cli

CASES = sorted((FIXTURES / "errors").glob("*.cnn"))


def _expected(path):
    m = re.match(r"# expect: (\d+):(\d+) (\w+)", path.read_text().splitlines()[0])
    assert m, f"{path.name}: first line must be `# expect: LINE:COL KIND`"
    return int(m.group(1)), int(m.group(2)), m.group(3)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_error_location_kind_and_message(path):
    line, col, kind = _expected(path)
    with pytest.raises(CnnError) as info:
        check(path)
    err = info.value
    assert (err.span.line, err.span.col, err.kind) == (line, col, kind)
    rel = str(err).replace(str(FIXTURES.parent.parent) + "/", "")
    golden(path.with_suffix(".err"), rel + "\n")


@pytest.mark.parametrize("name", ["syntax_unclosed", "concat_hw", "add_channels", "unknown_op",
                                  "recursive_block", "repeat_huge"])
def test_cli_exits_1_with_located_error_and_no_traceback(name):
    path = FIXTURES / "errors" / f"{name}.cnn"
    line, col, _ = _expected(path)
    r = run_cli("check", path)
    assert r.returncode == 1
    assert r.stdout == ""
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}:{col}: error: ")
    assert "Traceback" not in r.stderr
    assert "^" in r.stderr.splitlines()[2]


def test_concat_error_names_each_branch_and_its_origin():
    with pytest.raises(CnnError) as info:
        check(FIXTURES / "errors" / "concat_hw.cnn")
    err = info.value
    assert "28×28 (branch 1) vs 14×14 (branch 2)" in err.message
    assert "maxpool 3×3 /2" in err.notes[2] and "(None, 13, 13, 64)" in err.notes[2]
    assert [f.label for f in err.chain] == ["inception(32, 64)"]
    assert "padding=same" in err.hint


@pytest.mark.parametrize("args, message", [
    (["--set", "classes"], "--set needs NAME=VALUE"),
    (["--set", "clases=3"], "has a parameter `clases`"),
    (["--set", "classes=[1,"], "bad value for --set classes"),
    (["-n", "nope"], "has no network `nope`"),
    (["--max-repeat", "0"], "--max-repeat must be at least 1"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    spec = tmp_path / "n.cnn"
    spec.write_text("network n(x: [8, 8, 3], classes=10) { flatten -> dense(classes) }")
    r = run_cli("check", spec, *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2


def test_missing_file_is_a_usage_error(tmp_path):
    r = run_cli("check", tmp_path / "none.cnn")
    assert r.returncode == 2 and r.stderr.startswith("error: can't read") and "Traceback" not in r.stderr


def test_did_you_mean_for_set_parameter(tmp_path):
    spec = tmp_path / "n.cnn"
    spec.write_text("network n(x: [8, 8, 3], classes=10) { flatten -> dense(classes) }")
    r = run_cli("check", spec, "--set", "clases=3")
    assert "did you mean `classes`?" in r.stderr


ODD = [  # (body of `network n(x: [8, 8, 3]) { ... }`, kind, message fragment)
    ("conv(0, 3)", "type", "`filters` must be at least 1, got 0"),
    ("conv(4, 3, groups=0)", "type", "`groups` must be at least 1"),
    ("dropout(2)", "type", "`rate` must be less than 1, got 2"),
    ("zeropad(-5)", "type", "`padding` must be a non-negative integer"),
    ("concat(axis=7) { relu; relu }", "shape", "axis 7 is out of range for rank-4 inputs"),
    ("let a = int(1e400); relu", "value", "not a finite number"),
    ("let a = (-8) ** 0.5; relu", "value", "not a real number"),
    ("let a = 10 ** 10 ** 10; relu", "limit", "is too large"),
    ("let a = [1, 2][0.5]; relu", "type", "a list index must be an integer"),
    ("let a = x + 1; relu", "type", "expected a number, got tensor `x`"),
    ("conv(in.channels, 3)", "type", "`.channels` needs a tensor, got unknown name `in`"),
    ("repeat 2.5 { relu }", "type", "repeat needs a non-negative integer or a list, got 2.5"),
    ("relu = conv(1, 1)", "name", "`relu` names an op or block"),
    ("add(x)", "shape", "add: merges at least 2 tensors, got 1"),
    ("relu { relu }", "type", "`relu { ... }` needs a merge op"),
    ("conv(4, 3, name=\"a/b\")", "name", "has `/`, which Keras rejects"),
    ("conv(4, 3, name=\"a.b\")", "name", "has `.`, which Keras's torch backend rejects"),
    ("conv(4, 3, name=\"a b\")", "name", "has ` `, which Keras's TensorFlow backend rejects"),
    ("if 1 { relu }", "type", "`if` needs true or false, got 1"),
    ("reshape([5, -1])", "shape", "192 values, not a multiple of 5"),
    ("crop(5)", "shape", "leaves nothing"),
    ("multiply { relu; flatten }", "shape", "ranks differ"),
    ("defaults conv(padding=sme); relu", "type", "did you mean `same`?"),
    ("y = x; y -> relu -> x", "value", "tensor `x` can only start a chain"),
]


@pytest.mark.parametrize("body, kind, fragment", ODD, ids=[b for b, _, _ in ODD])
def test_odd_inputs_are_cnn_errors(body, kind, fragment):
    with pytest.raises(CnnError) as e:
        check(f"network n(x: [8, 8, 3]) {{ {body} }}")
    assert e.value.kind == kind and fragment in str(e.value), str(e.value)
    assert e.value.span is not None
