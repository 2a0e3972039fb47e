"""U-Net (specs/unet.cnn) against its Keras transcription (tests/reference/unet.py).

The paper's network (Ronneberger, Fischer, Brox, MICCAI 2015, Fig. 1): 572x572x1 in, (None, 388,
388, 2) out, 31,030,658 parameters. The compiled spec and the reference agree on parameters (total,
trainable, non-trainable; ``cnndsl check``'s figures too), output shapes, layer classes in
topological order with their output and weight shapes (tests/keras_compare.py, strict), layer
names, and, at smaller valid inputs (to keep it cheap), every layer's output after copying the
reference's weights across.

The input-size rule (the paper's Sec. 3): every 2x2 max pool must see an even height and width, so
that each "copy and crop" is centred. With `depth` pools that is
    (size - 4 * (2**(depth + 1) - 1)) % 2**depth == 0,
and the output, size - 4 * (3 * 2**depth - 2), must be at least 1: with depth 4, 188, 204, ...,
572, ... (16k + 12). Any other size is a located cnndsl error, never a model of another shape.
"""
from __future__ import annotations

import gc
from pathlib import Path

import pytest

import cnndsl
from keras_compare import (copy_weights, name_differences, output_differences, params, randomize,
                           structure_differences, walk)

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

SPEC = Path(__file__).resolve().parent.parent / "specs" / "unet.cnn"
PAPER_PARAMS = 31_030_658


def valid_size(size: int, depth: int = 4) -> bool:
    return (size - 4 * (2 ** (depth + 1) - 1)) % 2 ** depth == 0 and size > 4 * (3 * 2 ** depth - 2)


def output_size(size: int, depth: int = 4) -> int:
    return size - 4 * (3 * 2 ** depth - 2)


def build(image=None, **spec_params):
    """(IR graph, compiled spec, randomized reference) for the same settings."""
    import keras
    from reference.unet import unet
    if image is not None:
        spec_params["image"] = list(image)
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(SPEC, **spec_params)
    model = cnndsl.compile(SPEC, **spec_params)
    ref_kwargs = {k: v for k, v in spec_params.items() if k != "image"}
    ref = unet(input_shape=tuple(image), **ref_kwargs) if image is not None else unet(**ref_kwargs)
    randomize(ref)
    return graph, model, ref


@pytest.fixture(autouse=True)
def _free_keras_state():
    yield
    import keras
    keras.backend.clear_session()
    gc.collect()


def assert_same(graph, model, ref):
    assert params(model) == params(ref)
    assert (graph.total_params, graph.trainable, graph.non_trainable) == params(ref)
    assert [tuple(t.shape) for t in model.outputs] == [tuple(t.shape) for t in ref.outputs]
    spec_nodes, ref_nodes = walk(model), walk(ref)
    assert structure_differences(spec_nodes, ref_nodes, strict=True) == []
    assert name_differences(spec_nodes, ref_nodes) == []
    return spec_nodes, ref_nodes


def test_the_papers_network():
    graph, model, ref = build()
    assert params(ref) == (PAPER_PARAMS, PAPER_PARAMS, 0)
    assert tuple(ref.outputs[0].shape) == (None, 388, 388, 2)
    spec_nodes, ref_nodes = assert_same(graph, model, ref)
    assert tuple(model.inputs[0].shape) == (None, 572, 572, 1)
    # the same initial-weight scheme (Sec. 3's Gaussian of std sqrt(2/N)) on every kernel
    inits = [(type(n.operation.kernel_initializer).__name__, n.operation.kernel_initializer.get_config())
             for nodes in (spec_nodes, ref_nodes) for n in nodes if hasattr(n.operation, "kernel_initializer")]
    assert len(inits) == 2 * 23 and inits[:23] == inits[23:]
    kind, config = inits[0]
    assert kind == "VarianceScaling" and {k: config[k] for k in ("scale", "mode", "distribution")} == \
        dict(scale=2.0, mode="fan_in", distribution="untruncated_normal")
    # "In total the network has 23 convolutional layers" (Sec. 2), the 4 up-convolutions among
    # them; 4 pools, crops and concatenations.
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") + kinds.count("Conv2DTranspose") == 23
    assert [kinds.count(k) for k in ("Conv2DTranspose", "MaxPooling2D", "Cropping2D", "Concatenate")] == [4] * 4
    # the crops of Fig. 1: 568 -> 392, 280 -> 200, 136 -> 104, 64 -> 56
    crops = {layer.name: layer.cropping for layer in model.layers if type(layer).__name__ == "Cropping2D"}
    assert crops == {"up3_crop": ((4, 4), (4, 4)), "up2_crop": ((16, 16), (16, 16)),
                     "up1_crop": ((40, 40), (40, 40)), "up0_crop": ((88, 88), (88, 88))}


