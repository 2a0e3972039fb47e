"""Issue 16's language against Keras's own counts and outputs: shared layers (a Siamese toy against an
independent Keras transcription that calls each layer twice, weights copied), frozen layers (Keras's
trainable and non-trainable weights), fixed weights (kernel_init=[...]: the weights Keras made), a
collected named tensor (a WaveNet-like stack against its transcription), and the Python emitter of a
spec with shared layers. The transcriptions are written here with keras.layers, not generated."""
from __future__ import annotations

import numpy as np
import pytest

import cnndsl
from keras_compare import TOLERANCE

pytestmark = pytest.mark.slow

SIAMESE = """
block encoder(f) {
    conv(f, 3, padding=same) -> bn -> relu
    maxpool(2)
    conv(2 * f, 3, padding=same) -> relu -> global_avgpool
}
network siamese(a: [32, 32, 3], b: [32, 32, 3]) {
    shared enc = encoder(8)
    shared head = dense(16)
    ea = a -> enc -> head
    eb = enc(b) -> head
    concat(ea, eb) -> dense(1)    # the logit
}
"""


def _siamese_reference():
    """Koch et al.'s twin idea in Keras: one encoder's layers, each called on both inputs."""
    import keras
    from keras import layers
    convs = [layers.Conv2D(8, 3, padding="same"), layers.BatchNormalization(), layers.Activation("relu"),
             layers.MaxPooling2D(2), layers.Conv2D(16, 3, padding="same"), layers.Activation("relu"),
             layers.GlobalAveragePooling2D()]
    head = layers.Dense(16)
    a, b = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    outs = []
    for x in (a, b):
        for layer in convs:
            x = layer(x)
        outs.append(head(x))
    y = layers.Dense(1)(layers.Concatenate()(outs))
    return keras.Model([a, b], y), [*convs, head]


def _inputs(*shapes, seed=3):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(2, *s)).astype("float32") for s in shapes]


def _np(x):
    """A backend tensor (or list of them) as numpy, on any Keras backend."""
    import keras
    return keras.ops.convert_to_numpy(x)


def _close(got, want):
    got, want = _np(got), _np(want)
    assert got.shape == want.shape and np.abs(want).max() > 0
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())


@pytest.fixture(scope="module")
def siamese():
    import keras
    keras.utils.set_random_seed(0)
    graph = cnndsl.check(SIAMESE)
    model = cnndsl.compile(SIAMESE)
    yield graph, model
    keras.backend.clear_session()


def test_a_shared_block_is_one_set_of_keras_layers_called_twice(siamese):
    graph, model = siamese
    ref, _ = _siamese_reference()
    assert model.count_params() == ref.count_params() == graph.total_params == 1_729
    assert len(model.layers) == len(ref.layers) == graph.layers + 2
    conv = model.get_layer("enc-conv_1")
    assert len(conv._inbound_nodes) == 2            # called once per application
    assert len(model.get_layer("head")._inbound_nodes) == 2
    names = {layer.name for layer in model.layers}
    assert not any("@" in n for n in names)            # later applications make no layer


def test_a_shared_block_computes_what_the_transcription_computes(siamese):
    graph, model = siamese
    ref, ref_layers = _siamese_reference()
    mine = ["enc-conv_1", "enc-bn_1", "enc-relu_1", "enc-maxpool_1", "enc-conv_2", "enc-relu_2",
            "enc-global_avgpool_1", "head"]
    rng = np.random.default_rng(5)
    for name, layer in zip(mine, ref_layers):
        weights = [rng.normal(scale=0.2, size=w.shape).astype("float32") for w in layer.get_weights()]
        if isinstance(layer, __import__("keras").layers.BatchNormalization):
            weights[3] = np.abs(weights[3]) + 0.5       # a positive moving variance
        layer.set_weights(weights)
        model.get_layer(name).set_weights(weights)
    model.get_layer("dense_1").set_weights(ref.layers[-1].get_weights())
    a, b = _inputs((32, 32, 3), (32, 32, 3))
    _close(model([a, b], training=False), ref([a, b], training=False))


