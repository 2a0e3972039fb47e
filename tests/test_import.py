"""Reading Keras models (issue 11): ``cnndsl.from_keras``, ``cnndsl import`` and ``.keras`` files.

Every check is against Keras's own figures: ``count_params`` and the trainable / non-trainable weight
counts, the class of each layer in ``model.layers`` (nested ``keras.Sequential`` sub-models
included), the names the model's author gave (Keras's generated ones, ``conv2d_12``, are not
kept and are skipped, see ``keras_compare.auto_named``), ``set_weights(original.get_weights())``
and the outputs in inference mode on a random input after the original's biases and BN statistics
are randomised (max abs difference <= 1e-5, relative to the output's magnitude where it exceeds 1).

A round trip is ``cnndsl.compile(cnndsl.check(cnndsl.from_keras(model)))``. Part 7 runs it for every
shipped spec's compiled model (the seed library and the specs beyond it, as tests/test_backends.py
lists them); networks of over 30M parameters skip the numeric comparison.

The command line runs as a user would (``python -m cnndsl``); errors must be one ``error:`` line (and
its hint), exit status != 0, no traceback, no output file.
"""
from __future__ import annotations

import functools
import gc
import subprocess
import sys

import numpy as np
import pytest

import cnndsl
from conftest import ROOT, beyond_specs, run_cli, seed_library
from keras_compare import auto_named, params, randomize, zero_initialized

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

TOLERANCE = 1e-5
BIG = 30_000_000          # over this many parameters: no forward passes in part 7
SMALL_SIZE = 64           # the size of an input dimension a model leaves unknown
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}
# Smaller inputs where a network allows them (as tests/test_backends.py), to keep the forward passes cheap.
CHEAPER = {"unet.cnn": {"image": [188, 188, 1]}, "yolov8.cnn": {"image": [160, 160, 3]},
           "retinanet.cnn": {"image": [128, 128, 3]}, "fcos.cnn": {"image": [128, 128, 3]},
           "efficientdet.cnn": {"image": [128, 128, 3]},
           "deeplabv3plus.cnn": {"image": [129, 129, 3]}, "video.cnn": {"clip": [8, 32, 32, 3]},
           "video.cnn:s3d": {"clip": [14, 209, 209, 3]},   # its last pool is 2 x 7 x 7, unpadded
           "vit.cnn": {"image": [32, 32, 3]}, "convnext_v2.cnn": {"image": [64, 64, 3]},
           "res2net.cnn": {"image": [64, 64, 3]}, "attention_cnns.cnn": {"image": [64, 64, 3]},
           "dla.cnn": {"image": [64, 64, 3]}, "audio.cnn:wavenet": {"wave": [600, 256], "stacks": 1},
           "unet3d.cnn": {"image": [92, 92, 92, 1], "base": 2}, "mobilevit.cnn": {"image": [128, 128, 3]},
           "hrnet.cnn": {"image": [64, 64, 3]}, "nonlocal_resnet50.cnn": {"image": [64, 64, 3]},
           "pspnet.cnn": {"image": [89, 89, 3]}}


# --- helpers ------------------------------------------------------------------------------------------------

def round_trip(model):
    """(spec text, IR graph, compiled keras.Model) of ``model`` read back through cnndsl."""
    text = cnndsl.from_keras(model)
    graph = cnndsl.check(text)
    return text, graph, cnndsl.compile(graph)


def classes(layers) -> list:
    return [type(layer).__name__ for layer in layers]


def all_layers(model) -> list:
    """``model.layers``, each nested model followed by its own layers (recursively)."""
    out = []
    for layer in model.layers:
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(all_layers(layer))
    return out


def explicit_name_differences(original, copy) -> list:
    """(original's name, copy's name) at every position where the original's name is not generated."""
    a, b = all_layers(original), all_layers(copy)
    assert len(a) == len(b), f"{len(b)} layers (nested ones included), Keras's model has {len(a)}"
    return [(x.name, y.name) for x, y in zip(a, b) if not auto_named(x) and x.name != y.name]


