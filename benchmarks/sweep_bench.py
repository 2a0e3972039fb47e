"""cnndsl sweep: 1,000 variants of ResNet-50 (keras.applications' layout) in one process, no framework.

Prints the sweep's CPU time and its ratio to a baseline measured in the same process: 1,000 separate
`cnndsl.check` calls (parse + lower each time), which is what a script looping over `check` would do.
Goal (issue 18): the sweep under a minute on these 2 cores.

    .venv/bin/python benchmarks/sweep_bench.py
"""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import cnndsl
from cnndsl.lower import Limits
from cnndsl.program import load_file
from cnndsl.sweep import run

SPEC = Path(__file__).resolve().parent.parent / "specs" / "applications" / "resnet.cnn"
GRID = {"image": [[s, s, 3] for s in range(64, 64 + 25 * 8, 8)], "classes": [5, 10, 100, 1000, 21843],
        "pooling": ["avg", "max"], "include_top": [True, False], "classifier_activation": ["softmax", None]}


def main() -> None:
    program = load_file(str(SPEC))
    t = time.process_time()
    header, rows = run(program, "resnet50", GRID, {}, Limits())
    sweep = time.process_time() - t
    assert len(rows) == 1000, len(rows)
    combos = list(itertools.product(*GRID.values()))[:50]      # the baseline on 50 variants, scaled to 1,000
    t = time.process_time()
    for combo in combos:
        cnndsl.check(SPEC, "resnet50", **dict(zip(GRID, combo)))
    baseline = (time.process_time() - t) * 1000 / len(combos)
    print(f"sweep of 1,000 ResNet-50 variants: {sweep:.1f} s CPU ({sweep / 60:.2f} of the 1-minute goal)")
    print(f"1,000 separate checks (estimated from 50): {baseline:.1f} s CPU; sweep / checks = {sweep / baseline:.2f}")


if __name__ == "__main__":
    main()
