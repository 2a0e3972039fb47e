"""Keras 3 on TensorFlow, JAX and torch (issue 9): every shipped spec compiles and computes the same.

For every network of the seed library, of the specs beyond it (U-Net, YOLOv8, ...) and the first
(smallest) network of each zoo file, each
backend compiles the spec, checks Keras's parameter counts and output shapes against ``cnndsl
check``, fills the weights with the same deterministic values (tests/backend_worker.py) and runs
the same input: JAX's and torch's outputs must equal TensorFlow's within 1e-5 (relative to the
output's magnitude where it exceeds 1). The input is the network's smallest valid one
(tests/shipped_specs.py), or a size ``CHEAPER`` gives, where the network's size is free: the layers
and weights are the same at any size, and the forward passes of three backends stay cheap. Models under 5M parameters also cross backends as
``.keras`` files: TensorFlow's file loads on JAX and torch, torch's loads on TensorFlow, and each
loaded model computes the same outputs.

TensorFlow runs in this process; JAX and torch each run once, in a subprocess with
KERAS_BACKEND set, over all the cases. The test command installs all three backends: nothing here
is skipped when one is missing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import cnndsl
from backend_worker import main as run_worker
from conftest import ROOT, beyond_specs, seed_library
from shipped_specs import small
from zoo_table import ZOO

pytestmark = pytest.mark.slow      # builds Keras (or torch) models: not in the quick tier

TOLERANCE = 1e-5
SMALL = 5_000_000
# Smaller inputs where a network allows them, to keep three backends' forward passes cheap.
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
OTHERS = ("jax", "torch")


def _smallest(path, name) -> dict:
    """The network's smallest valid input (shipped_specs.small), where its contracts (``expect``) hold there too."""
    values = small(path, name)
    try:
        cnndsl.check(path, name, **values)
    except cnndsl.CnnError:      # a contract on the declared size's figures (MACs, an output shape)
        return {}
    return values


def _cases() -> list:
    cases = [(path, name) for path in seed_library() + beyond_specs() for name in cnndsl.load(path).network_names()]
    seen = set()
    for z in ZOO:
        if z.module not in seen and z.spec.exists():
            seen.add(z.module)
            cases.append((z.spec, z.network))
    out, done = [], set()
    for path, name in cases:
        if (path, name) in done:        # applications/xception.cnn is a seed spec and its family's first
            continue
        done.add((path, name))
        rel = path.relative_to(ROOT / "specs")
        params = CHEAPER.get(f"{rel}:{name}", CHEAPER.get(str(rel)))   # per network, else per file
        if params is None:
            params = _smallest(path, name)
        graph = cnndsl.check(path, name, **params)
        if isinstance(graph.params.get("batch"), int) and graph.params["batch"] > 2:
            params = {**params, "batch": 2}
        out.append({"id": f"{rel}:{name}", "path": str(path), "network": name, "params": params,
                    "small": graph.total_params < SMALL})
    return out


