"""specs/ghostnet.cnn (GhostNet 1.0x, issue 12) against its Keras transcription
(tests/reference/ghostnet.py, from the authors' ghostnet_pytorch/ghostnet.py), against a torch model
written as the authors' code, and against the authors' parameter count.

Convention: the authors' code has 5,182,508 parameters with 1000 classes, all trainable (torch holds
BN's running statistics as buffers, not parameters; timm's ghostnet_100 lists 5.18M, the paper 5.2M).
That is Keras's trainable count; Keras adds BN's moving mean and variance as 21,968 non-trainable
parameters (5,204,476 in all). MACs: 141M, the paper's Table 1 FLOPs.

Correspondence: the transcription writes the SE's hard sigmoid as keras.ops (relu6(x + 3) / 6) and
the Ghost module's slice as a tensor slice (bare ops), where the spec has an Activation layer and no
slice (it cuts nothing); so the models are not node for node alike. The layers with weights are: both
are walked in keras_compare's canonical order, the layers with weights (convs, depthwise convs, BNs,
the classifier) paired in that order, checked alike (class, weight shapes, output shapes), the
randomised reference's weights copied across, and every pair's output compared, as is the models'
output. The torch model gets the spec's weights by name (the spec's layer names are the authors'
module paths) and gives the same logits.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE, output_differences, pair_weighted, params
from reference.ghostnet import ghostnet

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

SPEC = SPECS / "ghostnet.cnn"
AUTHORS = 5_182_508          # the authors' ghostnet(), 1000 classes: all trainable
BN_STATS = 21_968            # BN moving means and variances: Keras's non-trainable
SIZE = 224



@pytest.fixture(scope="module")
def pair():
    """Spec and reference at 224x224, the reference randomised and its weights copied to the spec."""
    import keras
    keras.utils.set_random_seed(0)
    spec, ref = cnndsl.compile(SPEC), ghostnet()
    s, r = pair_weighted(spec, ref)
    yield spec, ref, s, r
    keras.backend.clear_session()


def test_check_states_the_authors_figures():
    graph = cnndsl.check(SPEC)
    assert (graph.total_params, graph.trainable, graph.non_trainable) == (AUTHORS + BN_STATS, AUTHORS, BN_STATS)
    assert round(graph.macs / 1e6) == 141                       # the paper's Table 1: 141M FLOPs
    assert graph.nodes[-1].shape == (None, 1000)
    assert cnndsl.check(SPEC, classes=10).trainable == AUTHORS - 1281 * 990
    assert not any(n.op == "slice" for n in graph.nodes)         # the Ghost modules' slice cuts nothing


@pytest.mark.parametrize("width, trainable, stats", [(0.5, 2_587_292, 10_984), (1.3, 7_358_820, 28_536)])
def test_other_widths_equal_the_transcription(width, trainable, stats):
    """The authors' width multiplier (the paper's 0.5x and 1.3x): torch's counts, from the code below."""
    import keras
    graph = cnndsl.check(SPEC, width=width)
    assert (graph.trainable, graph.non_trainable) == (trainable, stats)
    assert params(ghostnet(width=width))[1:] == (trainable, stats)
    keras.backend.clear_session()


def test_keras_params_equal_the_reference_and_the_authors(pair):
    spec, ref = pair[:2]
    assert params(spec) == params(ref) == (AUTHORS + BN_STATS, AUTHORS, BN_STATS)
    assert [tuple(t.shape) for t in spec.outputs] == [tuple(t.shape) for t in ref.outputs] == [(None, 1000)]


def test_layers_with_weights_correspond(pair):
    _, _, s, r = pair
    assert len(s) == len(r) == 176
    for a, b in zip(s, r):
        x, y = a.operation, b.operation
        where = f"{x.name} vs {y.name}"
        assert type(x) is type(y), where
        assert [w.shape for w in x.weights] == [w.shape for w in y.weights], where
        assert [tuple(t.shape) for t in a.output_tensors] == [tuple(t.shape) for t in b.output_tensors], where
        if type(x).__name__ == "BatchNormalization":
            assert (x.epsilon, x.momentum) == (y.epsilon, y.momentum) == (1e-5, 0.9), where


