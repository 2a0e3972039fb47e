"""The torchvision zoo (issue 17): specs/torchvision/<family>.cnn, one network per torchvision builder.

For every network, against torchvision's model built with weights=None (nothing downloads):
- ``cnndsl check``'s trainable count is torchvision's parameter count, its non-trainable count the
  BN running statistics (``num_batches_tracked``, a step counter, is not a weight);
- ``cnndsl.to_torch``'s state_dict has torchvision's keys with torchvision's shapes (both on the meta
  device: nothing is allocated), so ``load_state_dict(tv.state_dict(), strict=True)`` works.
The zoo is every builder of the issue (83): ``torchvision.models.list_models`` of the classification
module without swin_* and maxvit_t (73), the four video networks of ``VIDEO`` and the segmentation
module's six; a builder without a network, or a network without a builder, fails.

For the networks of ``NUMERIC`` (the smallest of each family, and a grouped one), at a small input
(ViT at its own 224 x 224; a video clip as [T, H, W, C]):
torchvision's state_dict (with random BN statistics, and random values for its zero-initialised
weights: ViT's head and class token) loads strictly and the outputs equal torchvision's within 1e-5
(relative) in eval mode; and for those of ``KERAS_TOO``, the weights moved on into the Keras build
(``cnndsl.weights.torch_to_keras``) give torchvision's outputs there too. The others (vit_l_*, vit_h_14,
s3d at its 13 x 209 x 209 minimum, ...) are compared structurally: counts and state_dict keys.

torchvision is imported with its C++ ops' registrations stubbed (torch_compare.import_torchvision).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import cnndsl  # noqa: E402
from torch_compare import TOLERANCE, import_torchvision, torch_counts  # noqa: E402

pytestmark = pytest.mark.slow

ZOO = Path(__file__).resolve().parent.parent / "specs" / "torchvision"
NUMERIC = {"resnet18": 64, "resnext50_32x4d": 64, "vgg11_bn": 224, "alexnet": 224, "squeezenet1_0": 64,
           "squeezenet1_1": 64, "mobilenet_v2": 32, "densenet121": 32, "shufflenet_v2_x0_5": 64,
           "mobilenet_v3_small": 64, "mnasnet0_5": 64,
           "efficientnet_b0": 64, "convnext_tiny": 32, "regnet_y_400mf": 64,
           "googlenet": 64, "inception_v3": 299, "fcn_resnet50": 64, "deeplabv3_resnet50": 57,
           "lraspp_mobilenet_v3_large": 67, "vit_b_32": 224,
           "mc3_18": [8, 32, 32, 3], "r2plus1d_18": [8, 32, 32, 3]}    # mc3_18's first stage is r3d_18's conv
# a classifier; dilation and bilinear resizes; attention (packed in_proj), class token, position embedding
KERAS_TOO = {"resnet18", "lraspp_mobilenet_v3_large", "vit_b_32"}
VIDEO = ["r3d_18", "mc3_18", "r2plus1d_18", "s3d"]      # the four of torchvision.models.video
# Auxiliary heads (module, the module whose output it reads): torchvision runs them only in training,
# the specs give them as further outputs, compared with torchvision's head on torchvision's feature.
AUX = {"googlenet": [("aux2", "inception4d"), ("aux1", "inception4a")], "inception_v3": [("AuxLogits", "Mixed_6e")]}

tv = import_torchvision()


def _on_cpu(method):
    """RegNet's BlockParams computes its widths with torch tensors (``.tolist()``), which the meta
    device can't give back: torchvision's own arithmetic, run on the CPU while the model is meta."""
    func = method.__func__

    def run(cls, *args, **kw):
        with torch.device("cpu"):
            return func(cls, *args, **kw)
    return classmethod(run)


tv.models.regnet.BlockParams.from_init_params = _on_cpu(tv.models.regnet.BlockParams.from_init_params)


def zoo():
    out = []
    for path in sorted(ZOO.glob("*.cnn")):
        for name in cnndsl.load(path).network_names():
            out.append(pytest.param(path, name, id=name))
    return out


def builders() -> list:
    """The issue's 83 builders: classification without swin_* and maxvit_t, VIDEO, segmentation."""
    classification = [n for n in tv.models.list_models(module=tv.models) if not n.startswith(("swin", "maxvit"))]
    return classification + VIDEO + tv.models.list_models(module=tv.models.segmentation)


def test_every_builder_has_a_network_and_every_network_a_builder():
    names = [name for p in zoo() for name in p.values[1:]]
    assert len(builders()) == 83
    assert sorted(names) == sorted(builders())


def tv_model(name, **kw):
    if hasattr(tv.models, name):
        return getattr(tv.models, name)(weights=None, **kw)
    if name in VIDEO:
        return getattr(tv.models.video, name)(weights=None, **kw)
    # segmentation: the backbone's ImageNet weights are on by default, and nothing downloads here
    return getattr(tv.models.segmentation, name)(weights=None, weights_backbone=None, **kw)


@pytest.mark.parametrize("path, name", zoo())
def test_counts_and_state_dict_keys_are_torchvisions(path, name):
    graph = cnndsl.check(path, name)
    with torch.device("meta"):
        ref = tv_model(name)
        module = cnndsl.to_torch(graph)
    assert (graph.trainable, graph.non_trainable) == torch_counts(ref)
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in ref.state_dict().items()}


def _random_statistics(model):
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():     # zero-initialised weights would hide what they read
            if p.dim() >= 2 and not p.any():           # (ViT's class token and head)
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)


def _rel(a, b) -> float:
    return float((a - b).abs().max()) / max(1.0, float(a.abs().max()))


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_outputs_equal_torchvisions(name):
    path = next((p for p in ZOO.glob("*.cnn") if name in cnndsl.load(p).network_names()), None)
    if path is None:
        pytest.skip(f"{name} has no spec yet")
    size = NUMERIC[name]
    torch.manual_seed(0)
    ref = tv_model(name).eval()
    _random_statistics(ref)
    if isinstance(size, list):                          # a video clip [T, H, W, C]
        graph = cnndsl.check(path, name, cnndsl.Limits(contracts=False), clip=size)
        x = torch.randn(2, size[-1], *size[:-1], generator=torch.Generator().manual_seed(1))
    else:
        graph = cnndsl.check(path, name, cnndsl.Limits(contracts=False), image=[size, size, 3])
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    module = cnndsl.to_torch(graph).eval()
    module.load_state_dict(ref.state_dict(), strict=True)
    features = {}
    for _, at in AUX.get(name, ()):
        getattr(ref, at).register_forward_hook(lambda mod, args, out, at=at: features.__setitem__(at, out))
    with torch.no_grad():
        want = ref(x)
        if isinstance(want, dict):                      # segmentation: {"out": ...} (no aux_loss)
            assert list(want) == ["out"]
            want = want["out"]
        got = module(x)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == 1 + len(AUX.get(name, ()))
        assert _rel(want, got[0]) <= TOLERANCE
        for (head, at), out in zip(AUX.get(name, ()), got[1:]):
            assert _rel(getattr(ref, head)(features[at]), out) <= TOLERANCE
    if name in KERAS_TOO:          # one zoo, two frameworks: torchvision's weights in the Keras build
        from cnndsl.weights import torch_to_keras
        model = cnndsl.compile(graph)
        torch_to_keras(module, model)
        got = np.array(model(np.moveaxis(x.numpy(), 1, -1), training=False))
        got = np.moveaxis(got, -1, 1) if got.ndim == 4 else got       # a segmentation map: NHWC to NCHW
        assert _rel(want, torch.from_numpy(got)) <= TOLERANCE
