"""Benchmark for issue 11 (run it; it is not a test):

Whole-process `cnndsl draw resnet152.keras -o OUT.svg --depth 1` against a whole process that loads
the same .keras file and draws it with `keras.utils.plot_model(model, to_file=OUT.png)`, as Keras
users draw a saved model today. Target: ratio <= 0.3. Also timed: `cnndsl draw ... -o OUT.png`,
`cnndsl check resnet152.keras` and `cnndsl import resnet152.keras -o OUT.cnn`.

    .venv/bin/python benchmarks/import_bench.py [--runs 5] [--model ResNet152]

The runs of the commands are interleaved (one of each, then again), so a slow spell of this noisy
machine hits them alike; the medians and their ratios are printed. plot_model needs pydot, which
cnndsl does not: if it is missing the script says so and exits 2 (`.venv/bin/pip install pydot`, or
`pip install 'cnndsl[bench]'`).
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

SAVE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
getattr(keras.applications, sys.argv[2])(weights=None).save(sys.argv[1])
"""

PLOT_MODEL = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
model = keras.saving.load_model(sys.argv[1])
keras.utils.plot_model(model, to_file=sys.argv[2])
"""


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default="ResNet152", help="a keras.applications function (default ResNet152)")
    args = ap.parse_args()
    if importlib.util.find_spec("pydot") is None:
        print("pydot is missing (keras.utils.plot_model needs it): run `.venv/bin/pip install pydot`", file=sys.stderr)
        sys.exit(2)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        model = str(Path(tmp, f"{args.model.lower()}.keras"))
        run([py, "-c", SAVE, model, args.model])
        commands = {
            "plot_model (load .keras, PNG)": [py, "-c", PLOT_MODEL, model, str(Path(tmp, "keras.png"))],
            "cnndsl draw --depth 1 (SVG)": [py, "-m", "cnndsl", "draw", model, "-o", str(Path(tmp, "x.svg")),
                                            "--depth", "1"],
            "cnndsl draw --depth 1 (PNG)": [py, "-m", "cnndsl", "draw", model, "-o", str(Path(tmp, "x.png")),
                                            "--depth", "1"],
            "cnndsl check": [py, "-m", "cnndsl", "check", model],
            "cnndsl import": [py, "-m", "cnndsl", "import", model, "-o", str(Path(tmp, "x.cnn"))],
        }
        times = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(run(cmd))
    base = statistics.median(times["plot_model (load .keras, PNG)"])
    print(f"{args.model}.keras, median of {args.runs} interleaved runs, whole processes:")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:32s} {m:6.2f} s   ratio to plot_model {m / base:.3f}")
    ratio = statistics.median(times["cnndsl draw --depth 1 (SVG)"]) / base
    print(f"cnndsl draw / plot_model = {ratio:.3f} (target <= 0.3): {'met' if ratio <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
