"""Benchmark for issue 3 (run it; it is not a test): in-process compile time.

`cnndsl.compile("specs/resnet50.cnn")` (read, parse, lower, shape-check, build
the keras.Model) against `keras.applications.ResNet50(weights=None)`. The spec
copies keras's model layer for layer, so both build the same 177 layers and
25,636,712 parameters; the ratio is the front end's overhead. Each is run once
untimed (warm-up), then N times, alternating; `keras.backend.clear_session()`
runs before every build, outside the timing. Target: ratio <= 1.05.

    .venv/bin/python benchmarks/compile_bench.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "specs" / "resnet50.cnn"


def timed(build, keras) -> tuple[float, object]:
    keras.backend.clear_session()
    t0 = time.perf_counter()
    model = build()
    return time.perf_counter() - t0, model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    import cnndsl
    builders = {"cnndsl": lambda: cnndsl.compile(SPEC),
                "keras": lambda: keras.applications.ResNet50(weights=None)}
    times = {name: [] for name in builders}
    models = {name: timed(build, keras)[1] for name, build in builders.items()}   # warm-up
    if models["cnndsl"].count_params() != models["keras"].count_params():
        raise SystemExit("the spec and keras's ResNet50 differ in parameter count")
    for _ in range(runs):
        for name, build in builders.items():
            times[name].append(timed(build, keras)[0])
    check = []
    for _ in range(runs):
        t0 = time.perf_counter()
        cnndsl.check(SPEC)
        check.append(time.perf_counter() - t0)
    ours, theirs = statistics.median(times["cnndsl"]), statistics.median(times["keras"])
    print(f"cnndsl.compile(resnet50.cnn)     median of {runs}: {ours:.3f} s "
          f"(of which parse + check {statistics.median(check) * 1000:.1f} ms)")
    print(f"keras.applications.ResNet50     median of {runs}: {theirs:.3f} s")
    print(f"ratio {ours / theirs:.3f}x (target <= 1.05x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
