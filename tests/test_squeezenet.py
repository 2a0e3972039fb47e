"""specs/squeezenet.cnn (SqueezeNet 1.1, issue 12) against its Keras transcription
(tests/reference/squeezenet.py, from torchvision's squeezenet.py) and torchvision's published count.

Convention: torchvision's 1,235,496 parameters are its trainable ones; SqueezeNet has no BN, so
Keras's total and trainable counts are both that figure and nothing is non-trainable.

Correspondence: the transcription writes torch's ceil-mode pool as ZeroPadding2D (only where a
window needs it) plus a 'valid' MaxPooling2D, where the spec has one TorchPool2D layer, so the two
models are not layer for layer alike. The layers with weights are: both are walked in
keras_compare's canonical order, and the layers with weights (the convs) are paired in that order,
checked alike (class, weight shapes, initializers), weights copied from the randomised reference,
and each pair's outputs compared, as are the models' outputs. That comparison runs at 227x227,
where ceil mode changes the sizes (pool1 56, pool3 28, pool5 14; floor would give 27 and 13).

A further check, independent of both Keras models: a torch module written as torchvision's code
(torch is installed in the test environment), given the spec's weights by name (the spec's layer
names are torchvision's module names), gives the same scores at 227x227.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE, output_differences, pair_weighted, params, weighted
from reference.squeezenet import squeezenet1_1

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

SPEC = SPECS / "squeezenet.cnn"
PUBLISHED = 1_235_496          # torchvision squeezenet1_1, num_params (trainable; 1000 classes)
ODD = 227                      # an input size where ceil_mode matters



@pytest.fixture(scope="module")
def pair():
    import keras
    keras.utils.set_random_seed(0)
    yield cnndsl.compile(SPEC), squeezenet1_1()
    keras.backend.clear_session()


@pytest.fixture(scope="module")
def odd_pair():
    """Spec and reference at 227x227, the reference randomised and its weights copied to the spec."""
    import keras
    keras.utils.set_random_seed(0)
    spec, ref = cnndsl.compile(SPEC, image=[ODD, ODD, 3]), squeezenet1_1((ODD, ODD, 3))
    s, r = pair_weighted(spec, ref)
    assert len(s) == 26
    yield spec, ref, s, r
    keras.backend.clear_session()


def test_check_states_the_published_figures():
    graph = cnndsl.check(SPEC)
    assert (graph.total_params, graph.trainable, graph.non_trainable) == (PUBLISHED, PUBLISHED, 0)
    assert round(graph.macs / 1e9, 2) == 0.35              # torchvision's table: 0.35 GFLOPS
    assert graph.nodes[-1].shape == (None, 1000)
    small = cnndsl.check(SPEC, classes=10)
    assert small.total_params == PUBLISHED - 513 * 990


def test_keras_params_equal_the_reference_and_torchvision(pair):
    spec, ref = pair
    assert params(spec) == params(ref) == (PUBLISHED, PUBLISHED, 0)


def test_output_shapes_equal_the_reference(pair):
    spec, ref = pair
    assert [tuple(t.shape) for t in spec.outputs] == [tuple(t.shape) for t in ref.outputs] == [(None, 1000)]


def test_the_spec_has_no_more_layers_than_the_transcription(pair):
    spec, ref = pair
    assert len(spec.layers) <= len(ref.layers)


def test_layers_with_weights_correspond(pair):
    spec, ref = (weighted(m) for m in pair)
    assert len(spec) == len(ref) == 26                          # conv1, 8 fires x 3, conv10
    for k, (s, r) in enumerate(zip(spec, ref)):
        a, b = s.operation, r.operation
        where = f"layer {k}: {a.name} vs {b.name}"
        assert type(a) is type(b), where
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], where
        assert a.get_config()["activation"] == b.get_config()["activation"] == "relu", where
        assert keras_init(a.kernel_initializer) == keras_init(b.kernel_initializer), where
        assert [tuple(t.shape) for t in s.output_tensors] == [tuple(t.shape) for t in r.output_tensors], where


def keras_init(init):
    return type(init).__name__, {k: v for k, v in init.get_config().items() if k != "seed"}


def test_ceil_mode_sizes(odd_pair):
    spec = odd_pair[0]
    pools = [spec.get_layer(name) for name in ("features_2", "features_5", "features_8")]
    assert [tuple(p.output.shape[1:3]) for p in pools] == [(56, 56), (28, 28), (14, 14)]


def test_outputs_agree_with_copied_weights(odd_pair):
    spec, ref, s, r = odd_pair
    assert output_differences(spec, ref, s, r) == []


def test_agrees_with_torch(odd_pair):
    """torchvision's SqueezeNet 1.1, written in torch here, with the spec's weights: same scores."""
    import torch   # the test command installs torch: this never skips
    nn = torch.nn

    class Fire(nn.Module):
        def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
            super().__init__()
            self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
            self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
            self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)

        def forward(self, x):
            x = torch.relu(self.squeeze(x))
            return torch.cat([torch.relu(self.expand1x1(x)), torch.relu(self.expand3x3(x))], 1)

    class SqueezeNet(nn.Module):
        def __init__(self, num_classes=1000, dropout=0.5):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256))
            self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Conv2d(512, num_classes, kernel_size=1),
                                            nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)))

        def forward(self, x):
            return torch.flatten(self.classifier(self.features(x)), 1)

    model = SqueezeNet().eval()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == PUBLISHED

    spec = odd_pair[0]
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert len(convs) == 26
    with torch.no_grad():
        for name, m in convs.items():          # the spec's layer names are torchvision's module names
            kernel, bias = spec.get_layer(name.replace(".", "_")).get_weights()
            m.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            m.bias.copy_(torch.from_numpy(bias))
        x = np.random.default_rng(2).normal(size=(2, ODD, ODD, 3)).astype("float32")
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    assert np.abs(want).max() > 0
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())
