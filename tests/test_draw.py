"""`cnndsl draw` (issue 4): golden DOT, structure, every spec in specs/, formats, missing `dot`, notebooks.

Golden files live in tests/golden/ beside the small specs they draw; UPDATE_GOLDEN=1 rewrites them.
The structural checks parse the DOT text back: every box statement's id and tooltip (a tooltip
lists the layers a box shows, one ``name: shape, ...`` line each; a folded block's reads
``scope id: N layers``), and every edge with its shape label.
"""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import cnndsl
from cnndsl.backends import dot
from cnndsl.errors import CnnError
from cnndsl.summary import summary_table
from conftest import ROOT, SPECS, golden, run_cli

GOLDEN = Path(__file__).resolve().parent / "golden"
BOX = re.compile(r'^\t+("[^"]+"|[^\s"]+) \[label=<.*?tooltip="([^"]*)"\]$', re.M | re.S)
EDGE = re.compile(r'^\t+("[^"]+"|[^\s"]+) -> ("[^"]+"|[^\s"]+)(?: \[label="?([^"\]]*)"?\])?$', re.M)
ALL_SPECS = sorted([*SPECS.glob("*.cnn"), *SPECS.glob("applications/*.cnn")])


def boxes(text: str) -> dict:
    """Box id -> the layer names (or the folded scope) its tooltip lists."""
    return {i.strip('"'): [line.split(":")[0] for line in tip.split("\n")] for i, tip in BOX.findall(text)}


def edges(text: str) -> set:
    return {(a.strip('"'), b.strip('"'), label) for a, b, label in EDGE.findall(text)}


def networks(path: Path):
    program = cnndsl.load(path)
    return [(name, program) for name in program.network_names()]


def test_golden_dot():
    cases = [("tiny_resnet", "full", {}), ("tiny_resnet", "d0", {"depth": 0}), ("tiny_resnet", "d1", {"depth": 1}),
             ("tiny_inception", "full", {}),
             ("tiny_inception", "d1.lr", dict(depth=1, rankdir="LR", show_shapes=False, show_params=False)),
             ("two_heads", "full", {})]
    for spec, tag, options in cases:
        golden(GOLDEN / f"{spec}.{tag}.dot", dot.to_dot(cnndsl.check(GOLDEN / f"{spec}.cnn"), **options))


def test_full_depth_is_complete_and_edges_carry_shapes():
    graph = cnndsl.check(GOLDEN / "tiny_resnet.cnn")
    text = dot.to_dot(graph)
    shown = boxes(text)
    owner = {name: box for box, names in shown.items() for name in names}
    assert sorted(owner) == sorted(n.name for n in graph.nodes)          # every layer, once
    expected = {(owner[i.name], owner[n.name], dot.dims(i.shape))
                for n in graph.nodes for i in n.inputs if owner[i.name] != owner[n.name]}
    assert edges(text) == expected
    # conv -> bn -> relu share one box; the residual add -> relu too
    assert shown["unit_1-conv_1"] == ["unit_1-conv_1", "unit_1-bn_1", "unit_1-relu_1"]
    assert 'label=<<FONT POINT-SIZE="10" COLOR="#333333"><B>unit(16)  ·  4.77K params</B>' in text
    assert '"cluster/repeat_1"' in text and ">×2</FONT>" in text
    assert "ortho" not in text


def test_depth_folds_blocks_into_one_box_with_shapes_and_params():
    graph = cnndsl.check(GOLDEN / "tiny_resnet.cnn")
    shown = boxes(dot.to_dot(graph, depth=0))
    assert shown["scope/unit_1"] == ["unit_1"] and shown["scope/repeat_1"] == ["repeat_1"]
    text = dot.to_dot(graph, depth=0)
    assert "<B>×2 unit(32, stride=2)</B>" in text            # a folded repeat names what it repeats
    assert "32×32×16 → 8×8×32  ·  34.8K params  ·  4.92M MACs" in text
    assert "cluster" not in text
    # depth 1: unit(16) opens; the repeat would be a cluster of two folded units, so it stays one box
    shown = boxes(dot.to_dot(graph, depth=1))
    assert "unit_1-conv_1" in shown and "scope/repeat_1" in shown and "scope/unit_2" not in shown
    shown = boxes(dot.to_dot(graph, depth=2))
    assert "unit_2-conv_1" in shown and not any(b.startswith("scope/") for b in shown)


