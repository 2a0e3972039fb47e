"""`cnndsl compile`: every shipped spec, the emitted Python, the CLI's files and errors, imports, distribution."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import cnndsl
from cnndsl.backends.keras import build_model
from cnndsl.backends.python import emit_python
from cnndsl.cli import main
from conftest import ROOT, SPECS, run_cli, seed_library
from test_keras_backend import DEMO, EVERY_OP, MODERN, assert_exact, outputs, randomise, sample_inputs

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

NETWORKS = [(path, name) for path in seed_library()
            for name in cnndsl.load(path).network_names()]
SMALL = 5_000_000   # .keras round trips of bigger networks write hundreds of MB; their exactness is still checked


def _keep_cnndsl_layers(monkeypatch):
    """An emitted module registers its own copies of cnndsl's layers; put cnndsl's back after the test."""
    objects = keras.saving.get_custom_objects()
    for key in [k for k in objects if k.startswith("cnndsl>")]:
        monkeypatch.setitem(objects, key, objects[key])


def rebuild(graph, monkeypatch):
    """Exec the emitted module and build its model; its layer registrations are undone after the test."""
    _keep_cnndsl_layers(monkeypatch)
    namespace = {}
    exec(compile(emit_python(graph), f"<{graph.name}.py>", "exec"), namespace)
    return namespace["build_model"]()


def assert_same_model(graph, model, rebuilt):
    """Same layers, configs and weight layout; with the weights copied over, the same outputs."""
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    for layer in model.layers:
        assert rebuilt.get_layer(layer.name).get_config() == layer.get_config(), layer.name
    assert [(w.path, w.shape) for w in rebuilt.weights] == [(w.path, w.shape) for w in model.weights]
    randomise(model)
    rebuilt.set_weights(model.get_weights())
    xs = sample_inputs(graph)
    for want, got in zip(outputs(model, xs), outputs(rebuilt, xs)):
        np.testing.assert_array_equal(got, want)


def _id(network):
    return f"{network[0].relative_to(SPECS)}:{network[1]}"


def small_batch(graph, path, name):
    """The network with a fixed batch cut to 2, so numeric checks stay cheap."""
    return cnndsl.check(path, name, batch=2) if isinstance(graph.params.get("batch"), int) else graph


@pytest.mark.parametrize("network", NETWORKS, ids=map(_id, NETWORKS))
def test_every_shipped_spec_compiles_exactly_and_its_python_rebuilds_it(network, monkeypatch):
    graph = cnndsl.check(*network)
    model = build_model(graph)
    assert_exact(graph, model)
    small = small_batch(graph, *network)
    if small is not graph:
        model = build_model(small)
    assert_same_model(small, model, rebuild(small, monkeypatch))


SMALL_NETWORKS = [n for n in NETWORKS if cnndsl.check(*n).total_params < SMALL]


@pytest.mark.parametrize("network", SMALL_NETWORKS, ids=map(_id, SMALL_NETWORKS))
def test_compile_writes_a_keras_file_that_reloads_with_identical_outputs(network, tmp_path, capsys):
    path, name = network
    full = cnndsl.check(path, name)
    graph = small_batch(full, path, name)
    out = tmp_path / "model.keras"
    batch = [] if graph is full else ["--set", "batch=2"]
    assert main(["compile", str(path), "-n", name, *batch, "-o", str(out)]) == 0
    assert f"wrote {out} ({graph.total_params:,} params)" in capsys.readouterr().out
    loaded = keras.saving.load_model(out)
    assert_exact(graph, loaded)
    model = build_model(graph)
    randomise(model)
    loaded.set_weights(model.get_weights())
    xs = sample_inputs(graph)
    for want, got in zip(outputs(model, xs), outputs(loaded, xs)):
        np.testing.assert_array_equal(got, want)


def test_summary_prints_keras_summary(tmp_path, capsys):
    assert main(["compile", str(SPECS / "se_block.cnn"), "--summary", "-o", str(tmp_path / "se.keras")]) == 0
    out = capsys.readouterr().out
    assert "Total params: 8,464" in out and "se_1-multiply_1" in out


def test_emit_python_writes_the_module(tmp_path, capsys):
    out = tmp_path / "build.py"
    assert main(["compile", str(SPECS / "resnet34.cnn"), "--emit", "python", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert out.read_text() == emit_python(cnndsl.check(SPECS / "resnet34.cnn"))
    assert [p.name for p in tmp_path.iterdir()] == ["build.py"]


EDGE = """
block layers(f) { conv(f, 1, padding=same) }
block x(other) { add(in, other) }
block pair(f) { a = conv(f, 1); b = a -> relu; concat(a, b) }
block outer(f) { layers(f) -> pair(f) -> layers(2 * f) }
network edge(image: [8, 8, 4], side: [8, 8, 8]) -> (out, image) {
    s = side -> layers(8)
    out = image -> layers(8) -> x(s) -> outer(4) -> outer(4) -> outer(2) -> global_avgpool
}
"""   # blocks named like Python names, a tensor argument, nested calls, an input as an output

TWO_OUTPUTS = """
block entry(f, first=true) -> (x, shortcut) {
    shortcut = conv(f, 1, stride=2, padding=same)
    x = in -> if first { relu } -> conv(f, 3, padding=same) -> maxpool(3, stride=2, padding=same)
}
network two(image: [16, 16, 4]) {
    x, s = entry(8, first=false)
    y, t = x -> entry(16)
    p = s -> conv(16, 1, stride=2)
    add(y, t, p)
}
"""  # a block with two outputs, called twice


@pytest.mark.parametrize("src", [DEMO, EVERY_OP, EDGE, TWO_OUTPUTS, MODERN], ids=["demo", "every_op", "edge", "two_outputs", "modern"])
def test_emitted_python_rebuilds_the_same_model(src, monkeypatch):
    graph = cnndsl.check(src)
    assert_same_model(graph, build_model(graph), rebuild(graph, monkeypatch))


@pytest.mark.parametrize("network", ["signal", "volume", "math", "tokens"])
def test_emitted_python_rebuilds_issue_16s_ops(network, monkeypatch):
    """1-D and 3-D layers, tensor math, attention (query and value), cnndsl's own layers copied in."""
    graph = cnndsl.check(ROOT / "tests" / "fixtures" / "reach.cnn", network)
    assert_same_model(graph, build_model(graph), rebuild(graph, monkeypatch))


