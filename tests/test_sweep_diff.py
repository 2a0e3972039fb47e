"""cnndsl sweep and cnndsl diff, against tables checked by hand."""
from __future__ import annotations

import csv
import io

from conftest import run_cli

TINY = """
network n(image: [8, 8, 3], width=4) {
    conv(width, 3, padding=same) -> relu -> global_avgpool -> dense(10)
    expect params = 162
}
"""
# By hand: conv 3·3·3·w + w, dense 10·w + 10; MACs 27·w·H·W + 10·w; activations (conv, relu: H·W·w;
# pool: w; dense: 10) × 4 bytes.
HAND = [
    # width, image,       params, trainable, non-trainable, macs, activation bytes, layers
    (2, [8, 8, 3], 86, 86, 0, 3476, 1072, 4),
    (2, [4, 4, 3], 86, 86, 0, 884, 304, 4),
    (4, [8, 8, 3], 162, 162, 0, 6952, 2104, 4),
    (4, [4, 4, 3], 162, 162, 0, 1768, 568, 4),
]


def _rows(stdout: str) -> list:
    return list(csv.reader(io.StringIO(stdout)))


def test_sweep_tabulates_the_grid(tmp_path):
    spec = tmp_path / "tiny.cnn"
    spec.write_text(TINY)
    r = run_cli("sweep", spec, "--set", "width=[2, 4]", "--set", "image=[[8, 8, 3], [4, 4, 3]]", "--format", "csv")
    assert r.returncode == 0, r.stderr
    header, *rows = _rows(r.stdout)
    assert header == ["width", "image", "params", "trainable", "non_trainable", "macs", "activation_bytes", "layers"]
    assert rows == [[str(w), str(img), *map(str, rest)] for w, img, *rest in HAND]


def test_sweep_filters_by_where_and_by_the_specs_contracts(tmp_path):
    spec = tmp_path / "tiny.cnn"
    spec.write_text(TINY)
    grid = ("--set", "width=[2, 4]", "--set", "image=[[8, 8, 3], [4, 4, 3]]", "--format", "csv")
    r = run_cli("sweep", spec, *grid, "--where", "macs < 2000 and width == 4")
    assert r.returncode == 0 and [row[:2] for row in _rows(r.stdout)[1:]] == [["4", "[4, 4, 3]"]]
    r = run_cli("sweep", spec, *grid, "--contracts")     # expect params = 162: the width-4 variants
    assert r.returncode == 0 and [row[0] for row in _rows(r.stdout)[1:]] == ["4", "4"]


def test_sweep_reports_a_variant_the_spec_refuses_as_a_row(tmp_path):
    spec = tmp_path / "tiny.cnn"
    spec.write_text(TINY.replace("padding=same", "padding=valid"))
    r = run_cli("sweep", spec, "--set", "image=[[8, 8, 3], [2, 2, 3]]", "--format", "csv", "--no-contracts")
    assert r.returncode == 0
    header, ok, bad = _rows(r.stdout)
    assert header[-1] == "error" and ok[-1] == "" and ok[:2] == ["[8, 8, 3]", "162"]
    assert bad[0] == "[2, 2, 3]" and bad[1] == "" and "conv" in bad[-1]


def test_sweep_markdown_and_bad_input(tmp_path):
    spec = tmp_path / "tiny.cnn"
    spec.write_text(TINY)
    r = run_cli("sweep", spec, "--set", "width=[2, 4]")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[0].startswith("| width |") and lines[1].startswith("|------:|")
    assert [c.strip() for c in lines[2].split("|")[1:-1]] == ["2", "86", "86", "0", "3,476", "1,072", "4"]
    assert run_cli("sweep", spec, "--set", "widht=[2]").returncode == 2
    assert "did you mean `width`" in run_cli("sweep", spec, "--set", "widht=[2]").stderr
    r = run_cli("sweep", spec, "--set", "width=[2]", "--where", "params <")
    assert r.returncode == 2 and "bad --where" in r.stderr
    r = run_cli("sweep", spec)
    assert r.returncode == 2 and "at least one --set" in r.stderr


