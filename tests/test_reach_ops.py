"""Issue 16's ops on TensorFlow, JAX and torch, and cnndsl's own layers against independent references.

1. The networks of tests/fixtures/reach.cnn (1-D and 3-D convolutions and pools, tensor math,
   attention and learned tensors: every op the issue adds) compile on each Keras backend with
   Keras's counts and output shapes equal to ``cnndsl check``'s, and compute the same outputs as
   TensorFlow within 1e-5 from the same weights (tests/backend_worker.py, as test_backends.py runs
   the shipped specs). TensorFlow's ``.keras`` file of each loads on JAX and torch and computes the same.
2. The layers cnndsl writes itself (keras_layers) equal a reference that shares no code with them:
   torch's own functions (adaptive pools, torch-padded pools with count_include_pad and ceil_mode,
   GroupNorm for Keras's GroupNormalization), or NumPy transcriptions of the published formulas
   (ConvNeXt V2's GRN, EfficientDet's fast normalised fusion) and of NumPy's own functions.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from backend_worker import main as run_worker
from conftest import ROOT

pytestmark = pytest.mark.slow

REACH = ROOT / "tests" / "fixtures" / "reach.cnn"
NETWORKS = ("signal", "volume", "math", "tokens")
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """backend -> its results: TensorFlow in this process, JAX and torch in one subprocess each."""
    tmp = tmp_path_factory.mktemp("reach")
    cases = [{"id": name, "path": str(REACH), "network": name, "params": {}, "save": str(tmp / f"{name}.keras")}
             for name in NETWORKS]
    (tmp / "tensorflow.json").write_text(json.dumps(cases))
    run_worker(str(tmp / "tensorflow.json"), str(tmp / "tensorflow.npz"))
    out = {"tensorflow": np.load(tmp / "tensorflow.npz")}
    for backend in ("jax", "torch"):
        manifest = [{**c, "load": c["save"], "save": None} for c in cases]
        (tmp / f"{backend}.json").write_text(json.dumps(manifest))
        r = subprocess.run([sys.executable, str(ROOT / "tests" / "backend_worker.py"), str(tmp / f"{backend}.json"),
                            str(tmp / f"{backend}.npz")], capture_output=True, text=True, cwd=ROOT, timeout=900,
                           env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert r.returncode == 0, f"{backend} worker failed:\n{r.stderr[-3000:]}"
        out[backend] = np.load(tmp / f"{backend}.npz")
    return out


def _outputs(result, key, kind="output"):
    found = sorted((k for k in result.files if k.startswith(f"{key}/{kind}_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    return [result[k] for k in found]


def _close(got, want, what):
    assert len(got) == len(want) > 0, what
    for g, w in zip(got, want):
        assert g.shape == w.shape, what
        assert np.all(np.isfinite(w)) and np.abs(w).max() > 0, f"{what}: TensorFlow's output says nothing"
        diff = np.abs(g - w).max()
        assert diff <= TOLERANCE * max(1.0, float(np.abs(w).max())), f"{what}: max abs difference {diff:.3g}"


@pytest.mark.parametrize("backend", ("tensorflow", "jax", "torch"))
@pytest.mark.parametrize("network", NETWORKS)
def test_keras_counts_and_shapes_equal_the_checker(runs, network, backend):
    result = runs[backend]
    assert f"{network}/error" not in result.files, f"{backend}: {result[f'{network}/error']}"
    counts = result[f"{network}/counts"]
    assert list(counts[:3]) == list(counts[3:]), "Keras (total, trainable, non-trainable) vs cnndsl check"
    keras_shapes, checker_shapes = json.loads(str(result[f"{network}/shapes"]))
    assert [s[1:] for s in keras_shapes] == [s[1:] for s in checker_shapes]


@pytest.mark.parametrize("backend", ("jax", "torch"))
@pytest.mark.parametrize("network", NETWORKS)
def test_outputs_equal_tensorflow_and_a_tensorflow_file_loads(runs, network, backend):
    assert f"{network}/error" not in runs[backend].files, f"{backend}: {runs[backend][f'{network}/error']}"
    want = _outputs(runs["tensorflow"], network)
    _close(_outputs(runs[backend], network), want, f"{backend} vs tensorflow")
    _close(_outputs(runs[backend], network, "loaded"), want, f"TensorFlow's file on {backend}")


def test_every_op_the_issue_adds_is_in_the_networks():
    import cnndsl
    used = {n.op for name in NETWORKS for n in cnndsl.check(REACH, name).nodes}
    added = {"subtract", "maximum", "minimum", "average", "stack", "divide", "abs", "square", "sqrt", "exp", "log",
             "power", "reduce_mean", "reduce_max", "reduce_sum", "softmax", "matmul", "attention", "class_token",
             "position_embedding", "weighted_add", "grn", "groupnorm", "adaptive_avgpool", "adaptive_maxpool",
             "conv", "conv_transpose", "dwconv", "sepconv", "maxpool", "avgpool", "global_avgpool",
             "global_maxpool", "upsample", "zeropad", "crop"}
    assert added <= used


# --- cnndsl's layers against independent references ---------------------------------------------------------

def _np(y):
    import keras
    return keras.ops.convert_to_numpy(y)


def _channels_first(x):
    return np.moveaxis(x, -1, 1)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("shape, size", [((2, 13, 3), (5,)), ((2, 10, 7, 3), (3, 4)), ((2, 9, 10, 3), (4, 3)),
                                         ((2, 14, 14, 3), (7, 7)), ((2, 5, 7, 6, 2), (2, 3, 4)),
                                         ((2, 5, 5, 3), (6, 2))])
def test_adaptive_pools_equal_torch(mode, shape, size):
    import torch
    import torch.nn.functional as F
    from cnndsl.backends.keras_layers import AdaptivePool
    x = np.random.default_rng(len(shape) + sum(size)).normal(size=shape).astype("float32")
    ours = _np(AdaptivePool(mode, size)(x))
    dims = len(size)
    fn = getattr(F, f"adaptive_{mode}_pool{dims}d")
    want = np.moveaxis(fn(torch.from_numpy(_channels_first(x)), size).numpy(), 1, -1)
    np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape, k, s, p, ceil", [
    ((2, 11, 3), 3, 2, 1, False), ((2, 12, 3), 4, 3, 2, True),
    ((2, 9, 11, 3), 3, 2, 1, False), ((2, 10, 10, 3), 3, 2, 1, True), ((2, 8, 9, 3), 2, 2, 1, True),
    ((2, 5, 7, 6, 2), 3, 2, 1, True), ((2, 6, 6, 6, 2), 2, 1, 1, False)])
def test_torch_padded_average_pools_equal_torch(count_include_pad, shape, k, s, p, ceil):
    import torch
    import torch.nn.functional as F
    from cnndsl.backends.keras_layers import TorchPool
    dims = len(shape) - 2
    x = np.random.default_rng(k * 10 + s).normal(size=shape).astype("float32")
    ours = _np(TorchPool("avg", (k,) * dims, (s,) * dims, (p,) * dims, ceil, count_include_pad)(x))
    fn = getattr(F, f"avg_pool{dims}d")
    want = fn(torch.from_numpy(_channels_first(x)), k, s, p, ceil_mode=ceil, count_include_pad=count_include_pad)
    np.testing.assert_allclose(ours, np.moveaxis(want.numpy(), 1, -1), rtol=1e-5, atol=1e-6)
    if count_include_pad:       # max pools take no divisor: once per shape is enough
        ours = _np(TorchPool("max", (k,) * dims, (s,) * dims, (p,) * dims, ceil)(x))
        want = getattr(F, f"max_pool{dims}d")(torch.from_numpy(_channels_first(x)), k, s, p, ceil_mode=ceil)
        np.testing.assert_allclose(ours, np.moveaxis(want.numpy(), 1, -1), rtol=1e-6, atol=1e-6)


def test_avgpool_count_include_pad_reaches_the_layer():
    import cnndsl
    from cnndsl.backends.keras_layers import TorchPool
    model = cnndsl.compile("network n(x: [9, 9, 2]) {\n avgpool(3, stride=2, padding=1, count_include_pad=false)\n}")
    layer = model.layers[-1]
    assert isinstance(layer, TorchPool) and layer.count_include_pad is False


def _grn_reference(x, gamma, beta, eps=1e-6):
    """ConvNeXt V2's GRN (Woo et al. 2023, Algorithm 1, channels last), in NumPy."""
    spatial = tuple(range(1, x.ndim - 1))
    gx = np.sqrt(np.sum(x.astype("float64") ** 2, axis=spatial, keepdims=True))
    nx = gx / (gx.mean(axis=-1, keepdims=True) + eps)
    return gamma * (x * nx) + beta + x


