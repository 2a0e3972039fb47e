"""`cnndsl convert` (issue 17): a Keras model to PyTorch source and a state_dict of its weights.

As a user runs it (``python -m cnndsl``): the source it writes is what ``cnndsl import`` followed by
``compile --target torch`` writes, and ``build()`` of that source with the saved state_dict
(``load_state_dict(torch.load(...))``, strict) computes the Keras model's outputs, NCHW in, within
1e-5 (relative to the outputs' size where it exceeds 1). The model holds what a conversion gets
wrong when done by hand: 'same' padding that is asymmetric in torch (stride 2 on an even input), BN
statistics (randomised) and epsilon, depthwise and separable kernels, a 'same' average pool (the
padding left out of the count), a 'same' max pool and a dense layer after a flatten (its rows
permuted to torch's (C, H, W) order). Keras's generated layer names (``conv2d_3``) are not kept by
the import: the weights meet by position.

Bad input is one ``error:`` line, an exit status of 1 or 2, and no file written. The whole
keras.applications zoo goes through the same conversion in tests/test_zoo_roundtrip.py.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import run_cli  # noqa: E402

pytestmark = pytest.mark.slow      # builds Keras and torch models: not in the quick tier

TOLERANCE = 1e-5
ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}


def small_model(keras, size=(16, 16, 3)):
    layers = keras.layers
    keras.utils.set_random_seed(0)
    x = keras.Input(size, name="image")
    y = layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(x)      # torch pads (0, 1): asymmetric
    y = layers.BatchNormalization(name="stem_bn")(y)
    y = layers.ReLU()(y)                                                    # a generated name: not kept
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(y)
    y = layers.SeparableConv2D(12, 3, padding="same")(y)
    y = layers.BatchNormalization(epsilon=1e-5)(y)
    y = layers.AveragePooling2D(3, strides=1, padding="same")(y)            # the padding out of the count
    y = layers.MaxPooling2D(3, strides=2, padding="same")(y)
    y = layers.Flatten()(y)                                                 # (H, W, C) in Keras
    y = layers.Dense(10, name="predictions")(y)
    model = keras.Model(x, y, name="small")
    from torch_compare import randomize_keras
    randomize_keras(model)
    return model


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import keras
    folder = tmp_path_factory.mktemp("convert")
    model = small_model(keras)
    model.save(folder / "model.keras")
    x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    return folder / "model.keras", x, np.asarray(model(x, training=False))


def assert_one_line_error(r, *words, code=None):
    assert r.returncode != 0, f"exit status 0; stdout: {r.stdout[-500:]}"
    if code is not None:
        assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr[-2000:]
    # an error in the imported spec is located in it, with its line shown; one in a .keras file's config at the
    # file and the config path of the layer at fault (issue 20: `m.keras: layers[1]: error: ...`)
    assert re.match(r"(.*\(imported\):\d+:\d+: |\S+\.keras: ([^:\s]+: )?)?error:", r.stderr) \
        and r.stderr.count("error:") == 1, r.stderr[-2000:]
    for word in words:
        assert word in r.stderr, f"{word!r} not in: {r.stderr}"


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """``cnndsl ARGS`` in this process (Keras and torch are loaded once), in ``tmp_path``."""
    from cnndsl.cli import main
    monkeypatch.chdir(tmp_path)

    def run(*args):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:      # argparse's usage errors
            code = e.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)
    return run


def load_module(source_path: Path, weights_path: Path):
    """What the user types: ``m = build(); m.load_state_dict(torch.load(...)); m.eval()``."""
    import torch
    namespace = {}
    exec(compile(source_path.read_text(), str(source_path), "exec"), namespace)
    module = namespace["build"]()
    module.load_state_dict(torch.load(weights_path), strict=True)
    return module.eval()


def test_convert_gives_the_keras_models_outputs_in_torch(keras_file, tmp_path):
    import torch
    path, x, want = keras_file
    r = run_cli("convert", path, "--weights", "model.pt", cwd=tmp_path, env=ENV)   # the source on stdout
    assert r.returncode == 0, r.stderr
    weights = tmp_path / "model.pt"
    assert r.stderr.strip().splitlines()[-1].startswith("wrote model.pt (")
    (tmp_path / "model.py").write_text(r.stdout)
    # the same source as `cnndsl import` then `compile --target torch`
    assert run_cli("import", path, "-o", tmp_path / "model.cnn").returncode == 0
    compiled = run_cli("compile", tmp_path / "model.cnn", "--target", "torch")
    assert compiled.returncode == 0 and compiled.stdout == r.stdout
    module = load_module(tmp_path / "model.py", weights)
    with torch.no_grad():
        got = module(torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))).numpy()
    assert got.shape == want.shape
    diff = float(np.abs(got - want).max())
    assert diff <= TOLERANCE * max(1.0, float(np.abs(want).max())), f"max difference {diff:.3g}"
    assert sum(t.numel() for k, t in module.state_dict().items() if not k.endswith("num_batches_tracked")) \
        == int(r.stderr.split("(")[-1].split()[0].replace(",", ""))


def test_convert_writes_files_and_says_so(keras_file, tmp_path, cli):
    path = keras_file[0]
    r = cli("convert", path, "-o", "net.py", "--weights", "net.pth", "--flat")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"wrote net.py\nwrote net.pth \([\d,]+ params\)\n", r.stdout), r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pth", "net.py"]     # no temporary file left
    load_module(tmp_path / "net.py", tmp_path / "net.pth")


@pytest.mark.parametrize("args, words, code", [
    (["model.h5", "--weights", "m.pt"], ["reads a Keras 3 .keras file"], 2),
    (["missing.keras", "--weights", "m.pt"], ["no such file"], 2),
    (["{model}", "-o", "m.txt", "--weights", "m.pt"], ["does not end in .py"], 2),
    (["{model}", "-o", "m.py", "--weights", "m.bin"], ["does not end in .pt or .pth"], 2),
    (["{model}", "-o", "m.py", "--weights", "m.py"], ["does not end in .pt"], 2),
    (["{model}", "--weights", "-"], ["where the source goes too"], 2),
    (["{model}", "-o", "m.py", "--weights", "nofolder/m.pt"], ["does not exist"], 2),
    (["{model}", "-o", "m.py", "--weights", "m.pt", "--set", "nope"], ["NAME=VALUE"], 2),
    (["{model}", "-o", "m.py"], ["--weights"], 2),
])
def test_convert_usage_errors(keras_file, tmp_path, cli, args, words, code):
    """Usage errors come before the model is loaded, and write nothing."""
    path = keras_file[0]
    r = cli("convert", *[a.replace("{model}", str(path)) for a in args])
    if args[-1] == "m.py" and "--weights" not in args[1:-1]:
        assert r.returncode == 2 and "--weights" in r.stderr and "Traceback" not in r.stderr   # argparse's usage
    else:
        assert_one_line_error(r, *words, code=code)
    assert not list(tmp_path.iterdir())


def test_convert_refuses_to_overwrite_its_input(keras_file, cli):
    path = keras_file[0]
    r = cli("convert", path, "-o", "m.py", "--weights", path)
    assert_one_line_error(r, "does not end in .pt")


def test_convert_needs_a_size_for_an_open_input_and_takes_it_from_set(tmp_path, cli):
    """A strided 'same' conv over an unknown size can't be padded exactly in torch: a located error with
    the fix; ``--set`` gives the size (the check fails before Keras or torch is loaded)."""
    import keras
    keras.utils.set_random_seed(0)
    x = keras.Input((None, None, 3), name="image")
    y = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)
    keras.Model(x, keras.layers.GlobalAveragePooling2D()(y)).save(tmp_path / "open.keras")
    r = cli("convert", tmp_path / "open.keras", "-o", "m.py", "--weights", "m.pt")
    assert_one_line_error(r, "unknown size", "--set image=", code=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["open.keras"]
    r = cli("convert", tmp_path / "open.keras", "-o", "m.py", "--weights", "m.pt", "--set", "image=[8, 8, 3]")
    assert r.returncode == 0, r.stderr
    model = keras.saving.load_model(tmp_path / "open.keras")
    import torch
    module = load_module(tmp_path / "m.py", tmp_path / "m.pt")
    xs = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    with torch.no_grad():
        got = module(torch.from_numpy(np.ascontiguousarray(np.moveaxis(xs, -1, 1)))).numpy()
    assert np.abs(got - np.asarray(model(xs))).max() <= TOLERANCE


def test_convert_refuses_an_unsupported_layer_and_a_damaged_file(tmp_path, cli):
    """A Lambda is refused by the import (by name and class); a file whose weights Keras can't read is
    Keras's message in one line. Neither leaves a file behind."""
    import keras
    x = keras.Input((8, 8, 3))
    y = keras.layers.Lambda(lambda t: t * 2, name="double")(x)
    keras.Model(x, keras.layers.Conv2D(2, 3)(y)).save(tmp_path / "lambda.keras")
    r = cli("convert", tmp_path / "lambda.keras", "-o", "m.py", "--weights", "m.pt")
    assert_one_line_error(r, "double", "Lambda")
    damaged = tmp_path / "damaged.keras"
    keras.Model(x, keras.layers.Conv2D(2, 3, name="conv")(x)).save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, data[: len(data) // 3] if item.filename.endswith(".h5") else data)
    r = cli("convert", damaged, "-o", "m.py", "--weights", "m.pt")
    assert_one_line_error(r, "damaged.keras", "Keras can't load the model", code=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.keras", "good.keras", "lambda.keras"]


def test_convert_without_torch_names_the_extra(keras_file, tmp_path):
    code = ("import sys; sys.modules['torch'] = None; import cnndsl.cli; "
            "sys.exit(cnndsl.cli.main(['convert', sys.argv[1], '-o', 'm.py', '--weights', 'm.pt']))")
    r = subprocess.run([sys.executable, "-c", code, str(keras_file[0])], capture_output=True, text=True,
                       cwd=tmp_path, env={**os.environ, **ENV}, timeout=600)
    assert_one_line_error(r, "needs PyTorch", "pip install 'cnndsl[torch]'", code=1)
    assert not list(tmp_path.iterdir())


def test_convert_help_explains_every_argument(cli):
    r = cli("convert", "--help")
    assert r.returncode == 0
    for flag in ("-o", "--weights", "--set", "--flat", "MODEL.keras"):
        assert flag in r.stdout
    assert "load_state_dict" in r.stdout