def sample(model, seed: int = 1):
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(t.shape[0] or 2, *[d or SMALL_SIZE for d in t.shape[1:]])).astype("float32")
          for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def outputs(model, x) -> list:
    y = model(x, training=False)
    return [np.asarray(v) for v in (y if isinstance(y, (list, tuple)) else [y])]


def assert_same_outputs(copy, original):
    """The copy computes the original's outputs (its weights already copied)."""
    x = sample(original)
    got, want = outputs(copy, x), outputs(original, x)
    assert len(got) == len(want) == len(original.outputs)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"output {k}: shape {g.shape}, Keras's model gives {w.shape}"
        assert np.all(np.isfinite(w)) and np.abs(w).max() > 0, f"output {k}: Keras's output says nothing"
        diff = float(np.abs(g - w).max())
        assert diff <= TOLERANCE * max(1.0, float(np.abs(w).max())), f"output {k}: max abs difference {diff:.3g}"


def assert_same_params(graph, copy, original):
    want = params(original)
    assert (graph.total_params, graph.trainable, graph.non_trainable) == want, "cnndsl check vs Keras"
    assert params(copy) == want, "the compiled copy vs Keras"


def assert_one_line_error(r: subprocess.CompletedProcess, *words):
    assert r.returncode != 0, f"exit status 0; stdout: {r.stdout[-500:]}"
    err = r.stderr
    assert "Traceback" not in err, err[-2000:]
    first = err.splitlines()[0] if err else ""
    # unlocated (`error: ...`) or located in the file (`x.keras: layers[2]: error: ...`, issue 20)
    assert (err.startswith("error:") or ": error: " in first) and err.count("error:") == 1, err[-2000:]
    assert "internal error" not in err, err
    for word in words:
        assert word in err, f"{word!r} not in: {err}"


def _keras():
    import keras
    return keras


@functools.cache
def scale_layer():
    """A custom layer class (not Keras's, not cnndsl's), registered so that Keras can save it."""
    keras = _keras()

    @keras.saving.register_keras_serializable(package="mytest")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return Scale


@pytest.fixture(autouse=True, scope="module")
def _quiet_keras():
    yield
    import keras
    keras.backend.clear_session()
    gc.collect()


# --- 1. a functional model with nested Sequential sub-models ------------------------------------------------

def nested_sequential_model():
    keras = _keras()
    L = keras.layers
    stem = keras.Sequential([L.Conv2D(8, 3, padding="same", use_bias=False, name="stem_conv"),
                             L.BatchNormalization(name="stem_bn"), L.ReLU(name="stem_relu")], name="stem")
    head = keras.Sequential([L.GlobalAveragePooling2D(), L.Dropout(0.2, name="head_drop"),
                             L.Dense(5, activation="softmax", name="logits")], name="head")
    image = keras.Input((16, 16, 3), name="image")
    x = stem(image)
    y = L.Conv2D(8, 3, padding="same", activation="relu", name="mid")(x)
    y = L.BatchNormalization()(y)                       # generated name: not kept, skipped below
    x = L.Add(name="merge")([x, y])
    model = keras.Model(image, head(x), name="nested_sequential")
    randomize(model)
    return model


def test_nested_sequential_round_trips():
    keras = _keras()
    original = nested_sequential_model()
    text, graph, copy = round_trip(original)
    assert "sequential(" in text
    assert_same_params(graph, copy, original)
    assert classes(copy.layers) == classes(original.layers)
    assert classes(copy.layers).count("Sequential") == 2
    subs = {layer.name: layer for layer in copy.layers if isinstance(layer, keras.Sequential)}
    assert set(subs) == {"stem", "head"}
    for layer in original.layers:
        if isinstance(layer, keras.Sequential):
            assert classes(subs[layer.name].layers) == classes(layer.layers), layer.name
            assert params(subs[layer.name]) == params(layer), layer.name
    assert explicit_name_differences(original, copy) == []
    assert [n.name for n in subs["stem"].layers] == ["stem_conv", "stem_bn", "stem_relu"]
    copy.set_weights(original.get_weights())
    assert_same_outputs(copy, original)


