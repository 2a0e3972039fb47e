"""Keras 3 model configs written by hand (no Keras): what ``model.save`` puts in config.json, for
tests and benchmarks that need a model cnndsl reads without building one with Keras."""
from __future__ import annotations

import json
import zipfile


def tensor(name: str, shape) -> dict:
    return {"class_name": "__keras_tensor__", "config": {"shape": list(shape), "dtype": "float32",
                                                        "keras_history": [name, 0, 0]}}


def input_layer(name: str, shape) -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": name,
            "config": {"batch_shape": [None, *shape], "dtype": "float32", "sparse": False, "name": name},
            "inbound_nodes": []}


def layer(cls: str, name: str, inputs, shape, **config) -> dict:
    """A layer ``cls`` named ``name`` reading the layers ``inputs`` (each of output ``shape``)."""
    args = [tensor(i, shape) for i in inputs]
    return {"module": "keras.layers", "class_name": cls, "registered_name": None, "name": name,
            "config": {"name": name, "trainable": True, "dtype": "float32", **config},
            "inbound_nodes": [{"args": args if len(args) != 1 else args, "kwargs": {}}]}


def relu(name: str, source: str, shape) -> dict:
    return layer("ReLU", name, [source], shape, max_value=None, negative_slope=0.0, threshold=0.0)


def functional(name: str, layers: list, inputs: list, outputs: list) -> dict:
    return {"module": "keras", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": name, "trainable": True, "layers": layers,
                       "input_layers": [[i, 0, 0] for i in inputs], "output_layers": [[o, 0, 0] for o in outputs]}}


def chain(n: int, shape=(8,)) -> dict:
    """A model of ``n`` ReLU layers in a row (and its input)."""
    layers = [input_layer("x", shape)]
    prev = "x"
    for k in range(n):
        layers.append(relu(f"r{k}", prev, (None, *shape)))
        prev = f"r{k}"
    return functional("chain", layers, ["x"], [prev])


def keras_file(path, config, member: str = "config.json") -> None:
    """A .keras file holding ``config`` (a dict, or bytes as they are)."""
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))

