"""The distribution recipes of the README (examples/*.py) run: each trains or runs a cnndsl model on two
devices and asserts it equals the one-device result (two virtual CPU devices stand in for accelerators)."""
from __future__ import annotations

import subprocess
import sys

import pytest

import cnndsl
from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("recipe", ["data_parallel_jax.py", "model_parallel_jax.py", "mirrored_tf.py", "ddp_torch.py"])
def test_recipe(recipe):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / recipe)], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok: ")


def test_layout_map_refuses_what_it_cant_split():
    import keras
    graph = cnndsl.check("block head(u) { dense(u) -> dense(3) }\nnetwork n(x: [8]) { head(6) }")
    mesh = keras.distribution.DeviceMesh((1,), ("model",), keras.distribution.list_devices()[:1])
    lm = cnndsl.layout_map(graph, mesh, {"head_1": "model"})
    assert lm["head_1-dense_1/kernel"].axes == (None, "model") and lm["head_1-dense_2/bias"].axes == ("model",)
    with pytest.raises(cnndsl.CnnError, match="did you mean `head_1`"):
        cnndsl.layout_map(graph, mesh, {"head_2": "model"})
    with pytest.raises(cnndsl.CnnError, match="no axis `batch`"):
        cnndsl.layout_map(graph, mesh, {"head_1": "batch"})
