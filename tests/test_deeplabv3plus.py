"""specs/deeplabv3plus.cnn (issue 12) against its Keras transcription (tests/reference/deeplabv3plus.py:
the keras.io example "Multiclass semantic segmentation using DeepLabV3+", keras.applications.ResNet50
as its backbone) and the example's printed summary.

Parameter convention: Keras's on both sides. The example's summary (20 classes, 512x512): 11,857,236
total, 11,824,500 trainable, 32,736 non-trainable (the BN moving means and variances). With 21
classes the final 1x1 conv has 257 more: 11,857,493.

Correspondence: the spec's backbone is the zoo's ResNet-50 blocks, with Keras's layer names; the
transcription's is keras.applications.ResNet50 itself. The models are not node for node alike: the
example's preprocessing is bare ops (a stack of three channel slices, an add) where the spec has a
Split, a Concatenate and a Normalization layer; its ReLUs are the bare op keras.ops.nn.relu where the
spec has Activation layers; its image pooling is AveragePooling2D over the whole map where the spec
has GlobalAveragePooling2D(keepdims=True). The layers with weights correspond: both models are walked
in keras_compare's canonical order and the layers with weights paired in that order (103 each: the
backbone's convs and BNs up to conv4_block6_2, then the head's), checked alike (class, weight shapes,
and the same name wherever Keras's backbone names the layer), the randomised reference's weights
copied across, and each pair's output compared, relative to the reference's magnitude, as is the
model's output (the example's caffe preprocessing makes activations of order 100, where float32
rounding alone exceeds an absolute 1e-5).

Sizes: checked at 512x512 (the example's) and 513x513 (DeepLab's), by cnndsl.check and by compiling
both models; outputs compared at 129x129 (odd sizes, as at 513: the low-level map is 33x33 where 4x
the ASPP's 9x9 is 36, so only a resize to the skip's size fits) and at 128x128 against the example's
own code unchanged (integer-factor UpSampling2D, which bilinear Resizing equals where the factors
divide); at 513x513 the models' outputs only (every layer's outputs at that size would take GBs).

All comparisons call the models with training=False: in Keras 3, a model holding a Resizing layer
and called with no `training` argument runs the BatchNormalization layers after it in training mode
(Resizing's call defaults to training=True, and that value reaches the layers called after it).
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE, auto_named, params, randomize, weighted
from reference.deeplabv3plus import DeeplabV3Plus

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

SPEC = SPECS / "deeplabv3plus.cnn"
EXAMPLE = (11_857_236, 11_824_500, 32_736)     # keras.io's summary, 20 classes
HEAD_PER_CLASS = 257                            # the final 1x1 conv: 256 weights and a bias per class



def build(size, resize=True, classes=21):
    import keras
    keras.utils.set_random_seed(0)
    spec = cnndsl.compile(SPEC, image=[size, size, 3], classes=classes)
    ref = DeeplabV3Plus((size, size), num_classes=classes, resize=resize)
    return spec, ref


def assert_corresponding(spec, ref):
    s, r = weighted(spec), weighted(ref)
    assert len(s) == len(r) == 103
    for a, b in zip(s, r):
        x, y = a.operation, b.operation
        where = f"{x.name} vs {y.name}"
        assert type(x) is type(y), where
        assert [w.shape for w in x.weights] == [w.shape for w in y.weights], where
        assert [tuple(t.shape) for t in a.output_tensors] == [tuple(t.shape) for t in b.output_tensors], where
        assert auto_named(y) or x.name == y.name, where        # the backbone: Keras's names on both sides
    named = [b.operation.name for b in r if not auto_named(b.operation)]
    assert "conv4_block6_2_conv" in named and "conv2_block3_2_conv" in named and "conv5_block1_1_conv" not in named
    return s, r


def assert_same_outputs(spec, ref, s, r, size, seed=1):
    import keras
    randomize(ref)
    for a, b in zip(s, r):
        a.operation.set_weights(b.operation.get_weights())
    x = np.random.default_rng(seed).uniform(0, 255, size=(1, size, size, 3)).astype("float32")
    outs = []
    for model, nodes in ((spec, s), (ref, r)):
        probe = keras.Model(model.inputs, [n.output_tensors[0] for n in nodes] + list(model.outputs))
        outs.append([np.asarray(v) for v in probe(x, training=False)])
    names = [n.operation.name for n in s] + ["output"]
    for name, got, want in zip(names, *outs):
        assert got.shape == want.shape, name
        assert np.all(np.isfinite(want)) and np.abs(want).max() > 0, name
        assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max()), name


@pytest.fixture(autouse=True)
def _free_keras_state():
    yield
    import keras
    keras.backend.clear_session()


@pytest.mark.parametrize("size, stages", [(512, [256, 128, 64, 32]), (513, [257, 129, 65, 33])])
def test_check_states_the_examples_figures(size, stages):
    graph = cnndsl.check(SPEC, image=[size, size, 3])
    total, trainable, frozen = EXAMPLE
    assert (graph.total_params, graph.trainable, graph.non_trainable) == \
        (total + HEAD_PER_CLASS, trainable + HEAD_PER_CLASS, frozen)
    assert graph.nodes[-1].shape == (None, size, size, 21)
    shape = {n.name: n.shape for n in graph.nodes}
    assert [shape[k][1] for k in ("conv1_conv", "conv2_block3_2_relu", "conv3_block4_out", "conv4_block6_2_relu")] \
        == stages
    assert shape["decoder_up"] == (None, stages[1], stages[1], 256)      # resized to the low-level map
    assert shape["aspp_pool_resize"] == (None, stages[3], stages[3], 256)
    example = cnndsl.check(SPEC, image=[size, size, 3], classes=20)
    assert (example.total_params, example.trainable, example.non_trainable) == EXAMPLE


def test_without_preprocessing():
    graph = cnndsl.check(SPEC, include_preprocessing=False)
    assert graph.total_params == EXAMPLE[0] + HEAD_PER_CLASS
    assert not any(n.name.startswith("preprocess") for n in graph.nodes)


def test_keras_at_513_equals_the_transcription():
    spec, ref = build(513)
    assert params(spec) == params(ref) == (EXAMPLE[0] + HEAD_PER_CLASS, EXAMPLE[1] + HEAD_PER_CLASS, EXAMPLE[2])
    assert [tuple(t.shape) for t in spec.outputs] == [tuple(t.shape) for t in ref.outputs] == [(None, 513, 513, 21)]
    s, r = assert_corresponding(spec, ref)
    randomize(ref)
    for a, b in zip(s, r):
        a.operation.set_weights(b.operation.get_weights())
    x = np.random.default_rng(3).uniform(0, 255, size=(1, 513, 513, 3)).astype("float32")
    got, want = np.asarray(spec(x, training=False)), np.asarray(ref(x, training=False))
    assert np.abs(want).max() > 0
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())


def test_keras_at_512_equals_the_example_unchanged():
    spec, ref = build(512, resize=False, classes=20)
    assert params(spec) == params(ref) == EXAMPLE
    assert [tuple(t.shape) for t in spec.outputs] == [tuple(t.shape) for t in ref.outputs] == [(None, 512, 512, 20)]
    assert_corresponding(spec, ref)


def test_the_example_fails_at_513():
    """The example's integer-factor upsampling cannot meet the 129x129 low-level map at 513x513."""
    with pytest.raises(ValueError):
        DeeplabV3Plus((513, 513), resize=False)


def test_outputs_agree_at_129():
    spec, ref = build(129)
    s, r = assert_corresponding(spec, ref)
    assert_same_outputs(spec, ref, s, r, 129)


def test_outputs_agree_with_the_example_unchanged_at_128():
    spec, ref = build(128, resize=False)
    s, r = assert_corresponding(spec, ref)
    assert_same_outputs(spec, ref, s, r, 128)
