"""specs/mobilevit.cnn (MobileViT-XS, issue 16) against timm's own `mobilevit_xs`.

Convention: timm's 2,317,848 parameters are torch's (trainable); Keras counts BN's running means
and variances as non-trainable weights (8,448), which timm keeps as buffers.

Numerics: the spec compiled at 128x128 (the MobileViT blocks see 16x16, 8x8 and 4x4 maps: whole 2x2
patches, as at 256x256, so timm does not interpolate, and at least 4 patches to attend over), timm's weights (every parameter and BN
statistic randomised first) copied by module path (timm's packed qkv into Keras's
MultiHeadAttention), and the logits compared with timm's in eval mode, within 1e-5 relative to
their largest magnitude. The spec's torch build (cnndsl.to_torch) given the Keras weights
(keras_to_torch) gives the same logits: the attention over one axis (`axes=2`) on both backends.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

SPEC = SPECS / "mobilevit.cnn"
PUBLISHED = 2_317_848          # timm's mobilevit_xs, torch parameters (1000 classes)
SIZE = 128


@pytest.fixture(scope="module")
def timm_model():
    from reference.timm_models import create
    from tv import randomize
    return randomize(create("mobilevit_xs"), seed=1)


def test_check_states_timms_count(timm_model):
    from reference.harness import running_statistics
    from reference.timm_models import count
    graph = cnndsl.check(SPEC)
    assert count(timm_model) == graph.trainable == PUBLISHED
    assert graph.non_trainable == running_statistics(timm_model) == 8_448
    assert graph.nodes[-1].shape == (None, 1000)
    # the transformers attend over N = HW/4 patches for each of the P = 4 pixel positions apart
    attn = {n.name: n.shape for n in graph.nodes if n.op == "attention"}
    assert len(attn) == 2 + 4 + 3
    assert attn["stages_2_1_transformer_0_attn"] == (None, 4, 256, 96)
    assert attn["stages_4_1_transformer_2_attn"] == (None, 4, 16, 144)


def test_outputs_agree_with_timm_and_the_torch_build(timm_model):
    import keras
    import torch
    from reference.harness import keras_vs_torch
    from timm.layers.attention import Attention
    from tv import attention_copier, copy_by_name, relative_difference
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(SPEC, image=[SIZE, SIZE, 3])
    spec = cnndsl.compile(graph)
    special = {Attention: attention_copier(lambda m: (m.qkv.weight, m.qkv.bias), lambda m: m.proj)}
    copied = copy_by_name(timm_model, spec, special)
    assert sum(int(np.prod(w.shape)) for w in spec.weights) == PUBLISHED + 8_448
    assert len(copied) == len({layer.name for layer in spec.layers if layer.weights})
    x = np.random.default_rng(2).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    with torch.no_grad():
        want = timm_model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    assert np.abs(want).max() > 0.1
    timm_diff, torch_diff = relative_difference(got, want), keras_vs_torch(graph, spec, x)
    print("mobilevit_xs: timm vs Keras", timm_diff, "Keras vs torch build", torch_diff)
    assert timm_diff <= TOLERANCE
    assert torch_diff <= TOLERANCE
    keras.backend.clear_session()
