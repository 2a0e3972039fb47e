"""Nodes are stored compactly: one bound-arguments dict per distinct call, shared and read-only;
slotted nodes whose ``meta`` costs nothing until written; under 1 KB a layer for a chain.

The sharing must never merge calls that differ: arguments equal in Python but not in the language
(1, 1.0 and true; 0.0 and -0.0; a name and a string) keep their own bindings and errors.
"""
from __future__ import annotations

import math
import tracemalloc

import pytest

import cnndsl
from cnndsl import CnnError
from cnndsl.lower import Limits
from cnndsl.ops import REGISTRY, bind_args

CHAIN = """
network chain(x: [32, 32, 16], n=1) {
    repeat n { conv(16, 3, padding=same) -> bn -> relu }
}
"""


def test_equal_calls_share_one_read_only_binding():
    g = cnndsl.check(CHAIN, n=3)
    convs = [n for n in g.nodes if n.op == "conv"]
    assert len(convs) == 3 and convs[0].args is convs[1].args is convs[2].args
    assert convs[0].shape is convs[2].shape
    assert convs[0].args["filters"] == 16 and convs[0].args["padding"] == "same"
    with pytest.raises(TypeError, match="read-only"):
        convs[0].args["filters"] = 32
    assert dict(convs[0].args) == convs[0].args       # an ordinary mapping otherwise


def test_the_public_binding_is_a_fresh_dict():
    a = bind_args(REGISTRY["dense"], [10], {}, {})
    b = bind_args(REGISTRY["dense"], [10], {}, {})
    a["units"] = 11
    assert b["units"] == 10


@pytest.mark.parametrize("good, bad, message", [
    ("16, 3, bias=true", "16, 3, bias=1", "`bias` must be true or false, got 1"),
    ("16, 3", "16.0, 3", "`filters` must be an integer, got 16.0"),
    ("16, 3, padding=same", "16, 3, padding=\"sme\"", "`padding` must be one of valid, same"),
    ("16, 3, padding=same", "16, 3, padding=\"same\"", None),   # a string is as good as the name here
])
def test_a_binding_seen_before_does_not_hide_an_error(good, bad, message):
    src = "network n(x: [8, 8, 3]) {{ conv({}) }}"
    cnndsl.check(src.format(good))            # the good call is bound (and remembered) first
    if message is None:
        assert cnndsl.check(src.format(bad)).nodes[1].args["padding"] == "same"
        return
    with pytest.raises(CnnError) as e:
        cnndsl.check(src.format(bad))
    assert message in e.value.message and e.value.span is not None


def test_minus_zero_is_its_own_argument():
    g = cnndsl.check("network n(x: [8]) { dropout(0.0) -> dropout(-0.0) }")
    plus, minus = [n.args["rate"] for n in g.nodes if n.op == "dropout"]
    assert math.copysign(1, plus) == 1 and math.copysign(1, minus) == -1


def test_meta_is_empty_until_written_and_then_the_nodes_own():
    g = cnndsl.check(CHAIN, n=2)
    a, b = g.nodes[1], g.nodes[4]
    assert a.meta == {} and not hasattr(a, "__dict__")
    meta = a.meta
    meta["from"] = "keras"
    meta.setdefault("notes", []).append(1)
    assert a.meta == {"from": "keras", "notes": [1]} and a.meta is meta
    assert b.meta == {}


def test_a_chain_takes_under_1_kb_a_layer():
    layers = 30_000
    cnndsl.check(CHAIN, n=10)       # modules, parser and lexers loaded before measuring
    tracemalloc.start()
    try:
        g = cnndsl.check(CHAIN, n=layers // 3, limits=Limits(max_steps=10 * layers))
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(g.nodes) == layers + 1
    assert size / layers < 1024, f"{size / layers:.0f} bytes a layer"
