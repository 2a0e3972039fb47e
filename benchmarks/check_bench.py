"""Benchmark for issue 2 (run it; it is not a test):

1. Whole-process `cnndsl check` on a ResNet-152-sized spec, as a ratio to
   `python -c "import keras"` measured in the same run. Target: <= 1/15.
2. In-process check time of generated 10k- and 100k-node specs. Targets:
   linear growth (ratio ~10), and 100k nodes in <= 10 s.

    .venv/bin/python benchmarks/check_bench.py [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GENERATED = """
block unit(f) {
    add { conv(f, 3, padding=same) -> bn -> relu; identity }
}
network big(x: [32, 32, 16], n=1) {
    repeat n { unit(16) }
}
"""  # 4 nodes per unit


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_process(nodes: int, runs: int) -> float:
    import cnndsl
    from cnndsl.lower import Limits
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        g = cnndsl.check(GENERATED, n=nodes // 4, limits=Limits(max_steps=10 * nodes))
        times.append(time.perf_counter() - t0)
        assert len(g.nodes) == nodes + 1
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--spec", default=str(ROOT / "specs" / "resnet152.cnn"))
    args = ap.parse_args()

    check = wall([sys.executable, "-m", "cnndsl", "check", args.spec], args.runs)
    keras = wall([sys.executable, "-c", "import keras"], args.runs)
    print(f"cnndsl check {Path(args.spec).name}: {check * 1000:.0f} ms (median of {args.runs}, whole process)")
    print(f"python -c 'import keras':        {keras * 1000:.0f} ms")
    print(f"ratio: {check / keras:.3f} = 1/{keras / check:.1f}   (target <= 1/15)")

    small, large = in_process(10_000, args.runs), in_process(100_000, max(1, args.runs // 2))
    print(f"check 10k nodes:  {small:.2f} s")
    print(f"check 100k nodes: {large:.2f} s   (target <= 10 s)")
    print(f"growth 100k/10k:  {large / small:.1f}x for 10x the nodes   (linear = 10)")


if __name__ == "__main__":
    main()
