"""specs/hrnet.cnn (HRNet-W18-small, issue 16) against timm's own `hrnet_w18_small`.

Convention: timm's 13,187,464 parameters are torch's (trainable); Keras counts BN's running means
and variances as non-trainable weights (24,032), which timm keeps as buffers.

Numerics: the spec compiled at 64x64 (streams at 16, 8, 4 and 2: every strided layer sees an even
size, where torch's padding is the spec's), timm's weights (its BN statistics randomised first)
copied by module path, and the logits compared with timm's in eval mode, within 1e-5 relative to
their largest magnitude. The spec's torch build (cnndsl.to_torch) given the Keras weights
(keras_to_torch) gives the same logits.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

SPEC = SPECS / "hrnet.cnn"
PUBLISHED = 13_187_464         # timm's hrnet_w18_small, torch parameters (1000 classes)
SIZE = 64


@pytest.fixture(scope="module")
def timm_model():
    from reference.harness import timm_reference
    return timm_reference("hrnet_w18_small")


def test_check_states_timms_count(timm_model):
    from reference.harness import running_statistics
    from reference.timm_models import count
    graph = cnndsl.check(SPEC)
    assert count(timm_model) == graph.trainable == PUBLISHED
    assert graph.non_trainable == running_statistics(timm_model) == 24_032
    assert graph.nodes[-1].shape == (None, 1000)


def test_the_exchange_units_are_timms(timm_model):
    """Every conv of timm's (transitions, branches, fuse layers, head) is the spec's, by name and width."""
    graph = cnndsl.check(SPEC)
    spec_convs = {n.name: n.args["filters"] for n in graph.nodes if n.op == "conv"}
    timm_convs = {name.replace(".", "_"): m.out_channels for name, m in timm_model.named_modules()
                  if type(m).__name__ == "Conv2d"}
    assert spec_convs == timm_convs
    ups = {n.name: n.args["size"] for n in graph.nodes if n.op == "upsample"}
    assert ups["stage4_0_fuse_layers_0_3_2"] in (8, (8, 8), [8, 8])     # stream 3 into stream 0: x8


def test_outputs_agree_with_timm_and_the_torch_build(timm_model):
    import keras
    from reference.harness import keras_vs_torch, timm_vs_spec
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(SPEC, image=[SIZE, SIZE, 3])
    spec = cnndsl.compile(graph)
    x = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    timm_diff = timm_vs_spec(timm_model, spec, x)
    torch_diff = keras_vs_torch(graph, spec, x)
    print("hrnet_w18_small: timm vs Keras", timm_diff, "Keras vs torch build", torch_diff)
    assert timm_diff <= TOLERANCE
    assert torch_diff <= TOLERANCE
    keras.backend.clear_session()
