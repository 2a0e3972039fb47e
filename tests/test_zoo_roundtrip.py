"""`cnndsl import` round-trips the whole keras.applications zoo (issue 11).

For each of the 40 functions (``zoo_table.ZOO``; weights=None, the default input, include_top=True)
the reference is built by keras.applications, its BN statistics and biases randomised; its spec is
``cnndsl.from_keras(ref)`` (blocks recovered), which is checked and compiled back. The twin must equal
the reference on every point of the issue:

- total, trainable and non-trainable parameters: Keras's, and ``cnndsl check``'s of the imported spec;
- the layer classes of ``model.layers`` in order, and every layer name keras.applications set
  explicitly (its generated ``conv2d_12`` names exempt), position by position;
- the Keras op calls too (ConvNeXt's ``inputs + x`` and MobileNetV3's ``x + 3.0``, ``* (1/6)`` are ops,
  not layers): the walked graph of layer and op calls agrees in kind, output and weight shapes;
- ``twin.set_weights(ref.get_weights())`` succeeds, and then the outputs agree within 1e-5 on a
  seeded random image.

And readability: the imported spec has at most twice the non-comment lines of the hand-written zoo
spec (its file and the files it imports; one file holds a whole family, so the measure is the
family's spec against one network's import).

    .venv/bin/python tests/test_zoo_roundtrip.py [ResNet50 ...]   # the readability table
"""
from __future__ import annotations

import gc
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cnndsl  # noqa: E402
from keras_compare import auto_named, params, randomize, structure_differences, walk  # noqa: E402
from zoo_table import ZOO  # noqa: E402

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

IMPORT = re.compile(r'\s*import\s+"([^"]+)"')


def spec_lines(path: Path, seen=None) -> int:
    """Non-blank, non-comment lines of a spec file and, once each, of the files it imports."""
    path = Path(path).resolve()
    seen = set() if seen is None else seen
    if path in seen:
        return 0
    seen.add(path)
    n = 0
    for line in path.read_text().splitlines():
        if line.strip() and not line.strip().startswith("#"):
            n += 1
            m = IMPORT.match(line)
            if m:
                n += spec_lines(path.parent / m.group(1), seen)
    return n


def text_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def round_trip(function: str):
    """(reference, imported spec text, its graph, the compiled twin)."""
    import keras
    keras.utils.set_random_seed(0)
    ref = getattr(keras.applications, function)(weights=None)
    randomize(ref)
    text = cnndsl.from_keras(ref)
    graph = cnndsl.check(text)
    return ref, text, graph, cnndsl.compile(graph)


def differences(ref, text, graph, twin) -> list:
    out = []
    if params(twin) != params(ref):
        out.append(f"params {params(twin)} vs keras {params(ref)}")
    if (graph.total_params, graph.trainable, graph.non_trainable) != params(ref):
        out.append(f"cnndsl check's params {(graph.total_params, graph.trainable, graph.non_trainable)}")
    kinds = [type(l).__name__ for l in twin.layers], [type(l).__name__ for l in ref.layers]
    if kinds[0] != kinds[1]:
        k = next((i for i, (a, b) in enumerate(zip(*kinds)) if a != b), min(map(len, kinds)))
        out.append(f"layer classes differ at {k}: {kinds[0][k:k + 3]} vs {kinds[1][k:k + 3]}")
    named = [(a.name, b.name) for a, b in zip(twin.layers, ref.layers) if not auto_named(b) and a.name != b.name]
    if named:
        out.append(f"{len(named)} explicit names differ, e.g. {named[0]}")
    out += structure_differences(walk(twin), walk(ref), strict=True)
    if out:
        return out
    twin.set_weights(ref.get_weights())
    shape = [d or 224 for d in ref.input_shape[1:]]        # MobileNetV3 leaves H and W open
    x = np.random.default_rng(1).random((1, *shape)).astype("float32") * 255.0
    a, b = np.asarray(ref(x, training=False)), np.asarray(twin(x, training=False))
    diff = float(np.max(np.abs(a - b)))
    if not diff <= 1e-5 or not np.all(np.isfinite(a)):
        out.append(f"outputs differ by {diff:.3g}")
    return out


@pytest.mark.parametrize("zoo", ZOO, ids=lambda z: z.id)
def test_import_round_trips(zoo):
    import keras
    try:
        ref, text, graph, twin = round_trip(zoo.function)
        assert differences(ref, text, graph, twin) == []
        mine, theirs = text_lines(text), spec_lines(zoo.spec)
        assert mine <= 2 * theirs, f"imported spec has {mine} lines, the hand-written {zoo.spec.name} {theirs}"
    finally:
        keras.backend.clear_session()
        gc.collect()


if __name__ == "__main__":
    import time
    import keras
    wanted = set(sys.argv[1:])
    print("| keras.applications | hand-written spec (lines) | imported (lines) | ratio | blocks | import time |")
    print("|---|---|---|---|---|---|")
    for zoo in ZOO:
        if wanted and zoo.function not in wanted:
            continue
        ref = getattr(keras.applications, zoo.function)(weights=None)
        t = time.perf_counter()
        text = cnndsl.from_keras(ref)
        took = time.perf_counter() - t
        mine, theirs = text_lines(text), spec_lines(zoo.spec)
        blocks = len(re.findall(r"^block ", text, flags=re.M))
        print(f"| {zoo.function} | {zoo.spec.name} ({theirs}) | {mine} | {mine / theirs:.2f} | {blocks} | "
              f"{took:.2f} s |", flush=True)
        del ref
        keras.backend.clear_session()
