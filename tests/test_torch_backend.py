"""The torch target (issue 17), the quick checks (no framework imported).

- Every op of the registry has a builder in both backends' tables.
- An op torch lacks, or can't compute exactly, is a located `unsupported` error.
- The written source of every network of every shipped spec compiles (``py_compile``) and pyflakes
  finds nothing in it; writing it imports no framework.
- The README's torchvision table is generated from tests/test_torchvision_zoo.py's list.

Against Keras, numerically: tests/test_torch_numeric.py (every op case) and tests/test_torch_specs.py
(every shipped spec: structure, outputs with weights moved both ways, torch.export, ONNX Runtime).
"""
from __future__ import annotations

import io
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cnndsl  # noqa: E402
from cnndsl.backends import keras as keras_backend  # noqa: E402
from cnndsl.backends import torch as torch_backend  # noqa: E402
from cnndsl.backends.torch import emit_torch  # noqa: E402
from cnndsl.ops import REGISTRY  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def _spec_files():
    return sorted(p for p in SPECS.rglob("*.cnn") if "lib" not in p.relative_to(SPECS).parts)


# --- quick tier: no framework -------------------------------------------------------------------------

def test_both_backends_have_a_builder_for_every_op():
    """A new registry entry needs its Keras and its torch builder (and nothing else has one)."""
    spec_ops = {name for name, op in REGISTRY.items() if not (op.internal or op.passthrough)}
    assert set(keras_backend.BUILDERS) == spec_ops
    assert set(torch_backend.BUILDERS) == spec_ops


def test_an_op_without_a_torch_builder_is_a_located_error(monkeypatch):
    monkeypatch.delitem(torch_backend.BUILDERS, "lrn")
    with pytest.raises(cnndsl.CnnError) as e:
        emit_torch(cnndsl.check("network n(x: [8, 8, 3]) {\n  conv(4, 1) -> lrn\n}"))
    assert e.value.kind == "unsupported" and e.value.exit_code == 1
    assert "`lrn` is not supported by the torch backend" in str(e.value)
    assert (e.value.span.line, e.value.span.col) == (2, 17)


def test_what_torch_cant_do_exactly_is_a_located_error():
    with pytest.raises(cnndsl.CnnError) as e:
        emit_torch(cnndsl.check("network n(x: [8, 8, 3]) {\n  resize([4, 4], interpolation=bicubic)\n}"))
    assert e.value.kind == "unsupported" and (e.value.span.line, e.value.span.col) == (2, 3)
    with pytest.raises(cnndsl.CnnError) as e:
        emit_torch(cnndsl.check("network n(x: [none, none, 3]) {\n  conv(4, 3, stride=2, padding=same)\n}"))
    assert "unknown size" in str(e.value) and e.value.hint


def test_a_doubled_dash_is_a_dash_inside_a_module_name():
    """torchvision's RegNet names modules `block1-0`: `block1--0` is that one step, not two."""
    source = emit_torch(cnndsl.check('network n(x: [8, 8, 3]) {\n  conv(4, 1, name="trunk-block1--0-conv")\n}'))
    assert 'self.add_module("block1-0", ' in source
    assert 'getattr(self.trunk, "block1-0").conv(x)' in source


@pytest.mark.parametrize("path", _spec_files(), ids=lambda p: str(p.relative_to(SPECS)))
def test_every_network_writes_python_that_compiles_and_lints_clean(path, tmp_path):
    """The written source of every network of every shipped spec compiles (``py_compile``, as
    ``python -m py_compile`` does) and pyflakes finds nothing in it (no torch needed)."""
    from pyflakes.api import check as pyflakes_check
    from pyflakes.reporter import Reporter
    from shipped_specs import small_graph
    for name in cnndsl.load(path).network_names():
        graph = cnndsl.check(path, name)
        if any(d is None for n in graph.inputs.values() for d in n.shape[1:]):
            graph = small_graph(path, name)     # a size the torch target can write
        source = emit_torch(graph)
        out = tmp_path / f"{name}.py"
        out.write_text(source, encoding="utf-8")
        py_compile.compile(str(out), cfile=str(tmp_path / f"{name}.pyc"), doraise=True)
        report = io.StringIO()
        assert pyflakes_check(source, out.name, Reporter(report, report)) == 0, report.getvalue()
        assert "def build():" in source


def test_writing_torch_source_imports_no_framework(tmp_path):
    out = tmp_path / "model.py"
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnndsl", "compile", str(SPECS / "resnet34.cnn"),
                        "--target", "torch", "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    assert not imported & {"torch", "keras", "tensorflow", "jax", "onnx", "numpy"}
    r = subprocess.run([sys.executable, "-m", "py_compile", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.returncode == 0


@pytest.mark.parametrize("args, message", [
    (["--target", "torch", "-o", "x.keras"], "does not end in .py"),
    (["--target", "onnx", "-o", "x.py"], "does not end in .onnx"),
    (["--target", "torch", "--emit", "python", "-o", "x.py"], "--emit python is for the Keras target"),
    (["--target", "torch", "--summary", "-o", "x.py"], "--summary"),
])
def test_target_usage_errors(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "cnndsl", "compile", str(SPECS / "lenet5.cnn"), *args],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())


def test_the_torchvision_table_is_generated_from_the_tests_numeric_list():
    """The README's torchvision table (its "equal outputs" column from test_torchvision_zoo.NUMERIC) is what
    scripts/render_docs.py writes."""
    import importlib.util
    loader = importlib.util.spec_from_file_location("render_docs", ROOT / "scripts" / "render_docs.py")
    render_docs = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(render_docs)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- torchvision-table:begin -->\n")[1].split("\n<!-- torchvision-table:end -->")[0]
    assert table == render_docs.torchvision_table(), "run scripts/render_docs.py torchvision"
