"""specs/yolov8.cnn (issue 12) against its Keras transcription (tests/reference/yolov8.py, from
Ultralytics' yolov8.yaml and modules), against a torch model written as Ultralytics' modules, and
against Ultralytics' published figures (the yaml's `scales` comments).

Parameter convention. Ultralytics' summary, e.g. "YOLOv8n summary: 225 layers, 3,157,200
parameters, 3,157,184 gradients", counts every torch parameter (conv weights and biases, BN weight
and bias, and the DFL's 16 fixed weights; "gradients" leave the DFL out); BN's running mean and
variance are buffers it does not count. The spec's graph has the DFL, a frozen conv with fixed weights
(see the spec's header), so:
    Keras trainable            = Ultralytics' gradients                 (3,157,184 for n)
    Keras trainable + DFL's 16 = Ultralytics' parameters                (3,157,200 for n)
    Keras non-trainable        = BN moving mean + variance (= BN gamma + beta, 10,592 for n) + the DFL's 16
The torch model here, with its DFL, has exactly 3,157,200 parameters of which 3,157,184 require
gradients: the convention checked end to end, and the spec's DFL output is Ultralytics' DFL's.

Correspondence: both Keras models are walked in keras_compare's canonical order; they have the
same 226 nodes, alike in kind (with strict=False: the spec's C2f chunk is cnndsl's Split layer, the
transcription's is the bare op keras.ops.split), output and weight shapes; the reference's weights
(randomised) are copied across node by node and every node's output compared, at 160x160 for
scale n (the network is fully convolutional; 640x640 is checked for shapes only, by cnndsl.check).

Layer count: the spec compiles to 227 Keras layers (input included) and 226 graph nodes; the
transcription to 219 layers plus 8 bare keras.ops.split calls, also 226 nodes. The spec's count
is asserted to be no more than the transcription's layers and ops together; counting `model.layers`
alone, cnndsl's Split layer is a layer where keras.ops.split is not, hence the 8 more.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import (TOLERANCE, copy_weights, output_differences, params, randomize,
                           structure_differences, walk)

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

SPEC = SPECS / "yolov8.cnn"
SMALL = 160
# The yaml's comments: (parameters, gradients) of each scale, 80 classes.
PUBLISHED = {"n": (3_157_200, 3_157_184), "s": (11_166_560, 11_166_544), "m": (25_902_640, 25_902_624),
             "l": (43_691_520, 43_691_504), "x": (68_229_648, 68_229_632)}
DFL = 16                     # the DFL's fixed 1x1 conv, arange(reg_max): counted by Ultralytics


@pytest.fixture(scope="module")
def pair():
    """Spec and reference (scale n) at 160x160, reference randomised, weights copied to the spec."""
    import keras
    from reference.yolov8 import yolov8      # imports Keras: only once a test needs it
    keras.utils.set_random_seed(0)
    spec = cnndsl.compile(SPEC, image=[SMALL, SMALL, 3])
    ref = yolov8((SMALL, SMALL, 3))
    randomize(ref)
    s, r = walk(spec), walk(ref)
    assert structure_differences(s, r, strict=False) == []
    copy_weights(s, r)
    yield spec, ref, s, r
    keras.backend.clear_session()


@pytest.mark.parametrize("scale", list(PUBLISHED))
def test_check_states_the_published_figures_at_640(scale):
    graph = cnndsl.check(SPEC, scale=scale)
    total, gradients = PUBLISHED[scale]
    bn = sum(n.shape[-1] for n in graph.nodes if n.op == "bn")
    dfl = graph.node("model_22_dfl_conv")
    assert (dfl.trainable, dfl.non_trainable) == (0, DFL)
    assert graph.trainable == gradients
    assert graph.trainable + dfl.non_trainable == total
    assert graph.non_trainable == 2 * bn + DFL
    outs = [n for n in graph.nodes if n.name in ("model_22_cat_0", "model_22_cat_1", "model_22_cat_2")]
    assert [n.shape for n in outs] == [(None, 80, 80, 144), (None, 40, 40, 144), (None, 20, 20, 144)]
    assert graph.outputs["dist"].shape == (None, 80 * 80 + 40 * 40 + 20 * 20, 4)


def test_scaling_rules():
    """depth 0.67 gives C2f 2 and 4 bottlenecks (m); max_channels 768 caps 1024 * 0.75 at 576."""
    graph = cnndsl.check(SPEC, scale="m")
    names = {n.name for n in graph.nodes}
    assert "model_2_m_1_add" in names and "model_2_m_2_add" not in names
    assert "model_4_m_3_add" in names and "model_4_m_4_add" not in names
    assert next(n for n in graph.nodes if n.name == "model_7_act").shape[-1] == 576
    n = cnndsl.check(SPEC, scale="n")
    assert next(x for x in n.nodes if x.name == "model_7_act").shape[-1] == 256
    with pytest.raises(cnndsl.CnnError):
        cnndsl.check(SPEC, scale="q")


def test_keras_params_equal_the_reference_and_ultralytics(pair):
    """Keras's counts do not depend on the input size: the 160x160 pair has the 640x640 figures."""
    spec, ref = pair[:2]
    total, gradients = PUBLISHED["n"]
    assert params(spec) == params(ref) == (gradients + 10_592 + DFL, gradients, 10_592 + DFL)
    assert params(spec)[1] + DFL == total
    np.testing.assert_array_equal(spec.get_layer("model_22_dfl_conv").get_weights()[0].reshape(DFL),
                                  np.arange(DFL, dtype="float32"))


