"""The fuzzer of benchmarks/fuzz.py, on a short budget (issue 10): nothing but located CnnErrors.

A long run is on demand: `.venv/bin/python benchmarks/fuzz.py --minutes 30`.
"""
from __future__ import annotations

import re
import resource
import subprocess
import sys

from conftest import ROOT


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_a_short_fuzz_run_finds_nothing():
    """It runs for 15 s of wall-clock time, so how many inputs it tries depends on the machine's load; what
    it costs per input doesn't: the run must have fuzzed at least 10 inputs per second of its CPU time
    (about 100 here), so a run that stalls or starts to crawl still fails."""
    before = children_cpu()
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--seconds", "15", "--seed", "2"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cpu = children_cpu() - before
    count = int(re.search(r"([\d,]+) inputs in", r.stdout).group(1).replace(",", ""))
    assert count >= 10 * cpu and count >= 10, f"{r.stdout.strip()}; {cpu:.1f} s of CPU time"
    print(f"{count} inputs in {cpu:.1f} s of CPU time ({count / cpu:.0f}/s)")
