"""The torchvision zoo (issue 17): specs/torchvision/<family>.cnn, one network per torchvision builder.

For every network, against torchvision's model built with weights=None (nothing downloads):
- ``cnndsl check``'s trainable count is torchvision's parameter count, its non-trainable count the
  BN running statistics (``num_batches_tracked``, a step counter, is not a weight);
- ``cnndsl.to_torch``'s state_dict has torchvision's keys with torchvision's shapes (both on the meta
  device: nothing is allocated), so ``load_state_dict(tv.state_dict(), strict=True)`` works.
For the networks of ``NUMERIC`` (the smallest of each family, and a grouped one), at a small input:
torchvision's state_dict (with random BN statistics) loads strictly and the outputs equal
torchvision's within 1e-5 (relative) in eval mode; and for the first, the weights moved on into the
Keras build (``cnndsl.weights.torch_to_keras``) give torchvision's outputs there too.

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
           "efficientnet_b0": 64, "convnext_tiny": 32}
KERAS_TOO = {"resnet18"}

tv = import_torchvision()


def zoo():
    out = []
    for path in sorted(ZOO.glob("*.cnn")):
        for name in cnndsl.load(path).network_names():
            out.append(pytest.param(path, name, id=name))
    return out


def tv_model(name, **kw):
    return getattr(tv.models, name)(weights=None, **kw)


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
    graph = cnndsl.check(path, name, cnndsl.Limits(contracts=False), image=[size, size, 3])
    module = cnndsl.to_torch(graph).eval()
    module.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = ref(x)
        assert _rel(want, module(x)) <= TOLERANCE
    if name in KERAS_TOO:          # one zoo, two frameworks: torchvision's weights in the Keras build
        from cnndsl.weights import torch_to_keras
        model = cnndsl.compile(graph)
        torch_to_keras(module, model)
        got = np.array(model(np.moveaxis(x.numpy(), 1, -1), training=False))
        assert _rel(want, torch.from_numpy(got)) <= TOLERANCE