# --- 1b. shared layers: a layer and a nested model each called twice ----------------------------------------

def shared_model():
    """Koch et al.'s Siamese layout as Keras users write it: one encoder model called on both images,
    and one Dense layer called on both encodings."""
    keras = _keras()
    L = keras.layers
    encoder = keras.Sequential([keras.Input((16, 16, 1)), L.Conv2D(8, 3, activation="relu", name="conv1"),
                                L.MaxPooling2D(name="pool1"), L.Flatten(name="flatten"),
                                L.Dense(16, activation="sigmoid", name="fc")], name="encoder")
    head = L.Dense(8, name="head")
    left, right = keras.Input((16, 16, 1), name="left"), keras.Input((16, 16, 1), name="right")
    h1, h2 = head(encoder(left)), head(encoder(right))
    out = L.Dense(1, activation="sigmoid", name="similarity")(L.Subtract(name="difference")([h1, h2]))
    model = keras.Model([left, right], out, name="siamese")
    randomize(model)
    return model


def test_a_layer_called_twice_is_read_as_shared():
    """Issue 16: a Keras model that calls a layer (or a nested model) more than once becomes a spec with
    `shared`; its weights count once and the copy computes the same outputs."""
    original = shared_model()
    text, graph, copy = round_trip(original)
    assert "shared encoder_shared = encoder()" in text and "shared head = dense(8)" in text, text
    assert "left -> encoder_shared" in text and "right -> encoder_shared" in text, text
    assert_same_params(graph, copy, original)
    assert sum(1 for n in graph.nodes if n.shares is not None) == 5     # four encoder layers and the head
    copy.set_weights(original.get_weights())
    assert_same_outputs(copy, original)


# --- 2. a top-level Sequential model --------------------------------------------------------------------------

def test_top_level_sequential_round_trips():
    keras = _keras()
    L = keras.layers
    original = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(6, 5, padding="same", activation="relu", name="c1"),
        L.MaxPooling2D(name="p1"),
        L.Conv2D(16, 5, activation="tanh"),
        L.BatchNormalization(),
        L.AveragePooling2D(2),
        L.Flatten(name="flat"),
        L.Dense(32, activation="relu", name="fc"),
        L.Dense(10, activation="softmax", name="out"),
    ], name="small_sequential")
    randomize(original)
    _, graph, copy = round_trip(original)
    assert_same_params(graph, copy, original)
    got = [layer for layer in copy.layers if type(layer).__name__ != "InputLayer"]
    want = [layer for layer in original.layers if type(layer).__name__ != "InputLayer"]
    assert classes(got) == classes(want)
    assert [(a.name, b.name) for a, b in zip(want, got) if not auto_named(a) and a.name != b.name] == []
    copy.set_weights(original.get_weights())
    assert_same_outputs(copy, original)


# --- 3. a nested functional sub-model -------------------------------------------------------------------------

