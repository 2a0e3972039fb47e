"""`cnndsl check`: output, stdin, several files, and no TensorFlow on the path."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
import sys

import pytest

from conftest import ROOT, SPECS, run_cli

LANGUAGE_SPECS = {  # issue 2's figures: Keras's counts of the seeds' code
    "resnet34.cnn": ("21,306,826", "21,289,802"),
    "googlenet.cnn": ("6,998,552", "6,998,552"),
    "xception.cnn": ("22,910,480", "22,855,952"),
    "se_block.cnn": ("8,464", "8,464"),
}


@pytest.mark.parametrize("name", sorted(LANGUAGE_SPECS))
def test_check_prints_the_figures(name):
    total, trainable = LANGUAGE_SPECS[name]
    r = run_cli("check", SPECS / name)
    assert r.returncode == 0, r.stderr
    assert f"params {total} (trainable {trainable}," in r.stdout
    assert "MACs " in r.stdout and " -> " in r.stdout


def test_check_every_shipped_spec_at_once():
    files = sorted(SPECS.rglob("*.cnn"))
    files = [f for f in files if "lib" not in f.parts]
    r = run_cli("check", *files)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("  params ") >= len(files)


def test_stdin_and_console_script_agree():
    src = "network n(x: [8, 8, 3]) { conv(16, 3) -> flatten -> dense(10) }"
    r = run_cli("check", "-", stdin=src)
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        "n: x (None, 8, 8, 3) -> dense_1 (None, 10)",
        "  params 6,218 (trainable 6,218, non-trainable 0) · MACs 21.3K · 3 layers",
    ]
    script = Path(sys.executable).parent / "cnndsl"      # the console script installed beside this Python
    assert script.exists(), "the test command installs cnndsl, console script included"
    assert subprocess.run([str(script), "check", "-"], input=src, capture_output=True, text=True).stdout == r.stdout


def test_set_applies_to_the_networks_that_declare_it(tmp_path):
    a, b = tmp_path / "a.cnn", tmp_path / "b.cnn"
    a.write_text("network a(x: [8, 8, 3], classes=10) { flatten -> dense(classes) }")
    b.write_text("network b(x: [8, 8, 3]) { flatten }")
    r = run_cli("check", a, b, "--set", "classes=3")
    assert r.returncode == 0, r.stderr
    assert "dense_1 (None, 3)" in r.stdout and "b: x (None, 8, 8, 3) -> flatten_1 (None, 192)" in r.stdout


def test_check_imports_no_tensorflow_or_keras():
    probe = ("import sys, json; from cnndsl.cli import main; main(['check', 'specs/resnet34.cnn']); "
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'graphviz'))))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == []


def test_import_cnndsl_imports_no_tensorflow():
    r = subprocess.run([sys.executable, "-c", "import sys, cnndsl; print([m for m in sys.modules if m.startswith(('tensorflow', 'keras'))])"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.strip() == "[]"


CLASS_PARAMS = ("classes", "n_classes", "num_classes")
WITH_CLASSES = sorted(p for p in SPECS.rglob("*.cnn") if "lib" not in p.parts
                      and any(f"{c}=" in p.read_text() for c in CLASS_PARAMS))


@pytest.mark.parametrize("path", WITH_CLASSES, ids=[p.stem for p in WITH_CLASSES])
def test_contracts_hold_for_another_class_count(path):
    """A spec's contracts are formulas of its parameters, so --set classes=7 still checks."""
    from cnndsl import load
    program = load(path)
    for ndef in program.networks.values():
        name = next((p.name for p in ndef.params if p.name in CLASS_PARAMS), None)
        if name is not None:
            _check_another_class_count(program, ndef.name, name)


def _check_another_class_count(program, network, name):
    default = program.lower(network)
    graph = program.lower(network, **{name: 7})
    changed = 0
    for before, after in zip(default.outputs.values(), graph.outputs.values()):
        # a classifier's width follows the class count; a detection head's is boxes + classes, or
        # anchors x classes (EfficientDet's per-level class maps)
        classes = default.params[name]
        assert after.shape[-1] in (before.shape[-1], before.shape[-1] - classes + 7,
                                   before.shape[-1] // classes * 7 if before.shape[-1] % classes == 0 else None)
        changed += after.shape[-1] != before.shape[-1]
    if any(b.shape[-1] == default.params[name] for b in default.outputs.values()):
        assert changed, "no output follows the class count"


def test_an_internal_error_is_one_line_and_exit_3(monkeypatch, capsys):
    from cnndsl import cli

    def broken(args):
        raise RuntimeError("boom")
    monkeypatch.setattr(cli, "_cmd_check", broken)
    assert cli.main(["check", "x.cnn"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error in cnndsl (RuntimeError: boom)" in err
    monkeypatch.setenv("CNNDSL_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["check", "x.cnn"])
