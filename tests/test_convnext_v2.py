"""specs/convnext_v2.cnn (issue 16's network with GRN) against timm's own ConvNeXt V2.

Counts: timm's convnextv2_atto has 3,708,400 parameters (the issue's figure), taken here from the model
timm builds; ConvNeXt V2 has no BN, so Keras's non-trainable count is 0. timm's femto, pico, nano and
tiny are the same spec with their `depths` and `dims` (and timm's conv_mlp, false for tiny), each equal to
timm's count.

Outputs: timm's atto is given random weights (GRN's gamma and beta included, which start at zero and
would hide a wrong GRN), copied by layer name into the spec compiled at 64 x 64 (the spec's layer names
are timm's module names), and both run in inference mode on one random image; the logits agree within
1e-5 of their magnitude.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from tv import copy_by_name, randomize, relative_difference, timm

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

SPEC = SPECS / "convnext_v2.cnn"
SIZES = {"atto": ([2, 2, 6, 2], [40, 80, 160, 320]), "femto": ([2, 2, 6, 2], [48, 96, 192, 384]),
         "pico": ([2, 2, 6, 2], [64, 128, 256, 512]), "nano": ([2, 2, 8, 2], [80, 160, 320, 640]),
         "tiny": ([3, 3, 9, 3], [96, 192, 384, 768])}


@pytest.mark.parametrize("size", SIZES)
def test_counts_equal_timms(size):
    import torch
    with torch.device("meta"):                 # shapes only: no memory, no initialisation
        model = timm().create_model(f"convnextv2_{size}", pretrained=False)
    depths, dims = SIZES[size]
    graph = cnndsl.check(SPEC, depths=depths, dims=dims, conv_mlp=size != "tiny")   # timm's conv_mlp
    assert (graph.trainable, graph.non_trainable) == (sum(p.numel() for p in model.parameters()), 0)
    if size == "atto":
        assert graph.trainable == 3_708_400


def test_outputs_equal_timms():
    import keras
    import torch
    torch.manual_seed(0)
    model = randomize(timm().create_model("convnextv2_atto", pretrained=False), seed=1)
    from timm.layers.grn import GlobalResponseNorm
    grn = {GlobalResponseNorm: lambda m, layer: layer.set_weights([m.weight.detach().numpy(),
                                                                    m.bias.detach().numpy()])}
    spec = cnndsl.compile(SPEC, image=[64, 64, 3])
    copied = copy_by_name(model, spec, grn)
    assert sum(int(np.prod(w.shape)) for w in spec.weights) == sum(p.numel() for p in model.parameters())
    assert len(copied) == 2 + 3 * 2 + 12 * 5 + 2       # stem, 3 downsamples, 12 blocks, head
    x = np.random.default_rng(2).normal(size=(1, 64, 64, 3)).astype("float32")
    with torch.no_grad():
        want = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    print("relative difference", relative_difference(got, want))
    assert relative_difference(got, want) < 1e-5
    assert np.abs(want).max() > 0.1
    keras.backend.clear_session()