def test_emitted_python_has_a_function_per_block_and_imports_only_keras():
    src = emit_python(cnndsl.check(DEMO))
    tree = ast.parse(src)
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["unit", "unit_v2", "se", "tower", "build_model"]
    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imports | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} == {"keras"}
    assert "def unit(inputs, prefix):" in src and "x = unit(x, prefix='s1_1')" in src   # explicit names: a stem
    assert "def tower(inputs, name):" in src and "name=f'{name}-lrn_1'" in src         # derived names: the id
    assert "x = tower(x, name='tower_2')" in src and "class LRN(keras.layers.Layer)" in src


BAD_SHAPES = "network n(x: [8, 8, 3]) { add { conv(4, 3, padding=same); conv(5, 3, padding=same) } }\n"


@pytest.mark.parametrize("args, code, message", [
    (["-n", "nope"], 2, "has no network `nope`"),
    (["--set", "classes=["], 2, "bad value for --set classes"),
    (["--set", "classes"], 2, "--set needs NAME=VALUE"),
    (["--set", "nope=1"], 2, "has no parameter `nope`"),
    (["-o", "{dir}/model.h5"], 2, "-o must end in .keras"),
    (["-o", "{dir}/spec.cnn/model.keras"], 2, "can't write"),      # the folder is a file
    (["-o", "/proc/cnndsl-test.keras"], 2, "can't write"),        # unwritable, even for root
    (["--emit", "python", "-o", "/proc/cnndsl-test.py"], 2, "can't write"),
    (["--spec", BAD_SHAPES], 1, "add: channels differ"),
    (["--spec", BAD_SHAPES, "--emit", "python", "-o", "{dir}/build.py"], 1, "add: channels differ"),
])
def test_errors_are_one_clean_message_and_leave_no_file(args, code, message, tmp_path, capsys):
    spec = tmp_path / "spec.cnn"
    spec.write_bytes((SPECS / "lenet5.cnn").read_bytes())
    if args[0] == "--spec":
        spec.write_text(args[1])
        args = args[2:]
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "model.keras")]
    assert main(["compile", str(spec), *args]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("error:") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["spec.cnn"]


def test_a_save_that_fails_midway_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    def broken_save(model, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(keras.Model, "save", broken_save)
    assert main(["compile", str(SPECS / "se_block.cnn"), "-o", str(tmp_path / "se.keras")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_usual_permissions(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert main(["compile", str(SPECS / "se_block.cnn"), "--emit", "python", "-o", str(tmp_path / "b.py")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "b.py").stat().st_mode & 0o777 == 0o644


def test_the_command_line_end_to_end(tmp_path):
    out = tmp_path / "se.keras"
    r = run_cli("compile", SPECS / "se_block.cnn", "-o", out, "--summary")
    assert r.returncode == 0, r.stderr
    assert "Total params: 8,464" in r.stdout and f"wrote {out} (8,464 params)" in r.stdout
    assert keras.saving.load_model(out).count_params() == 8_464
    r = run_cli("compile", SPECS / "se_block.cnn", "-n", "nope", "-o", out.with_name("x.keras"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "has no network `nope`" in r.stderr


def test_the_emitted_module_runs_without_cnndsl_and_loads_compiled_files(tmp_path):
    spec = tmp_path / "demo.cnn"
    spec.write_text(DEMO)
    for out in ("demo.keras", "build.py"):
        emit = ["--emit", "python"] if out.endswith(".py") else []
        assert main(["compile", str(spec), *emit, "-o", str(tmp_path / out)]) == 0
    r = python(f"""
        import sys
        sys.modules["cnndsl"] = None    # any import of cnndsl now fails
        sys.argv = ["build.py"]
        exec(compile(open({str(tmp_path / 'build.py')!r}).read(), "build.py", "exec"))   # prints the summary
        import keras
        print(keras.saving.load_model({str(tmp_path / 'demo.keras')!r}).count_params())
    """)
    assert r.returncode == 0, r.stderr
    assert "Total params: 6,265" in r.stdout and r.stdout.strip().splitlines()[-1] == "6265"


def python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from the repository root."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_import_and_check_load_no_tensorflow_or_keras():
    r = python(f"""
        import sys
        import cnndsl
        from cnndsl.cli import main
        cnndsl.check({str(SPECS / 'resnet50.cnn')!r})
        assert main(["check", {str(SPECS / 'alexnet.cnn')!r}]) == 0
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch")))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture(scope="module")
def lrn_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lrn") / "lrn.keras"
    cnndsl.compile("network n(x: [6, 6, 4]) { lrn(radius=1) -> conv(2, 1) }").save(path)
    return path


LOAD = "m = keras.saving.load_model({path!r}); print(type(m.get_layer('lrn_1')).__module__)"


@pytest.mark.parametrize("imports", [
    "import cnndsl.backends.keras as kb; kb.install_import_hook(); assert 'keras' not in sys.modules; import keras",
    "import keras; import cnndsl.backends.keras as kb; kb.install_import_hook()",
])
def test_the_import_hook_registers_lrn_for_load_model(imports, lrn_file):
    r = python(f"import sys; {imports}; {LOAD.format(path=str(lrn_file))}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "cnndsl.backends.keras_layers"


def test_load_model_finds_lrn_once_cnndsl_is_imported(lrn_file):
    r = python(f"import cnndsl, keras; {LOAD.format(path=str(lrn_file))}")
    assert r.returncode == 0, r.stderr


def test_mirrored_strategy_fits_a_compiled_spec_on_two_cpus():
    r = python("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import numpy as np
        import cnndsl
        spec = '''network small(image: [12, 12, 3], classes=4) {
            conv(8, 3, padding=same, bias=false) -> bn -> relu -> lrn(radius=2)
            sepconv(8, 3, stride=2, padding=same) -> global_avgpool -> dense(classes, activation=softmax)
        }'''
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = cnndsl.compile(spec)
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(16, 12, 12, 3)).astype("float32"), rng.integers(0, 4, size=16)
        before = model.get_weights()
        loss = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
        changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
        print(strategy.num_replicas_in_sync, int(model.optimizer.iterations.numpy()),
              type(model.weights[0].value).__name__, np.isfinite(loss), changed == len(before))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "2 2 MirroredVariable True True"


def test_an_aliased_block_emits_a_valid_python_function(tmp_path, monkeypatch):
    """`import "lib.cnn" as a` and `a.unit(4)`: the function is `a_unit`, and the module rebuilds the model."""
    (tmp_path / "lib.cnn").write_text("block unit(filters) { conv(filters, 3, padding=same) -> bn -> relu }\n")
    (tmp_path / "net.cnn").write_text('import "lib.cnn" as a\n'
                                      "network n(x: [8, 8, 3]) { a.unit(4) -> a.unit(8) -> global_avgpool }\n")
    graph = cnndsl.check(tmp_path / "net.cnn")
    src = emit_python(graph)
    assert "def a_unit(" in src and "x = a_unit(x, " in src
    assert_same_model(graph, build_model(graph), rebuild(graph, monkeypatch))


def test_emit_python_imports_no_keras_or_tensorflow(tmp_path, monkeypatch):
    """Writing Python needs no framework: with keras, tensorflow, jax and torch unimportable, it still works."""
    out = tmp_path / "demo.py"
    (tmp_path / "demo.cnn").write_text(DEMO)
    r = python(f"""
        import sys
        for m in ("keras", "tensorflow", "jax", "torch"):
            sys.modules[m] = None          # `import keras` now raises ImportError
        from cnndsl.cli import main
        assert main(["compile", {str(tmp_path / 'demo.cnn')!r}, "--emit", "python", "-o", {str(out)!r}]) == 0
    """)
    assert r.returncode == 0, r.stderr
    graph = cnndsl.check(DEMO)
    assert out.read_text() == emit_python(graph)
    _keep_cnndsl_layers(monkeypatch)
    namespace = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert namespace["build_model"]().count_params() == graph.total_params


def test_the_emitters_signature_table_is_keras_own():
    """The Python emitter names positional arguments and drops defaults from SIGNATURES, not from Keras;
    each entry must be exactly the constructor's signature in the installed Keras."""
    import inspect
    from cnndsl.backends.keras import REQUIRED, SIGNATURES, keras_namespace
    namespace = keras_namespace()
    for path, params in SIGNATURES.items():
        cls = getattr(getattr(namespace, path[0]), path[1])
        real = {p.name: (REQUIRED if p.default is p.empty else p.default)
                for p in inspect.signature(cls).parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        assert params == real, path
