"""specs/resnext.cnn (ResNeXt-50 32x4d, issue 12) against its Keras transcription
(tests/reference/resnext.py, from torchvision's resnet.py) and torchvision's published count.

Convention: torchvision's 25,028,904 parameters are its trainable ones (torch keeps BN's running
mean and variance as buffers); Keras counts those as non-trainable weights, 68,224 here, so the
published figure is Keras's trainable count and the total is 25,097,128.

Correspondence: the transcription writes every torch padding as ZeroPadding2D and a 'valid' layer
(the 3x3 convs at stride 1 included, where the spec uses 'same', and the max pool, where the spec
has its TorchPool2D layer), so the two models are not layer for layer alike. The layers with
weights are: both are walked in keras_compare's canonical order and the layers with weights
(convs, BNs, the fc) paired in that order, checked alike (class, weight shapes, strides, groups,
epsilon, momentum, initializers), weights copied from the randomised reference, and each pair's
outputs compared, as are the models' outputs.

Size: the Keras models are built at 128x128 to keep this file fast (every stride-2 conv sees an
even size there, where 'same' would pad differently from torch); parameters do not depend on the
input size, and cnndsl.check states the figures at the default 224x224.

A further check, independent of both Keras models: a torch module written as torchvision's code
(torch is installed in the test environment), given the spec's weights by name (the spec's layer
names are torchvision's module names), gives the same logits.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE, output_differences, pair_differences, pair_weighted, params
from reference.resnext import resnext50_32x4d

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

SPEC = SPECS / "resnext.cnn"
PUBLISHED = 25_028_904         # torchvision resnext50_32x4d, num_params (trainable; 1000 classes)
BN_STATISTICS = 68_224         # Keras's non-trainable: BN moving means and variances
SIZE = 128                     # the input size of the numeric checks



@pytest.fixture(scope="module")
def pair():
    """Spec and reference at 128x128, the reference randomised and its weights copied to the spec
    (parameters do not depend on the input size; cnndsl.check states the figures at 224x224)."""
    import keras
    keras.utils.set_random_seed(0)
    spec, ref = cnndsl.compile(SPEC, image=[SIZE, SIZE, 3]), resnext50_32x4d((SIZE, SIZE, 3))
    s, r = pair_weighted(spec, ref)
    yield spec, ref, s, r
    keras.backend.clear_session()


def test_check_states_the_published_figures():
    graph = cnndsl.check(SPEC)
    assert (graph.trainable, graph.non_trainable) == (PUBLISHED, BN_STATISTICS)
    assert round(graph.macs / 1e9, 2) == 4.23             # torchvision's table: 4.23 GFLOPS
    assert graph.nodes[-1].shape == (None, 1000)


# torchvision's other bottleneck ResNets from the same parameters: (depths, groups, width_per_group)
# -> (num_params, GFLOPS), as torchvision's model tables publish them.
OTHERS = {
    "resnet50": (([3, 4, 6, 3], 1, 64), 25_557_032, 4.09),
    "resnet101": (([3, 4, 23, 3], 1, 64), 44_549_160, 7.8),
    "resnet152": (([3, 8, 36, 3], 1, 64), 60_192_808, 11.51),
    "resnext101_32x8d": (([3, 4, 23, 3], 32, 8), 88_791_336, 16.41),
    "resnext101_64x4d": (([3, 4, 23, 3], 64, 4), 83_455_272, 15.46),
    "wide_resnet50_2": (([3, 4, 6, 3], 1, 128), 68_883_240, 11.4),
    "wide_resnet101_2": (([3, 4, 23, 3], 1, 128), 126_886_696, 22.75),
}


@pytest.mark.parametrize("name", OTHERS)
def test_the_other_torchvision_bottleneck_resnets(name):
    (depths, groups, width), published, gflops = OTHERS[name]
    graph = cnndsl.check(SPEC, depths=depths, groups=groups, width_per_group=width)
    assert graph.trainable == published
    assert round(graph.macs / 1e9, 2) == gflops


def test_keras_params_equal_the_reference_and_torchvision(pair):
    spec, ref = pair[:2]
    assert params(spec) == params(ref) == (PUBLISHED + BN_STATISTICS, PUBLISHED, BN_STATISTICS)


def test_output_shapes_equal_the_reference(pair):
    spec, ref = pair[:2]
    assert [tuple(t.shape) for t in spec.outputs] == [tuple(t.shape) for t in ref.outputs] == [(None, 1000)]
    assert spec.get_layer("layer4_2_out").output.shape == (None, SIZE // 32, SIZE // 32, 2048)


def test_the_spec_has_no_more_layers_than_the_transcription(pair):
    spec, ref = pair[:2]
    assert len(spec.layers) <= len(ref.layers)


def _config(layer) -> dict:
    keep = ("strides", "groups", "kernel_size", "use_bias", "epsilon", "momentum", "activation")
    config = {k: v for k, v in layer.get_config().items() if k in keep}
    for key in ("kernel_initializer", "bias_initializer"):
        if key in layer.get_config():
            init = getattr(layer, key)
            config[key] = (type(init).__name__, {k: round(v, 12) if isinstance(v, float) else v
                                                 for k, v in init.get_config().items() if k != "seed"})
    return config


def test_layers_with_weights_correspond(pair):
    spec, ref = pair[2:]
    assert len(spec) == len(ref) == 1 + 1 + 16 * 6 + 4 * 2 + 1      # stem conv+BN, 16 blocks, 4 projections, fc
    assert pair_differences(spec, ref, _config) == []


def test_outputs_agree_with_copied_weights(pair):
    spec, ref, s, r = pair
    assert output_differences(spec, ref, s, r) == []


def test_agrees_with_torch(pair):
    """torchvision's ResNeXt-50 32x4d, written in torch here, with the spec's weights: same logits."""
    import torch   # the test command installs torch: this never skips
    nn = torch.nn

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
            super().__init__()
            width = int(planes * (base_width / 64.0)) * groups
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * self.expansion)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)

    class ResNet(nn.Module):
        def __init__(self, layers, num_classes=1000, groups=32, width_per_group=4):
            super().__init__()
            self.inplanes, self.groups, self.base_width = 64, groups, width_per_group
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], stride=2)
            self.layer3 = self._make_layer(256, layers[2], stride=2)
            self.layer4 = self._make_layer(512, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
                downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                           nn.BatchNorm2d(planes * 4))
            layers = [Bottleneck(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
            self.inplanes = planes * Bottleneck.expansion
            layers += [Bottleneck(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
                       for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    model = ResNet([3, 4, 6, 3]).eval()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == PUBLISHED

    spec = pair[0]
    with torch.no_grad():
        for name, m in model.named_modules():    # the spec's layer names are torchvision's module names
            if not isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
                continue
            w = spec.get_layer(name.replace(".", "_")).get_weights()
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(torch.from_numpy(w[0].transpose(3, 2, 0, 1).copy()))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.from_numpy(w[0].T.copy()))
                m.bias.copy_(torch.from_numpy(w[1]))
            else:
                for tensor, value in zip((m.weight, m.bias, m.running_mean, m.running_var), w):
                    tensor.copy_(torch.from_numpy(value))
        x = np.random.default_rng(2).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    assert np.abs(want).max() > 0
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())
