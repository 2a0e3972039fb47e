"""Detection networks of issue 16, against the libraries that build them (weights=None, nothing downloads):
specs/retinanet.cnn and specs/fcos.cnn against torchvision's retinanet_resnet50_fpn and fcos_resnet50_fpn,
specs/efficientdet.cnn against effdet's tf_efficientdet_d0.

- Every network, structurally: ``cnndsl check``'s trainable count is the library's parameter count, its
  non-trainable count the BN running statistics (torch buffers), and ``cnndsl.to_torch``'s state_dict has
  the library's keys with its shapes (the specs name their layers as the library's modules; effdet's
  separable convs and fusion weights through the small renaming `_effdet_key` states).
- Every network numerically, at 128x128: the library's state_dict (random weights and statistics) loads
  strictly into ``cnndsl.to_torch``'s module, whose outputs equal the library's raw head outputs
  (``model.head(model.backbone(x))``, effdet's ``model(x)``) within 1e-5 relative; moved on into the Keras
  build (``cnndsl.weights.torch_to_keras``) they give the same outputs there too (shared heads, FCOS's
  GroupNorm, EfficientDet's shared separable convs and weighted_add in Keras).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

pytestmark = pytest.mark.slow

import torch  # noqa: E402

import cnndsl  # noqa: E402
from torch_compare import TOLERANCE, torch_counts  # noqa: E402
from tv import effdet, randomize, relative_difference, torchvision  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"
SIZE = 128                                  # a multiple of 128: every pyramid level halves exactly


def _torchvision_detector(name):
    return getattr(torchvision().models.detection, name)(weights=None, weights_backbone=None)


def _effdet(**kw):
    return effdet().create_model("tf_efficientdet_d0", pretrained=False, pretrained_backbone=False, **kw)


def _effdet_key(key):
    """effdet's state_dict key as the spec's torch module holds it: a SeparableConv2d's `conv_dw` and
    `conv_pw` are one Keras SeparableConv2D (`depthwise`, `pointwise` in torch); its BN, a child of the
    separable conv in effdet, is the layer beside it (`conv_bn`); a node's fusion weights `edge_weights`
    are the WeightedAdd layer of that name (its parameter `w`). The backbone's names are timm's as they are."""
    if key.startswith("backbone."):
        return key
    key = key.replace(".conv_dw.", ".depthwise.").replace(".conv_pw.", ".pointwise.")
    key = key.replace(".after_combine.conv.bn.", ".after_combine.conv_bn.")
    return re.sub(r"combine\.edge_weights$", "combine.edge_weights.w", key)


NETWORKS = {   # spec: (network, the reference model, its key -> the spec's key)
    "retinanet": ("retinanet_resnet50_fpn", lambda: _torchvision_detector("retinanet_resnet50_fpn"), str),
    "fcos": ("fcos_resnet50_fpn", lambda: _torchvision_detector("fcos_resnet50_fpn"), str),
    "efficientdet": ("tf_efficientdet_d0", _effdet, _effdet_key),
}


@pytest.mark.parametrize("spec", sorted(NETWORKS))
def test_counts_and_state_dict_keys_are_the_references(spec):
    network, build, key = NETWORKS[spec]
    graph = cnndsl.check(SPECS / f"{spec}.cnn", network)
    with torch.device("meta"):
        ref = build()
        module = cnndsl.to_torch(graph)
    assert (graph.trainable, graph.non_trainable) == torch_counts(ref)
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == \
        {key(k): tuple(v.shape) for k, v in ref.state_dict().items()}


def _keras_outputs(graph, module, x):
    from cnndsl.weights import torch_to_keras
    model = cnndsl.compile(graph)
    torch_to_keras(module, model)
    got = model(np.moveaxis(x.numpy(), 1, -1), training=False)
    return [np.moveaxis(np.asarray(y), -1, 1) if np.ndim(y) == 4 else np.asarray(y) for y in got]


HEADS = {"retinanet_resnet50_fpn": ("retinanet", {"cls_logits": 91, "bbox_regression": 4}, 9),   # 9 anchors a place
         "fcos_resnet50_fpn": ("fcos", {"cls_logits": 91, "bbox_regression": 4, "bbox_ctrness": 1}, 1)}


@pytest.mark.parametrize("network", sorted(HEADS))
def test_torchvision_detector_outputs_equal_torchvisions_in_torch_and_keras(network):
    spec, outputs, anchors = HEADS[network]
    torch.manual_seed(0)
    ref = randomize(_torchvision_detector(network))
    graph = cnndsl.check(SPECS / f"{spec}.cnn", network, image=[SIZE, SIZE, 3])
    module = cnndsl.to_torch(graph).eval()
    module.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        head = ref.head(list(ref.backbone(x).values()))
        want = [head[k].numpy() for k in outputs]
        got = [y.numpy() for y in module(x)]
    places = 16 ** 2 + 8 ** 2 + 4 ** 2 + 2 ** 2 + 1                      # P3..P7 at 128x128
    assert [w.shape for w in want] == [(2, places * anchors, n) for n in outputs.values()]
    for w, g in zip(want, got):
        assert relative_difference(g, w) <= TOLERANCE
    for w, g in zip(want, _keras_outputs(graph, module, x)):
        assert relative_difference(g, w) <= TOLERANCE


def test_efficientdet_outputs_equal_effdets_in_torch_and_keras():
    torch.manual_seed(0)
    ref = randomize(_effdet(image_size=(SIZE, SIZE)))   # effdet sizes its resampling from its config
    with torch.no_grad():                               # fusion weights of their own, not all 1
        for name, p in ref.named_parameters():
            if name.endswith("edge_weights"):
                p.copy_(torch.rand(p.shape, generator=torch.Generator().manual_seed(2)) + 0.2)
    graph = cnndsl.check(SPECS / "efficientdet.cnn", "tf_efficientdet_d0", image=[SIZE, SIZE, 3])
    module = cnndsl.to_torch(graph).eval()
    module.load_state_dict({_effdet_key(k): v for k, v in ref.state_dict().items()}, strict=True)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        classes, boxes = ref(x)
        want = [y.numpy() for y in list(classes) + list(boxes)]
        got = [y.numpy() for y in module(x)]
    assert [w.shape[1:] for w in want] == [(810, s, s) for s in (16, 8, 4, 2, 1)] + [(36, s, s) for s in (16, 8, 4, 2, 1)]
    for w, g in zip(want, got):
        assert relative_difference(g, w) <= TOLERANCE
    for w, g in zip(want, _keras_outputs(graph, module, x)):
        assert relative_difference(g, w) <= TOLERANCE
