"""specs/vit.cnn (issue 16's ViTs) against timm's and torchvision's own models.

Counts: timm's vit_tiny_patch16_224 (5,717,416) and torchvision's vit_b_16 (86,567,656), taken from
the models built at 224 x 224 and from torchvision's published metadata; ViTs have no BN, so Keras's
non-trainable count is 0. MACs: torchvision publishes 17.564 GFLOPS for vit_b_16 (its "GFLOPS" are
multiply-accumulates, the attention's two matrix products included, as cnndsl counts them).

Outputs: both references build any image size that is a multiple of the patch (torchvision's class
with image_size=32, timm's with img_size=32): at 32 x 32 (2 x 2 patches and the class token: every
part of the network, the attention over 5 tokens included, at a fraction of 224's cost) each is given
random weights, copied by layer name into the spec compiled at 32 x 32 (the spec's layer names are the
reference's module names; the packed torch q/k/v projection is split into Keras's three kernels), and
both run in inference mode on one random image; the logits agree within 1e-5 of their magnitude.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from tv import attention_copier, copy_by_name, randomize, relative_difference, timm, torchvision

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

SPEC = SPECS / "vit.cnn"
SMALL = [32, 32, 3]


def _timm_tiny(**kw):
    return timm().create_model("vit_tiny_patch16_224", pretrained=False, **kw).eval()


def _tv_b16(**kw):
    tv = torchvision()
    if not kw:
        return tv.models.vit_b_16(weights=None).eval()
    return tv.models.vision_transformer.VisionTransformer(
        patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072, **kw).eval()


def _special():
    import torch
    from timm.layers.attention import Attention
    return {torch.nn.MultiheadAttention: attention_copier(lambda m: (m.in_proj_weight, m.in_proj_bias),
                                                          lambda m: m.out_proj),
            Attention: attention_copier(lambda m: (m.qkv.weight, m.qkv.bias), lambda m: m.proj)}


def test_counts_equal_the_references():
    for name, model in (("vit_ti_16", _timm_tiny()), ("vit_b_16", _tv_b16())):
        graph = cnndsl.check(SPEC, name)
        assert (graph.trainable, graph.non_trainable) == (sum(p.numel() for p in model.parameters()), 0)
        assert graph.nodes[-1].shape == (None, 1000)
    assert cnndsl.check(SPEC, "vit_ti_16").trainable == 5_717_416                  # the timm figure
    meta = torchvision().models.ViT_B_16_Weights.DEFAULT.meta
    graph = cnndsl.check(SPEC, "vit_b_16")
    assert graph.trainable == meta["num_params"] == 86_567_656
    assert round(graph.macs / 1e9, 3) == meta["_ops"]


def test_keras_uses_the_exact_gelu():
    import keras
    spec = cnndsl.compile(SPEC, "vit_ti_16", image=SMALL)
    act = spec.get_layer("blocks_0_mlp_act")
    x = np.linspace(-4, 4, 81).astype("float32")
    from math import erf, sqrt
    want = np.array([v * 0.5 * (1 + erf(v / sqrt(2))) for v in x.astype(float)])
    assert np.abs(np.asarray(act(x)) - want).max() < 1e-6
    keras.backend.clear_session()


@pytest.mark.parametrize("name", ["vit_ti_16", "vit_b_16"])
def test_outputs_equal_the_references(name):
    import keras
    import torch
    torch.manual_seed(0)
    model = _timm_tiny(img_size=32) if name == "vit_ti_16" else _tv_b16(image_size=32)
    randomize(model, seed=1)
    spec = cnndsl.compile(SPEC, name, image=SMALL)
    copied = copy_by_name(model, spec, _special())
    assert sum(int(np.prod(w.shape)) for w in spec.weights) == sum(p.numel() for p in model.parameters())
    assert len(copied) == 1 + 2 + 12 * 5 + 1 + 1      # patch conv, token, embedding, 12 blocks, norm, head
    x = np.random.default_rng(2).normal(size=(1, *SMALL)).astype("float32")
    with torch.no_grad():
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    print(name, "relative difference", relative_difference(got, want))
    assert relative_difference(got, want) < 1e-5
    assert np.abs(want).max() > 0.1
    keras.backend.clear_session()
