"""The command line explains itself (issue 23): every argument and option has help, a misspelled option
gets its command's usage and a "did you mean", and output goes to standard output where -o is missing
and the format allows it (text always; a .keras model or a PNG only where stdout is not a terminal)."""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import zipfile

import pytest

from cnndsl.cli import _parser
from conftest import ROOT, SPECS, run_cli

LENET = SPECS / "lenet5.cnn"


def parsers(parser: argparse.ArgumentParser, path=("cnndsl",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def test_every_argument_and_option_of_every_command_has_help():
    seen, missing = 0, []
    for path, parser in parsers(_parser()):
        for action in parser._actions:
            seen += 1
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.metavar or action.dest}")
        if isinstance(parser._subparsers, argparse._ArgumentGroup):
            for action in parser._subparsers._group_actions:
                for choice in getattr(action, "_choices_actions", []):
                    seen += 1
                    if not choice.help:
                        missing.append(f"{' '.join(path)} {choice.dest}")
    assert not missing, missing
    assert seen > 60


def test_check_help_says_it_takes_keras_files():
    r = run_cli("check", "--help")
    assert r.returncode == 0 and ".keras" in r.stdout and "FILE" in r.stdout


@pytest.mark.parametrize("args, usage, hint", [
    (["draw", "x.cnn", "--depht", "1"], "usage: cnndsl draw", "did you mean `--depth`?"),
    (["check", "--nework", "n", "x.cnn"], "usage: cnndsl check", "did you mean `--network`?"),
    (["summary", "x.cnn", "--max-stepz=3"], "usage: cnndsl summary", "did you mean `--max-steps`?"),
    (["drw", "x.cnn"], "usage: cnndsl [-h]", "did you mean `draw`?"),
])
def test_a_misspelled_option_gets_its_commands_usage_and_a_suggestion(args, usage, hint):
    r = run_cli(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(usage) and r.stderr.rstrip().endswith(hint), r.stderr


def test_draw_without_o_writes_dot_or_the_format_to_stdout(tmp_path):
    r = run_cli("draw", LENET, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("digraph lenet5 {") and r.stderr == ""
    r = run_cli("draw", LENET, "--format", "svg", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("<?xml") and r.stdout.rstrip().endswith("</svg>")
    assert list(tmp_path.iterdir()) == []


def test_compile_python_without_o_writes_the_module_to_stdout(tmp_path):
    r = run_cli("compile", LENET, "--emit", "python", cwd=tmp_path)
    assert r.returncode == 0 and "def build_model(" in r.stdout and "wrote" not in r.stdout
    compile(r.stdout, "lenet5.py", "exec")
    assert list(tmp_path.iterdir()) == []


def in_a_terminal(*args, cwd) -> tuple:
    """Runs the command line with a pseudo-terminal as standard output: (exit code, stderr)."""
    leader, follower = os.openpty()
    try:
        p = subprocess.run([sys.executable, "-m", "cnndsl", *map(str, args)], stdout=follower,
                           stderr=subprocess.PIPE, text=True, cwd=cwd, timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    return p.returncode, p.stderr


@pytest.mark.parametrize("args, what", [(["compile", LENET], "a .keras model"),
                                        (["draw", LENET, "--format", "png"], "a PNG image")],
                         ids=["keras", "png"])
def test_binary_output_to_a_terminal_needs_o(args, what, tmp_path):
    code, err = in_a_terminal(*args, cwd=tmp_path)
    assert code == 2 and err.startswith(f"error: {args[0]} writes {what}, which a terminal can't show"), err
    assert list(tmp_path.iterdir()) == []


def test_import_writes_to_stdout_by_default():
    assert _parser().parse_args(["import", "m.keras"]).output == "-"


@pytest.mark.slow        # Keras saves a model
def test_import_without_o_writes_the_spec_to_stdout_and_compile_to_a_pipe(tmp_path):
    r = run_cli("compile", LENET, "-o", tmp_path / "lenet5.keras")
    assert r.returncode == 0, r.stderr
    r = run_cli("import", tmp_path / "lenet5.keras", cwd=tmp_path)
    assert r.returncode == 0 and "network lenet5(" in r.stdout and "wrote" not in r.stdout, r.stderr
    piped = subprocess.run([sys.executable, "-m", "cnndsl", "compile", str(LENET)], capture_output=True,
                           cwd=ROOT, timeout=600)
    assert piped.returncode == 0 and piped.stderr == b""
    with zipfile.ZipFile(io.BytesIO(piped.stdout)) as z:                  # the whole .keras zip
        assert {"config.json", "model.weights.h5"} <= set(z.namelist())
