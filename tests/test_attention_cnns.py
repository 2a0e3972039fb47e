"""specs/attention_cnns.cnn (issue 16): ECA-ResNet-50-D and SK-ResNet-18 against timm's own
`ecaresnet50d` and `skresnet18`.

Convention: timm's parameter counts are torch's (trainable); Keras counts BN's running means and
variances as non-trainable weights, which timm keeps as buffers: the spec's trainable count is
timm's parameter count, its non-trainable count timm's running statistics.

Numerics: the spec compiled at 64x64 (every strided layer sees an even size), timm's weights (BN
statistics randomised first) copied by name (the spec's layer names are timm's module paths), and
the logits compared with timm's in eval mode, within 1e-5 relative to their largest magnitude.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

SPEC = SPECS / "attention_cnns.cnn"
PUBLISHED = {"ecaresnet50d": 25_576_350, "skresnet18": 11_958_056}      # timm's parameter counts (1000 classes)
SIZE = 64


def _timm(name):
    from reference.harness import timm_reference
    return timm_reference(name)


@pytest.fixture(scope="module")
def eca():
    return _timm("ecaresnet50d")


@pytest.fixture(scope="module")
def sk():
    return _timm("skresnet18")


@pytest.mark.parametrize("name", PUBLISHED)
def test_counts_are_timms(name, request):
    from reference.harness import running_statistics
    from reference.timm_models import count
    model = request.getfixturevalue({"ecaresnet50d": "eca", "skresnet18": "sk"}[name])
    graph = cnndsl.check(SPEC, network=name)
    assert count(model) == graph.trainable == PUBLISHED[name]
    assert graph.non_trainable == running_statistics(model)
    assert graph.nodes[-1].shape == (None, 1000)


def test_eca_kernel_sizes_are_timms(eca):
    """ECA's 1-D kernel per stage, from the channels (Eq. 12), as timm computed it."""
    graph = cnndsl.check(SPEC, network="ecaresnet50d")
    spec_k = {n.name: n.args["kernel"][:1] for n in graph.nodes if n.name.endswith("_se_conv")}   # (k, 1)
    timm_k = {name.replace(".", "_"): m.kernel_size for name, m in eca.named_modules() if name.endswith("se.conv")}
    assert spec_k.keys() == timm_k.keys() and len(spec_k) == 16
    for name, k in spec_k.items():
        assert (tuple(k) if isinstance(k, (list, tuple)) else (k,)) == timm_k[name], name
    assert {timm_k[f"layer{i}_0_se_conv"][0] for i in (1, 2, 3)} == {5} and timm_k["layer4_0_se_conv"] == (7,)


def _outputs_agree(model, network):
    import keras
    from reference.harness import timm_vs_spec
    keras.utils.set_random_seed(0)
    spec = cnndsl.compile(SPEC, network=network, image=[SIZE, SIZE, 3])
    x = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    assert timm_vs_spec(model, spec, x) <= TOLERANCE        # every module with weights copied, by name
    keras.backend.clear_session()


def test_eca_outputs_agree_with_timm(eca):
    _outputs_agree(eca, "ecaresnet50d")


def test_sk_outputs_agree_with_timm(sk):
    """Includes the strided dilated path, written as a stride-1 dilated conv and a 1x1/2 max pool."""
    _outputs_agree(sk, "skresnet18")


# CBAM-ResNet-50 (Woo et al. 2018) against its Keras transcription (tests/reference/cbam.py, the
# shared MLP one pair of Dense layers called twice) and Table 1's 28.09M.
CBAM_PAPER = 28.09e6           # Table 1, ResNet50 + CBAM
CBAM_TRAINABLE = 28_089_592    # the spec's (and the transcription's) trainable count, 1000 classes


@pytest.fixture(scope="module")
def cbam_pair():
    """The spec compiled at 64x64 and its transcription, randomised, its weights copied by name
    (parameters do not depend on the input size; cnndsl.check states the figures at 224x224)."""
    import keras
    from reference.cbam import cbam_resnet50
    from reference.harness import copy_by_name, randomized
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(SPEC, network="cbam_resnet50", image=[SIZE, SIZE, 3])
    ref, spec = randomized(cbam_resnet50((SIZE, SIZE, 3))), cnndsl.compile(graph)
    copied = copy_by_name(ref, spec)
    yield graph, ref, spec, copied
    keras.backend.clear_session()


def test_cbam_counts_are_the_papers_and_the_transcriptions(cbam_pair):
    _, ref, _, copied = cbam_pair
    graph = cnndsl.check(SPEC, network="cbam_resnet50")
    assert graph.trainable == int(sum(np.prod(w.shape) for w in ref.trainable_weights)) == CBAM_TRAINABLE
    assert round(graph.trainable / 1e6, 2) * 1e6 == CBAM_PAPER
    assert graph.total_params == ref.count_params()
    assert copied == 2 + 16 * 6 + 4 * 2 + 16 * 3 + 1     # stem, blocks, projections, CBAM (fc1, fc2, 7x7), fc
    # the shared MLP: two Dense layers per block (and the fc), each applied a second time with no weights
    dense = [n for n in graph.nodes if n.op == "dense"]
    assert sum(n.shares is None for n in dense) == 2 * 16 + 1
    assert sum(n.shares is not None and n.params == 0 for n in dense) == 2 * 16


def test_cbam_equals_its_transcription_and_its_torch_build(cbam_pair):
    """At 64x64, outputs within 1e-5 of the transcription's; the spec's torch module
    (cnndsl.to_torch) given the same weights (keras_to_torch) agrees too."""
    from reference.harness import keras_vs_torch, relative
    graph, ref, spec, _ = cbam_pair
    x = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    assert relative(spec(x, training=False), ref(x, training=False)) <= TOLERANCE
    assert keras_vs_torch(graph, spec, x) <= TOLERANCE
