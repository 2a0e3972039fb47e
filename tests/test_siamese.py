"""specs/siamese.cnn (Koch et al. 2015, issue 16) against its Keras transcription
(tests/reference/siamese.py) and the parameter count derived from the paper's Figure 4.

The transcription is the usual Keras form of the paper: the encoder one nested Sequential model
called on both inputs, the L1 distance a Lambda. The spec's Keras model has no nested model: its
`shared enc` calls the same layer objects twice. So the models are compared by layer name (the
spec's names are the reference's), weights copied from the reference to the spec, and outputs
compared on random image pairs.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE

pytestmark = pytest.mark.slow      # builds Keras models: not in the quick tier

SPEC = SPECS / "siamese.cnn"
# Figure 4: convs 10x10x1x64, 7x7x64x128, 4x4x128x128, 4x4x128x256 (with biases), 9216 -> 4096, 4096 -> 1.
PAPER = (10 * 10 * 1 * 64 + 64) + (7 * 7 * 64 * 128 + 128) + (4 * 4 * 128 * 128 + 128) \
    + (4 * 4 * 128 * 256 + 256) + (6 * 6 * 256 * 4096 + 4096) + (4096 + 1)
WEIGHTED = ("conv1", "conv2", "conv3", "conv4", "fc", "similarity")


@pytest.fixture(scope="module")
def pair():
    import keras
    from reference.siamese import siamese
    keras.utils.set_random_seed(0)
    spec, ref = cnndsl.compile(SPEC), siamese()
    yield spec, ref
    keras.backend.clear_session()


def _layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return model.get_layer("encoder").get_layer(name)


def test_check_states_the_paper_count():
    graph = cnndsl.check(SPEC)
    assert PAPER == 38_951_745
    assert (graph.total_params, graph.trainable, graph.non_trainable) == (PAPER, PAPER, 0)
    assert graph.nodes[-1].shape == (None, 1)


def test_keras_counts_equal_the_reference(pair):
    spec, ref = pair
    assert spec.count_params() == ref.count_params() == PAPER


def test_the_encoder_is_shared(pair):
    """One set of encoder weights, called on both inputs."""
    spec, ref = pair
    for model in pair:
        assert [tuple(t.shape) for t in model.inputs] == [(None, 105, 105, 1)] * 2
        assert tuple(model.outputs[0].shape) == (None, 1)
    conv1 = spec.get_layer("conv1")
    assert len(conv1._inbound_nodes) == 2
    assert len({id(layer) for layer in spec.layers}) == len(spec.layers)


def test_layers_correspond(pair):
    spec, ref = pair
    for name in WEIGHTED:
        s, r = spec.get_layer(name), _layer(ref, name)
        assert type(s) is type(r), name
        assert [w.shape for w in s.get_weights()] == [w.shape for w in r.get_weights()], name
        for key in ("kernel_size", "strides", "padding", "activation", "units"):
            assert s.get_config().get(key) == r.get_config().get(key), (name, key)
        for key in ("kernel_initializer", "bias_initializer"):
            si, ri = getattr(s, key), getattr(r, key)
            strip = lambda c: {k: v for k, v in c.items() if k != "seed"}   # noqa: E731
            assert (type(si), strip(si.get_config())) == (type(ri), strip(ri.get_config())), (name, key)
    for name in ("pool1", "pool2", "pool3"):
        assert spec.get_layer(name).get_config()["pool_size"] == _layer(ref, name).get_config()["pool_size"]


def test_outputs_agree_with_copied_weights(pair):
    import keras
    spec, ref = pair
    rng = np.random.default_rng(1)
    for name in WEIGHTED:     # the reference's weights, perturbed, copied to the spec by name
        r = _layer(ref, name)
        r.set_weights([w + rng.normal(0, 1e-3, w.shape).astype("float32") for w in r.get_weights()])
        spec.get_layer(name).set_weights(r.get_weights())
    a, b = (rng.uniform(0, 1, (4, 105, 105, 1)).astype("float32") for _ in range(2))
    distance = [np.asarray(keras.Model(m.inputs, m.get_layer("l1").output)([a, b])) for m in (spec, ref)]
    assert np.abs(distance[1]).max() > 1e-2                 # the two encodings differ
    assert np.abs(distance[0] - distance[1]).max() <= TOLERANCE
    want, got = np.asarray(ref([a, b])), np.asarray(spec([a, b]))
    assert np.abs(got - want).max() <= TOLERANCE
    # the L1 distance is symmetric, and the same image twice gives distance 0
    assert np.abs(np.asarray(spec([b, a])) - got).max() <= TOLERANCE
    same = np.asarray(spec([a, a]))
    bias = spec.get_layer("similarity").get_weights()[1]
    assert np.allclose(same, 1 / (1 + np.exp(-bias)), atol=TOLERANCE)
