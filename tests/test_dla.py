"""specs/dla.cnn (DLA-34, issue 16, a recursive block) against timm's own `dla34`.

Convention: timm's 15,742,104 parameters are torch's (trainable); Keras counts BN's running means
and variances as non-trainable weights, which timm keeps as buffers (15,488 values): the spec's
trainable count is timm's parameter count, its non-trainable count timm's running statistics.

Numerics: the spec compiled at 64x64 (every strided layer sees an even size), timm's weights (its
BN statistics randomised first) copied by name (the spec's layer names are timm's module paths),
and the logits compared with timm's in eval mode, within 1e-5 relative to their largest magnitude.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from conftest import SPECS
from keras_compare import TOLERANCE

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

SPEC = SPECS / "dla.cnn"
TIMM = "dla34"
PUBLISHED = 15_742_104         # timm's dla34, torch parameters (1000 classes)
SIZE = 64


@pytest.fixture(scope="module")
def timm_model():
    from reference.harness import timm_reference
    return timm_reference(TIMM)


def test_check_states_timms_count(timm_model):
    from reference.harness import running_statistics
    from reference.timm_models import count
    graph = cnndsl.check(SPEC)
    assert count(timm_model) == graph.trainable == PUBLISHED
    assert graph.non_trainable == running_statistics(timm_model)
    assert graph.nodes[-1].shape == (None, 1000)


def test_outputs_agree_with_timm(timm_model):
    import keras
    from reference.harness import timm_vs_spec
    keras.utils.set_random_seed(0)
    spec = cnndsl.compile(SPEC, image=[SIZE, SIZE, 3])
    assert (int(sum(np.prod(w.shape) for w in spec.trainable_weights)),
            int(sum(np.prod(w.shape) for w in spec.non_trainable_weights))) == (PUBLISHED, 15_488)
    x = np.random.default_rng(1).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    assert timm_vs_spec(timm_model, spec, x) <= TOLERANCE      # every module with weights copied, by name
    keras.backend.clear_session()


def test_the_trees_are_timms(timm_model):
    """The recursion builds timm's tree: the same modules with weights, by name, of the same shapes."""
    graph = cnndsl.check(SPEC)
    spec_shapes = {n.name: (n.args["filters"],) for n in graph.nodes if n.op == "conv"}
    timm_convs = {name.replace(".", "_"): (m.out_channels,) for name, m in timm_model.named_modules()
                  if type(m).__name__ == "Conv2d"}
    assert spec_shapes == timm_convs
    assert "level3_tree2_root_conv" in spec_shapes and "level2_tree2_root_conv" not in spec_shapes
