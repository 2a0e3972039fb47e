"""IR graph -> ONNX, through the torch module (``backends.torch``) and torch's ONNX exporter.

The route is torch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``): it needs torch
and onnx only (the newer exporter also needs onnxscript), and it can write each block class as an
ONNX local function (``export_modules_as_functions``), so a viewer such as Netron shows blocks
folded. Where the exporter writes a function ONNX's own checker refuses (it happens with some nested
blocks), or can't write a block as a function at all (an adaptive pool inside one, whose input size
the function leaves unknown), the model is exported again inlined, without functions. Inputs and
outputs are torch's layout (NCHW), named as the spec names them; the batch axis stays dynamic where
the spec leaves it unknown. Unknown H or W can't be traced: the spec must give
the input a size (``--set image=[224, 224, 3]``).
"""
from __future__ import annotations

import warnings

from ..errors import CnnError

OPSET = 18


def export_onnx(graph, path: str) -> None:
    """Write the graph as an ONNX model to ``path``."""
    try:
        import torch
        import onnx  # noqa: F401  (the exporter needs it; say so before tracing)
    except ImportError as e:
        raise CnnError("backend", f"the onnx target needs torch and onnx, but `{e.name}` can't be imported",
                       hint="pip install 'cnndsl[onnx]'") from None
    from .torch import to_torch
    for node in graph.inputs.values():
        if any(d is None for d in node.shape[1:]):
            raise CnnError("usage", f"input `{node.name}` has an unknown size {tuple(node.shape)}; ONNX export traces "
                                    "one size", node.span, hint="give it one: --set image=[224, 224, 3]")
    model = to_torch(graph).eval()
    module = __import__(type(model).__module__)
    blocks = {c for c in vars(module).values() if isinstance(c, type) and issubclass(c, torch.nn.Module)
              and c.__module__ == module.__name__ and c is not type(model) and hasattr(c, "cnndsl_block")}
    examples = tuple(torch.zeros((1 if n.shape[0] is None else n.shape[0],) + _torch_shape(n.shape[1:]))
                     for n in graph.inputs.values())
    names_in = list(graph.inputs)
    names_out = list(graph.outputs)
    dynamic = {name: {0: "batch"} for name, n in {**graph.inputs, **graph.outputs}.items() if n.shape[0] is None}

    def export(functions):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.no_grad():
                torch.onnx.export(model, examples, path, dynamo=False, input_names=names_in, output_names=names_out,
                                  dynamic_axes=dynamic or None, opset_version=OPSET,
                                  export_modules_as_functions=functions or False)
    swapped = _static_adaptive_pools(graph, model)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)   # nn.MultiheadAttention's fused kernel has no ONNX export
    try:
        _export_folded_or_inlined(export, blocks, path)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for parent, name, original in swapped:
            setattr(parent, name, original)
    _name_io(path, names_in, names_out)


def _export_folded_or_inlined(export, blocks, path) -> None:
    if not blocks or not _survives(lambda: _folded(export, blocks, path)):
        # The exporter writes some nested functions without their values' types (ONNX's checker and
        # ONNX Runtime refuse them), can't write some ops inside a function at all (an adaptive pool
        # whose input size the function leaves unknown), and now and then crashes the process while it
        # extracts the functions (torch 2.13's _jit_pass_onnx_function_extraction: a segmentation fault
        # in about one run in three of torchvision's mobilenet_v3_large, at random): the same graph,
        # inlined, is what it writes without functions.
        export(False)


def _folded(export, blocks, path) -> bool:
    try:
        export(blocks)
    except Exception:       # torch.onnx's SymbolicValueError and the like: it can't write these blocks as functions
        return False
    return _valid(path)


FOLDED_EXPORT_S = 600   # the folded export's limit in its own process; past it, the inlined export


def _survives(attempt) -> bool:
    """``attempt()`` run in a forked copy of this process, so that a crash of torch's exporter (a signal,
    not an exception) or a hang ends the attempt, not the command: True if it returned true there. What
    it writes to a file is there for the parent to use. Without fork, it runs here."""
    import os
    import sys
    import time
    if not hasattr(os, "fork"):
        return bool(attempt())
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:                                   # the child: never returns into the caller's code
        code = 1
        try:
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)   # no thread pool inherited half-made across fork
            code = 0 if attempt() else 1
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + FOLDED_EXPORT_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return False
        time.sleep(0.02)


def _static_adaptive_pools(graph, model) -> list:
    """Swap each adaptive pool of the module (one the exporter can't write: its bins don't divide the input,
    or the traced sizes are unknown under a dynamic batch) for the same bins at the spec's static input
    size, sliced and reduced axis by axis; returns [(parent, name, original)] to put back."""
    import torch
    from ..ir import module_path
    from ..ops.conv import adaptive_bins

    class StaticAdaptivePool(torch.nn.Module):
        def __init__(self, mode, bins):
            super().__init__()
            self.mode, self.bins = mode, bins

        def forward(self, x):
            for axis, bins in enumerate(self.bins):
                dim = 2 + axis
                parts = [x.narrow(dim, a, b - a) for a, b in bins]
                x = torch.cat([p.mean(dim, keepdim=True) if self.mode == "avg" else p.amax(dim, keepdim=True)
                               for p in parts], dim)
            return x

    swapped = []
    for node in graph.nodes:
        if node.op not in ("adaptive_avgpool", "adaptive_maxpool"):
            continue
        spatial, size = node.inputs[0].shape[1:-1], tuple(node.args["size"])
        if all(o == 1 for o in size) or any(n is None for n in spatial):
            continue        # a global pool the exporter writes as such, or a size the trace can't fix
        *parents, name = module_path(node.name)
        try:
            parent = model.get_submodule(".".join(parents))
            original = getattr(parent, name)
        except AttributeError:
            continue
        bins = [adaptive_bins(n, o) for n, o in zip(spatial, size)]
        setattr(parent, name, StaticAdaptivePool("avg" if node.op == "adaptive_avgpool" else "max", bins))
        swapped.append((parent, name, original))
    return swapped


def _name_io(path, names_in, names_out) -> None:
    """Give the graph's inputs and outputs the spec's names where the exporter didn't: an output that a
    block's function computes directly keeps the exporter's number (``21``) instead of ``output_names``."""
    import onnx
    model = onnx.load(path, load_external_data=False)     # names only: weights stay where they are
    graph = model.graph
    renames = {v.name: want for v, want in [*zip(graph.input, names_in), *zip(graph.output, names_out)]
               if v.name != want}
    if not renames:
        return
    taken = {name for node in graph.node for name in [*node.input, *node.output]} | \
        {v.name for v in [*graph.input, *graph.output, *graph.value_info, *graph.initializer]}
    clash = (set(renames.values()) & taken) - set(renames)
    if clash:
        raise CnnError("backend", f"the ONNX exporter named another value {sorted(clash)[0]!r}, a name of the "
                                  "spec's inputs and outputs")
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for v in [*graph.input, *graph.output, *graph.value_info]:
        v.name = renames.get(v.name, v.name)
    onnx.save(model, path)


def _valid(path) -> bool:
    import onnx
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    except Exception:      # onnx raises its own ValidationError / InferenceError kinds
        return False
    return True


def _torch_shape(dims) -> tuple:
    """IR dims after the batch (channels last) in torch's order."""
    dims = tuple(dims)
    return (dims[-1], *dims[:-1]) if len(dims) >= 3 else dims
