"""The README stays true: its language tour checks, and its `check` transcript is what check prints."""
from __future__ import annotations

import re
import shutil

from cnndsl import check
from conftest import ROOT, SPECS, run_cli

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)


def test_the_language_tour_checks_with_its_contracts(tmp_path):
    tour = next(b for b in BLOCKS if "network resnet34" in b)
    shutil.copytree(SPECS / "lib", tmp_path / "lib")     # its `import "lib/resnet.cnn"` resolves here
    spec = tmp_path / "tour.cnn"
    spec.write_text(tour)
    g = check(spec)
    assert g.total_params == 21_306_826 and g.trainable == 21_289_802


def test_the_op_table_is_generated_from_the_registry():
    import importlib.util
    loader = importlib.util.spec_from_file_location("render_docs", ROOT / "scripts" / "render_docs.py")
    render_docs = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(render_docs)
    table = README.split("<!-- op-table:begin -->\n")[1].split("\n<!-- op-table:end -->")[0]
    assert table == render_docs.op_table(), "run scripts/render_docs.py ops"


def test_the_opening_block_is_valid():
    opening = BLOCKS[0] + "\nnetwork n(x: [28, 28, 192]) { inception(64, 96, 128, 16, 32, 32) }"
    assert check(opening).nodes[-1].shape == (None, 28, 28, 256)


def test_the_check_transcript_is_what_check_prints():
    transcript = next(b for b in re.findall(r"```\n(\$ cnndsl check .*?)```", README, flags=re.S))
    command, *expected = transcript.strip().splitlines()
    r = run_cli(*command.split()[2:])
    assert r.returncode == 0 and r.stdout.splitlines() == expected


def test_the_error_example_is_what_check_prints(tmp_path):
    example = next(b for b in BLOCKS if b.startswith("specs/bad.cnn:"))
    bad = (ROOT / "tests" / "fixtures" / "errors" / "concat_hw.cnn").read_text()
    spec = tmp_path / "specs" / "bad.cnn"
    spec.parent.mkdir()
    spec.write_text(bad.replace("# expect: 4:5 shape\n", "# an inception block with a stride mismatch\n"))
    r = run_cli("check", "specs/bad.cnn", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr == example
