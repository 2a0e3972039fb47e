"""The Keras backend: every op's shape and parameter rules against Keras, and compiled models.

A mismatch between the checker and Keras is a bug, never a tolerance: shapes and
parameter counts are compared exactly, op by op and node by node.
"""
from __future__ import annotations


from pathlib import Path

import keras
import numpy as np
import pytest

import cnndsl
from cnndsl.backends.keras import BUILDERS, CALL, apply_template, build_model, keras_namespace
from cnndsl.backends.keras_layers import LRN
from cnndsl.ops import REGISTRY, bind_args
from cnndsl.ops.schema import ACTIVATIONS, resolve_spatial
from cnndsl.ops.tensor import split_sizes

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

S = (2, 9, 11, 6)   # batch 2, non-square H x W, 6 channels
T = (2, 13, 6)      # 1-D: batch 2, 13 steps, 6 channels
V = (2, 5, 9, 7, 6)  # 3-D: batch 2, 5 frames of 9 x 7, 6 channels
Q = (2, 10, 8)      # a sequence of 10 tokens of 8 channels

# (op, arguments as a spec would give them, input shapes)
CASES = [
    ("conv", dict(filters=4, kernel=3), [S]),
    ("conv", dict(filters=4, kernel=[1, 7], stride=[2, 1], padding="same"), [S]),
    ("conv", dict(filters=4, kernel=[3, 2], stride=3), [S]),
    ("conv", dict(filters=4, kernel=3, dilation=[2, 3]), [S]),
    ("conv", dict(filters=6, kernel=3, groups=3, bias=False, activation="relu"), [S]),
    ("conv", dict(filters=4, kernel=5, stride=2, padding="same"), [(None, None, None, 6)]),
    ("sepconv", dict(filters=5, kernel=3), [S]),
    ("sepconv", dict(filters=5, kernel=[3, 1], stride=2, padding="same", depth_multiplier=2, bias=False), [S]),
    ("sepconv", dict(filters=5, kernel=3, dilation=2, activation="swish"), [S]),
    ("dwconv", dict(kernel=3), [S]),
    ("dwconv", dict(kernel=[5, 3], stride=2, padding="same", depth_multiplier=3, bias=False), [S]),
    ("dwconv", dict(kernel=3, dilation=[1, 2], depth_multiplier=2), [(None, None, 11, 6)]),
    ("maxpool", {}, [S]),
    ("maxpool", dict(pool=3, stride=2, padding="same"), [S]),
    ("maxpool", dict(pool=[2, 3], stride=[1, 2]), [S]),
    ("avgpool", dict(pool=3), [S]),
    ("avgpool", dict(pool=2, stride=1, padding="same"), [(None, None, 7, 6)]),
    ("global_avgpool", {}, [S]),
    ("global_avgpool", dict(keepdims=True), [S]),
    ("global_maxpool", {}, [S]),
    ("global_maxpool", dict(keepdims=True), [(None, None, None, 6)]),
    ("dense", dict(units=7), [(None, 5)]),
    ("dense", dict(units=7, activation="softmax", bias=False), [(None, 5)]),
    ("dense", dict(units=3), [S]),                       # on the last axis of a 4-D tensor
    ("bn", {}, [S]),
    ("bn", dict(center=False), [S]),
    ("bn", dict(scale=False), [(None, 5)]),
    ("bn", dict(center=False, scale=False, epsilon=1e-5, momentum=0.9), [S]),
    ("lrn", {}, [S]),
    ("lrn", dict(radius=2, alpha=2e-5, beta=0.75, bias=2.0), [S]),
    *((fn, {}, [S]) for fn in ("relu", "relu6", "sigmoid", "softmax", "tanh", "swish", "silu", "gelu",
                               "hard_sigmoid", "hard_swish", "leaky_relu", "elu", "prelu")),
    ("relu", dict(max_value=6.0), [S]),
    ("relu", dict(negative_slope=0.1, threshold=0.5), [S]),
    ("relu", dict(layer=True), [S]),
    ("relu6", dict(layer=True), [S]),
    ("hard_sigmoid", dict(layer=True), [S]),
    ("leaky_relu", dict(slope=0.1), [S]),
    ("elu", dict(alpha=0.5), [S]),
    ("prelu", dict(shared_axes=[1, 2]), [S]),
    ("prelu", dict(shared_axes=[1, 2]), [(None, None, None, 6)]),
    ("prelu", dict(alpha_init="ones"), [(None, 5)]),
    ("conv_transpose", dict(filters=4, kernel=3), [S]),
    ("conv_transpose", dict(filters=4, kernel=2, stride=2), [S]),
    ("conv_transpose", dict(filters=4, kernel=3, stride=2, padding="same"), [S]),
    ("conv_transpose", dict(filters=4, kernel=3, stride=2, output_padding=1), [S]),
    ("conv_transpose", dict(filters=4, kernel=[3, 4], stride=[2, 3], padding="same", output_padding=[1, 0]), [S]),
    ("conv_transpose", dict(filters=4, kernel=3, dilation=2, bias=False, activation="relu"), [S]),
    ("conv_transpose", dict(filters=4, kernel=3, stride=2), [(None, None, 11, 6)]),
    ("conv", dict(filters=4, kernel=3, kernel_init="he_normal", bias_init="ones"), [S]),
    ("layernorm", {}, [S]),
    ("layernorm", dict(epsilon=1e-6, center=False), [(None, 5)]),
    ("layernorm", dict(axis=[1, 2, 3]), [S]),
    ("normalize", {}, [S]),
    ("normalize", dict(mean=[1.0, 2, 3, 4, 5, 6], variance=[1.0, 2, 3, 4, 5, 6]), [S]),
    ("normalize", dict(mean=0.5, variance=2.0), [(None, None, None, 6)]),
    ("layerscale", {}, [S]),
    ("layerscale", dict(init=0.1), [(None, 5)]),
    ("stochastic_depth", dict(rate=0.1), [S]),
    ("dropout", dict(rate=0.2, noise_shape=[None, 1, 1, 1]), [S]),
    ("scaled_add", dict(scale=0.17), [S, S]),
    ("split", dict(parts=2), [S]),
    ("split", dict(parts=[1, 2, 3]), [(None, None, None, 6)]),
    ("split", dict(parts=3, axis=1), [S]),
    ("slice", dict(start=1, stop=4), [S]),
    ("slice", dict(start=-2), [S]),
    ("permute", dict(dims=[2, 1, 3]), [S]),
    ("permute", dict(dims=[3, 1, 2]), [(None, None, 11, 6)]),
    ("channel_shuffle", dict(groups=3), [S]),
    ("resize", dict(size=[5, 7]), [S]),
    ("resize", dict(size=4, interpolation="nearest"), [(None, None, None, 6)]),
    ("maxpool", dict(pool=3, stride=2, padding=1), [S]),
    ("maxpool", dict(pool=3, stride=2, ceil_mode=True), [S]),
    ("avgpool", dict(pool=3, stride=2, padding=[1, 0], ceil_mode=True), [S]),
    *(("activation", dict(fn=fn), [S]) for fn in ACTIVATIONS),
    ("flatten", {}, [S]),
    ("flatten", {}, [(None, None, 4, 3)]),
    ("reshape", dict(shape=[-1]), [S]),
    ("reshape", dict(shape=[11, 9, -1]), [S]),
    ("reshape", dict(shape=[3, -1, 2]), [(None, None, 6)]),
    ("dropout", dict(rate=0.3), [S]),
    ("zeropad", dict(padding=1), [S]),
    ("zeropad", dict(padding=[2, 1]), [S]),
    ("zeropad", dict(padding=[[1, 2], [0, 3]]), [(None, None, 11, 6)]),
    ("crop", dict(cropping=1), [S]),
    ("crop", dict(cropping=[2, 1]), [S]),
    ("crop", dict(cropping=[[1, 2], [0, 3]]), [S]),
    ("upsample", {}, [S]),
    ("upsample", dict(size=[2, 3], interpolation="bilinear"), [(None, None, 11, 6)]),
    ("rescaling", dict(scale=1 / 255), [S]),
    ("rescaling", dict(scale=2.0, offset=-1.0), [S]),
    ("concat", {}, [S, (2, 9, 11, 3)]),
    ("concat", dict(axis=1), [S, (2, 4, 11, 6)]),
    ("concat", dict(axis=-2), [S, S, (2, 9, 1, 6)]),
    ("concat", {}, [(None, 5), (None, 2)]),
    ("add", {}, [S, S]),
    ("add", {}, [S, S, S]),
    ("multiply", {}, [S, (2, 1, 1, 6)]),                # SE: (1, 1, C) against (H, W, C)
    ("multiply", {}, [(2, 1, 1, 6), S]),
    ("multiply", {}, [S, S]),
    # any spatial rank (issue 16): 1-D [T, C] and 3-D [D, H, W, C] map to Keras's 1D and 3D layers
    ("conv", dict(filters=4, kernel=5, stride=2, padding="same"), [T]),
    ("conv", dict(filters=4, kernel=3, dilation=2, padding="causal"), [T]),
    ("conv", dict(filters=6, kernel=3, groups=2), [(None, None, 6)]),
    ("conv", dict(filters=4, kernel=[1, 3, 3], stride=[1, 2, 2], padding="same"), [V]),
    ("conv", dict(filters=4, kernel=3, bias=False), [V]),
    ("conv_transpose", dict(filters=4, kernel=4, stride=2, padding="same"), [T]),
    ("conv_transpose", dict(filters=4, kernel=2, stride=2), [V]),
    ("conv_transpose", dict(filters=4, kernel=3, stride=[1, 2, 2], output_padding=[0, 1, 1]), [V]),
    ("sepconv", dict(filters=5, kernel=3, depth_multiplier=2), [T]),
    ("dwconv", dict(kernel=5, stride=2, padding="same"), [T]),
    ("maxpool", dict(pool=3, stride=2), [T]),
    ("maxpool", dict(pool=[1, 2, 2]), [V]),
    ("avgpool", dict(pool=2, padding="same"), [V]),
    ("maxpool", dict(pool=3, stride=2, padding=1, ceil_mode=True), [T]),
    ("avgpool", dict(pool=3, stride=2, padding=1, count_include_pad=False), [S]),
    ("avgpool", dict(pool=3, stride=2, padding=[0, 1, 1], ceil_mode=True), [V]),
    ("global_avgpool", {}, [T]),
    ("global_maxpool", dict(keepdims=True), [V]),
    ("global_maxpool", dict(keepdims=True), [T]),
    ("avgpool", dict(pool=2, padding="same"), [T]),                 # asymmetric 'same': (0, 1) left out of the count
    ("maxpool", dict(pool=2, stride=2, padding="same"), [V]),       # asymmetric 'same' in every axis
    ("conv", dict(filters=4, kernel=3, stride=2, padding="same"), [(2, 6, 8, 8, 3)]),   # even sizes: pad (0, 1)
    ("sepconv", dict(filters=5, kernel=4, stride=2, padding="same", bias=False), [T]),
    ("dwconv", dict(kernel=3, depth_multiplier=2, dilation=2), [T]),
    ("upsample", dict(size=3), [T]),
    ("upsample", dict(size=[1, 2, 2]), [V]),
    ("zeropad", dict(padding=[[2, 0]]), [T]),
    ("zeropad", dict(padding=[0, 1, 2]), [V]),
    ("crop", dict(cropping=2), [T]),
    ("crop", dict(cropping=[[1, 0], [0, 2], [1, 1]]), [V]),
    ("adaptive_avgpool", dict(size=[4, 3]), [S]),
    ("adaptive_avgpool", dict(size=5), [T]),
    ("adaptive_maxpool", dict(size=[2, 3, 4]), [V]),
    # tensor math
    ("subtract", {}, [S, S]),
    ("subtract", {}, [S, (2, 1, 1, 6)]),
    ("divide", {}, [S, (2, 1, 11, 1)]),
    ("maximum", {}, [S, S, (2, 9, 11, 1)]),
    ("minimum", {}, [(None, None, 6), (None, 1, 6)]),
    ("average", {}, [S, S]),
    ("stack", {}, [S, S]),
    ("stack", dict(axis=1), [Q, Q, Q]),
    ("matmul", {}, [Q, (2, 8, 5)]),
    ("matmul", dict(transpose_b=True), [Q, Q]),
    ("matmul", {}, [(2, 3, 10, 8), (2, 3, 8, 4)]),
    *((fn, {}, [S]) for fn in ("abs", "square", "sqrt", "exp", "log")),
    ("power", dict(p=3), [S]),
    ("reduce_mean", {}, [S]),
    ("reduce_max", dict(axis=[1, 2], keepdims=True), [S]),
    ("reduce_sum", dict(axis=1), [Q]),
    ("softmax", dict(axis=1), [Q]),
    ("softmax", dict(axis=[1, 2]), [S]),
    # attention and learned tensors
    ("attention", dict(heads=4, key_dim=16), [Q]),
    ("attention", dict(heads=2, key_dim=8, value_dim=4, use_bias=False, output_shape=12, dropout=0.1),
     [Q, (2, 7, 5)]),
    ("attention", dict(heads=2, key_dim=4), [S]),            # over H and W of a feature map
    ("attention", dict(heads=2, key_dim=4, axes=2), [S]),    # over W only, each row apart (MobileViT's patches)
    ("attention", dict(heads=2, key_dim=4, axes=-3), [S, (2, 5, 11, 5)]),  # over H: 9 queries, 5 keys per column
    ("class_token", {}, [Q]),
    ("class_token", {}, [(None, None, 8)]),
    ("position_embedding", {}, [Q]),
    ("position_embedding", {}, [S]),
    ("weighted_add", {}, [S, S]),
    ("weighted_add", dict(normalize="softmax"), [S, S, S]),
    ("weighted_add", dict(normalize="none"), [Q, Q]),
    ("grn", {}, [S]),
    ("grn", {}, [V]),
    ("groupnorm", dict(groups=3), [S]),
    ("groupnorm", dict(groups=2, epsilon=1e-5, center=False), [T]),
]


