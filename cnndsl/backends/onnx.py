"""IR graph -> ONNX, through the torch module (``backends.torch``) and torch's ONNX exporter.

The route is torch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``): it needs torch
and onnx only (the newer exporter also needs onnxscript), and it can write each block class as an
ONNX local function (``export_modules_as_functions``), so a viewer such as Netron shows blocks
folded. Where the exporter writes a function ONNX's own checker refuses (it happens with some nested
blocks), the model is exported again inlined, without functions. Inputs and outputs are torch's layout (NCHW), named as the spec names them; the batch axis
stays dynamic where the spec leaves it unknown. Unknown H or W can't be traced: the spec must give
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
    export(blocks)
    if blocks and not _valid(path):
        # The exporter writes some nested functions without their values' types (ONNX's checker and
        # ONNX Runtime refuse them): the same graph, inlined, is what it writes without functions.
        export(False)
    _name_io(path, names_in, names_out)


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