@pytest.mark.parametrize("shape", [(2, 6, 5, 4), (2, 9, 4), (2, 3, 4, 5, 4)])
def test_grn_equals_the_papers_formula(shape):
    from cnndsl.backends.keras_layers import GRN
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape).astype("float32")
    layer = GRN()
    layer.build(shape)
    gamma, beta = rng.normal(size=(2, shape[-1])).astype("float32")
    layer.set_weights([gamma, beta])
    np.testing.assert_allclose(_np(layer(x)), _grn_reference(x, gamma, beta), rtol=1e-5, atol=1e-5)


def test_groupnorm_equals_torch_with_the_same_epsilon():
    import torch
    import cnndsl
    x = np.random.default_rng(5).normal(size=(2, 5, 6, 8)).astype("float32") * 3 + 1
    model = cnndsl.compile("network n(x: [5, 6, 8]) { groupnorm(4, epsilon=1e-5) }")
    rng = np.random.default_rng(6)
    gamma, beta = rng.normal(size=(2, 8)).astype("float32")
    model.layers[-1].set_weights([gamma, beta])
    norm = torch.nn.GroupNorm(4, 8, eps=1e-5)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(gamma))
        norm.bias.copy_(torch.from_numpy(beta))
        want = norm(torch.from_numpy(_channels_first(x))).numpy()
    np.testing.assert_allclose(_np(model(x)), np.moveaxis(want, 1, -1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("normalize", ["fast", "softmax", "none"])
def test_weighted_add_is_efficientdets_fusion(normalize):
    from cnndsl.backends.keras_layers import WeightedAdd
    rng = np.random.default_rng(8)
    xs = [rng.normal(size=(2, 4, 4, 3)).astype("float32") for _ in range(3)]
    w = np.array([0.7, -0.2, 1.5], "float32")
    layer = WeightedAdd(normalize)
    layer.build([x.shape for x in xs])
    layer.set_weights([w])
    if normalize == "fast":          # Tan et al. 2020, eq. (2): w_i / (eps + Σ w_j), w kept >= 0 by a ReLU
        v = np.maximum(w, 0) / (np.maximum(w, 0).sum() + 1e-4)
    elif normalize == "softmax":     # eq. (1)
        v = np.exp(w) / np.exp(w).sum()
    else:
        v = np.maximum(w, 0)
    np.testing.assert_allclose(_np(layer(xs)), sum(vi * x for vi, x in zip(v, xs)), rtol=1e-5, atol=1e-6)


def test_math_layers_equal_numpy():
    from cnndsl.backends.keras_layers import ClassToken, Divide, Elementwise, MatMul, PositionEmbedding, Reduce, Stack
    rng = np.random.default_rng(9)
    x = rng.uniform(0.5, 2.0, size=(2, 5, 4, 3)).astype("float32")
    y = rng.uniform(0.5, 2.0, size=(2, 1, 4, 1)).astype("float32")
    for fn, ref in (("abs", np.abs), ("square", np.square), ("sqrt", np.sqrt), ("exp", np.exp), ("log", np.log)):
        np.testing.assert_allclose(_np(Elementwise(fn)(x - 1.0)if fn in ("abs", "square") else Elementwise(fn)(x)),
                                   ref(x - 1.0) if fn in ("abs", "square") else ref(x), rtol=1e-5)
    np.testing.assert_allclose(_np(Elementwise("power", exponent=2.5)(x)), x ** 2.5, rtol=1e-5)
    np.testing.assert_allclose(_np(Divide()([x, y])), x / y, rtol=1e-6)
    np.testing.assert_allclose(_np(Stack(axis=2)([x, x * 2])), np.stack([x, x * 2], axis=2))
    np.testing.assert_allclose(_np(Reduce("mean", axis=[1, 2], keepdims=True)(x)), x.mean(axis=(1, 2), keepdims=True),
                               rtol=1e-6)
    np.testing.assert_allclose(_np(Reduce("max", axis=-1)(x)), x.max(axis=-1))
    np.testing.assert_allclose(_np(Reduce("sum", axis=1)(x)), x.sum(axis=1), rtol=1e-6)
    a, b = rng.normal(size=(2, 3, 6, 4)).astype("float32"), rng.normal(size=(2, 3, 5, 4)).astype("float32")
    np.testing.assert_allclose(_np(MatMul(transpose_b=True)([a, b])), a @ np.swapaxes(b, -1, -2), rtol=1e-5, atol=1e-6)
    seq = rng.normal(size=(2, 7, 3)).astype("float32")
    token = ClassToken()
    token.build(seq.shape)
    token.set_weights([np.array([[[1.0, 2.0, 3.0]]], "float32")])
    want = np.concatenate([np.broadcast_to([[[1.0, 2.0, 3.0]]], (2, 1, 3)), seq], axis=1)
    np.testing.assert_allclose(_np(token(seq)), want)
    embed = PositionEmbedding()
    embed.build(seq.shape)
    table = rng.normal(size=(7, 3)).astype("float32")
    embed.set_weights([table])
    np.testing.assert_allclose(_np(embed(seq)), seq + table, rtol=1e-6)


# --- cnndsl import reads the layers back -----------------------------------------------------------------------

@pytest.mark.parametrize("network", NETWORKS)
def test_import_reads_the_networks_back(network):
    """The compiled model, read back by ``cnndsl.from_keras``, is a spec of the same layers and weights
    that computes the same outputs."""
    import keras

    import cnndsl
    from keras_compare import randomize
    original = cnndsl.compile(REACH, network)
    randomize(original)
    text = cnndsl.from_keras(original)
    copy = cnndsl.compile(text)
    assert [type(layer).__name__ for layer in copy.layers] == [type(layer).__name__ for layer in original.layers]
    assert [layer.name for layer in copy.layers] == [layer.name for layer in original.layers]
    assert [layer.get_config() for layer in copy.layers] == [layer.get_config() for layer in original.layers]
    copy.set_weights(original.get_weights())
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(2, *t.shape[1:])).astype("float32") for t in original.inputs]
    for want, got in zip(*(m(xs if len(xs) > 1 else xs[0], training=False) for m in (original, copy))):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want))


def test_a_torchpool2d_of_an_older_file_still_loads():
    """Files saved before pools took any rank name the layer TorchPool2D, with no count_include_pad."""
    import keras
    from cnndsl.backends.keras_layers import TorchPool
    old = {"module": None, "class_name": "TorchPool2D", "registered_name": "cnndsl>TorchPool2D",
           "config": {"name": "pool", "mode": "avg", "pool_size": [3, 3], "strides": [2, 2], "padding": [1, 1],
                      "ceil_mode": True}}
    layer = keras.saving.deserialize_keras_object(old)
    x = np.random.default_rng(2).normal(size=(1, 7, 8, 2)).astype("float32")
    np.testing.assert_array_equal(_np(layer(x)), _np(TorchPool("avg", (3, 3), (2, 2), (1, 1), True)(x)))