A = """
block unit(c) { conv(c, 3, padding=same) -> bn -> relu }
network n(x: [8, 8, 3]) { unit(8) -> unit(16) -> global_avgpool -> dense(10, name="fc") }
"""
B = A.replace("unit(8) -> unit(16)", "unit(8) -> unit(32) -> unit(32)")
# By hand: unit(c) after c_in channels: conv 9·c_in·c + c, BN 4·c; MACs 9·c_in·c·64. fc: 10·c + 10.
HAND_DIFF = """\
--- n
+++ n
~ block unit_2: unit(32) · params 1,232 → 2,464 (+1,232) · MACs 73,728 → 147,456 (+73,728) · out (None, 8, 8, 16) → (None, 8, 8, 32)
+ block unit_3: unit(32) · params 9,376 · MACs 590K · out (None, 8, 8, 32)
~ layer unit_2-conv_1: filters 16 → 32; shape (None, 8, 8, 16) → (None, 8, 8, 32); params 1,168 → 2,336
~ layer unit_2-bn_1: shape (None, 8, 8, 16) → (None, 8, 8, 32); params 64 → 128
~ layer unit_2-relu_1: shape (None, 8, 8, 16) → (None, 8, 8, 32)
~ layer global_avgpool_1: shape (None, 16) → (None, 32)
~ layer fc: params 170 → 330
params 1,658 → 12,426 (+10,768) · trainable 1,610 → 12,282 (+10,672) · MACs 87,712 → 751,424 (+663,712) · layers 8 → 11 (+3)
"""


def test_diff_of_two_specs(tmp_path):
    (tmp_path / "a.cnn").write_text(A)
    (tmp_path / "b.cnn").write_text(B)
    r = run_cli("diff", tmp_path / "a.cnn", tmp_path / "b.cnn")
    assert r.returncode == 0 and r.stdout == HAND_DIFF


def test_diff_finds_renamed_layers_and_removed_blocks(tmp_path):
    (tmp_path / "a.cnn").write_text(A)
    (tmp_path / "b.cnn").write_text(A.replace('name="fc"', 'name="head"').replace("unit(8) -> ", ""))
    r = run_cli("diff", tmp_path / "a.cnn", tmp_path / "b.cnn")
    lines = r.stdout.splitlines()
    # unit(8) is gone: unit_2 is now unit_1 (3 → 16 channels), and the old unit_2 path is removed
    assert "- block unit_2: unit(16) · params 1,232 · MACs 73.7K · out (None, 8, 8, 16)" in lines
    assert "r layer fc → head" in lines
    assert "~ layer unit_1-conv_1: filters 8 → 16; shape (None, 8, 8, 8) → (None, 8, 8, 16); params 224 → 448" in lines


def test_diff_of_two_set_variants_and_no_change(tmp_path):
    spec = tmp_path / "tiny.cnn"
    spec.write_text(TINY)
    r = run_cli("diff", spec, "--set-a", "width=2", "--set-b", "width=4", "--no-contracts")
    assert r.returncode == 0 and "~ layer conv_1: filters 2 → 4; shape (None, 8, 8, 2) → (None, 8, 8, 4); params 56 → 112" \
        in r.stdout.splitlines()
    r = run_cli("diff", spec, spec)
    assert r.returncode == 0 and "no differences" in r.stdout


def test_diff_draws_the_changes(tmp_path):
    (tmp_path / "a.cnn").write_text(A)
    (tmp_path / "b.cnn").write_text(B)
    r = run_cli("diff", tmp_path / "a.cnn", tmp_path / "b.cnn", "--format", "dot")
    assert r.returncode == 0
    dot = r.stdout
    assert 'scope/unit_1' in dot                          # unchanged: folded into one box
    assert "unit_3-conv_1" in dot and "#c9efc4" in dot     # added: green
    assert "unit_2-conv_1" in dot and "#ffe0b2" in dot     # changed: orange


import pytest  # noqa: E402


@pytest.mark.slow
def test_diff_of_two_keras_files(tmp_path):
    (tmp_path / "a.cnn").write_text(A)
    (tmp_path / "b.cnn").write_text(B)
    for v in "ab":
        assert run_cli("compile", tmp_path / f"{v}.cnn", "-o", tmp_path / f"{v}.keras").returncode == 0
    r = run_cli("diff", tmp_path / "a.keras", tmp_path / "b.keras")
    assert r.returncode == 0, r.stderr
    last = r.stdout.splitlines()[-1]      # the same totals as the specs' diff: Keras's own counts
    assert last == HAND_DIFF.splitlines()[-1]
