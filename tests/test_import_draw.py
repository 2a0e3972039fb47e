"""`cnndsl draw MODEL.keras --depth 1` (issue 11): keras.applications' ResNet50, EfficientNetB0 and
DenseNet121, saved as .keras files, are drawn with their recovered blocks folded.

Golden DOT lives in tests/golden/import/ (UPDATE_GOLDEN=1 rewrites it). Besides the golden text, each
drawing is checked for what a reader needs from it: far fewer boxes than the model has layers (the
blocks are folded), the recovered blocks' names on the folded boxes, and Keras's own parameter count.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import golden, run_cli  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden" / "import"
MODELS = ["ResNet50", "EfficientNetB0", "DenseNet121"]

pytestmark = pytest.mark.slow      # builds and saves Keras models: not in the quick tier


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The three models saved as .keras files, with Keras's layer and parameter counts."""
    import keras
    out = {}
    folder = tmp_path_factory.mktemp("keras")
    for name in MODELS:
        model = getattr(keras.applications, name)(weights=None)
        path = folder / f"{name.lower()}.keras"
        model.save(path)
        out[name] = (path, len(model.layers), model.count_params())
        del model
        keras.backend.clear_session()
    return out


@pytest.mark.parametrize("name", MODELS)
def test_draw_keras_file_folds_blocks(saved, name, tmp_path):
    path, n_layers, n_params = saved[name]
    dot = tmp_path / "x.dot"
    r = run_cli("draw", path, "-o", dot, "--depth", "1")
    assert r.returncode == 0, r.stderr
    text = dot.read_text()
    golden(GOLDEN / f"{name.lower()}.d1.dot", text)
    boxes = len(re.findall(r"^\s*n\d+ \[", text, flags=re.M)) + len(re.findall(r"^\s*\S+ \[label=", text, flags=re.M))
    assert 0 < boxes < n_layers / 3, f"{boxes} boxes for {n_layers} layers: blocks were not folded"
    r = run_cli("check", path)
    assert r.returncode == 0, r.stderr
    assert f"params {n_params:,}" in r.stdout
