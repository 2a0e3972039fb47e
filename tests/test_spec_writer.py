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


SHARED = {
    "op and block": """
block encoder(f) {
    conv(f, 3, padding=same) -> relu -> maxpool(2)
    conv(2 * f, 3, padding=same) -> relu -> global_avgpool
}
network siamese(a: [32, 32, 1], b: [32, 32, 1]) {
    shared enc = encoder(8)
    shared head = dense(16, activation=sigmoid)
    ea = a -> enc -> head
    eb = enc(b) -> head
    concat(ea, eb) -> dense(16) -> head -> dense(1, activation=sigmoid)
}""",
    "one op on its own output": """
network again(x: [16]) {
    shared d = dense(16)
    x -> d -> relu -> d -> relu -> d
}""",
    "declared in a block": """
block twice(f) { shared c = conv(f, 1); in -> c -> relu -> c }
network net(x: [8, 8, 4]) { x -> twice(4) -> twice(4) }""",
    "over pyramid levels": """
block head_block(f) { conv(f, 3, padding=same) -> relu -> conv(f, 3, padding=same) }
network pyramid(x: [32, 32, 8]) {
    shared head = head_block(8)
    p3 = x -> conv(8, 1)
    p4 = p3 -> maxpool(2)
    p5 = p4 -> maxpool(2)
    a = p3 -> head -> global_avgpool
    b = p4 -> head -> global_avgpool
    c = p5 -> head -> global_avgpool
    add(a, b, c)
}""",
}


@pytest.mark.parametrize("case", sorted(SHARED))
def test_a_graph_with_shared_layers_is_written_with_shared(case):
    """A layer applied more than once is written as a `shared` declaration (a block where a whole unit
    is applied again), so the spec read back builds the same graph: the same names (`head@2`), the
    weights counted once."""
    original = cnndsl.check(SHARED[case])
    assert any(n.shares is not None for n in original.nodes)
    text = emit_spec(original)
    assert "    shared " in text, text
    assert_same_graph(cnndsl.check(text), original)


@pytest.mark.parametrize("path, network, units", [("mobilenet_v2.cnn", None, 17),
                                                  ("efficientnet.cnn", "efficientnetb0", 16)])
def test_inverted_residual_units_are_one_block_in_one_repeat(path, network, units):
    """Issue 20: the units of MobileNetV2 (17) and EfficientNetB0 (16), which differ by an expansion conv,
    a stride padding and a residual add, are written as the hand-written zoo specs write them: one unit
    block with those parts optional (`if`, `add(when=...)`), called in one repeat over lists."""
    original = cnndsl.check(ROOT / "specs" / "applications" / path, network)
    text = emit_spec(original)
    assert f"repeat {units} as i" in text and "when=residual" in text and "if with_" in text, text
    assert_same_graph(cnndsl.check(text), original)