def test_nested_functional_model_is_flattened():
    """A functional model used as a layer is flattened: its layers appear inline in the spec, and the
    compiled model has no nested model; the parameters and the outputs are those of the original."""
    keras = _keras()
    L = keras.layers
    i = keras.Input((8, 8, 4), name="block_in")
    h = L.Conv2D(4, 3, padding="same", name="block_conv")(i)
    h = L.BatchNormalization(name="block_bn")(h)
    h = L.Add(name="block_add")([i, h])
    inner = keras.Model(i, L.ReLU(name="block_relu")(h), name="block")
    image = keras.Input((8, 8, 3), name="image")
    x = L.Conv2D(4, 1, name="proj")(image)
    x = inner(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    original = keras.Model(image, L.Dense(3, name="logits")(x), name="outer")
    randomize(original)
    text, graph, copy = round_trip(original)
    assert "sequential(" not in text
    assert_same_params(graph, copy, original)
    assert not any(isinstance(layer, keras.Model) for layer in copy.layers), "a nested model was kept"
    flat = [layer for layer in all_layers(original) if not isinstance(layer, keras.Model)
            and type(layer).__name__ != "InputLayer"]
    got = [layer for layer in copy.layers if type(layer).__name__ != "InputLayer"]
    assert sorted(classes(got)) == sorted(classes(flat))
    by_name = {layer.name: layer for layer in flat}
    assert {layer.name for layer in got} == set(by_name)
    for layer in got:
        layer.set_weights(by_name[layer.name].get_weights())
    assert_same_outputs(copy, original)


# --- 4. layers with no cnndsl form ---------------------------------------------------------------------------

def lambda_model(two: bool = False):
    keras = _keras()
    L = keras.layers
    image = keras.Input((8, 8, 3), name="image")
    x = L.Lambda(lambda v: v * 2.0, name="double")(image)
    x = L.Conv2D(2, 3, name="c")(x)
    if two:
        x = scale_layer()(3.0, name="triple")(x)
    return keras.Model(image, x, name="with_lambda")


def custom_model():
    keras = _keras()
    L = keras.layers
    image = keras.Input((8, 8, 3), name="image")
    x = L.Conv2D(2, 3, name="c")(image)
    x = scale_layer()(0.5, name="halve")(x)
    return keras.Model(image, L.ReLU(name="r")(x), name="with_custom")


def _message(model) -> str:
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.from_keras(model)
    return e.value.message


def test_a_lambda_layer_is_refused_by_name_and_class():
    message = _message(lambda_model())
    assert "`double` (Lambda)" in message, message


def test_a_custom_layer_is_refused_by_name_and_class():
    message = _message(custom_model())
    assert "`halve` (Scale)" in message, message
    assert "`c`" not in message and "`r`" not in message, "a supported layer is listed as unsupported"


def parallel_model():
    """A Lambda and a custom layer side by side, both reading the input."""
    keras = _keras()
    L = keras.layers
    image = keras.Input((8, 8, 3), name="image")
    a = L.Lambda(lambda v: v * 2.0, name="double")(image)
    b = scale_layer()(3.0, name="triple")(image)
    return keras.Model(image, L.Add(name="add")([a, b]), name="side_by_side")


@pytest.mark.parametrize("build", [parallel_model, functools.partial(lambda_model, two=True)],
                         ids=["side by side", "one after the other"])
def test_every_unsupported_layer_is_listed(build):
    """Both layers are named, also where one is downstream of the other (the conv between them is fine)."""
    message = _message(build())
    assert "`double` (Lambda)" in message, message
    assert "`triple` (Scale)" in message, message


def test_check_refuses_an_unsupported_model():
    with pytest.raises(cnndsl.CnnError) as e:
        cnndsl.check(custom_model())
    assert "`halve` (Scale)" in e.value.message


@pytest.mark.parametrize("build, names", [(custom_model, ["`halve`", "Scale"]),
                                          (functools.partial(lambda_model, two=True),
                                           ["`double`", "Lambda", "`triple`", "Scale"])],
                         ids=["custom", "lambda+custom"])
def test_cli_refuses_an_unsupported_keras_file(tmp_path, build, names):
    path = tmp_path / "x.keras"
    build().save(path)
    out = tmp_path / "out.cnn"
    r = run_cli("import", path, "-o", out, env=ENV)
    assert_one_line_error(r, *names)
    assert len(r.stderr.strip().splitlines()) <= 2 + len(names), r.stderr
    assert not out.exists()
    r = run_cli("check", path, env=ENV)
    assert_one_line_error(r, *names)


# --- 5. the command line on a .keras file ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def mobilenet_file(tmp_path_factory):
    """(path of a saved MobileNetV3Small, Keras's (total, trainable, non-trainable))."""
    keras = _keras()
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(96, 96, 3))
    path = tmp_path_factory.mktemp("import") / "model.keras"
    model.save(path)
    figures = params(model)
    del model
    return path, figures


