"""Benchmark for issue 11 (run it; it is not a test):

Whole-process `cnndsl draw resnet152.keras -o OUT.svg --depth 1` against a whole process that loads
the same .keras file and draws it with `keras.utils.plot_model(model, to_file=OUT.png)`, as Keras
users draw a saved model today. Target: ratio <= 0.3. Also timed: `cnndsl draw ... -o OUT.png`,
`cnndsl check resnet152.keras` and `cnndsl import resnet152.keras -o OUT.cnn`.

    .venv/bin/python benchmarks/import_bench.py [--runs 5] [--model ResNet152]

Issue 20's figures (``--scale``; needs no pydot): reading a model into the IR and writing its spec
(block recovery included), each in a fresh process that reports its own CPU time and peak memory,
against a baseline in that same process: checking the written spec (parse, lower, shape-check).
Targets: NASNetLarge imports in under 2 s; a 100,000-layer chain in under 30 s and under 1 GiB.

    .venv/bin/python benchmarks/import_bench.py --scale [--runs 3]

The runs of the commands are interleaved (one of each, then again), so a slow spell of this noisy
machine hits them alike; the medians and their ratios are printed. plot_model needs pydot, which
cnndsl does not: if it is missing the script says so and exits 2 (`.venv/bin/pip install pydot`, or
`pip install 'cnndsl[bench]'`).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
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


IMPORT = """
import json, resource, sys, time
import cnndsl
from cnndsl.api import keras_graph
from cnndsl.backends.spec import emit_spec
from cnndsl.lower import Limits
t0 = time.process_time()
graph = keras_graph(sys.argv[1], structure=False)
t1 = time.process_time()
text = emit_spec(graph, "model.keras")
t2 = time.process_time()
cnndsl.check(text, limits=Limits(max_nodes=10 ** 7, max_steps=10 ** 8))   # the baseline: check the spec written
t3 = time.process_time()
print(json.dumps({"read": t1 - t0, "write": t2 - t1, "check": t3 - t2, "layers": graph.layers,
                  "lines": text.count("\\n"), "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

CHAIN = """
import sys
sys.path.insert(0, sys.argv[3])
from keras_configs import chain, keras_file
keras_file(sys.argv[1], chain(int(sys.argv[2])))
"""

TARGETS = {"NASNetLarge": (2.0, None), "chain of 100,000 layers": (30.0, 1 << 30)}


def scale(runs: int) -> None:
    """Issue 20's import figures: NASNetLarge and a 100,000-layer chain."""
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        nasnet, chain = str(Path(tmp, "nasnetlarge.keras")), str(Path(tmp, "chain.keras"))
        run([py, "-c", SAVE, nasnet, "NASNetLarge"])
        run([py, "-c", CHAIN, chain, "100000", str(ROOT / "tests")])
        for name, path in (("NASNetLarge", nasnet), ("chain of 100,000 layers", chain)):
            got = []
            for _ in range(runs):
                done = subprocess.run([py, "-c", IMPORT, path], capture_output=True, text=True, cwd=ROOT)
                if done.returncode:
                    sys.exit(f"failed: {name}\n{done.stderr[-2000:]}")
                got.append(json.loads(done.stdout.strip().splitlines()[-1]))
            read = statistics.median(g["read"] for g in got)
            write = statistics.median(g["write"] for g in got)
            check = statistics.median(g["check"] for g in got)
            rss = max(g["rss"] for g in got)
            took, limit = read + write, TARGETS[name]
            met = took < limit[0] and (limit[1] is None or rss < limit[1])
            print(f"{name}: {got[0]['layers']:,} layers, {got[0]['lines']:,} lines; median of {runs}, CPU time in one "
                  f"process: read {read:.2f} s + write (block recovery) {write:.2f} s = import {took:.2f} s; "
                  f"baseline check of the written spec {check:.2f} s; import / check = {took / check:.2f}; "
                  f"peak memory {rss / 2 ** 20:.0f} MiB. Target: under {limit[0]:g} s"
                  + (f" and {limit[1] / 2 ** 30:g} GiB" if limit[1] else "") + f": {'met' if met else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default="ResNet152", help="a keras.applications function (default ResNet152)")
    ap.add_argument("--scale", action="store_true", help="issue 20's figures: NASNetLarge and a 100,000-layer chain")
    args = ap.parse_args()
    if args.scale:
        scale(args.runs)
        return
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
