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
- ``twin.set_weights(ref.get_weights())`` succeeds; for the smallest network of each family (each
  spec file's first in ``ZOO``), the outputs then agree within 1e-5 on a seeded random image. The
  bigger ones are compared structurally only, as above (their forward passes at up to 600 x 600
  were a third of this file's time): the same layers, weights and wiring as a family member whose
  outputs are proven.

And PyTorch (issue 17): ``cnndsl convert``'s path takes each reference to torch with its weights
(``cnndsl.weights.keras_model_to_torch``): every network converts and its state_dict loads strictly
with Keras's counts; the smallest of each family gives the reference's outputs.

And readability: the imported spec has at most twice the non-comment lines of the hand-written zoo
spec (its file and the files it imports; one file holds a whole family, so the measure is the
family's spec against one network's import).

    .venv/bin/python tests/test_zoo_roundtrip.py [ResNet50 ...]   # the readability table
"""
from __future__ import annotations

import gc
import re
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cnndsl  # noqa: E402
from keras_compare import (auto_named, params, randomize, structure_differences, walk,  # noqa: E402
                           zero_initialized)
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


def round_trip(function: str, numeric: bool = True):
    """(reference, imported spec text, its graph, the compiled twin). The twin's weights are all set from the
    reference's before any is read, so Keras draws none (zero_initialized); nor the reference's, where the
    outputs aren't compared (``numeric=False``)."""
    import keras
    keras.utils.set_random_seed(0)
    with nullcontext() if numeric else zero_initialized():
        ref = getattr(keras.applications, function)(weights=None)
    randomize(ref)
    finalize(ref)
    text = cnndsl.from_keras(ref)
    graph = cnndsl.check(text)
    with zero_initialized():
        twin = cnndsl.compile(graph)
    return ref, text, graph, twin


def sample(ref):
    """The seeded random image the outputs are compared on (the reference's own input size)."""
    shape = [d or 224 for d in ref.input_shape[1:]]        # MobileNetV3 leaves H and W open
    return np.random.default_rng(1).random((1, *shape)).astype("float32") * 255.0


def finalize(model) -> None:
    """Keras's Normalization computes with the mean and variance it held when built or adapted: after
    its weights change (randomised, copied) it is told, so that what it computes is what it holds
    (EfficientNet's input normalisation)."""
    for layer in model.layers:
        if type(layer).__name__ == "Normalization":
            layer.finalize_state()


def differences(ref, text, graph, twin, x=None, want=None, numeric=True) -> list:
    """Every way the twin differs from the reference (empty: none); ``want`` is the reference's output on
    ``x`` where it is already computed; ``numeric=False``: the weights are set, the outputs not compared."""
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
    finalize(twin)
    if not numeric:
        return out
    if x is None:
        x = sample(ref)
    a = np.asarray(ref(x, training=False)) if want is None else want
    b = np.asarray(twin(x, training=False))
    diff = float(np.max(np.abs(a - b)))
    if not diff <= 1e-5 or not np.all(np.isfinite(a)):
        out.append(f"outputs differ by {diff:.3g}")
    return out


# The smallest network of each family (each spec file's first in ZOO): outputs compared, in Keras and in torch.
SMALLEST = {z.module: z.function for z in reversed(ZOO)}


class Imported:
    """One zoo network's reference, its imported spec, graph and compiled twin, and (the smallest of each
    family) the reference's output on the seeded image, with the features its last layer (the classifier,
    or its softmax) reads, from the same forward pass: built once, for the round trip and the torch
    conversion."""

    def __init__(self, zoo):
        import keras
        self.zoo = zoo
        self.numeric = SMALLEST.get(zoo.module) == zoo.function
        self.ref, self.text, self.graph, self.twin = round_trip(zoo.function, self.numeric)
        self.x = sample(self.ref)
        self.features = self.want = None
        if self.numeric:
            probe = keras.Model(self.ref.inputs, [self.ref.layers[-1].input, self.ref.output])
            self.features, self.want = (np.asarray(t) for t in probe(self.x, training=False))


@pytest.fixture(scope="module", params=ZOO, ids=lambda z: z.id)
def imported(request):
    """Module-scoped: both tests of a network run on one build, then it is freed before the next."""
    import keras
    try:
        yield Imported(request.param)
    finally:
        keras.backend.clear_session()
        gc.collect()


def test_import_round_trips(imported):
    zoo, ref, text, graph, twin = imported.zoo, imported.ref, imported.text, imported.graph, imported.twin
    assert differences(ref, text, graph, twin, imported.x, imported.want, numeric=imported.numeric) == []
    mine, theirs = text_lines(text), spec_lines(zoo.spec)
    assert mine <= 2 * theirs, f"imported spec has {mine} lines, the hand-written {zoo.spec.name} {theirs}"


def test_imported_network_converts_to_torch(imported):
    """`cnndsl convert`'s path (``cnndsl.weights.keras_model_to_torch``) on every keras.applications network:
    the module it gives has every tensor of its state_dict from a Keras weight (it raises otherwise),
    torch's trainable and non-trainable counts are Keras's, and the state_dict loads strictly into the
    module of the written source's ``build()`` (bigger networks on the meta device: shapes, no data).
    The smallest network of each family gives the reference's
    outputs, NCHW in: the features its last layer reads within 1e-5 relative (at random initialisation
    the probabilities are near one-hot, so they alone would show little), and the probabilities."""
    import torch
    from cnndsl.ir import module_path
    from cnndsl.weights import keras_model_to_torch
    from torch_compare import nchw, torch_counts
    ref, graph = imported.ref, imported.graph
    if any(d is None for node in graph.inputs.values() for d in node.shape[1:]):   # MobileNetV3's open H, W:
        (name,) = graph.inputs                                                    # torch pads explicitly
        graph = cnndsl.check(imported.text, **{name: list(imported.x.shape[1:])})
    numeric = imported.numeric
    with torch.device("cpu" if numeric else "meta"):    # meta: the weights meet by shape, with no memory
        module = keras_model_to_torch(ref, graph, twin=imported.twin)
    assert torch_counts(module) == params(ref)[1:], "torch's (trainable, non-trainable) vs Keras's"
    namespace = {}
    exec(compile(module.cnndsl_source, "model.py", "exec"), namespace)
    with torch.device("meta"):
        fresh = namespace["build"]()
    fresh.load_state_dict(module.state_dict(), strict=True, assign=True)
    if not numeric:
        return
    seen = []
    last = ".".join(module_path(imported.twin.layers[-1].name))      # the reference's last layer, in torch
    module.get_submodule(last).register_forward_hook(lambda m, args, out: seen.append(args[0].numpy()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # on two busy cores, one thread is ten times faster than several
    try:
        with torch.no_grad():
            got = module(torch.from_numpy(nchw(imported.x))).numpy()
    finally:
        torch.set_num_threads(threads)
    (features,) = seen
    for what, mine, theirs in (("features", features, imported.features), ("probabilities", got, imported.want)):
        assert mine.shape == theirs.shape, what
        diff = float(np.abs(mine - theirs).max())
        print(f"{imported.zoo.function} {what}: max difference {diff:.3g} (largest value {np.abs(theirs).max():.3g})")
        assert diff <= 1e-5 * max(1.0, float(np.abs(theirs).max())), f"{what} differ by {diff:.3g}"
