"""Every shipped spec in torch, against its Keras build (issue 17): the cases are found on disk.

The spec files are every ``.cnn`` under specs/ outside the block libraries (tests/shipped_specs.py),
so a spec file added there is covered here without editing this file. For each:

- **Every network, structurally** (on the meta device: nothing is allocated): the torch module
  builds, torch's own parameter and state counts are the spec's (Keras's), and it is the spec layer
  by layer: every layer with weights is the torch module of its name (``layer1-0-conv1`` is
  ``layer1.0.conv1``) holding exactly the layer's count of weights, and those modules hold the whole
  state_dict between them, so the weights moved from a Keras build fill a strict ``load_state_dict``.
- **The first network, numerically**, at its smallest valid input (``shipped_specs.small``), built
  once in Keras with random weights and shared by these tests: the torch module with the Keras
  weights moved across (``keras_to_torch``: every tensor of its state_dict written, none left as
  built) gives the Keras build's outputs within 1e-5; moved back (``torch_to_keras``) into a Keras
  build whose weights were all replaced, they are the original weights exactly; ``torch.export.export``
  takes the module and its program gives the Keras build's outputs; ONNX (``compile --target onnx``'s
  exporter) run by ONNX Runtime gives the Keras build's outputs.
- **The smallest network of the file** (the cheapest to run: fewest MACs at its smallest input, then
  fewest weights), where it isn't the first: outputs equal with the weights moved across.
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import torch  # noqa: E402

import cnndsl  # noqa: E402
from cnndsl.ir import module_path  # noqa: E402
from cnndsl.weights import keras_to_torch, torch_to_keras  # noqa: E402
from shipped_specs import networks, small_graph, spec_files, spec_id  # noqa: E402
from torch_compare import (TOLERANCE, inputs, keras_outputs, nchw, nhwc, randomize_keras,  # noqa: E402
                           torch_counts, torch_outputs, worst)

pytestmark = pytest.mark.slow

FILES = spec_files()


def _all_networks() -> list:
    return [pytest.param(path, name, id=f"{spec_id(path)}:{name}") for path in FILES for name in networks(path)]


def _state(module) -> dict:
    """The weights and state of a module as its state_dict has them, without BN's step counter."""
    return {k: t for k, t in module.state_dict(keep_vars=True).items() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("path, name", _all_networks())
def test_every_network_is_the_spec_layer_by_layer_in_torch(path, name):
    graph = cnndsl.check(path, name)
    if any(d is None for n in graph.inputs.values() for d in n.shape[1:]):
        graph = small_graph(path, name)         # a size torch can build at (the weights don't depend on it)
    with torch.device("meta"):
        module = cnndsl.to_torch(graph)
    assert torch_counts(module) == (graph.trainable, graph.non_trainable)
    state = _state(module)
    covered = {}
    for node in graph.nodes:
        if node.params == 0:
            continue                           # no weights, or a shared layer applied again
        where = ".".join(module_path(node.name))
        held = {k: t for k, t in state.items() if k == where or k.startswith(where + ".")}
        assert sum(t.numel() for t in held.values()) == node.params, (node.name, sorted(held))
        assert not held.keys() & covered.keys(), (node.name, sorted(held.keys() & covered.keys()))
        covered.update(held)
    assert covered.keys() == state.keys(), sorted(state.keys() - covered.keys())


def _built(path, name):
    """(graph, Keras model with random weights, torch module holding them, inputs, Keras's outputs)."""
    graph = small_graph(path, name)
    model = cnndsl.compile(graph)
    randomize_keras(model, seed=1)
    module = cnndsl.to_torch(graph).eval()
    with torch.no_grad():                       # what keras_to_torch doesn't write stays NaN
        for t in _state(module).values():
            if t.dtype.is_floating_point:
                t.fill_(float("nan"))
    keras_to_torch(model, module)
    xs = inputs(graph, seed=2)
    return graph, model, module, xs, keras_outputs(model, xs)


def _every_tensor_written(module):
    unwritten = sorted(k for k, t in _state(module).items() if t.dtype.is_floating_point and bool(t.isnan().any()))
    assert not unwritten, f"not written by keras_to_torch: {unwritten[:5]}"


@pytest.fixture(scope="module", params=FILES, ids=spec_id)
def first(request):
    """The file's first network at its smallest input: built once, in Keras and in torch."""
    path = request.param
    name = networks(path)[0]
    yield (path, name, *_built(path, name))
    keras.backend.clear_session()
    gc.collect()


def test_torch_equals_keras_with_the_weights_moved_across(first):
    path, name, graph, model, module, xs, want = first
    _every_tensor_written(module)
    assert worst(want, torch_outputs(module, xs)) <= TOLERANCE


def test_torch_weights_moved_back_are_the_keras_weights(first):
    """torch_to_keras into a Keras build whose weights were all replaced (NaN): every weight is the original again,
    exactly, and the outputs with it (keras_to_torch is checked above, so torch_to_keras is its inverse)."""
    path, name, graph, model, module, xs, want = first
    original = [np.array(w) for w in model.get_weights()]
    model.set_weights([np.full_like(w, np.nan) if w.dtype.kind == "f" else np.zeros_like(w) for w in original])
    torch_to_keras(module, model)
    moved = model.get_weights()
    assert len(moved) == len(original)
    assert all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(moved, original))
    assert worst(want, keras_outputs(model, xs)) <= TOLERANCE