def test_outputs_agree_with_copied_weights(pair):
    spec, ref, s, r = pair
    assert output_differences(spec, ref, s, r) == []


def _authors_ghostnet():
    """The authors' ghostnet_pytorch/ghostnet.py, as there; left out: comments, hard_sigmoid's inplace
    branch, and the arguments the network never sets (act_layer, gate_fn, reduced_base_chs)."""
    import math
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def _make_divisible(v, divisor, min_value=None):
        if min_value is None:
            min_value = divisor
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        if new_v < 0.9 * v:
            new_v += divisor
        return new_v

    def hard_sigmoid(x):
        return F.relu6(x + 3.) / 6.

    class SqueezeExcite(nn.Module):
        def __init__(self, in_chs, se_ratio=0.25, divisor=4):
            super().__init__()
            reduced_chs = _make_divisible(in_chs * se_ratio, divisor)
            self.avg_pool = nn.AdaptiveAvgPool2d(1)
            self.conv_reduce = nn.Conv2d(in_chs, reduced_chs, 1, bias=True)
            self.act1 = nn.ReLU(inplace=True)
            self.conv_expand = nn.Conv2d(reduced_chs, in_chs, 1, bias=True)

        def forward(self, x):
            x_se = self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x))))
            return x * hard_sigmoid(x_se)

    class ConvBnAct(nn.Module):
        def __init__(self, in_chs, out_chs, kernel_size, stride=1):
            super().__init__()
            self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, bias=False)
            self.bn1 = nn.BatchNorm2d(out_chs)
            self.act1 = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.act1(self.bn1(self.conv(x)))

    class GhostModule(nn.Module):
        def __init__(self, inp, oup, kernel_size=1, ratio=2, dw_size=3, stride=1, relu=True):
            super().__init__()
            self.oup = oup
            init_channels = math.ceil(oup / ratio)
            new_channels = init_channels * (ratio - 1)
            self.primary_conv = nn.Sequential(
                nn.Conv2d(inp, init_channels, kernel_size, stride, kernel_size // 2, bias=False),
                nn.BatchNorm2d(init_channels), nn.ReLU(inplace=True) if relu else nn.Sequential())
            self.cheap_operation = nn.Sequential(
                nn.Conv2d(init_channels, new_channels, dw_size, 1, dw_size // 2, groups=init_channels, bias=False),
                nn.BatchNorm2d(new_channels), nn.ReLU(inplace=True) if relu else nn.Sequential())

        def forward(self, x):
            x1 = self.primary_conv(x)
            x2 = self.cheap_operation(x1)
            return torch.cat([x1, x2], dim=1)[:, :self.oup, :, :]

    class GhostBottleneck(nn.Module):
        def __init__(self, in_chs, mid_chs, out_chs, dw_kernel_size=3, stride=1, se_ratio=0.):
            super().__init__()
            has_se = se_ratio is not None and se_ratio > 0.
            self.stride = stride
            self.ghost1 = GhostModule(in_chs, mid_chs, relu=True)
            if self.stride > 1:
                self.conv_dw = nn.Conv2d(mid_chs, mid_chs, dw_kernel_size, stride=stride,
                                         padding=(dw_kernel_size - 1) // 2, groups=mid_chs, bias=False)
                self.bn_dw = nn.BatchNorm2d(mid_chs)
            self.se = SqueezeExcite(mid_chs, se_ratio=se_ratio) if has_se else None
            self.ghost2 = GhostModule(mid_chs, out_chs, relu=False)
            if in_chs == out_chs and self.stride == 1:
                self.shortcut = nn.Sequential()
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_chs, in_chs, dw_kernel_size, stride=stride, padding=(dw_kernel_size - 1) // 2,
                              groups=in_chs, bias=False),
                    nn.BatchNorm2d(in_chs),
                    nn.Conv2d(in_chs, out_chs, 1, stride=1, padding=0, bias=False),
                    nn.BatchNorm2d(out_chs))

        def forward(self, x):
            residual = x
            x = self.ghost1(x)
            if self.stride > 1:
                x = self.bn_dw(self.conv_dw(x))
            if self.se is not None:
                x = self.se(x)
            x = self.ghost2(x)
            return x + self.shortcut(residual)

    class GhostNet(nn.Module):
        def __init__(self, cfgs, num_classes=1000, width=1.0, dropout=0.2):
            super().__init__()
            self.dropout = dropout
            output_channel = _make_divisible(16 * width, 4)
            self.conv_stem = nn.Conv2d(3, output_channel, 3, 2, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(output_channel)
            self.act1 = nn.ReLU(inplace=True)
            input_channel = output_channel
            stages = []
            for cfg in cfgs:
                layers = []
                for k, exp_size, c, se_ratio, s in cfg:
                    output_channel = _make_divisible(c * width, 4)
                    hidden_channel = _make_divisible(exp_size * width, 4)
                    layers.append(GhostBottleneck(input_channel, hidden_channel, output_channel, k, s, se_ratio=se_ratio))
                    input_channel = output_channel
                stages.append(nn.Sequential(*layers))
            output_channel = _make_divisible(exp_size * width, 4)
            stages.append(nn.Sequential(ConvBnAct(input_channel, output_channel, 1)))
            input_channel = output_channel
            self.blocks = nn.Sequential(*stages)
            output_channel = 1280
            self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
            self.conv_head = nn.Conv2d(input_channel, output_channel, 1, 1, 0, bias=True)
            self.act2 = nn.ReLU(inplace=True)
            self.classifier = nn.Linear(output_channel, num_classes)

        def forward(self, x):
            x = self.act1(self.bn1(self.conv_stem(x)))
            x = self.blocks(x)
            x = self.act2(self.conv_head(self.global_pool(x)))
            x = x.view(x.size(0), -1)
            if self.dropout > 0.:
                x = F.dropout(x, p=self.dropout, training=self.training)
            return self.classifier(x)

    CFGS = [
        [[3, 16, 16, 0, 1]],
        [[3, 48, 24, 0, 2]],
        [[3, 72, 24, 0, 1]],
        [[5, 72, 40, 0.25, 2]],
        [[5, 120, 40, 0.25, 1]],
        [[3, 240, 80, 0, 2]],
        [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1], [3, 672, 112, 0.25, 1]],
        [[5, 672, 160, 0.25, 2]],
        [[5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1], [5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1]],
    ]

    def ghostnet(**kwargs):
        return GhostNet(CFGS, **kwargs)

    return ghostnet


def test_agrees_with_the_authors_code_in_torch(pair):
    torch = pytest.importorskip("torch")
    model = _authors_ghostnet()().eval()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == AUTHORS
    assert sum(v.numel() for k, v in model.state_dict().items() if "running" in k) == BN_STATS

    spec = pair[0]
    with torch.no_grad():
        n = 0
        for name, m in model.named_modules():
            key = name.replace(".", "_")
            if isinstance(m, torch.nn.Conv2d):
                ws = spec.get_layer(key).get_weights()
                kernel = ws[0]
                if m.groups > 1:                       # depthwise: (k, k, C, mult) -> (C * mult, 1, k, k)
                    k = kernel.shape[0]
                    kernel = kernel.reshape(k, k, 1, -1)
                m.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(ws[1]))
                n += 1
            elif isinstance(m, torch.nn.BatchNorm2d):
                for t, v in zip((m.weight, m.bias, m.running_mean, m.running_var), spec.get_layer(key).get_weights()):
                    t.copy_(torch.from_numpy(v))
                n += 1
            elif isinstance(m, torch.nn.Linear):
                kernel, bias = spec.get_layer(key).get_weights()
                m.weight.copy_(torch.from_numpy(kernel.T.copy()))
                m.bias.copy_(torch.from_numpy(bias))
                n += 1
        assert n == 176
        x = np.random.default_rng(2).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    assert np.abs(want).max() > 0
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())
