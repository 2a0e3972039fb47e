"""The spec writer is a backend (``backends/spec.py``): ``emit_spec`` of any graph gives a spec that
checks to the same graph. Every network of every shipped spec goes through it: the spec it writes
must lower to the same nodes (names, ops, arguments, shapes), the same inputs and outputs, and the
same parameter counts. Framework-free (the quick tier)."""
from __future__ import annotations

from pathlib import Path

import pytest

import cnndsl
from cnndsl.backends.spec import emit_spec
from cnndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.cnn")) + sorted((ROOT / "specs" / "applications").glob("*.cnn"))


def _cases():
    out = []
    for path in SPECS:
        for name in cnndsl.load(path).network_names():
            out.append(pytest.param(path, name, id=f"{path.relative_to(ROOT / 'specs')}:{name}"))
    return out


def _args(node) -> dict:
    return {k: v for k, v in node.args.items()}


def assert_same_graph(copy, original):
    assert [n.name for n in copy.nodes] == [n.name for n in original.nodes] or \
        sorted(n.name for n in copy.nodes) == sorted(n.name for n in original.nodes)
    by_name = {n.name: n for n in copy.nodes}
    for n in original.nodes:
        c = by_name[n.name]
        assert c.op == n.op, n.name
        assert _args(c) == _args(n), (n.name, _args(c), _args(n))
        assert c.shape == n.shape, n.name
        assert [i.name for i in c.inputs] == [i.name for i in n.inputs], n.name
        assert (c.trainable, c.non_trainable, c.macs) == (n.trainable, n.non_trainable, n.macs), n.name
    assert [n.name for n in copy.inputs.values()] == [n.name for n in original.inputs.values()]
    assert [n.name for n in copy.outputs.values()] == [n.name for n in original.outputs.values()]
    assert (copy.total_params, copy.layers, copy.macs) == (original.total_params, original.layers, original.macs)


@pytest.mark.parametrize("path, network", _cases())
def test_every_shipped_spec_round_trips_through_the_spec_writer(path, network):
    original = cnndsl.check(path, network)
    text = emit_spec(original)
    copy = cnndsl.check(text)
    assert_same_graph(copy, original)


def test_compile_emit_cnn_writes_a_spec_of_the_same_graph(tmp_path, capsys):
    out = tmp_path / "resnet34.cnn"
    assert main(["compile", str(ROOT / "specs" / "resnet34.cnn"), "--emit", "cnn", "-o", str(out)]) == 0
    assert_same_graph(cnndsl.check(out), cnndsl.check(ROOT / "specs" / "resnet34.cnn"))
    capsys.readouterr()
    assert main(["compile", str(ROOT / "specs" / "lenet5.cnn"), "--emit", "cnn", "-o", "-"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# The network `lenet5`")
    assert_same_graph(cnndsl.check(printed), cnndsl.check(ROOT / "specs" / "lenet5.cnn"))


def test_emit_cnn_refuses_a_keras_output_name(tmp_path, capsys):
    assert main(["compile", str(ROOT / "specs" / "lenet5.cnn"), "--emit", "cnn", "-o", str(tmp_path / "x.keras")]) == 2
    assert "--emit cnn" in capsys.readouterr().err
