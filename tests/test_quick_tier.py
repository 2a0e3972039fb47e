"""The quick tier can't drift (issue 23): a test not marked slow that imports a framework fails, whether
it imports it in process or in a child process, and a slow one still runs. Checked by running pytest
on a small test file of each kind, with this suite's conftest as a plugin."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

CASES = '''
import os, subprocess, sys
import pytest

def test_in_process():
    import keras

def test_in_a_child():
    r = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_framework_free():
    import json

@pytest.mark.slow
def test_marked_slow():
    assert "quick_tier_guard" not in os.environ.get("PYTHONPATH", "")    # its children import what they need
'''


def pytest_in(folder, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q",
                           "-rA", "--rootdir", str(folder), "-c", os.devnull, *args, str(folder)],
                          capture_output=True, text=True, cwd=folder, env=env, timeout=600)


@pytest.fixture
def cases(tmp_path):
    (tmp_path / "test_cases.py").write_text(CASES)
    return tmp_path


def test_a_quick_test_importing_a_framework_fails(cases):
    r = pytest_in(cases, "-m", "not slow")
    out = r.stdout
    assert "FAILED test_cases.py::test_in_process" in out and "quick tier: keras" in out, out
    assert "FAILED test_cases.py::test_in_a_child" in out and "quick tier: a test not marked" in out, out
    assert "PASSED test_cases.py::test_framework_free" in out, out
    assert "2 failed, 1 passed, 1 deselected" in out, out


def test_the_child_guard_holds_in_a_full_run_too(cases):
    """Without -m, in-process imports are caught as they appear; children always get the stand-ins."""
    r = pytest_in(cases, "-k", "in_a_child or marked_slow or framework_free")
    out = r.stdout
    assert "FAILED test_cases.py::test_in_a_child" in out, out
    assert "PASSED test_cases.py::test_marked_slow" in out and "PASSED test_cases.py::test_framework_free" in out