def test_torch_export_takes_the_module(first):
    path, name, graph, model, module, xs, want = first
    example = tuple(torch.from_numpy(nchw(x)) for x in xs)
    exported = torch.export.export(module, example)
    with torch.no_grad():
        got = exported.module()(*example)
    assert worst(want, [nhwc(y.numpy()) for y in (got if isinstance(got, (tuple, list)) else [got])]) <= TOLERANCE


# The exports run in a child process, as `cnndsl compile --target onnx` does: torch's TorchScript-based ONNX
# exporter crashes the process (a segmentation fault in torch.onnx.export) after a number of exports of different
# modules in one process (ten to sixty, seen), though each export alone succeeds. One child serves up to
# EXPORTS_PER_CHILD exports (a request per line: the spec, the network, the module's state_dict file and the .onnx
# path to write), then a fresh one takes over, so torch's start-up isn't paid for every file; an export whose
# long-lived child crashes is done again alone (``_Exporter.export``).
_EXPORTER = """
import sys, traceback
import torch
from shipped_specs import small_graph
from cnndsl.backends import onnx as onnx_backend
from cnndsl.backends import torch as torch_backend
build = torch_backend.to_torch
for line in sys.stdin:
    path, name, state, out = line.rstrip("\\n").split("\\t")
    try:
        graph = small_graph(path, name)
        module = build(graph).eval()
        module.load_state_dict(torch.load(state))
        torch_backend.to_torch = lambda g: module       # the module holding the Keras weights
        try:
            onnx_backend.export_onnx(graph, out)
        finally:
            torch_backend.to_torch = build
        print("ok", flush=True)
    except Exception:
        print(repr(traceback.format_exc()), flush=True)
"""
EXPORTS_PER_CHILD = 15
EXPORT_TIMEOUT_S = 600     # one export's limit, as the one-process-per-export version had


class _Exporter:
    def __init__(self):
        self.child, self.served = None, 0

    def export(self, path, name, state, out) -> str:
        """"ok", or what went wrong (the child's traceback, or how it ended). Where a child that has served
        other exports dies of a signal (torch's exporter crashing in a long-lived process: seen at its 10th
        to 13th export, at torchvision's regnet and mnasnet, each of which exports alone), the export is
        done again in a fresh child, alone, as `cnndsl compile --target onnx` runs it; what that one says
        is the answer."""
        answer, code, served = self._ask(path, name, state, out)
        if not answer and code < 0 and served > 1:
            print(f"the exporting process died of signal {-code} after {served - 1} other exports; again, alone")
            self.close()
            answer, code, served = self._ask(path, name, state, out)
        return answer or f"the exporting process ended with status {code}"

    def _ask(self, path, name, state, out):
        import subprocess
        if self.child is None or self.served >= EXPORTS_PER_CHILD:
            self.close()
            self.child = subprocess.Popen([sys.executable, "-c", _EXPORTER], cwd=Path(__file__).resolve().parent,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.served = 0
        self.served += 1
        self.child.stdin.write(f"{path}\t{name}\t{state}\t{out}\n")
        self.child.stdin.flush()
        import select
        if not select.select([self.child.stdout], [], [], EXPORT_TIMEOUT_S)[0]:
            self.child.kill()                # a hung export ends as a crash would (its answer: the signal)
        answer = self.child.stdout.readline().strip()
        if answer:
            return answer, 0, self.served
        served, code, self.child = self.served, self.child.wait(), None     # it died: the next starts afresh
        return "", code, served

    def close(self):
        if self.child is not None:
            try:
                self.child.stdin.close()
            except BrokenPipeError:
                pass
            self.child.wait()
            self.child = None


@pytest.fixture(scope="module")
def exporter():
    e = _Exporter()
    yield e
    e.close()


def test_onnx_runtime_equals_keras(first, exporter, tmp_path):
    import onnxruntime
    path, name, graph, model, module, xs, want = first
    out, state = tmp_path / "model.onnx", tmp_path / "state.pt"
    torch.save(module.state_dict(), state)
    answer = exporter.export(path, name, state, out)
    assert answer == "ok", answer[-3000:]
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: nchw(x) for i, x in zip(session.get_inputs(), xs)})
    assert [o.name for o in session.get_outputs()] == list(graph.outputs)
    assert worst(want, [nhwc(y) for y in got]) <= TOLERANCE


@pytest.mark.parametrize("path", FILES, ids=spec_id)
def test_the_smallest_network_equals_keras(path):
    names = networks(path)
    graphs = {name: small_graph(path, name) for name in names}
    cost = {name: (g.macs if g.macs is not None else float("inf"), g.total_params) for name, g in graphs.items()}
    smallest = min(names, key=lambda n: (cost[n], names.index(n)))
    if smallest == names[0]:
        pytest.skip("the first network is the smallest (test_torch_equals_keras_with_the_weights_moved_across)")
    graph, model, module, xs, want = _built(path, smallest)
    try:
        _every_tensor_written(module)
        assert worst(want, torch_outputs(module, xs)) <= TOLERANCE
    finally:
        del model
        keras.backend.clear_session()
        gc.collect()
