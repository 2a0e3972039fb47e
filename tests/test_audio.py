"""specs/audio.cnn (issue 16's 1-D example) against its Keras transcription (tests/reference/m5.py,
from Dai et al. 2017's Table 1) and the paper's own figures.

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
