"""The Keras importer never fails with a traceback: a damaged config.json (keys missing, values of
the wrong type, references to layers that don't exist) is one CnnError, whatever the damage.

The mutations start from real configs Keras wrote (a small CNN with a residual add, a nested
Sequential and a split-free branch), so every part of the reader is reached.
"""
from __future__ import annotations

import copy
import json
import random

import pytest

import cnndsl
from cnndsl.api import spec_of_config

pytestmark = pytest.mark.slow      # the configs come from models Keras builds: not in the quick tier

@pytest.fixture(scope="module")
def config():
    import keras
    x = keras.Input((32, 32, 3), name="image")
    y = keras.layers.Conv2D(8, 3, padding="same", name="stem")(x)
    s = keras.Sequential([keras.layers.BatchNormalization(), keras.layers.ReLU()], name="bn_relu")
    y = s(y)
    z = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(y)
    y = keras.layers.Add(name="res")([y, z])
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    y = keras.layers.Dense(10, activation="softmax", name="head")(y)
    return json.loads(keras.Model(x, y, name="tiny").to_json())


def test_the_config_itself_reads(config):
    text = spec_of_config(config, "tiny.keras")
    graph = cnndsl.check(text)
    assert graph.total_params == 8 * 27 + 8 + 4 * 8 + 9 * 8 + 8 + 8 * 10 + 10


def _paths(node, path=()):
    """Every (container, key) in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield node, k
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield node, i
            yield from _paths(v, path + (i,))


JUNK = [None, 0, -1, 1.5, 10 ** 30, "", "x", "same", [], [1], [None, None], {}, {"class_name": "Zeros"}, True,
        [[1, 2], [3]], {"class_name": "__keras_tensor__", "config": {"keras_history": ["nope", 0, 0]}}]


def test_damaged_configs_give_one_error(config):
    rng = random.Random(0)
    for trial in range(400):
        bad = copy.deepcopy(config)
        for _ in range(rng.randint(1, 3)):
            spots = list(_paths(bad))
            container, key = rng.choice(spots)
            if rng.random() < 0.3 and isinstance(container, dict):
                del container[key]
            else:
                container[key] = copy.deepcopy(rng.choice(JUNK))
        try:
            text = spec_of_config(bad, "damaged.keras")
            cnndsl.check(text)
        except cnndsl.CnnError as e:
            assert e.kind != "internal" or "Keras rejected" in e.message, (trial, e.message)
