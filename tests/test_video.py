"""specs/video.cnn (issue 16's 3-D networks) against torchvision's own video ResNets.

Counts: torchvision's r3d_18, mc3_18 and r2plus1d_18 (400 classes) have 33,371,472 / 11,695,440 /
31,505,325 parameters, its trainable ones (torch keeps BN's running mean and variance as buffers);
Keras counts those buffers as non-trainable weights, 9,600 / 9,600 / 25,350 here. Both are taken from
the torch models themselves, not written down from the spec. MACs: torchvision's weight metadata publish
40.697 / 43.343 / 40.519 GFLOPS at 16 x 112 x 112 (its "GFLOPS" are multiply-accumulates).

Outputs: each torch model is given random weights and BN statistics, copied by layer name into the
compiled spec (the spec's layer names are torchvision's module paths, `.` written `_`; a torch module
with weights and no Keras layer of that name fails the test), and both run in inference mode on one
random clip of 8 x 32 x 32 (small, but every stride still sees a size above 1: 8 -> 4 -> 2 -> 1
frames), torch's NCTHW transposed to Keras's NTHWC. Logits agree within 1e-5 of their magnitude.

C3D (Tran et al. 2015) has no torchvision builder: it is compared with a Keras transcription written
separately (tests/reference/c3d.py): 79,991,015 parameters with Sports-1M's 487 classes (78,409,573 with
UCF-101's 101), every layer's output equal at an 8 x 16 x 16 clip with the reference's random weights.

S3D: torchvision's s3d has 8,320,048 parameters (BN buffers 21,216); its last pool (2 x 7 x 7, unpadded)
needs at least 14 x 209 x 209, the clip its outputs are compared at, as the ResNets'.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from tv import copy_by_name, randomize, relative_difference, torchvision

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

SPEC = SPECS / "video.cnn"
CLIP = [8, 32, 32, 3]
NETWORKS = {"r3d_18": "R3D_18_Weights", "mc3_18": "MC3_18_Weights", "r2plus1d_18": "R2Plus1D_18_Weights"}


S3D_CLIP = [14, 209, 209, 3]       # S3D's smallest clip: its last pool is 2 x 7 x 7, unpadded


@pytest.fixture(scope="module")
def torch_models():
    import torch
    torch.manual_seed(0)
    tv = torchvision()
    return {name: getattr(tv.models.video, name)(weights=None).eval() for name in NETWORKS}


@pytest.mark.parametrize("name", NETWORKS)
def test_counts_equal_torchvisions(torch_models, name):
    model = torch_models[name]
    trainable = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    graph = cnndsl.check(SPEC, name)
    assert (graph.trainable, graph.non_trainable) == (trainable, buffers)
    meta = getattr(torchvision().models.video, NETWORKS[name]).DEFAULT.meta   # the published figures
    assert graph.trainable == meta["num_params"]
    assert round(graph.macs / 1e9, 3) == meta["_ops"]                         # GFLOPS at 16 x 112 x 112
    assert graph.nodes[-1].shape == (None, 400)


def test_the_published_counts():
    # torchvision's model tables: num_params
    assert [cnndsl.check(SPEC, n).trainable for n in NETWORKS] == [33_371_472, 11_695_440, 31_505_325]
    assert [cnndsl.check(SPEC, n).non_trainable for n in NETWORKS] == [9_600, 9_600, 25_350]


@pytest.mark.parametrize("name", NETWORKS)
def test_outputs_equal_torchvisions(torch_models, name):
    import keras
    import torch
    model = randomize(torch_models[name], seed=1)
    spec = cnndsl.compile(SPEC, name, clip=CLIP)
    copied = copy_by_name(model, spec)
    assert len(copied) == len([m for m in model.modules() if list(m.parameters(recurse=False))])
    assert sum(int(np.prod(w.shape)) for w in spec.weights) == sum(
        p.numel() for p in model.parameters()) + sum(b.numel() for n, b in model.named_buffers()
                                                     if not n.endswith("num_batches_tracked"))
    x = np.random.default_rng(2).normal(size=(1, *CLIP)).astype("float32")
    with torch.no_grad():
        want = model(torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    assert relative_difference(got, want) < 1e-5
    assert np.abs(want).max() > 0.1            # the logits say something
    keras.backend.clear_session()


def test_s3d_counts_equal_torchvisions():
    import torch
    with torch.device("meta"):                 # shapes only
        model = torchvision().models.video.s3d(weights=None)
    trainable = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    graph = cnndsl.check(SPEC, "s3d")
    assert (graph.trainable, graph.non_trainable) == (trainable, buffers)
    meta = torchvision().models.video.S3D_Weights.DEFAULT.meta
    assert graph.trainable == meta["num_params"] == 8_320_048
    assert graph.nodes[-1].shape == (None, 400)


def test_s3d_outputs_equal_torchvisions():
    import keras
    import torch
    torch.manual_seed(0)
    model = randomize(torchvision().models.video.s3d(weights=None), seed=1)
    spec = cnndsl.compile(SPEC, "s3d", clip=S3D_CLIP)
    copied = copy_by_name(model, spec)
    assert len(copied) == len([m for m in model.modules() if list(m.parameters(recurse=False))])
    x = np.random.default_rng(2).normal(size=(1, *S3D_CLIP)).astype("float32")
    with torch.no_grad():
        want = model(torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    print("s3d relative difference", relative_difference(got, want))
    assert relative_difference(got, want) < 1e-5
    assert np.abs(want).max() > 0.1
    keras.backend.clear_session()


# --- C3D: its Keras transcription --------------------------------------------------------------------
def test_c3d_count_equals_its_transcription():
    import keras
    from keras_compare import params
    from reference.c3d import c3d
    graph = cnndsl.check(SPEC, "c3d")
    ref = c3d()
    assert (graph.total_params, graph.trainable, graph.non_trainable) == params(ref) == (79_991_015, 79_991_015, 0)
    assert cnndsl.check(SPEC, "c3d", classes=101).total_params == 78_409_573 == c3d(classes=101).count_params()
    # Figure 3's sizes: pool5 rounds 2 x 7 x 7 up to 1 x 4 x 4, so fc6 sees 8192 inputs
    shapes = {n.name: n.shape[1:] for n in graph.nodes}
    assert [shapes[f"pool{i}"] for i in range(1, 6)] == [(16, 56, 56, 64), (8, 28, 28, 128), (4, 14, 14, 256),
                                                         (2, 7, 7, 512), (1, 4, 4, 512)]
    assert shapes["flatten"] == (8192,) and graph.nodes[-1].shape == (None, 487)
    keras.backend.clear_session()


def test_c3d_equals_its_transcription():
    import keras
    from keras_compare import copy_weights, output_differences, params, randomize, structure_differences, walk
    from reference.c3d import c3d
    keras.utils.set_random_seed(0)
    clip = [8, 16, 16, 3]           # every pool still halves a size above 1; pool5 rounds 1 x 1 x 1 up
    spec, ref = cnndsl.compile(SPEC, "c3d", clip=clip, classes=10), c3d(input_shape=tuple(clip), classes=10)
    assert params(spec) == params(ref)
    s, r = walk(spec), walk(ref)
    assert structure_differences(s, r, strict=True) == []
    randomize(ref)
    copy_weights(s, r)
    assert output_differences(spec, ref, s, r) == []
    keras.backend.clear_session()
