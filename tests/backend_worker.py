"""Compile specs on the Keras backend this process runs (KERAS_BACKEND), for tests/test_backends.py.

    python tests/backend_worker.py MANIFEST.json OUT.npz

The manifest lists cases: ``{"id", "path", "network", "params", "load"}``. For each one this
process compiles the spec, fills every weight with the same deterministic values as every other
backend does (``fill``), runs the fixed input (``sample``) in inference mode and stores the outputs
under ``ID/output_K``. It also stores Keras's counts and output shapes next to cnndsl's
(``ID/counts``: total, trainable, non-trainable from Keras, then from ``cnndsl check``). Where
``load`` names a ``.keras`` file saved by another backend, it loads it and stores its outputs on the
same input under ``ID/loaded_K``. A case that fails stores its error under ``ID/error``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def fill(model) -> None:
    """Deterministic weights, the same on every backend: He-scaled kernels, small biases, positive variances."""
    for k, var in enumerate(model.weights):
        rng = np.random.default_rng(1000 + k)
        shape, leaf = tuple(var.shape), var.path.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance", "variance") or "variance" in leaf:
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) >= 2:
            value = rng.normal(0.0, np.sqrt(2.0 / max(1, int(np.prod(shape[:-1])))), shape)
        elif leaf == "count":
            value = np.full(shape, 1.0)
        else:
            value = rng.normal(0.0, 0.1, shape)
        var.assign(value.astype(var.dtype if isinstance(var.dtype, str) else "float32"))


UNKNOWN_SIZE = 224   # where a model leaves H or W unknown (MobileNetV3), the size it is run at


def sample(model, seed: int = 7) -> list:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(t.shape[0] or 2, *[d or UNKNOWN_SIZE for d in t.shape[1:]])).astype("float32")
            for t in model.inputs]


def run(model, xs) -> list:
    """The model's outputs, then the inputs of the layers that make them (a softmax's logits, which a
    saturated softmax would hide), in inference mode."""
    import keras
    feeds = []
    for t in model.outputs:
        layer = t._keras_history[0]
        feeds += [x for x in (layer.input if isinstance(layer.input, list) else [layer.input])
                  if not any(x is i for i in model.inputs)]
    probe = keras.Model(model.inputs, list(model.outputs) + feeds)
    x = xs if len(xs) > 1 else xs[0]
    # JAX runs eagerly one op at a time, slowly; predict runs one jitted program (same numbers).
    ys = probe.predict(x, verbose=0) if keras.backend.backend() == "jax" else probe(x, training=False)
    return [keras.ops.convert_to_numpy(y) for y in (ys if isinstance(ys, (list, tuple)) else [ys])]


def count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def main(manifest: str, out: str) -> None:
    import keras

    import cnndsl
    from keras_compare import zero_initialized
    results = {}
    for case in json.loads(Path(manifest).read_text()):
        key = case["id"]
        try:
            graph = cnndsl.check(case["path"], case["network"], **case["params"])
            with zero_initialized():        # `fill` writes every weight: Keras needn't draw any (on JAX, one
                model = cnndsl.compile(graph)   # XLA compile per weight shape; elsewhere half the build)
            results[f"{key}/counts"] = np.array([
                model.count_params(), count(model.trainable_weights), count(model.non_trainable_weights),
                graph.total_params, graph.trainable, graph.non_trainable])
            results[f"{key}/shapes"] = np.array(json.dumps(
                [[[None if d is None else int(d) for d in t.shape] for t in model.outputs],
                 [list(n.shape) for n in graph.outputs.values()]]))
            fill(model)
            xs = sample(model)
            for k, y in enumerate(run(model, xs)):
                results[f"{key}/output_{k}"] = y
            if case.get("load"):
                loaded = keras.saving.load_model(case["load"])
                for k, y in enumerate(run(loaded, xs)):
                    results[f"{key}/loaded_{k}"] = y
            if case.get("save"):
                model.save(case["save"])
            del model
            keras.backend.clear_session()
        except Exception as e:  # reported per case by the test, not as a crash of the whole run
            results[f"{key}/error"] = np.array(f"{type(e).__name__}: {e}")
    np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:3])
