"""The fuzzer of benchmarks/fuzz.py, on a short budget (issue 10): nothing but located CnnErrors.

A long run is on demand: `.venv/bin/python benchmarks/fuzz.py --minutes 30`.
"""
from __future__ import annotations

import re
import resource
import subprocess
import sys

import pytest

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


def _fuzz_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("cnndsl_fuzz", ROOT / "benchmarks" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_alarm_counts_cpu_time_not_a_loaded_machines_wall_clock():
    """Sleeping (as a process on a loaded machine waits) never trips it; working does (issue 22)."""
    import signal
    import time
    fuzz = _fuzz_module()
    old = signal.signal(signal.SIGPROF, fuzz._alarm)
    try:
        fuzz.arm(0.2)
        time.sleep(0.6)                  # three times the alarm, on the wall clock only
        fuzz.arm(0)
        fuzz.arm(0.2)
        start = time.process_time()
        with pytest.raises(fuzz.Timeout):
            while time.process_time() - start < 30:
                sum(range(10_000))
        assert time.process_time() - start >= 0.1     # CPU work tripped it (the kernel counts in ticks)
    finally:
        fuzz.arm(0)
        signal.signal(signal.SIGPROF, old)


def test_the_generated_programs_reach_the_newer_features():
    """A good share of generated programs check, and those that do use collect, split, indexed chains,
    sequential, resize and merges of merges (so the fuzzer reaches past the parser)."""
    import random
    from cnndsl.errors import CnnError
    fuzz = _fuzz_module()
    rng, ok = random.Random(3), []
    for _ in range(400):
        text = fuzz.generate(rng)
        try:
            fuzz.run_one(text)
            ok.append(text)
        except CnnError:
            pass
    assert len(ok) >= 20, len(ok)
    for feature in ("collect", "split(", "ys[0] ->", "concat(a2, b2) ->", "resize(", "sequential", "multiply(",
                    "shared"):
        assert any(feature in t for t in ok), feature