def test_the_python_emitter_makes_the_shared_layers_once(siamese, tmp_path):
    from cnndsl.backends.python import emit_python
    graph, model = siamese
    source = emit_python(graph)
    assert source.count("enc_conv_1_layer(") == 2 and source.count("layers.Conv2D(8,") == 1
    namespace = {}
    exec(compile(source, "siamese_emitted.py", "exec"), namespace)
    rebuilt = namespace["build_model"]()
    assert rebuilt.count_params() == model.count_params()
    rebuilt.set_weights(model.get_weights())
    a, b = _inputs((32, 32, 3), (32, 32, 3))
    _close(rebuilt([a, b], training=False), model([a, b], training=False))


FROZEN = """
block cb(f) { conv(f, 3) -> bn }
network frozen(x: [8, 8, 3]) {
    conv(4, 1, trainable=false) -> bn(trainable=false)
    cb(4, trainable=false)
    sequential(name="s", trainable=false) { dense(5) -> layernorm }
    shared h = dense(5, trainable=false)
    y = h
    y -> h -> dense(2)
}
"""


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def test_frozen_layers_count_as_keras_counts_them():
    import keras
    from keras import layers
    graph = cnndsl.check(FROZEN)
    model = cnndsl.compile(FROZEN)
    assert (_count(model.trainable_weights), _count(model.non_trainable_weights)) == (
        graph.trainable, graph.non_trainable)
    # the same network by hand: a frozen layer is `trainable=False`, a frozen BN keeps all 4 weights out
    x = inp = keras.Input((8, 8, 3))
    x = layers.BatchNormalization(trainable=False)(layers.Conv2D(4, 1, trainable=False)(x))
    x = layers.BatchNormalization(trainable=False)(layers.Conv2D(4, 3, trainable=False)(x))
    seq = keras.Sequential([layers.Dense(5), layers.LayerNormalization()])
    seq.trainable = False               # Keras's way to freeze a model: every layer in it
    x = seq(x)
    h = layers.Dense(5, trainable=False)
    x = layers.Dense(2)(h(h(x)))
    ref = keras.Model(inp, x)
    assert (_count(ref.trainable_weights), _count(ref.non_trainable_weights)) == (
        graph.trainable, graph.non_trainable) == (5 * 2 + 2, 16 + 16 + 148 + 16 + 25 + 10 + 30)
    keras.backend.clear_session()


def test_the_python_emitter_freezes_and_shares_inside_blocks():
    """`--emit python` of frozen layers (trainable=False in the constructor calls) and of a shared op
    declared in a block called twice (one layer per call of the block, applied twice in it)."""
    import keras
    from cnndsl.backends.python import emit_python
    src = FROZEN.replace("block cb(f) { conv(f, 3) -> bn }",
                         "block cb(f) { shared c = conv(f, 3, padding=same)\n in -> c -> bn -> c }")
    graph = cnndsl.check(src)
    model = cnndsl.compile(src)
    namespace = {}
    exec(compile(emit_python(graph), "frozen_emitted.py", "exec"), namespace)
    rebuilt = namespace["build_model"]()
    for m in (model, rebuilt):
        assert (_count(m.trainable_weights), _count(m.non_trainable_weights)) == (graph.trainable, graph.non_trainable)
    rebuilt.set_weights(model.get_weights())
    (x,) = _inputs((8, 8, 3))
    _close(rebuilt(x, training=False), model(x, training=False))
    keras.backend.clear_session()


