"""MACs of zoo networks against the figures their papers publish (issue 8), not against cnndsl itself.

cnndsl's convention (README, "MAC convention"): multiply-accumulates for one sample; convolutions and
dense layers only; BN, activations, pooling, merges and biases count 0. The papers below count
multiply-adds the same way ("Mult-Adds", "MAdds", or EfficientNet's "FLOPS", which its authors
count as multiply-adds). A spec must land within rounding of the printed figure (half a unit of its
last printed digit) unless a row states otherwise: the MobileNetV2/V3 papers measured their own
TensorFlow models, and Keras's, which the specs are, come out slightly apart. Those rows carry the
measured gap as their tolerance, stated in the source column, so any change shows.
"""
from __future__ import annotations

import pytest

import cnndsl
from zoo_table import SPECS

# (spec file, network, network parameters, published figure, half a unit of its last digit, source)
FIGURES = [
    ("mobilenet", "mobilenet", {}, 569e6, 0.5e6,
     "Howard et al. 2017, MobileNets, Table 8: 1.0 MobileNet-224, 569 million Mult-Adds"),
    ("mobilenet_v2", "mobilenetv2", {}, 300e6, 0.8e6,
     "Sandler et al. 2018, MobileNetV2, Table 4: 300M MAdds; Keras's model is 300.77M (+0.26%)"),
    ("mobilenet_v3", "mobilenetv3large", {"image": [224, 224, 3]}, 219e6, 2.5e6,
     "Howard et al. 2019, Searching for MobileNetV3, Table 3: Large 1.0, 219M MAdds; Keras's is 216.59M (-1.1%)"),
    ("mobilenet_v3", "mobilenetv3small", {"image": [224, 224, 3]}, 56e6, 0.52e6,
     "Howard et al. 2019, Searching for MobileNetV3, Table 3: Small 1.0, 56M MAdds; Keras's is 56.51M (+0.9%)"),
    ("efficientnet", "efficientnetb0", {}, 0.39e9, 0.005e9,
     "Tan & Le 2019, EfficientNet, Table 2: EfficientNet-B0, 0.39B FLOPS (multiply-adds)"),
    ("nasnet", "nasnetmobile", {}, 564e6, 0.5e6,
     "Zoph et al. 2018, Learning Transferable Architectures, Table 2: NASNet-A (4 @ 1056), 564M Mult-Adds"),
    ("nasnet", "nasnetlarge", {}, 23.8e9, 0.05e9,
     "Zoph et al. 2018, Learning Transferable Architectures, Table 2: NASNet-A (6 @ 4032), 23.8B Mult-Adds"),
]


@pytest.mark.parametrize("spec, network, params, figure, half, source", FIGURES,
                         ids=[f[1] for f in FIGURES])
def test_macs_equal_the_published_figure(spec, network, params, figure, half, source):
    graph = cnndsl.check(SPECS / f"{spec}.cnn", network, **params)
    assert graph.macs is not None
    assert abs(graph.macs - figure) <= half, f"{graph.macs:,} MACs; {source}"


def test_an_unknown_input_size_gives_unknown_macs():
    """MobileNetV3's default input is (None, None, 3): its MACs are unknown, not a guess."""
    graph = cnndsl.check(SPECS / "mobilenet_v3.cnn", "mobilenetv3small")
    assert graph.inputs[next(iter(graph.inputs))].shape[1:3] == (None, None)
    assert graph.macs is None