@pytest.mark.parametrize("settings", [
    pytest.param(dict(image=[188, 188, 1]), id="paper-188"),
    pytest.param(dict(image=[100, 108, 3], classes=3, base=16, depth=3), id="depth3-100x108"),
])
def test_outputs_with_copied_weights(settings):
    graph, model, ref = build(**settings)
    depth = settings.get("depth", 4)
    h, w, _ = settings["image"]
    assert tuple(model.outputs[0].shape) == (None, output_size(h, depth), output_size(w, depth),
                                             settings.get("classes", 2))
    if depth == 4 and settings.get("base", 64) == 64:
        assert params(model) == (PAPER_PARAMS, PAPER_PARAMS, 0)   # the input size changes no weight
    spec_nodes, ref_nodes = assert_same(graph, model, ref)
    copy_weights(spec_nodes, ref_nodes)
    assert output_differences(model, ref, spec_nodes, ref_nodes) == []


def test_every_valid_size_and_only_those():
    """Sizes 150..420 as the height (the width 188): the valid ones give the formula's output, the
    others a cnndsl error (a pool of odd size, or too small an input)."""
    for h in range(150, 421):
        if valid_size(h):
            graph = cnndsl.check(SPEC, image=[h, 188, 1])
            assert graph.nodes[-1].shape == (None, output_size(h), 4, 2), h
        else:
            with pytest.raises(cnndsl.CnnError):
                cnndsl.check(SPEC, image=[h, 188, 1])


@pytest.mark.parametrize("image, level", [
    ([573, 573, 1], 0),     # 569 before the first pool
    ([190, 190, 1], 1),     # 186 -> 93, then 89 before the second pool
    ([572, 574, 1], 1),     # the width alone: 570 -> 285, then 281
    ([592, 592, 1], 2),     # 588 -> 294, 290 -> 145, then 141
    ([580, 580, 1], 3),     # 576 -> 288, 284 -> 142, 138 -> 69, then 65
])
def test_a_pool_of_odd_size_is_a_located_error(image, level):
    src = SPEC.read_text()
    concat_line = next(n for n, line in enumerate(src.split("\n"), 1) if '"up{level}_concat"' in line)
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(SPEC, image=image)
    err = e.value
    assert err.kind == "shape" and "spatial sizes differ" in err.message
    assert err.span is not None and Path(err.span.source.path).name == "unet.cnn"
    assert err.span.line == concat_line
    assert err.chain and err.chain[-1].label.startswith("up(") and err.chain[-1].label.endswith(f", {level})")
    with pytest.raises(cnndsl.CnnError):         # no Keras model of another shape either
        cnndsl.compile(SPEC, image=image)
    from reference.unet import unet
    with pytest.raises(ValueError, match=f"level {level}"):
        unet(input_shape=tuple(image))


def test_the_contracts_hold_for_other_settings():
    """`expect params` and `expect shape` are formulas of image, classes, base and depth."""
    from reference.unet import unet
    for settings in (dict(image=[572, 572, 3], classes=5, base=32, depth=3),
                     dict(image=[396, 412, 1], classes=2, base=8, depth=4),
                     dict(image=[44, 52, 2], classes=4, base=4, depth=1)):
        graph = cnndsl.check(SPEC, **settings)     # runs the spec's contracts
        ref = unet(input_shape=tuple(settings["image"]), classes=settings["classes"], base=settings["base"],
                   depth=settings["depth"])
        assert (graph.total_params, graph.trainable, graph.non_trainable) == params(ref)
        assert graph.nodes[-1].shape == tuple(ref.outputs[0].shape)