def _case_id(case):
    op, given, shapes = case
    return op + "(" + ",".join(f"{k}={v}" for k, v in given.items()) + ")" + "".join(map(str, shapes))


def _sizes(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def test_the_table_covers_every_op():
    assert {c[0] for c in CASES} == set(REGISTRY) - {"input", "identity", "take"}


def test_the_keras_backend_has_a_builder_for_every_op():
    """A new registry entry needs its Keras builder (and nothing but the registry's own ops has one)."""
    spec_ops = {name for name, op in REGISTRY.items() if not (op.internal or op.passthrough)}
    assert set(BUILDERS) == spec_ops


def test_an_op_without_a_builder_is_a_located_error(monkeypatch):
    monkeypatch.delitem(BUILDERS, "lrn")
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.compile("network n(x: [8, 8, 3]) {\n  conv(4, 1) -> lrn\n}")
    assert e.value.kind == "unsupported" and e.value.exit_code == 1
    assert "`lrn` is not supported by the Keras backend" in str(e.value)
    assert (e.value.span.line, e.value.span.col) == (2, 17)


@pytest.mark.parametrize("op_name, given, shapes", CASES, ids=map(_case_id, CASES))
def test_op_rules_equal_keras(op_name, given, shapes):
    op = REGISTRY[op_name]
    args = bind_args(op, [], given, {})
    if op.ranks is not None:
        args = resolve_spatial(op, shapes, args)     # as inference fits them to the input's rank
    out = op.shape(shapes, args)
    trainable, non_trainable = op.params(shapes, args, out)
    if op_name == "split":
        args["sizes"] = split_sizes(shapes[0], args)     # as lowering records them
    node = cnndsl.ir.Node("layer", op_name, args, (), out, None)
    layer = BUILDERS[op_name](keras_namespace(), args, "layer")
    merge = op.arity is None
    x = [keras.Input(batch_shape=s) for s in shapes] if merge else keras.Input(batch_shape=shapes[0])
    y = eval(apply_template(node).format(layer="layer", x="x"), {"layer": layer, "x": x})
    if op_name == "split":      # several outputs: each is one of the split's parts
        parts = y
        want = [REGISTRY["take"].shape([out], {"index": i, "sizes": args["sizes"], "axis": args["axis"]})
                for i in range(len(args["sizes"]))]
        assert [tuple(t.shape) for t in parts] == want
        assert [tuple(s) for s in layer.compute_output_shape(shapes[0])] == want
        return
    assert tuple(y.shape) == out
    if apply_template(node) == CALL:
        assert tuple(layer.compute_output_shape(shapes if merge else shapes[0])) == out
    assert (_sizes(layer.trainable_weights), _sizes(layer.non_trainable_weights)) == (trainable, non_trainable)
    assert layer.count_params() == trainable + non_trainable


def assert_exact(graph, model):
    """Every node's shape and parameter counts equal its Keras layer's; so do the totals."""
    assert len(model.layers) == graph.layers + len(graph.inputs)
    for node in graph.nodes:
        if node.op == "take":          # a split's part: the split layer's output of that index
            split = model.get_layer(node.inputs[0].name)
            assert tuple(split.output[node.args["index"]].shape) == node.shape, node.name
            continue
        layer = model.get_layer(node.name)
        want = [tuple(t.shape) for t in layer.output] if node.op == "split" else tuple(layer.output.shape)
        assert want == ([n.shape for n in graph.nodes if n.inputs and n.inputs[0] is node] if node.op == "split"
                        else node.shape), node.name
        got = (_sizes(layer.trainable_weights), _sizes(layer.non_trainable_weights))
        assert got == (node.trainable, node.non_trainable), node.name
        assert type(layer).__module__.startswith(("keras.", "cnndsl.backends.keras_layers")), type(layer)
    assert model.count_params() == graph.total_params
    assert _sizes(model.trainable_weights) == graph.trainable
    assert _sizes(model.non_trainable_weights) == graph.non_trainable
    assert model.outputs == [model.get_layer(n.name).output for n in graph.outputs.values()]


def sample_inputs(graph, seed=0):
    """A fixed input batch (2 samples where the batch is unknown)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n.shape[0] or 2, *n.shape[1:])).astype("float32") for n in graph.inputs.values()]


def outputs(model, xs):
    ys = model(xs if len(xs) > 1 else xs[0], training=False)
    return [keras.ops.convert_to_numpy(y) for y in (ys if isinstance(ys, (list, tuple)) else [ys])]


def randomise(model, seed=1):
    """Random weights everywhere, BN moving variances positive, so round trips compare real numbers."""
    rng = np.random.default_rng(seed)
    model.set_weights([np.abs(rng.normal(size=w.shape)).astype("float32") * 0.5 + 0.1 if "variance" in w.path
                       else rng.normal(size=w.shape).astype("float32") * 0.3 for w in model.weights])


DEMO = """
block unit(f, stride=1, name=none) {
    let c = in.channels
    add(name="{name}_add") {
        if stride > 1 or c != f {
            conv(f, 1, stride=stride, bias=false, name="{name}_proj") -> bn(name="{name}_proj_bn")
        } else { identity }
        conv(f, 3, stride=stride, padding=same, name="{name}_c1") -> bn(name="{name}_bn1") -> relu(name="{name}_r1")
        -> conv(f, [1, 3], padding=same, name="{name}_c2") -> bn(center=false, name="{name}_bn2")
    }
    relu(name="{name}_out")
}
block se(ratio=4) {
    let c = in.channels
    multiply { identity; global_avgpool(keepdims=true) -> dense(c // ratio, activation=relu) -> dense(c, activation=sigmoid) }
}
block tower(f) {
    concat {
        conv(f, 1, padding=same)
        sepconv(f, 3, padding=same, depth_multiplier=2) -> lrn(radius=2, alpha=0.0001, beta=0.75)
        maxpool(3, stride=1, padding=same) -> dwconv(3, padding=same, activation=relu6)
    }
}
network demo(image: [16, 12, 3], meta: [4], classes=5) -> (probs, aux) {
    image -> rescaling(1 / 255) -> zeropad(1) -> conv(8, 3, name="stem")
    repeat 2 as i { unit(8, name="s1_{i}") }
    unit(16, stride=2, name="s2_0")
    se
    repeat 2 { tower(4) }
    f = global_avgpool
    m = meta -> dense(8, activation=gelu)
    probs = concat(f, m) -> dropout(0.25) -> dense(classes, activation=softmax, name="probs")
    aux = f -> dense(3, bias=false, name="aux")
}
"""

EVERY_OP = """
network every_op(x: [8, 8, 4]) {
    upsample(2, interpolation=bilinear) -> crop([[1, 1], [0, 2]]) -> zeropad([1, 2]) -> avgpool(2)
    -> relu6 -> tanh -> sigmoid -> swish -> silu -> gelu -> activation(elu) -> softmax
    -> maxpool([2, 1], stride=1) -> bn(scale=false) -> lrn -> global_maxpool(keepdims=true)
    -> flatten -> reshape([2, -1]) -> dense(3) -> flatten
}
"""


MODERN = """
let FAN_OUT = variance_scaling(2.0, mode=fan_out, distribution=truncated_normal)
network modern(x: [8, 8, 4]) {
    normalize -> conv_transpose(6, 3, stride=2, padding=same, output_padding=1, kernel_init=FAN_OUT,
                                kernel_reg=l2(1e-4))
    -> layernorm(epsilon=1e-6) -> layerscale(0.5) -> prelu(shared_axes=[1, 2]) -> leaky_relu(0.1) -> elu
    -> relu(max_value=6) -> relu6(layer=true) -> hard_sigmoid(layer=true) -> hard_swish -> hard_sigmoid
    a = stochastic_depth(0.1)
    b = a -> conv(6, 1, kernel_init=he_normal, bias_init=constant(0.1))
    scaled_add(0.2) { a; b }
    -> dropout(0.2, noise_shape=[none, 1, 1, 1]) -> relu(layer=true)
    -> normalize(mean=[1, 2, 3, 4, 5, 6], variance=[1, 1, 2, 2, 3, 3])
    p, q = split([2, 4])
    r = q -> slice(1, 3) -> channel_shuffle(2)
    concat(p, r) -> permute([2, 1, 3]) -> resize([9, 7]) -> maxpool(3, stride=2, padding=1)
    -> avgpool(3, stride=2, ceil_mode=true) -> global_avgpool -> dense(3)
}
"""


REACH = Path(__file__).parent / "fixtures" / "reach.cnn"     # issue 16's ops: 1-D, 3-D, math, attention
REACH_NETWORKS = ("signal", "volume", "math", "tokens")


@pytest.mark.parametrize("src", [DEMO, EVERY_OP, MODERN], ids=["demo", "every_op", "modern"])
def test_inline_specs_compile_exactly(src):
    graph = cnndsl.check(src)
    assert_exact(graph, build_model(graph))


@pytest.mark.parametrize("network", REACH_NETWORKS)
def test_the_reach_networks_compile_exactly(network):
    graph = cnndsl.check(REACH, network)
    assert_exact(graph, build_model(graph))


def test_initializers_and_regularizers_reach_keras():
    model = build_model(cnndsl.check(MODERN))
    config = model.get_layer("conv_transpose_1").get_config()
    assert config["kernel_initializer"]["class_name"] == "VarianceScaling"
    assert config["kernel_initializer"]["config"]["mode"] == "fan_out"
    assert config["kernel_initializer"]["config"]["distribution"] == "truncated_normal"
    assert config["kernel_regularizer"]["config"]["l2"] == pytest.approx(1e-4)
    config = model.get_layer("conv_1").get_config()
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["bias_initializer"]["config"]["value"] == pytest.approx(0.1)


def test_inline_specs_use_every_op():
    used = {n.op for src in (DEMO, EVERY_OP, MODERN) for n in cnndsl.check(src).nodes}
    used |= {n.op for name in REACH_NETWORKS for n in cnndsl.check(REACH, name).nodes}
    assert used == set(REGISTRY) - {"identity"}


def test_unknown_spatial_sizes_and_a_fixed_batch():
    src = """network n(x: [none, none, 3], batch=4) {
        conv(8, 3, stride=2, padding=same) -> bn -> upsample(2) -> crop(1) -> global_avgpool -> dense(2) }"""
    graph = cnndsl.check(src)
    model = build_model(graph)
    assert_exact(graph, model)
    assert model.inputs[0].shape == (4, None, None, 3)
    assert outputs(model, [np.zeros((4, 10, 14, 3), "float32")])[0].shape == (4, 2)


def test_inputs_and_outputs_keep_the_graph_order():
    graph = cnndsl.check(DEMO)
    model = build_model(graph)
    assert model.name == "demo"
    assert [t.name for t in model.inputs] == ["image", "meta"]
    assert [y.shape for y in outputs(model, sample_inputs(graph))] == [(2, 5), (2, 3)]


def test_compiling_twice_gives_identical_names_and_weight_order():
    first, second = cnndsl.compile(DEMO), cnndsl.compile(DEMO)   # no clear_session between them
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    assert [(w.path, w.shape) for w in first.weights] == [(w.path, w.shape) for w in second.weights]
    assert "tower_2-sepconv_1" in [layer.name for layer in first.layers]   # derived names show the block path


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    graph = cnndsl.check(DEMO)
    model = build_model(graph)
    randomise(model)
    path = tmp_path / "demo.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert isinstance(loaded.get_layer("tower_1-lrn_1"), LRN)
    xs = sample_inputs(graph)
    for want, got in zip(outputs(model, xs), outputs(loaded, xs)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("radius", [0, 1, 2, 5, 9])
def test_lrn_equals_tensorflow_and_the_reference(radius):
    import tensorflow as tf

    from tests.reference.lrn import LocalResponseNormalization
    x = np.random.default_rng(radius).normal(size=(2, 5, 4, 7)).astype("float32")
    ours = keras.ops.convert_to_numpy(LRN(radius=radius, alpha=0.3, beta=0.75, bias=1.5)(x))
    tf_lrn = tf.nn.local_response_normalization(x, depth_radius=radius, bias=1.5, alpha=0.3, beta=0.75)
    reference = LocalResponseNormalization(depth_radius=radius, bias=1.5, alpha=0.3, beta=0.75)(x)
    np.testing.assert_allclose(ours, tf_lrn.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(reference), rtol=1e-5, atol=1e-6)


def test_lrn_has_no_weights_and_round_trips_its_config():
    layer = LRN(radius=2, alpha=2e-5, beta=0.75, bias=1.0, name="n")
    layer(keras.Input((4, 4, 6)))
    assert layer.weights == []
    clone = LRN.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert keras.saving.get_registered_name(LRN) == "cnndsl>LRN"


def test_a_layer_keras_refuses_is_a_located_error(monkeypatch):
    # Simulate a checker/Keras disagreement: a conv builder that asks Conv2D for stride 2 with dilation 2.
    monkeypatch.setitem(BUILDERS, "conv", lambda k, a, name: k.layers.Conv2D(
        a["filters"], a["kernel"], strides=2, dilation_rate=2, name=name))
    graph = cnndsl.check("block b() { conv(8, 3) }\nnetwork n(x: [9, 9, 3]) { b }")
    with pytest.raises(cnndsl.CnnError) as err:
        build_model(graph)
    assert err.value.kind == "internal" and "Keras rejected layer `b_1-conv_1`" in err.value.message
    assert err.value.span is not None and err.value.chain[0].label == "b()"


def test_check_rejects_conv_stride_with_dilation():
    with pytest.raises(cnndsl.CnnError):
        cnndsl.check("network n(x: [9, 9, 3]) { conv(8, 3, stride=2, dilation=2) }")


@pytest.mark.parametrize("name", ["conv 1", "a:b", "café"])
def test_check_rejects_names_tensorflow_cannot_run(name):
    with pytest.raises(cnndsl.CnnError):
        cnndsl.check(f'network n(x: [9, 9, 3]) {{ conv(8, 3, name="{name}") }}')


def test_compile_does_not_depend_on_the_keras_image_data_format():
    graph = cnndsl.check(EVERY_OP)
    keras.config.set_image_data_format("channels_first")
    try:
        assert_exact(graph, build_model(graph))
    finally:
        keras.config.set_image_data_format("channels_last")


TORCH_POOLS = [("max", 3, 2, 1, False, 9), ("max", 3, 2, 0, True, 10), ("max", 2, 2, 0, True, 7),
               ("avg", 3, 2, 1, False, 9), ("avg", 3, 2, 1, True, 10), ("avg", 3, 2, 0, True, 8),
               ("max", 5, 1, 2, False, 6), ("avg", 2, 3, 1, True, 11)]


@pytest.mark.parametrize("mode, k, s, p, ceil, n", TORCH_POOLS)
def test_torch_style_pooling_equals_torch(mode, k, s, p, ceil, n):
    """maxpool/avgpool with pixels of padding and ceil_mode compute what torch computes, shapes included."""
    import torch
    import torch.nn.functional as F
    from cnndsl.backends.keras_layers import TorchPool2D
    x = np.random.default_rng(0).normal(size=(2, n, n + 1, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(TorchPool2D(mode, (k, k), (s, s), (p, p), ceil)(x))
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    theirs = pool(t, k, s, p, ceil_mode=ceil).permute(0, 2, 3, 1).numpy()
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    graph = cnndsl.check(f"network n(x: [{n}, {n + 1}, 3]) {{ {mode}pool({k}, stride={s}, padding={p}, "
                         f"ceil_mode={str(ceil).lower()}) }}")
    assert graph.nodes[-1].shape[1:3] == theirs.shape[1:3]


def test_channel_shuffle_equals_shufflenets():
    """torchvision's channel_shuffle: view(N, g, C/g, H, W), transpose(1, 2), flatten."""
    import torch
    from cnndsl.backends.keras_layers import ChannelShuffle
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 12)).astype("float32")
    ours = keras.ops.convert_to_numpy(ChannelShuffle(3)(x))
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    theirs = t.view(2, 3, 4, 5, 4).transpose(1, 2).reshape(2, 12, 5, 4).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_split_and_slice_cut_the_channels():
    from cnndsl.backends.keras_layers import Slice, Split
    x = np.arange(2 * 3 * 3 * 6, dtype="float32").reshape(2, 3, 3, 6)
    parts = [keras.ops.convert_to_numpy(p) for p in Split([1, 2, 3])(x)]
    for got, want in zip(parts, np.split(x, [1, 3], axis=-1)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(Slice(1, -1)(x)), x[..., 1:-1])
