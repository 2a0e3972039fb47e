"""The fuzzer of benchmarks/fuzz.py, on a short budget (issue 10): nothing but located CnnErrors.

A long run is on demand: `.venv/bin/python benchmarks/fuzz.py --minutes 30`.
"""
from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT


def test_a_short_fuzz_run_finds_nothing():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--seconds", "15", "--seed", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    count = int(re.search(r"([\d,]+) inputs in", r.stdout).group(1).replace(",", ""))
    assert count > 500, r.stdout