def test_no_more_layers_than_the_transcription(pair):
    import keras
    spec, ref, s, r = pair
    ref_ops = [n for n in r if not isinstance(n.operation, keras.layers.Layer)]
    assert len(ref_ops) == 8                                   # keras.ops.split, one per C2f
    assert len(s) == len(r) == 226
    assert len(spec.layers) == 227 and len(ref.layers) == 219
    assert len(spec.layers) <= len(ref.layers) + len(ref_ops)


def test_outputs_agree_with_copied_weights(pair):
    spec, ref, s, r = pair
    assert [tuple(t.shape) for t in spec.outputs] == [(None, 20, 20, 144), (None, 10, 10, 144), (None, 5, 5, 144),
                                                      (None, 20 * 20 + 10 * 10 + 5 * 5, 4)]
    assert output_differences(spec, ref, s, r) == []


def _ultralytics_torch(nc=80, reg_max=16):
    """YOLOv8n as Ultralytics' modules build it (conv.py, block.py, head.py), in torch; names follow
    Ultralytics' module paths (model.0, model.2.m.0.cv1, model.22.cv2.0.2, model.22.dfl)."""
    import torch
    from torch import nn

    class Conv(nn.Module):
        def __init__(self, c1, c2, k=1, s=1):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
            self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
            self.act = nn.SiLU()

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    class Bottleneck(nn.Module):
        def __init__(self, c, shortcut):
            super().__init__()
            self.cv1, self.cv2, self.add = Conv(c, c, 3), Conv(c, c, 3), shortcut

        def forward(self, x):
            return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))

    class C2f(nn.Module):
        def __init__(self, c1, c2, n=1, shortcut=False):
            super().__init__()
            self.c = int(c2 * 0.5)
            self.cv1 = Conv(c1, 2 * self.c, 1)
            self.cv2 = Conv((2 + n) * self.c, c2, 1)
            self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

        def forward(self, x):
            y = list(self.cv1(x).chunk(2, 1))
            y.extend(m(y[-1]) for m in self.m)
            return self.cv2(torch.cat(y, 1))

    class SPPF(nn.Module):
        def __init__(self, c1, c2, k=5):
            super().__init__()
            c_ = c1 // 2
            self.cv1, self.cv2 = Conv(c1, c_, 1), Conv(c_ * 4, c2, 1)
            self.m = nn.MaxPool2d(k, 1, k // 2)

        def forward(self, x):
            y = [self.cv1(x)]
            y.extend(self.m(y[-1]) for _ in range(3))
            return self.cv2(torch.cat(y, 1))

    class DFL(nn.Module):
        def __init__(self, c1=16):
            super().__init__()
            self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
            self.conv.weight.data[:] = nn.Parameter(torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1))
            self.c1 = c1

        def forward(self, x):
            b, _, a = x.shape
            return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)

    class Detect(nn.Module):
        def __init__(self, nc, ch):
            super().__init__()
            self.nc, self.nl, self.reg_max = nc, len(ch), reg_max
            c2, c3 = max((16, ch[0] // 4, reg_max * 4)), max(ch[0], min(nc, 100))
            self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
                                     for x in ch)
            self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
            self.dfl = DFL(reg_max)

        def forward(self, x):
            return [torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1) for i in range(self.nl)]

    class YOLOv8n(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.ModuleList([
                Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), C2f(32, 32, 1, True), Conv(32, 64, 3, 2),
                C2f(64, 64, 2, True), Conv(64, 128, 3, 2), C2f(128, 128, 2, True), Conv(128, 256, 3, 2),
                C2f(256, 256, 1, True), SPPF(256, 256, 5),
                nn.Upsample(None, 2, "nearest"), nn.Identity(), C2f(384, 128, 1),
                nn.Upsample(None, 2, "nearest"), nn.Identity(), C2f(192, 64, 1),
                Conv(64, 64, 3, 2), nn.Identity(), C2f(192, 128, 1),
                Conv(128, 128, 3, 2), nn.Identity(), C2f(384, 256, 1),
                Detect(nc, (64, 128, 256))])

        def forward(self, x):
            m, y = self.model, []
            for i in range(10):
                x = m[i](x)
                y.append(x)
            x12 = m[12](torch.cat([m[10](y[9]), y[6]], 1))
            x15 = m[15](torch.cat([m[13](x12), y[4]], 1))
            x18 = m[18](torch.cat([m[16](x15), x12], 1))
            x21 = m[21](torch.cat([m[19](x18), y[9]], 1))
            return m[22]([x15, x18, x21])

    return YOLOv8n().eval()


