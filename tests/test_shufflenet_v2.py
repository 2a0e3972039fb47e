"""specs/shufflenet_v2.cnn (ShuffleNetV2 0.5x - 2.0x, issue 12) against its Keras transcription
(tests/reference/shufflenet_v2.py, from torchvision's shufflenetv2.py) and torchvision's published
counts.

Convention: torchvision's counts (0.5x 1,366,792; 1.0x 2,278,604; 1.5x 3,503,624; 2.0x 7,393,996)
are its trainable parameters (torch keeps BN's running mean and variance as buffers); Keras counts
those as non-trainable weights, so each published figure is Keras's trainable count. All four
scales are checked: by cnndsl.check and by the transcription's Keras model.

Correspondence: the transcription writes torch's padding as ZeroPadding2D and a 'valid' layer
(the stride-1 depthwise convs included, where the spec uses 'same', and the max pool, where the
spec has its TorchPool2D layer), the split as keras.ops.split (the spec: its Split layer) and the
channel shuffle as Reshape - Permute - Reshape (the spec: its ChannelShuffle layer), so the two
models are not layer for layer alike. The layers with weights are: both are walked in
keras_compare's canonical order (concatenation order kept) and the layers with weights (convs,
depthwise convs, BNs, the fc) paired in that order, checked alike (class, weight shapes, strides,
epsilon, momentum, initializers), weights copied from the randomised reference, and each pair's
outputs compared, as are the models' outputs (1.0x, 224x224: every strided conv sees an even size,
where 'same' would pad differently from torch). The spec compiles to fewer Keras layers.

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
from reference.shufflenet_v2 import STAGE_OUT_CHANNELS, shufflenet_v2

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

SPEC = SPECS / "shufflenet_v2.cnn"
# torchvision's shufflenet_v2_x*: num_params (trainable; 1000 classes) and GFLOPS (its `_ops`).
PUBLISHED = {0.5: (1_366_792, 0.04), 1.0: (2_278_604, 0.145), 1.5: (3_503_624, 0.296), 2.0: (7_393_996, 0.583)}



@pytest.fixture(scope="module")
def pair():
    """Spec and reference, 1.0x at 224x224, the reference randomised and its weights copied over."""
    import keras
    keras.utils.set_random_seed(0)
    spec, ref = cnndsl.compile(SPEC), shufflenet_v2(1.0)
    s, r = pair_weighted(spec, ref)
    yield spec, ref, s, r
    keras.backend.clear_session()


@pytest.mark.parametrize("scale", PUBLISHED)
def test_check_states_the_published_figures(scale):
    trainable, gflops = PUBLISHED[scale]
    graph = cnndsl.check(SPEC, scale=scale)
    assert graph.trainable == trainable
    assert round(graph.macs / 1e9, 3) == gflops
    assert graph.nodes[-1].shape == (None, 1000)


@pytest.mark.parametrize("scale", [0.5, 1.5, 2.0])
def test_the_transcription_has_the_published_counts(scale):
    """Each scale's Keras transcription: torchvision's count as trainable, BN statistics as cnndsl says."""
    import keras
    graph = cnndsl.check(SPEC, scale=scale)
    assert params(shufflenet_v2(scale)) == (graph.total_params, PUBLISHED[scale][0], graph.non_trainable)
    keras.backend.clear_session()


def test_an_unknown_scale_is_an_error():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(SPEC, scale=0.75)
    assert "scale must be 0.5, 1.0, 1.5 or 2.0" in e.value.message


def test_keras_params_equal_the_reference_and_torchvision(pair):
    spec, ref = pair[:2]
    graph = cnndsl.check(SPEC)
    assert params(spec) == params(ref) == (graph.total_params, PUBLISHED[1.0][0], graph.non_trainable)
    assert graph.non_trainable == 16_180


def test_output_shapes_equal_the_reference(pair):
    spec, ref = pair[:2]
    assert [tuple(t.shape) for t in spec.outputs] == [tuple(t.shape) for t in ref.outputs] == [(None, 1000)]
    assert spec.get_layer("conv5_2").output.shape == (None, 7, 7, 1024)


def test_the_spec_has_fewer_layers_than_the_transcription(pair):
    spec, ref = pair[:2]
    assert len(spec.layers) < len(ref.layers)


def _rounded(v):
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items() if k != "seed"}
    return round(v, 12) if isinstance(v, float) else v


def _config(layer) -> dict:
    keep = ("strides", "groups", "kernel_size", "use_bias", "epsilon", "momentum", "activation", "depth_multiplier")
    return {k: _rounded(v) for k, v in layer.get_config().items() if k in keep or k.endswith("_initializer")}


def test_layers_with_weights_correspond(pair):
    spec, ref = pair[2:]
    assert len(spec) == len(ref) == 2 + 3 * 10 + 13 * 6 + 2 + 1    # stem, 3 strided and 13 basic units, conv5, fc
    assert pair_differences(spec, ref, _config) == []


def test_outputs_agree_with_copied_weights(pair):
    spec, ref, s, r = pair
    assert output_differences(spec, ref, s, r) == []


def test_agrees_with_torch(pair):
    """torchvision's ShuffleNetV2 1.0x, written in torch here, with the spec's weights: same logits."""
    import torch   # the test command installs torch: this never skips
    nn = torch.nn

    def channel_shuffle(x, groups):
        batchsize, num_channels, height, width = x.size()
        x = x.view(batchsize, groups, num_channels // groups, height, width)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(batchsize, num_channels, height, width)

    def depthwise_conv(i, o, kernel_size, stride=1, padding=0, bias=False):
        return nn.Conv2d(i, o, kernel_size, stride, padding, bias=bias, groups=i)

    class InvertedResidual(nn.Module):
        def __init__(self, inp, oup, stride):
            super().__init__()
            self.stride = stride
            branch_features = oup // 2
            if stride > 1:
                self.branch1 = nn.Sequential(
                    depthwise_conv(inp, inp, kernel_size=3, stride=stride, padding=1), nn.BatchNorm2d(inp),
                    nn.Conv2d(inp, branch_features, 1, 1, 0, bias=False), nn.BatchNorm2d(branch_features),
                    nn.ReLU(inplace=True))
            else:
                self.branch1 = nn.Sequential()
            self.branch2 = nn.Sequential(
                nn.Conv2d(inp if stride > 1 else branch_features, branch_features, 1, 1, 0, bias=False),
                nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True),
                depthwise_conv(branch_features, branch_features, kernel_size=3, stride=stride, padding=1),
                nn.BatchNorm2d(branch_features),
                nn.Conv2d(branch_features, branch_features, 1, 1, 0, bias=False),
                nn.BatchNorm2d(branch_features), nn.ReLU(inplace=True))

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return channel_shuffle(out, 2)

    class ShuffleNetV2(nn.Module):
        def __init__(self, stages_repeats, stages_out_channels, num_classes=1000):
            super().__init__()
            input_channels, output_channels = 3, stages_out_channels[0]
            self.conv1 = nn.Sequential(nn.Conv2d(input_channels, output_channels, 3, 2, 1, bias=False),
                                       nn.BatchNorm2d(output_channels), nn.ReLU(inplace=True))
            input_channels = output_channels
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            for name, repeats, output_channels in zip(["stage2", "stage3", "stage4"], stages_repeats,
                                                      stages_out_channels[1:]):
                seq = [InvertedResidual(input_channels, output_channels, 2)]
                seq += [InvertedResidual(output_channels, output_channels, 1) for _ in range(repeats - 1)]
                setattr(self, name, nn.Sequential(*seq))
                input_channels = output_channels
            output_channels = stages_out_channels[-1]
            self.conv5 = nn.Sequential(nn.Conv2d(input_channels, output_channels, 1, 1, 0, bias=False),
                                       nn.BatchNorm2d(output_channels), nn.ReLU(inplace=True))
            self.fc = nn.Linear(output_channels, num_classes)

        def forward(self, x):
            x = self.maxpool(self.conv1(x))
            x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
            return self.fc(x.mean([2, 3]))

    model = ShuffleNetV2([4, 8, 4], STAGE_OUT_CHANNELS[1.0]).eval()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == PUBLISHED[1.0][0]

    spec = pair[0]
    with torch.no_grad():
        for name, m in model.named_modules():    # the spec's layer names are torchvision's module names
            if not isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
                continue
            w = spec.get_layer(name.replace(".", "_")).get_weights()
            if isinstance(m, nn.Conv2d):         # (k, k, in, out) or, depthwise, (k, k, C, 1)
                order = (2, 3, 0, 1) if m.groups > 1 else (3, 2, 0, 1)
                m.weight.copy_(torch.from_numpy(w[0].transpose(order).copy()))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.from_numpy(w[0].T.copy()))
                m.bias.copy_(torch.from_numpy(w[1]))
            else:
                for tensor, value in zip((m.weight, m.bias, m.running_mean, m.running_var), w):
                    tensor.copy_(torch.from_numpy(value))
        x = np.random.default_rng(2).normal(size=(2, 224, 224, 3)).astype("float32")
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    assert np.abs(want).max() > 0
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())
