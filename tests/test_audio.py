"""specs/audio.cnn (issue 16's 1-D networks) against Keras transcriptions written separately
(tests/reference/m5.py, tcn.py, wavenet.py) and the papers' own figures.

M5's sizes are Table 1's (8000 x 128 after the first conv; 2000, 500, 125, 31 after the pools); its
count is 559,114 trainable parameters plus BN's 2,048 moving statistics (Table 1 rounds to 0.5M).
The transcription's layers correspond one for one: the weights are copied from the randomised
reference and every layer's output is compared within 1e-5.
"""
from __future__ import annotations

import pytest

import cnndsl
from conftest import SPECS
from keras_compare import output_differences, params, structure_differences, walk
from reference.m5 import m5
from reference.tcn import tcn
from reference.wavenet import wavenet

pytestmark = pytest.mark.slow

SPEC = SPECS / "audio.cnn"


def test_check_states_the_papers_sizes():
    graph = cnndsl.check(SPEC, "m5")
    assert (graph.total_params, graph.trainable, graph.non_trainable) == (561_162, 559_114, 2_048)
    assert round(graph.trainable / 1e6, 1) == 0.6 and graph.trainable < 0.6e6   # "0.5M", as the paper rounds
    pools = [n.shape[1] for n in graph.nodes if n.op == "maxpool"]
    assert [graph.nodes[1].shape[1], *pools] == [8000, 2000, 500, 125, 31]


def test_m5_equals_its_transcription():
    import keras
    keras.utils.set_random_seed(0)
    spec, ref = cnndsl.compile(SPEC, "m5"), m5()
    assert params(spec) == params(ref) == (561_162, 559_114, 2_048)
    s, r = walk(spec), walk(ref)
    assert structure_differences(s, r, strict=True) == []
    from keras_compare import copy_weights, randomize
    randomize(ref)
    copy_weights(s, r)
    assert output_differences(spec, ref, s, r) == []


def _max_difference(spec, ref, seed=1):
    import numpy as np
    x = np.random.default_rng(seed).normal(size=(1, *ref.inputs[0].shape[1:])).astype("float32")
    want = np.asarray(ref(x, training=False))
    assert np.abs(want).max() > 0
    return float(np.abs(np.asarray(spec(x, training=False)) - want).max())


def _compare(spec, ref, counts):
    """Counts, layers in order (strict), then every layer's output with the reference's random weights."""
    from keras_compare import copy_weights, randomize
    assert params(spec) == params(ref) == counts
    s, r = walk(spec), walk(ref)
    assert structure_differences(s, r, strict=True) == []
    randomize(ref)
    copy_weights(s, r)
    assert output_differences(spec, ref, s, r) == []
    print(f"{spec.name}: max output difference {_max_difference(spec, ref):.3g}")


# --- TCN (Bai et al. 2018) -------------------------------------------------------------------------
def test_tcn_count_is_the_papers():
    """Sequential MNIST's TCN: 8 levels of 25 channels, kernel 7: 66,510 parameters without weight
    normalisation (Table 1: "70K"), the receptive field 1 + 2 * 6 * (2**8 - 1) = 3061 > 784 pixels."""
    graph = cnndsl.check(SPEC, "tcn")
    assert (graph.total_params, graph.trainable, graph.non_trainable) == (66_510, 66_510, 0)
    assert round(graph.total_params, -4) == 70_000
    assert graph.nodes[-1].shape == (None, 10)
    dilations = [n.args["dilation"] for n in graph.nodes if n.op == "conv" and n.args["kernel"] != (1,)]
    assert dilations == [(d,) for i in range(8) for d in (2 ** i, 2 ** i)]


def test_tcn_equals_its_transcription():
    import keras
    keras.utils.set_random_seed(0)
    _compare(cnndsl.compile(SPEC, "tcn"), tcn(), (66_510, 66_510, 0))
    keras.backend.clear_session()


# --- WaveNet (van den Oord et al. 2016), ibab/tensorflow-wavenet's sizes ---------------------------
def test_wavenet_count_equals_its_transcription():
    import keras
    graph = cnndsl.check(SPEC, "wavenet")
    ref = wavenet()
    assert (graph.total_params, graph.trainable, graph.non_trainable) == params(ref) == (1_514_912, 1_514_912, 0)
    assert graph.nodes[-1].shape == tuple(ref.outputs[0].shape) == (None, 16000, 256)
    skips = next(n for n in graph.nodes if n.name == "skip_sum")
    assert len(skips.inputs) == 50 and [i.name for i in skips.inputs[:2]] == ["layer0_skip", "layer1_skip"]
    keras.backend.clear_session()


def test_wavenet_equals_its_transcription():
    """Two stacks (dilations 1..512 twice) on 1100 samples: longer than one stack's receptive field
    (1024 + 1), so every dilation sees real samples."""
    import keras
    keras.utils.set_random_seed(0)
    spec = cnndsl.compile(SPEC, "wavenet", wave=[1100, 256], stacks=2)
    ref = wavenet(input_shape=(1100, 256), stacks=2)
    _compare(spec, ref, (params(ref)[0], params(ref)[0], 0))
    keras.backend.clear_session()