def test_repeat_of_folded_blocks_is_one_box():
    graph = cnndsl.check(GOLDEN / "tiny_inception.cnn")      # repeat 2 { inception(..., name="mod{i}") }
    text = dot.to_dot(graph, depth=1)
    assert set(boxes(text)) == {"image", "stem", "scope/repeat_1", "maxpool_1", "flatten_1", "dense_1"}
    assert "<B>×2 inception(8, 16, …)</B>" in text           # the calls differ in name= (mod0, mod1)


def test_deterministic_across_processes(tmp_path):
    spec = SPECS / "resnet152.cnn" if (SPECS / "resnet152.cnn").exists() else GOLDEN / "tiny_resnet.cnn"
    outs = []
    for seed in ("1", "2"):
        for depth in ([], ["--depth", "1"]):
            out = tmp_path / f"{seed}-{len(depth)}.dot"
            r = run_cli("draw", spec, "-o", out, *depth, env={"PYTHONHASHSEED": seed})
            assert r.returncode == 0, r.stderr
            outs.append(out.read_bytes())
    assert outs[0] == outs[2] and outs[1] == outs[3] and outs[0] != outs[1]


@pytest.mark.parametrize("network", ["signal", "volume", "math", "tokens"])
def test_issue_16s_ops_draw_with_their_own_colours_and_labels(network):
    """1-D and 3-D layers, tensor math and attention: every family has a colour and a legend entry."""
    text = dot.to_dot(cnndsl.check(ROOT / "tests" / "fixtures" / "reach.cnn", network))
    want = {"signal": ["conv 9 /2 · 8", "conv 3 d2 · 8 causal", "adaptive avgpool 5", "groupnorm 2"],
            "volume": ["conv 1×3×3 · 4", "maxpool 2×2×2 /2 pad 1 ceil", "upsample ×1×2×2", "grn"],
            "math": ["subtract", "power 2", "reduce max keepdims", "avgpool 3×3 /2 pad 1 excl. pad"],
            "tokens": ["class token", "attention 2×8", "weighted add softmax", "matmul bᵀ", "stack axis 1"]}[network]
    for label in want:
        assert label in text, label
    if network in ("math", "tokens"):
        assert ("■</FONT> math" if network == "math" else "■</FONT> attention") in text


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: str(p.relative_to(SPECS)))
def test_every_spec_draws_at_every_depth(path, tmp_path):
    for name, program in networks(path):
        graph = program.lower(name)
        for depth in (0, 1, 2, None):
            text = dot.to_dot(graph, depth=depth)
            owner = {n for names in boxes(text).values() for n in names}
            if depth is None:
                assert owner == {n.name for n in graph.nodes}
            assert "ortho" not in text
        svg = dot.render(graph, "svg")                         # the real Graphviz (2.43 on Debian)
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and graph.name.encode() in svg


def test_png_pdf_svg_files(tmp_path):
    for ext, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml"), ("dot", b"digraph")):
        out = tmp_path / f"net.{ext}"
        r = run_cli("draw", GOLDEN / "tiny_inception.cnn", "-o", out, "--depth", "1")
        assert r.returncode == 0 and r.stdout.strip() == f"wrote {out}", r.stderr
        assert out.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []    # no temp files left


def _png_size(data: bytes) -> tuple:
    return struct.unpack(">II", data[16:24])