def test_agrees_with_ultralytics_modules_in_torch(pair):
    """Ultralytics' YOLOv8n in torch: 3,157,200 parameters (3,157,184 requiring gradients), and with
    the spec's weights (by name: the spec's layer names are Ultralytics' module paths) the same
    three outputs; the spec's DFL output equals Ultralytics' DFL on torch's box channels, and numpy's
    DFL (reshape to (h*w, 4, 16), softmax over the bins, dot arange(16)) on the spec's."""
    torch = pytest.importorskip("torch")
    model = _ultralytics_torch()
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED["n"][0]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == PUBLISHED["n"][1]

    spec = pair[0]
    with torch.no_grad():
        for name, m in model.named_modules():
            if name == "model.22.dfl.conv":
                continue
            key = name.replace(".", "_")
            if isinstance(m, torch.nn.Conv2d):
                ws = spec.get_layer(key).get_weights()
                m.weight.copy_(torch.from_numpy(ws[0].transpose(3, 2, 0, 1).copy()))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(ws[1]))
            elif isinstance(m, torch.nn.BatchNorm2d):
                gamma, beta, mean, var = spec.get_layer(key).get_weights()
                for t, v in ((m.weight, gamma), (m.bias, beta), (m.running_mean, mean), (m.running_var, var)):
                    t.copy_(torch.from_numpy(v))
        x = np.random.default_rng(2).normal(size=(2, SMALL, SMALL, 3)).astype("float32")
        wants = [w.numpy().transpose(0, 2, 3, 1) for w in model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))]
        *gots, dist = [np.asarray(g) for g in spec(x, training=False)]
        for got, want in zip(gots, wants):
            assert got.shape == want.shape
            assert np.abs(want).max() > 0
            assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())

        # the DFL, as the decoding code applies it to the spec's outputs
        box = np.concatenate([g[..., :64].reshape(2, -1, 4, 16) for g in gots], axis=1)   # (b, anchors, 4, 16)
        e = np.exp(box - box.max(-1, keepdims=True))
        mine = (e / e.sum(-1, keepdims=True)) @ np.arange(16, dtype="float32")                   # (b, anchors, 4)
        boxes = torch.cat([torch.from_numpy(w[..., :64].transpose(0, 3, 1, 2).copy()).reshape(2, 64, -1)
                           for w in wants], 2)
        theirs = model.model[22].dfl(boxes).numpy().transpose(0, 2, 1)
        assert mine.shape == theirs.shape == dist.shape == (2, 20 * 20 + 10 * 10 + 5 * 5, 4)
        assert np.abs(mine - theirs).max() <= 1e-4
        assert np.abs(dist - theirs).max() <= 1e-4