def test_cli_import_writes_a_spec_that_checks(mobilenet_file, tmp_path):
    path, (total, trainable, non_trainable) = mobilenet_file
    out = tmp_path / "out.cnn"
    r = run_cli("import", path, "-o", out, env=ENV)
    assert r.returncode == 0, r.stderr
    assert out.exists()
    r = run_cli("check", out, env=ENV)
    assert r.returncode == 0, r.stderr
    assert f"{total:,}" in r.stdout and f"{trainable:,}" in r.stdout and f"{non_trainable:,}" in r.stdout
    graph = cnndsl.check(out)
    assert (graph.total_params, graph.trainable, graph.non_trainable) == (total, trainable, non_trainable)


def test_cli_import_to_standard_output(mobilenet_file):
    path, figures = mobilenet_file
    r = run_cli("import", path, "-o", "-", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "network " in r.stdout
    graph = cnndsl.check(r.stdout)
    assert (graph.total_params, graph.trainable, graph.non_trainable) == figures


def test_cli_check_summary_draw_read_a_keras_file(mobilenet_file, tmp_path):
    path, (total, trainable, non_trainable) = mobilenet_file
    r = run_cli("check", path, env=ENV)
    assert r.returncode == 0, r.stderr
    assert f"{total:,}" in r.stdout
    r = run_cli("summary", path, env=ENV)
    assert r.returncode == 0, r.stderr
    assert f"{trainable:,}" in r.stdout and f"{non_trainable:,}" in r.stdout
    svg = tmp_path / "x.svg"
    r = run_cli("draw", path, "-o", svg, "--depth", "1", env=ENV)
    assert r.returncode == 0, r.stderr
    assert "<svg" in svg.read_text()


def test_cli_check_of_a_keras_file_imports_no_keras(mobilenet_file):
    path, (total, _, _) = mobilenet_file
    code = ("import sys, cnndsl.cli; rc = cnndsl.cli.main(['check', sys.argv[1]]); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, rc)")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{total:,}" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "False False 0"


def test_cli_import_bad_files(tmp_path):
    not_zip = tmp_path / "x.keras"
    not_zip.write_text("not a zip archive\n")
    folder = tmp_path / "folder.keras"
    folder.mkdir()
    out = tmp_path / "out.cnn"
    for path in (not_zip, tmp_path / "missing.keras", folder):
        for args in (("import", path, "-o", out), ("check", path)):
            r = run_cli(*args, env=ENV)
            assert_one_line_error(r, path.name)
            assert len(r.stderr.strip().splitlines()) <= 2, r.stderr
            assert not out.exists()


def test_cli_import_refuses_a_spec(tmp_path):
    out = tmp_path / "out.cnn"
    r = run_cli("import", ROOT / "specs" / "lenet5.cnn", "-o", out, env=ENV)
    assert_one_line_error(r, "lenet5.cnn")
    assert not out.exists()


# --- 6. cnndsl.check on an in-memory model --------------------------------------------------------------------

def test_check_of_a_keras_model():
    original = nested_sequential_model()
    graph = cnndsl.check(original)
    assert isinstance(graph, cnndsl.Graph)
    assert (graph.total_params, graph.trainable, graph.non_trainable) == params(original)
    assert graph.non_trainable > 0
    svg = graph._repr_svg_()
    assert isinstance(svg, str) and "<svg" in svg


# Specs whose compiled model the importer can't read yet (strict: a fix makes these fail, to be removed).
# (a file, or file:network where only some of a file's networks can't be read)
NOT_READ_BACK: dict = {}


# --- 7. every shipped spec's compiled model round-trips ----------------------------------------------------------

def _cases() -> list:
    out = []
    for path in seed_library() + beyond_specs():
        rel = path.relative_to(ROOT / "specs")
        for name in cnndsl.load(path).network_names():
            options = dict(CHEAPER.get(f"{rel}:{name}", CHEAPER.get(str(rel), {})))   # per network, else per file
            graph = cnndsl.check(path, name, **options)
            if isinstance(graph.params.get("batch"), int) and graph.params["batch"] > 2:
                options["batch"] = 2
            why = NOT_READ_BACK.get(f"{rel}:{name}", NOT_READ_BACK.get(str(rel)))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            out.append(pytest.param({"path": path, "network": name, "params": options,
                                     "numeric": graph.total_params <= BIG}, id=f"{rel}:{name}", marks=marks))
    return out


@pytest.fixture(scope="module", params=_cases())
def shipped(request):
    """(original compiled from the spec, spec text read back, its graph, the copy compiled from it)."""
    keras = _keras()
    case = request.param
    keras.utils.set_random_seed(0)
    original = cnndsl.compile(case["path"], case["network"], **case["params"])
    randomize(original)
    try:
        text = cnndsl.from_keras(original)
        graph = cnndsl.check(text)
        with zero_initialized():        # its weights are all set from the original's before any is read
            copy = cnndsl.compile(graph)
    except Exception as e:   # every test of this case fails with the importer's error
        text = graph = copy = e
    yield case, original, text, graph, copy
    del original, copy, graph
    keras.backend.clear_session()
    gc.collect()


def _read_back(shipped):
    case, original, text, graph, copy = shipped
    if isinstance(copy, Exception):
        pytest.fail(f"reading the compiled model back failed: {type(copy).__name__}: {copy}")
    return original, graph, copy


def test_shipped_spec_params_round_trip(shipped):
    original, graph, copy = _read_back(shipped)
    assert_same_params(graph, copy, original)


def test_shipped_spec_layers_round_trip(shipped):
    original, _, copy = _read_back(shipped)
    assert classes(copy.layers) == classes(original.layers)
    assert classes(all_layers(copy)) == classes(all_layers(original))
    wrong = explicit_name_differences(original, copy)
    assert not wrong, f"{len(wrong)} explicit names differ, e.g. Keras's {wrong[0][0]!r} vs {wrong[0][1]!r}"


def test_shipped_spec_weights_and_outputs_round_trip(shipped):
    original, _, copy = _read_back(shipped)
    copy.set_weights(original.get_weights())
    if shipped[0]["numeric"]:
        assert_same_outputs(copy, original)


def test_every_command_reads_a_keras_file_with_shared_layers(tmp_path):
    """A .keras file whose layers are called more than once goes through every command that takes a
    model file, from the graph read out of it: check (weights counted once, as Keras counts them),
    summary, draw (HTML too), diff against the spec it was compiled from, compile --target torch, and
    import (a spec with `shared`)."""
    spec = tmp_path / "pair.cnn"
    spec.write_text("""
block encoder(f) {
    conv(f, 3, padding=same) -> relu -> maxpool(2)
    conv(2 * f, 3, padding=same) -> relu -> global_avgpool
}
network pair(a: [16, 16, 1], b: [16, 16, 1]) {
    shared enc = encoder(4)
    shared head = dense(8)
    subtract(a -> enc -> head, b -> enc -> head) -> dense(1, activation=sigmoid)
}
""")
    model = cnndsl.compile(spec)
    path = tmp_path / "pair.keras"
    model.save(path)
    r = run_cli("check", path)
    assert r.returncode == 0, r.stderr
    assert f"params {model.count_params():,}" in r.stdout
    for args in (["summary", path], ["draw", path, "-o", tmp_path / "pair.html"], ["diff", spec, path],
                 ["compile", path, "--target", "torch", "-o", tmp_path / "pair.py"]):
        r = run_cli(*args)
        assert r.returncode == 0, (args, r.stderr)
    compile((tmp_path / "pair.py").read_text(), "pair.py", "exec")
    r = run_cli("import", path, "-o", "-")
    assert r.returncode == 0, r.stderr
    # the encoder and the head are applied together twice: one shared unit (the model has no word
    # that tells them apart), with the same weights counted once
    assert "    shared " in r.stdout and " -> " in r.stdout, r.stdout
    assert cnndsl.check(r.stdout).total_params == model.count_params()
