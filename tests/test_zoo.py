"""The keras.applications zoo (issue 8): every spec network equals keras.applications' own.

For each of the 40 functions (``zoo_table.ZOO``) and both variants (``include_top=True``, and
``include_top=False, pooling="avg"``), with weights=None and the default input size, the compiled
spec and keras.applications' model agree on:

- total, trainable and non-trainable parameters (and ``cnndsl check``'s figures equal Keras's);
- output shapes;
- layer and op kinds in topological order (tests/keras_compare.py: strict, exact classes), with
  each one's output shape and weight shapes;
- every layer name keras.applications sets explicitly (its generated ``conv2d_12`` names exempt);
- with ``numeric``, outputs after copying the reference's weights across, with randomised BN
  statistics and biases, within 1e-5 (``training=False``): the model's, and for networks under 10M
  parameters every layer's too.

Run one network by hand while writing its spec:
    .venv/bin/python tests/test_zoo.py resnet50 [avg] [--numeric]
"""
from __future__ import annotations

import gc
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cnndsl  # noqa: E402
from keras_compare import (copy_weights, name_differences, output_differences, params,  # noqa: E402
                           randomize, structure_differences, walk, zero_initialized)
from zoo_table import VARIANTS, ZOO  # noqa: E402

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier


def build_pair(zoo, variant: str, numeric: bool = True):
    """(compiled spec, keras.applications reference, its IR graph) for one network and variant. The spec's
    weights are all copied from the reference before any is read, so Keras draws none (zero_initialized);
    nor the reference's, where only the structure is compared (``numeric=False``)."""
    import keras
    spec_params, ref_kwargs = VARIANTS[variant]
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(zoo.spec, network=zoo.network, **spec_params)
    with zero_initialized():
        model = cnndsl.compile(graph)
    with nullcontext() if numeric else zero_initialized():
        ref = getattr(keras.applications, zoo.function)(weights=None, **ref_kwargs)
    randomize(ref)
    return model, ref, graph


def differences(zoo, variant: str, numeric: bool) -> list:
    """Every way the spec differs from keras.applications (empty: none)."""
    model, ref, graph = build_pair(zoo, variant, numeric)
    out = []
    if params(model) != params(ref):
        out.append(f"params (total, trainable, non-trainable) {params(model)} vs keras {params(ref)}")
    if (graph.total_params, graph.trainable, graph.non_trainable) != params(ref):
        out.append(f"cnndsl check's params {(graph.total_params, graph.trainable, graph.non_trainable)} "
                   f"vs keras {params(ref)}")
    if [tuple(t.shape) for t in model.outputs] != [tuple(t.shape) for t in ref.outputs]:
        out.append(f"outputs {[t.shape for t in model.outputs]} vs {[t.shape for t in ref.outputs]}")
    spec_nodes, ref_nodes = walk(model), walk(ref)
    out += structure_differences(spec_nodes, ref_nodes, strict=True)
    names = name_differences(spec_nodes, ref_nodes)
    if names:
        out.append(f"{len(names)} named layers differ, e.g. spec {names[0][0]!r} vs keras {names[0][1]!r}")
    if numeric and not out:
        copy_weights(spec_nodes, ref_nodes)
        # every layer's output for the smaller networks; the model's outputs for the larger (time)
        every = model.count_params() < EVERY_LAYER_BELOW
        out += output_differences(model, ref, spec_nodes, ref_nodes, every_layer=every)[:5]
    return out


EVERY_LAYER_BELOW = 10_000_000
CASES = [pytest.param(z, v, id=f"{z.id}-{v}") for z in ZOO for v in VARIANTS]


@pytest.mark.parametrize("zoo,variant", CASES)
def test_spec_equals_keras_applications(zoo, variant):
    import keras
    try:
        assert differences(zoo, variant, numeric=zoo.numeric and variant == "top") == []
    finally:
        keras.backend.clear_session()
        gc.collect()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    zoo = next(z for z in ZOO if z.network == args[0])
    found = differences(zoo, args[1] if len(args) > 1 else "top", numeric="--numeric" in sys.argv)
    print("\n".join(found) or f"{zoo.network}: equal to keras.applications.{zoo.function}")
    sys.exit(1 if found else 0)


PRETRAINED = ["resnet50", "mobilenetv3small", "efficientnetb0", "convnexttiny"]


@pytest.mark.parametrize("fmt", ["weights.h5", "h5"])
@pytest.mark.parametrize("network", PRETRAINED)
def test_a_keras_applications_weights_file_loads_into_the_compiled_spec(network, fmt, tmp_path):
    """A user with a keras.applications weights file loads it into the compiled spec: Keras 3's own
    `.weights.h5`, and the legacy `.h5` layout of the published ImageNet files (saved here from a
    weights=None model with randomised statistics: nothing downloads)."""
    import h5py
    import keras
    import numpy as np
    from keras.src.legacy.saving import legacy_h5_format
    zoo = next(z for z in ZOO if z.network == network)
    ref = getattr(keras.applications, zoo.function)(weights=None)
    randomize(ref)
    path = tmp_path / f"{network}.{fmt}"
    if fmt == "h5":
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, ref)
    else:
        ref.save_weights(path)
    model = cnndsl.compile(zoo.spec, network=zoo.network)
    model.load_weights(path)
    x = np.random.default_rng(3).normal(size=(1, *[d or 224 for d in ref.input_shape[1:]])).astype("float32")
    want, got = np.asarray(ref(x, training=False)), np.asarray(model(x, training=False))
    assert np.abs(got - want).max() <= 1e-5
    keras.backend.clear_session()
