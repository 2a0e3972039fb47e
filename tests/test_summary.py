"""`cnndsl summary` (issue 4): golden tables, totals equal the graph's, folding, the MAC convention.

The tables are parsed back by column position (the header's column starts), so the checks read
the numbers the user sees.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import cnndsl
from cnndsl.summary import summary_table
from conftest import ROOT, SPECS, golden, run_cli

GOLDEN = Path(__file__).resolve().parent / "golden"
ALL_SPECS = sorted([*SPECS.glob("*.cnn"), *SPECS.glob("applications/*.cnn")])


def rows(table: str) -> list:
    """(depth, name, op, shape, params, macs) for each row between the header and the totals."""
    lines = table.splitlines()
    head = lines[2]
    cols = [head.index(h) for h in ("name", "op", "output shape")]
    body = lines[4:lines.index(lines[1], 4)]
    out = []
    for line in body:
        name = line[:cols[1]].rstrip()
        params, macs = line[cols[2]:].split()[-2:]
        out.append(((len(name) - len(name.lstrip())) // 2, name.strip(), line[cols[1]:cols[2]].strip(),
                    line[cols[2]:].rsplit(None, 2)[0].strip(), int(params.replace(",", "")),
                    None if macs == "?" else int(macs.replace(",", ""))))
    return out


def totals(table: str) -> dict:
    out = {}
    for line in table.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("Total params", "Trainable params", "Non-trainable params", "MACs"):
            word = value.split()[0]
            out[key] = None if word == "?" else int(word.replace(",", ""))   # MACs of an unknown H×W
    return out


def test_golden_tables():
    for spec, depth in (("tiny_resnet", None), ("tiny_resnet", 1), ("tiny_inception", 0), ("two_heads", None)):
        tag = "full" if depth is None else f"d{depth}"
        golden(GOLDEN / f"{spec}.{tag}.txt", summary_table(cnndsl.check(GOLDEN / f"{spec}.cnn"), depth=depth) + "\n")


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: str(p.relative_to(SPECS)))
def test_totals_equal_the_graph_at_every_depth(path):
    program = cnndsl.load(path)
    for name in program.network_names():
        graph = program.lower(name)
        for depth in (0, 1, None):
            table = summary_table(graph, depth=depth)
            assert totals(table) == {"Total params": graph.total_params, "Trainable params": graph.trainable,
                                     "Non-trainable params": graph.non_trainable, "MACs": graph.macs}
            top = [r for r in rows(table) if r[0] == 0]            # the outermost rows partition the network
            assert sum(r[4] for r in top) == graph.total_params
            macs = [r[5] for r in top]
            assert (None if None in macs else sum(macs)) == graph.macs
        layer_rows = [r for r in rows(summary_table(graph)) if r[2]]
        assert [r[1] for r in layer_rows] == [n.name for n in graph.nodes]     # one row per layer, in order


def test_block_rows_carry_subtotals_of_what_they_fold():
    graph = cnndsl.check(GOLDEN / "tiny_resnet.cnn")
    full = rows(summary_table(graph))
    unit = next(r for r in full if r[1] == "unit(16)")
    inside = [n for n in graph.nodes if n.name.startswith("unit_1-")]
    assert unit[0] == 0 and unit[4] == sum(n.params for n in inside) and unit[5] == sum(n.macs for n in inside)
    assert all(r[0] == 1 for r in full if r[1].startswith("unit_1-"))            # indented under their block
    folded = rows(summary_table(graph, depth=0))
    assert [r[1] for r in folded] == ["image", "conv_1", "bn_1", "relu_1", "unit(16)", "×2 unit(32, stride=2)",
                                      "global_avgpool_1", "dropout_1", "probs"]
    assert folded[5][3] == "(None, 8, 8, 32)" and folded[5][4] == 14_816 + 19_936


def test_mac_convention_per_layer():
    graph = cnndsl.check("""
network macs(x: [8, 8, 32]) {
    conv(64, 3, padding=same, groups=4) -> bn -> relu -> add { identity; maxpool(3, stride=1, padding=same) }
    flatten -> dense(10)
}""")
    by_op = {r[2].split()[0]: r for r in rows(summary_table(graph))}
    assert by_op["conv"][5] == 3 * 3 * 32 * 64 * 8 * 8 // 4                 # k_h·k_w·C_in·C_out·H·W/groups
    assert by_op["dense"][5] == 8 * 8 * 64 * 10                             # in·out, bias not counted
    assert by_op["bn"][5] == by_op["relu"][5] == by_op["add"][5] == by_op["maxpool"][5] == 0
    table = summary_table(graph)
    assert "k_h·k_w·C_in·C_out·H_out·W_out/groups" in table and "dense as in·out" in table
    values = 4 * (3 * 8 * 8 * 64 + 8 * 8 * 64 + 8 * 8 * 64 + 8 * 8 * 64 + 10)   # conv bn relu maxpool add flatten dense
    assert f"Activation memory:    {values / 1024:.2f} KiB" in table


def test_resnet50_macs_match_the_published_figures():
    """Keras's ResNet-50 (v1, stride on the first 1×1) is the paper's 3.8 G multiply-adds (He et al.
    2015, Table 1); moving the stride to the 3×3 (v1.5, torchvision) gives the 4.1 G often quoted."""
    v1 = cnndsl.check(SPECS / "resnet50.cnn")
    assert 3.8e9 <= v1.macs <= 3.9e9, v1.macs
    v1_5 = cnndsl.check("""
block bottleneck(f, stride=1, project=false) {
    add {
        conv(f, 1) -> bn -> relu -> conv(f, 3, stride=stride, padding=same) -> bn -> relu -> conv(4 * f, 1) -> bn
        if project { conv(4 * f, 1, stride=stride) -> bn } else { identity }
    }
    relu
}
block stage(f, n, stride=2) { bottleneck(f, stride=stride, project=true); repeat n - 1 { bottleneck(f) } }
network resnet50_v1_5(image: [224, 224, 3]) {
    defaults conv(bias=false)
    conv(64, 7, stride=2, padding=same) -> bn -> relu -> maxpool(3, stride=2, padding=same)
    stage(64, 3, stride=1); stage(128, 4); stage(256, 6); stage(512, 3)
    global_avgpool -> dense(1000, activation=softmax)
}""")
    assert v1_5.trainable == 25_557_032                 # torchvision's resnet50: the same network
    assert 3.9e9 <= v1_5.macs <= 4.1e9, v1_5.macs


def test_unknown_spatial_size_reads_as_unknown():
    table = summary_table(cnndsl.check("network n(x: [none, none, 3]) { conv(8, 3) -> global_avgpool }"))
    assert "MACs:                 ? (H or W unknown)" in table and "Activation memory:    ? " in table


def test_cli_summary_and_depth(tmp_path):
    r = run_cli("summary", GOLDEN / "tiny_resnet.cnn", "--depth", "0")
    assert r.returncode == 0 and r.stdout.startswith("tiny_resnet: image (None, 32, 32, 3) -> probs (None, 10)")
    assert "unit_1-conv_1" not in r.stdout and "×2 unit(32, stride=2)" in r.stdout
    r = run_cli("summary", GOLDEN / "tiny_resnet.cnn", "--depth", "-2")
    assert r.returncode == 2 and r.stderr.strip() == "error: --depth must be a whole number 0 or more, got -2"


def test_summary_imports_no_keras():
    code = ("import sys, cnndsl; from cnndsl.summary import summary_table; "
            f"summary_table(cnndsl.check({str(GOLDEN / 'tiny_resnet.cnn')!r})); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
