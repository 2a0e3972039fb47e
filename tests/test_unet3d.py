"""The 3-D U-Net (specs/unet3d.cnn) against its Keras transcription (tests/reference/unet3d.py) and the
paper's count.

Çiçek et al. 2016, Section 2: a 132 x 132 x 116 x 3 tile in, 44 x 44 x 28 x 3 out, "19069955 parameters
in total" — Keras's trainable count here (up-convolutions without bias, BN without learned scale and
shift, as the spec's header explains), BN's moving statistics the non-trainable 4,672. The compiled
spec and the reference agree on counts, layers in order (strict) and, at a small valid input (the
paper's depth, 2 base filters), every layer's output with the reference's random weights copied across.
"""
from __future__ import annotations

import gc

import pytest

import cnndsl
from conftest import SPECS
from keras_compare import copy_weights, output_differences, params, randomize, structure_differences, walk

pytestmark = pytest.mark.slow      # builds Keras models: not in the quick tier

SPEC = SPECS / "unet3d.cnn"
PAPER_PARAMS = 19_069_955


@pytest.fixture(autouse=True)
def _free_keras_state():
    yield
    import keras
    keras.backend.clear_session()
    gc.collect()


def test_the_papers_network():
    from reference.unet3d import unet3d
    graph = cnndsl.check(SPEC)
    ref = unet3d()
    assert (graph.total_params, graph.trainable, graph.non_trainable) == params(ref) == (
        PAPER_PARAMS + 4_672, PAPER_PARAMS, 4_672)
    assert graph.nodes[-1].shape == tuple(ref.outputs[0].shape) == (None, 44, 44, 28, 3)
    kinds = [n.op for n in graph.nodes]
    assert [kinds.count(k) for k in ("conv", "conv_transpose", "maxpool", "crop", "concat", "bn")] == [
        15, 3, 3, 3, 3, 14]     # 2 per level (4 down, 3 up) and the 1 x 1 x 1 output conv


@pytest.mark.parametrize("settings", [
    pytest.param(dict(image=[92, 100, 108, 2], base=2), id="depth3-92x100x108"),
    pytest.param(dict(image=[44, 48, 52, 1], base=4, depth=2, classes=2), id="depth2-44x48x52"),
])
def test_outputs_with_copied_weights(settings):
    import keras
    from reference.unet3d import unet3d
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(SPEC, **settings)
    spec = cnndsl.compile(SPEC, **settings)
    ref = unet3d(input_shape=tuple(settings["image"]), **{k: v for k, v in settings.items() if k != "image"})
    shrink = 4 * (3 * 2 ** settings.get("depth", 3) - 2)
    assert graph.nodes[-1].shape == tuple(ref.outputs[0].shape) == (
        None, *(d - shrink for d in settings["image"][:3]), settings.get("classes", 3))
    assert (graph.total_params, graph.trainable, graph.non_trainable) == params(spec) == params(ref)
    s, r = walk(spec), walk(ref)
    assert structure_differences(s, r, strict=True) == []
    randomize(ref)
    copy_weights(s, r)
    assert output_differences(spec, ref, s, r) == []


@pytest.mark.parametrize("image", [[93, 92, 92, 1], [92, 94, 92, 1], [92, 92, 96, 1]])
def test_a_pool_of_odd_size_is_a_located_error(image):
    """92 + 8k are the valid sizes (depth 3): 93 gives an odd size at the first pool (89), 94 at the
    second (90 -> 45), 96 at the third (92 -> 46 -> 42 -> 21); each is an error, never another shape."""
    from reference.unet3d import unet3d
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(SPEC, image=image, base=2)
    assert e.value.kind == "shape" and "spatial sizes differ" in e.value.message
    assert e.value.span is not None and e.value.span.line == next(
        n for n, line in enumerate(SPEC.read_text().split("\n"), 1) if '"up{level}_concat"' in line)
    with pytest.raises(ValueError, match="can't be centred"):
        unet3d(input_shape=tuple(image), base=2)