CASES = _cases()
IDS = [c["id"] for c in CASES]


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """backend -> its results (an npz mapping): TensorFlow here, JAX and torch in subprocesses."""
    tmp = tmp_path_factory.mktemp("backends")
    manifest = [{**c, "save": str(tmp / f"tf_{k}.keras") if c["small"] else None} for k, c in enumerate(CASES)]
    (tmp / "tf.json").write_text(json.dumps(manifest))
    run_worker(str(tmp / "tf.json"), str(tmp / "tensorflow.npz"))
    out = {"tensorflow": np.load(tmp / "tensorflow.npz")}
    for backend in OTHERS:
        cases = [{**c, "load": c["save"], "save": str(tmp / f"{backend}_{k}.keras") if c["small"] else None}
                 for k, c in enumerate(manifest)]
        (tmp / f"{backend}.json").write_text(json.dumps(cases))
        r = subprocess.run([sys.executable, str(ROOT / "tests" / "backend_worker.py"), str(tmp / f"{backend}.json"),
                            str(tmp / f"{backend}.npz")], capture_output=True, text=True, cwd=ROOT, timeout=1200,
                           env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert r.returncode == 0, f"{backend} worker failed:\n{r.stderr[-3000:]}"
        out[backend] = np.load(tmp / f"{backend}.npz")
    out["files"] = {c["id"]: c["save"] for c in manifest}
    out["torch_files"] = {c["id"]: str(tmp / f"torch_{k}.keras") for k, c in enumerate(manifest) if c["small"]}
    return out


def _outputs(result, key, kind="output") -> list:
    found = sorted((k for k in result.files if k.startswith(f"{key}/{kind}_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    return [result[k] for k in found]


def _no_error(result, key, backend):
    assert f"{key}/error" not in result.files, f"{backend}: {result[f'{key}/error']}"


def _close(got, want, what):
    assert len(got) == len(want) > 0, what
    for g, w in zip(got, want):
        assert g.shape == w.shape, what
        assert np.all(np.isfinite(w)) and np.abs(w).max() > 0, f"{what}: TensorFlow's output says nothing"
        diff = np.abs(g - w).max()
        assert diff <= TOLERANCE * max(1.0, float(np.abs(w).max())), f"{what}: max abs difference {diff:.3g}"


@pytest.mark.parametrize("backend", ("tensorflow", *OTHERS))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_counts_and_shapes_equal_the_checker(runs, case, backend):
    result, key = runs[backend], case["id"]
    _no_error(result, key, backend)
    counts = result[f"{key}/counts"]
    assert list(counts[:3]) == list(counts[3:]), "Keras (total, trainable, non-trainable) vs cnndsl check"
    keras_shapes, checker_shapes = json.loads(str(result[f"{key}/shapes"]))
    assert [s[1:] for s in keras_shapes] == [s[1:] for s in checker_shapes]


# Not yet agreeing within 1e-5 across backends on `fill`'s weights (strict: a fix makes these fail, to be removed).
# ecaresnet50d's first blocks agree layer by layer to float rounding (1e-6 relative), but the logits differ by
# ~7e-3 relative (torch) and ~3e-3 (JAX) at 64x64; with timm's weights (BN statistics randomised) it agrees with
# timm within 1e-5 (tests/test_attention_cnns.py). Undiagnosed (issue 16).
# cbam_resnet50 likewise (2e-3 absolute on logits up to 65, 3e-5 relative, JAX and torch); there TensorFlow's float32
# logits are themselves 1.6e-5 relative from a float64 torch build (cnndsl.to_torch) of the same weights: float32
# rounding on fill's weights, not a wrong layer (with random BN statistics it agrees with its transcription and its
# torch build within 1e-6: tests/test_attention_cnns.py).
DIVERGING = {"attention_cnns.cnn:ecaresnet50d": "float32 rounding amplified by ECA's sigmoid gates (pre-activations up to "
                                                "~1100 on fill's weights): each backend's float32 logits are 1e-4 to 1e-3 "
                                                "from a float64 build, and the three backends agree to 9e-13 in float64",
             "attention_cnns.cnn:cbam_resnet50": "CBAM-ResNet-50's logits differ across backends by 3e-5 relative on "
                                                 "fill's weights: float32 rounding (TensorFlow vs float64: 1.6e-5)"}
# (case, backend) pairs that differ from TensorFlow beyond the tolerance on one backend only (strict: a pass is reported)
DIVERGING_ON = {("yolov8.cnn:yolov8", "jax"): "YOLOv8's DFL output (a softmax over 16 bins, weighted 0..15) differs "
                                               "from TensorFlow's by 2.1e-5 on JAX (the other outputs agree); undiagnosed"}


def _known(request, key, backend):
    if (key, backend) in DIVERGING_ON:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=DIVERGING_ON[key, backend]))


OUTPUT_CASES = [pytest.param(c, id=c["id"], marks=[pytest.mark.xfail(strict=True, reason=DIVERGING[c["id"]])]
                             if c["id"] in DIVERGING else []) for c in CASES]


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("case", OUTPUT_CASES)
def test_outputs_equal_tensorflow(runs, case, backend, request):
    key = case["id"]
    _no_error(runs[backend], key, backend)
    _known(request, key, backend)
    _close(_outputs(runs[backend], key), _outputs(runs["tensorflow"], key), f"{backend} vs tensorflow")


SMALL_CASES = [c for c in CASES if c["small"]]


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("case", SMALL_CASES, ids=[c["id"] for c in SMALL_CASES])
def test_a_tensorflow_keras_file_loads_and_computes_the_same(runs, case, backend, request):
    key = case["id"]
    _no_error(runs[backend], key, backend)
    _known(request, key, backend)
    _close(_outputs(runs[backend], key, "loaded"), _outputs(runs["tensorflow"], key), f"TF file on {backend}")


@pytest.mark.parametrize("case", SMALL_CASES, ids=[c["id"] for c in SMALL_CASES])
def test_a_torch_keras_file_loads_in_tensorflow(runs, case):
    import keras
    from backend_worker import run, sample
    model = keras.saving.load_model(runs["torch_files"][case["id"]])
    _close(run(model, sample(model)), _outputs(runs["torch"], case["id"]), "torch file on tensorflow")