def test_fixed_weights_are_the_weights_keras_makes_yolov8s_dfl():
    """Ultralytics' DFL: a frozen 1x1 conv, no bias, weights arange(16), over a softmax of 16 bins."""
    dfl = "[[[" + ", ".join(f"[{i}]" for i in range(16)) + "]]]"
    src = f"""network dfl(box: [20, 4, 16]) {{
        box -> softmax -> conv(1, 1, bias=false, trainable=false, kernel_init={dfl}, name="dfl")
    }}"""
    graph = cnndsl.check(src)
    model = cnndsl.compile(src)
    (kernel,) = model.get_layer("dfl").get_weights()
    assert kernel.shape == (1, 1, 16, 1)
    np.testing.assert_array_equal(kernel.reshape(16), np.arange(16, dtype="float32"))
    assert (_count(model.trainable_weights), _count(model.non_trainable_weights)) == (0, 16) == (
        graph.trainable, graph.non_trainable)
    (x,) = _inputs((20, 4, 16))
    e = np.exp(x - x.max(-1, keepdims=True))
    want = (e / e.sum(-1, keepdims=True)) @ np.arange(16, dtype="float32")
    _close(_np(model(x)).reshape(2, 20, 4), want)
    dense = cnndsl.compile("network n(x: [3]) { x -> dense(2, kernel_init=[[1, 2], [3, 4], [5, 6]], "
                           "bias_init=[0.5, -0.5]) }")
    kernel, bias = dense.get_weights()
    np.testing.assert_array_equal(kernel, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(bias, [0.5, -0.5])


def test_a_collected_named_tensor_is_each_iterations_skip_output():
    import keras
    from keras import layers
    src = """network wavenet(x: [16, 16, 8]) {
        skips = repeat 3 as i collect skip {
            h = conv(8, 3, padding=same, dilation=2 ** i, name="dil_{i}") -> tanh
            skip = h -> conv(4, 1, name="skip_{i}")
            x = add(x, h -> conv(8, 1, name="res_{i}"))
        }
        add(skips) -> relu
    }"""
    model = cnndsl.compile(src)
    inp = keras.Input((16, 16, 8))
    x, skips = inp, []
    for i in range(3):
        h = layers.Activation("tanh")(layers.Conv2D(8, 3, padding="same", dilation_rate=2 ** i, name=f"dil_{i}")(x))
        skips.append(layers.Conv2D(4, 1, name=f"skip_{i}")(h))
        if i < 2:              # the last residual reaches no output: Keras and cnndsl leave it out
            x = layers.Add()([x, layers.Conv2D(8, 1, name=f"res_{i}")(h)])
    ref = keras.Model(inp, layers.Activation("relu")(layers.Add()(skips)))
    assert model.count_params() == ref.count_params()
    for layer in ref.layers:
        if layer.get_weights():
            rng = np.random.default_rng(len(layer.name))
            weights = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
            layer.set_weights(weights)
            model.get_layer(layer.name).set_weights(weights)
    (x,) = _inputs((16, 16, 8))
    _close(model(x), ref(x))
    keras.backend.clear_session()


def test_the_activations_are_keras_s_every_name_but_two():
    """keras.activations' own table (ALL_OBJECTS with the aliases swish and hard_swish), less threshold
    (no defaults for its arguments) and glu (Keras's Activation layer misreports its shape)."""
    from keras.src.activations import ALL_OBJECTS_DICT

    from cnndsl.ops.schema import ACTIVATIONS, NOT_BY_NAME
    assert set(ACTIVATIONS) | set(NOT_BY_NAME) == set(ALL_OBJECTS_DICT)
    assert not set(ACTIVATIONS) & set(NOT_BY_NAME)


def test_import_reads_frozen_layers_and_fixed_weights():
    """A fine-tuned Keras model (frozen layers, a frozen BN) with a fixed-weight conv: `cnndsl import`
    writes `trainable=false` and the weights as a list, and the spec counts as Keras does."""
    import keras
    from keras import layers
    inp = keras.Input((8, 8, 16))
    x = layers.Conv2D(4, 3, trainable=False, name="c1")(inp)
    x = layers.BatchNormalization(trainable=False, name="bn")(x)
    x = layers.Conv2D(1, 1, use_bias=False, trainable=False, name="fixed",
                      kernel_initializer=keras.initializers.Constant(np.arange(4, dtype="float32").reshape(1, 1, 4, 1)))(x)
    model = keras.Model(inp, layers.Dense(3, name="d")(x))
    text = cnndsl.from_keras(model)
    assert "conv(4, 3, trainable=false" in text and "bn(trainable=false" in text
    assert "kernel_init=[[[[0.0], [1.0], [2.0], [3.0]]]]" in text
    graph = cnndsl.check(text)
    assert (graph.trainable, graph.non_trainable) == (_count(model.trainable_weights),
                                                      _count(model.non_trainable_weights)) == (6, 600)
    rebuilt = cnndsl.compile(text)
    np.testing.assert_array_equal(rebuilt.get_layer("fixed").get_weights()[0], model.get_layer("fixed").get_weights()[0])
    keras.backend.clear_session()
