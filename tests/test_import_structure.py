"""What `cnndsl import` recovers (issue 11): blocks, name templates, repeats, hoisted defaults, several
inputs and outputs, nested functional sub-models. Each model is small and built here with Keras; each
import is compiled back and compared with the original (Keras's parameter counts, and outputs after
set_weights(original.get_weights())), besides the spec features it is meant to show.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import cnndsl

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier


def _round_trip(model, text=None):
    text = text or cnndsl.from_keras(model)
    twin = cnndsl.compile(cnndsl.check(text))
    assert twin.count_params() == model.count_params()
    assert [type(l).__name__ for l in twin.layers] == [type(l).__name__ for l in model.layers]
    twin.set_weights(model.get_weights())
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, *t.shape[1:])).astype("float32") for t in model.inputs]
    a = model(xs if len(xs) > 1 else xs[0], training=False)
    b = twin(xs if len(xs) > 1 else xs[0], training=False)
    for x, y in zip(a if isinstance(a, (list, tuple)) else [a], b if isinstance(b, (list, tuple)) else [b]):
        assert np.max(np.abs(np.asarray(x) - np.asarray(y))) < 1e-5
    return text


def _body_lines(text):
    return [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


@pytest.fixture(scope="module")
def keras():
    import keras
    return keras


def _unit(keras, x, filters, name, stride=1):
    """conv-bn-relu twice plus a residual add: a unit keras.applications would name name_*."""
    L = keras.layers
    y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_1_conv")(x)
    y = L.BatchNormalization(name=f"{name}_1_bn")(y)
    y = L.ReLU(name=f"{name}_1_relu")(y)
    y = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    y = L.BatchNormalization(name=f"{name}_2_bn")(y)
    if stride != 1 or x.shape[-1] != filters:
        x = L.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
    return L.ReLU(name=f"{name}_out")(L.Add(name=f"{name}_add")([x, y]))


def test_repeated_units_become_one_block_with_a_name_template_and_a_repeat(keras):
    x = inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem_conv")(x)
    for i in range(1, 5):
        x = _unit(keras, x, 16, f"stage1_unit{i}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x), name="small_resnet")
    text = _round_trip(model)
    assert len(re.findall(r"^block ", text, flags=re.M)) == 1, text
    assert '"{name}_1_conv"' in text and "repeat 4 as i" in text and 'name="stage1_unit{i + 1}"' in text, text
    assert "defaults conv(padding=same, bias=false)" in text, text
    assert len(_body_lines(text)) < 25, text      # 30 layers


def test_units_that_differ_in_filters_and_strides_pass_them_as_arguments(keras):
    x = inp = keras.Input((32, 32, 3))
    x = _unit(keras, x, 8, "a1")
    x = _unit(keras, x, 16, "b1", stride=2)
    x = _unit(keras, x, 16, "b2")
    x = _unit(keras, x, 32, "c1", stride=2)
    x = _unit(keras, x, 32, "c2")
    model = keras.Model(inp, x)
    text = _round_trip(model)
    calls = re.findall(r'(\w+)\((\d+), (\d+), name="(\w+)"\)', text)
    projections = {(int(f), int(s), n) for _, f, s, n in calls}
    assert {(8, 1, "a1"), (16, 2, "b1"), (32, 2, "c1")} <= projections, text   # one block, its values passed
    assert len({b for b, _, _, n in calls if n in ("a1", "b1", "c1")}) == 1, text
    assert len(_body_lines(text)) < 30, text


def test_two_inputs_and_two_outputs(keras):
    a = keras.Input((16, 16, 3), name="rgb")
    b = keras.Input((16, 16, 1), name="depth")
    x = keras.layers.Concatenate(name="fuse")([keras.layers.Conv2D(8, 3, padding="same", name="rgb_conv")(a),
                                               keras.layers.Conv2D(8, 3, padding="same", name="depth_conv")(b)])
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    cls = keras.layers.Dense(5, activation="softmax", name="cls")(x)
    box = keras.layers.Dense(4, name="box")(x)
    model = keras.Model([a, b], [cls, box])
    text = _round_trip(model)
    assert re.search(r"network \w+\(rgb: \[16, 16, 3\], depth: \[16, 16, 1\]\) -> \(cls, box\)", text), text


def test_nested_functional_sub_models_of_one_structure_are_one_block(keras):
    def sub(name):
        x = keras.Input((16, 16, 8))
        y = keras.layers.Conv2D(8, 3, padding="same", name=f"{name}_conv")(x)
        y = keras.layers.BatchNormalization(name=f"{name}_bn")(y)
        return keras.Model(x, keras.layers.Add(name=f"{name}_add")([x, y]), name=name)
    x = inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 1, name="stem")(x)
    for i in range(3):
        x = sub(f"res{i}")(x)
    model = keras.Model(inp, x)
    text = cnndsl.from_keras(model)
    assert re.findall(r"^block (\w+)", text, flags=re.M) == ["res"], text
    twin = cnndsl.compile(cnndsl.check(text))
    assert twin.count_params() == model.count_params()
    by_name = {l.name: l for l in model.layers[2].layers} | {l.name: l for l in model.layers[3].layers} | \
              {l.name: l for l in model.layers[4].layers} | {"stem": model.get_layer("stem")}
    for layer in twin.layers:
        if layer.weights:
            layer.set_weights(by_name[layer.name].get_weights())
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype("float32")
    assert np.max(np.abs(np.asarray(model(x)) - np.asarray(twin(x)))) < 1e-5


def test_flat_import_has_no_blocks(keras):
    x = inp = keras.Input((32, 32, 3))
    for i in range(1, 4):
        x = _unit(keras, x, 8, f"u{i}")
    model = keras.Model(inp, x)
    assert "block " not in cnndsl.from_keras(model, blocks=False)
    _round_trip(model, cnndsl.from_keras(model, blocks=False))


def test_a_subclassed_model_is_one_clear_error(keras):
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="mine")
            self.conv = keras.layers.Conv2D(4, 3)

        def call(self, x):
            return self.conv(x)

    model = Net()
    model(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.from_keras(model)
    assert "mine" in e.value.message and e.value.kind != "internal"


def test_a_sequential_model_never_built_is_one_clear_error(keras):
    model = keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.Flatten()])
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.from_keras(model)
    assert e.value.kind != "internal" and "input" in e.value.message


def test_a_sequential_model_built_without_an_input_layer(keras):
    model = keras.Sequential([keras.layers.Conv2D(4, 3, name="c"), keras.layers.Flatten(name="f"),
                              keras.layers.Dense(3, name="d")])
    model.build((None, 10, 10, 2))
    text = cnndsl.from_keras(model)
    assert "image: [10, 10, 2]" in text
    twin = cnndsl.compile(text)
    assert twin.count_params() == model.count_params() == (9 * 2 + 1) * 4 + (8 * 8 * 4 + 1) * 3
    twin.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 10, 10, 2)).astype("float32")
    assert np.max(np.abs(np.asarray(model(x)) - np.asarray(twin(x)))) < 1e-5
