"""Benchmark for issue 4 (run it; it is not a test):

Whole-process `cnndsl draw specs/resnet152.cnn -o OUT.svg` (full depth) against
`keras.utils.plot_model(keras.applications.ResNet152(weights=None), show_shapes=True)`
to PNG, also a whole process, as Keras users draw a network today. Target: ratio <= 0.2.

    .venv/bin/python benchmarks/draw_bench.py [--runs 3]

plot_model needs pydot, which cnndsl does not: if it is missing the script says
so and exits 2 (install it with `.venv/bin/pip install pydot`).
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLOT_MODEL = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
model = keras.applications.ResNet152(weights=None)
keras.utils.plot_model(model, to_file=sys.argv[1], show_shapes=True)
"""


def wall(cmd: list[str], runs: int) -> float:
    """Median wall time of ``runs`` runs of ``cmd``; fails loudly if it fails."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
        if done.returncode:
            sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--spec", default=str(ROOT / "specs" / "resnet152.cnn"))
    args = ap.parse_args()
    if not Path(args.spec).exists():
        sys.exit(f"{args.spec} does not exist; pass --spec with a ResNet-152 spec")
    if importlib.util.find_spec("pydot") is None:
        print("pydot is missing (keras.utils.plot_model needs it): run `.venv/bin/pip install pydot`", file=sys.stderr)
        sys.exit(2)

    with tempfile.TemporaryDirectory() as tmp:
        svg, png = Path(tmp, "resnet152.svg"), Path(tmp, "resnet152_keras.png")
        ours = wall([sys.executable, "-m", "cnndsl", "draw", args.spec, "-o", str(svg)], args.runs)
        keras = wall([sys.executable, "-c", PLOT_MODEL, str(png)], args.runs)
        sizes = f"{svg.stat().st_size // 1024} KiB SVG vs {png.stat().st_size // 1024} KiB PNG"
    print(f"cnndsl draw {Path(args.spec).name} -> SVG: {ours:.2f} s (median of {args.runs}, whole process)")
    print(f"keras plot_model(ResNet152) -> PNG: {keras:.2f} s (median of {args.runs}, whole process)")
    ratio = ours / keras
    print(f"ratio {ratio:.3f}x (target <= 0.2x): {'ok' if ratio <= 0.2 else 'MISSED'}; {sizes}")


if __name__ == "__main__":
    main()
