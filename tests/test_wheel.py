"""The wheel a user installs carries the LICENSE (MIT, as pyproject declares) and the grammar the parser
loads. Built offline from this checkout (`pip wheel --no-deps --no-build-isolation`, with the test
extra's setuptools), then read as the zip it is."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow      # a build takes seconds


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"                  # a copy of what the build reads, so it writes no build/ into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for name in ("cnndsl", "grammar"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "--wheel-dir", str(out), str(src)], capture_output=True, text=True, timeout=600,
                       cwd=out)
    assert r.returncode == 0, r.stderr
    wheels = list(out.glob("cnndsl-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_wheel_ships_the_license(wheel):
    licenses = [name for name in wheel if name.endswith("/LICENSE") and ".dist-info/" in name]
    assert licenses, sorted(wheel)
    assert wheel[licenses[0]] == (ROOT / "LICENSE").read_bytes()
    assert b"MIT License" in wheel[licenses[0]]
    metadata = next(text for name, text in wheel.items() if name.endswith(".dist-info/METADATA")).decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata


def test_the_wheel_ships_the_grammar_and_the_cli(wheel):
    assert wheel["cnndsl/grammar/cnn.lark"] == (ROOT / "grammar" / "cnn.lark").read_bytes()
    assert "cnndsl/cli.py" in wheel and "cnndsl/ops/__init__.py" in wheel
    entry_points = next(text for name, text in wheel.items() if name.endswith(".dist-info/entry_points.txt"))
    assert b"cnndsl = cnndsl.cli:main" in entry_points


def test_the_wheel_ships_the_parser_tables(wheel):
    """`check` runs the parser tables generated from the grammar (cnndsl/_grammar_tables.py, which holds the
    grammar's text to tell when it is stale) from the installed package, not only from a source tree."""
    tables = wheel["cnndsl/_grammar_tables.py"]
    assert tables == (ROOT / "cnndsl" / "_grammar_tables.py").read_bytes()
    namespace: dict = {}
    exec(compile(tables, "_grammar_tables.py", "exec"), namespace)
    assert namespace["GRAMMAR"].encode("utf-8") == wheel["cnndsl/grammar/cnn.lark"]