"""The non-local block (specs/lib/nonlocal.cnn, in specs/nonlocal_resnet50.cnn) and PSPNet's pyramid
pooling module (specs/lib/psp.cnn, in specs/pspnet.cnn), issue 16, against their hand Keras
transcriptions (tests/reference/non_local.py, tests/reference/pspnet.py): counts equal, the
transcription's random weights copied by layer name, outputs within 1e-5 (relative to their
largest magnitude); and each spec's torch build (cnndsl.to_torch) given the Keras weights
(keras_to_torch) agrees with its Keras build.

Sizes: 64x64 for the non-local ResNet-50 (8x8 and 4x4 positions in res3 and res4); 89x89 for
PSPNet (12x12 features: every bin 1, 2, 3, 6 divides 12, as 60 does at 473x473; the transcription
pools equal bins only; the final resize goes from 12x12 back to 89x89). Parameters do not depend on
the input size; cnndsl.check states the figures at the default size.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

CASES = {
    # spec, the transcription's builder, test size, layers with weights, trainable, non-trainable
    "nonlocal_resnet50": ("nonlocal_resnet50.cnn", "non_local", 64, 2 + 16 * 6 + 4 * 2 + 5 * 5 + 1,
                          32_942_056, 61_312),
    "pspnet_resnet50": ("pspnet.cnn", "pspnet", 89, 2 + 16 * 6 + 4 * 2 + 4 * 2 + 3, 46_592_597, 58_240),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    import importlib
    import keras
    from reference.harness import copy_by_name, randomized
    name = request.param
    file, module, size, n_weighted, trainable, non_trainable = CASES[name]
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(SPECS / file, image=[size, size, 3])
    ref = randomized(getattr(importlib.import_module(f"reference.{module}"), name)((size, size, 3)))
    spec = cnndsl.compile(graph)
    copied = copy_by_name(ref, spec)
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    yield name, graph, ref, spec, copied, x
    keras.backend.clear_session()


def test_counts_equal_the_transcriptions(case):
    name, _, ref, _, copied, _ = case
    file, _, _, n_weighted, trainable, non_trainable = CASES[name]
    graph = cnndsl.check(SPECS / file)
    ref_trainable = int(sum(np.prod(w.shape) for w in ref.trainable_weights))
    assert (graph.trainable, graph.non_trainable) == (ref_trainable, ref.count_params() - ref_trainable)
    assert (graph.trainable, graph.non_trainable) == (trainable, non_trainable)
    assert copied == n_weighted


def test_outputs_equal_the_transcriptions_and_the_torch_builds(case):
    from reference.harness import keras_vs_torch, relative
    _, graph, ref, spec, _, x = case
    assert relative(spec(x, training=False), ref(x, training=False)) <= TOLERANCE
    assert keras_vs_torch(graph, spec, x) <= TOLERANCE


def test_the_blocks_are_where_the_papers_put_them():
    nl = cnndsl.check(SPECS / "nonlocal_resnet50.cnn")
    affinity = {n.name: n.shape for n in nl.nodes if n.name.endswith("_affinity")}
    assert affinity == {"conv3_nonlocal2_affinity": (None, 784, 784), "conv3_nonlocal4_affinity": (None, 784, 784),
                        "conv4_nonlocal2_affinity": (None, 196, 196), "conv4_nonlocal4_affinity": (None, 196, 196),
                        "conv4_nonlocal6_affinity": (None, 196, 196)}         # Table 2c: 2 in res3, 3 in res4
    psp = cnndsl.check(SPECS / "pspnet.cnn")
    pools = [n.shape for n in psp.nodes if n.op == "adaptive_avgpool"]
    assert pools == [(None, b, b, 2048) for b in (1, 2, 3, 6)]
    assert next(n for n in psp.nodes if n.name == "ppm_concat").shape == (None, 60, 60, 4096)


@pytest.mark.parametrize("subsample", [False, True])
def test_the_nonlocal_block_alone_equals_its_transcription(subsample, tmp_path):
    """The lib block on a 12x10x8 map, with and without the subsampling trick (max pools after phi
    and g), against tests/reference/non_local.py's block, and its torch build."""
    import keras
    from reference.harness import copy_by_name, keras_vs_torch, randomized, relative
    from reference.non_local import nonlocal_block
    spec_file = tmp_path / "block.cnn"
    spec_file.write_text(f'import "{SPECS / "lib" / "nonlocal.cnn"}"\n'
                         f'network n(x: [12, 10, 8]) {{\n    nonlocal(subsample={str(subsample).lower()}, name="nl")\n}}\n')
    graph = cnndsl.check(spec_file)
    inputs = keras.Input((12, 10, 8))
    ref = randomized(keras.Model(inputs, nonlocal_block(inputs, "nl", subsample=subsample)))
    spec = cnndsl.compile(graph)
    assert graph.trainable == 3 * (8 * 4 + 4) + 4 * 8 + 8 + 2 * 8
    assert copy_by_name(ref, spec) == 5
    x = np.random.default_rng(3).normal(size=(2, 12, 10, 8)).astype("float32")
    assert relative(spec(x, training=False), ref(x, training=False)) <= TOLERANCE
    assert keras_vs_torch(graph, spec, x) <= TOLERANCE
    affinity = next(n for n in graph.nodes if n.name == "nl_affinity")
    assert affinity.shape == (None, 120, 30 if subsample else 120)
    keras.backend.clear_session()