def test_png_is_sharp_and_never_silently_shrunk(capsys, monkeypatch):
    graph = cnndsl.check(GOLDEN / "tiny_resnet.cnn")
    width, height = (float(x) for x in dot._pipe(dot._digraph(graph, None, "TB", True, True), "plain").split()[2:4])
    w, h = _png_size(dot.render(graph, "png"))
    pad = 8 / 72                                               # Graphviz's 4 pt margin on each side
    assert abs(w - (width + pad) * dot.PNG_DPI) <= 2 and abs(h - (height + pad) * dot.PNG_DPI) <= 2
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(dot, "PNG_MAX_PX", 400)                # a limit the diagram can't fit legibly
    w, h = _png_size(dot.render(graph, "png", "big.png"))
    assert max(w, h) <= 410
    err = capsys.readouterr().err
    assert err.startswith("warning: big.png is") and "use .svg or .pdf, or --depth" in err


def test_missing_dot_is_one_line_and_exit_1(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "net.svg"
    r = run_cli("draw", GOLDEN / "tiny_resnet.cnn", "-o", out, env={"PATH": str(empty)})
    assert r.returncode == 1 and not out.exists()
    assert len(r.stderr.strip().splitlines()) == 1
    assert "apt-get install graphviz" in r.stderr and "brew install graphviz" in r.stderr
    r = run_cli("draw", GOLDEN / "tiny_resnet.cnn", "-o", tmp_path / "net.dot", env={"PATH": str(empty)})
    assert r.returncode == 0 and (tmp_path / "net.dot").read_text().startswith("digraph tiny_resnet {")


def test_usage_errors(tmp_path):
    r = run_cli("draw", GOLDEN / "tiny_resnet.cnn", "-o", tmp_path / "net.jpg")
    assert r.returncode == 2 and "use a .svg, .png, .pdf or .dot file" in r.stderr
    r = run_cli("draw", GOLDEN / "tiny_resnet.cnn", "-o", tmp_path / "net.svg", "--depth", "-1")
    assert r.returncode == 2 and "--depth" in r.stderr and not (tmp_path / "net.svg").exists()


def test_failed_render_leaves_old_file(tmp_path, monkeypatch):
    out = tmp_path / "net.svg"
    out.write_text("old")

    def broken(g, fmt):
        raise CnnError("tool", "boom")
    monkeypatch.setattr(dot, "_pipe", broken)
    with pytest.raises(CnnError):
        dot.write_diagram(cnndsl.check(GOLDEN / "tiny_resnet.cnn"), str(out))
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["net.svg"]


def test_resnet152_depth1_fits_one_screen():
    graph = cnndsl.check(SPECS / "resnet152.cnn")
    g = dot._digraph(graph, 1, "TB", True, True)
    assert len(boxes(g.source)) <= 20
    width, height = (float(x) for x in dot._pipe(g, "plain").split()[2:4])
    assert width <= 8 and height <= 16.5, (width, height)        # at 100% zoom: at most 770×1580 px
    assert "<B>×35 bottleneck(256, " in g.source                     # the 35 calls, folded into one box


def test_notebook_svg(monkeypatch):
    graph = cnndsl.check(GOLDEN / "tiny_resnet.cnn")
    svg = dot.repr_svg(graph)
    assert svg.startswith("<?xml") and "<svg" in svg and "tiny_resnet" in svg
    if hasattr(graph, "_repr_svg_"):
        assert graph._repr_svg_() == svg
    monkeypatch.setenv("PATH", "")
    assert dot.repr_svg(graph) is None                            # Jupyter falls back to the text repr


def test_notebook_picks_a_depth_that_stays_small():
    big = cnndsl.check(SPECS / "resnet152.cnn")
    depth = dot.auto_depth(big)
    assert depth is not None and len(boxes(dot.to_dot(big, depth=depth))) <= dot.AUTO_BOXES
    assert dot.auto_depth(cnndsl.check(GOLDEN / "tiny_resnet.cnn")) is None


def test_drawing_imports_no_keras():
    code = ("import sys, cnndsl; from cnndsl.backends.dot import to_dot; "
            f"to_dot(cnndsl.check({str(GOLDEN / 'tiny_resnet.cnn')!r})); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_written_files_follow_the_umask(tmp_path):
    out = tmp_path / "net.dot"
    old = os.umask(0o022)
    try:
        dot.write_diagram(cnndsl.check(GOLDEN / "tiny_resnet.cnn"), str(out))
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_block_label_shows_tensor_arguments_as_written():
    graph = cnndsl.check("""
block join(other) { add(in, other) }
network n(x: [8, 8, 4]) {
    s = conv(4, 1)
    conv(4, 3, padding=same) -> join(s)
}""")
    assert [s.label for s in graph.nodes[-1].scope] == ["join(s)"]


# --- depth counts the levels a reader sees; labels cut at an argument boundary (issue 23) -------------

def test_convnext_at_depth_1_shows_its_stem_downsamplings_and_stages():
    """The network's body is one call of `_convnext` (a one-call wrapper, no level of its own), whose
    `repeat 4` has unlike iterations (a stem or a downsampling, then a stage): no level either. So
    depth 1 shows what a reader names: the stem, the three downsamplings and the four stages."""
    graph = cnndsl.check(SPECS / "applications" / "convnext.cnn", network="convnexttiny")
    text = dot.to_dot(graph, depth=1)
    titles = re.findall(r"<B>([^<]*)</B>", text)
    stages = [t for t in titles if t.startswith("×")]
    assert stages == ["×3 block(96, 0, 1e-06, …)", "×3 block(192, 0, 1e-06, …)", "×9 block(384, 0, 1e-06, …)",
                      "×3 block(768, 0, 1e-06, …)"]          # Keras's ConvNeXtTiny: depths [3, 3, 9, 3]
    assert "sequential convnext_tiny_stem" in titles
    assert sum(t.startswith("sequential convnext_tiny_downsampling_block_") for t in titles) == 3
    assert dot.to_dot(graph, depth=2) != text                 # depth 2 opens the stages' blocks
    assert "×4 sequential" not in text


def test_a_one_call_wrapper_is_no_level_of_its_own():
    source = """
block inner(f) { conv(f, 3, padding=same) -> relu -> conv(f, 3, padding=same) }
block outer(f) { inner(f) }
network n(x: [8, 8, 3]) { outer(4) -> outer(8) -> flatten }
"""
    graph = cnndsl.check(source)
    at0, at1 = boxes(dot.to_dot(graph, depth=0)), boxes(dot.to_dot(graph, depth=1))
    assert "scope/outer_1-inner_1" in at0 and "scope/outer_1" not in at0      # the call inside is the level
    assert "outer_1-inner_1-conv_1" in at1 and not any(b.startswith("scope/") for b in at1)
    table = summary_table(graph, depth=0)
    assert "inner(4)" in table and "outer_1-inner_1-conv_1" not in table


def test_cluster_labels_show_the_public_name_and_cut_between_arguments():
    graph = cnndsl.check(SPECS / "applications" / "convnext.cnn", network="convnexttiny")
    text = dot.to_dot(graph)
    labels = re.findall(r'label=<<FONT POINT-SIZE="10" COLOR="#333333"><B>([^<]*)</B>', text)
    assert labels and not any(label.startswith("_") for label in labels)
    for label in labels:
        call = label.split("  ·  ")[0]
        assert call.count("[") == call.count("]") and call.count("(") == call.count(")"), call
    assert labels[0].startswith("convnext([[3, 3, 9, 3], [96, 192, 384, 768]], convnext_tiny, 0, 1e-06, …)")
    # the call as written stays in error chains and the Python emitter
    assert graph.nodes[5].scope[0].label.startswith("_convnext([[3, 3, 9, 3], [96, 192, 384, 768]], ")
