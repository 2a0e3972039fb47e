"""Model parallelism by the spec's block paths: ``cnndsl.layout_map(graph, mesh, shard)``.

``shard`` maps a block path (a block call's scope id, as ``cnndsl summary`` and the diagrams show it,
e.g. ``head_1`` or ``stage_2-residual_1``) or a layer name to a mesh axis name. Every conv and dense
layer inside it has its kernel's output axis and its bias split along that axis; any other weight
(BN's, say) is replicated. The result is a ``keras.distribution.LayoutMap`` keyed by the layers'
variable paths, ready for ``keras.distribution.ModelParallel``. Imports Keras.
"""
from __future__ import annotations

from .errors import CnnError, did_you_mean

# op -> its weights' names in Keras and the number of kernel axes before the output axis
_SPLIT = {"conv": ("kernel", "bias"), "dense": ("kernel", "bias")}


def layout_map(graph, mesh, shard: dict):
    """A ``keras.distribution.LayoutMap`` for ``graph`` on ``mesh`` (a ``keras.distribution.DeviceMesh``)."""
    import keras
    paths = {s.id for n in graph.nodes for s in n.scope} | {n.name for n in graph.nodes}
    lm = keras.distribution.LayoutMap(mesh)
    sizes = dict(zip(mesh.axis_names, mesh.shape))
    for path, axis in shard.items():
        if path not in paths:
            raise CnnError("usage", f"layout_map: `{path}` is neither a block path nor a layer of {graph.name}",
                           hint=did_you_mean(path, paths) or "block paths are the scope ids `cnndsl summary` shows")
        if axis not in sizes:
            raise CnnError("usage", f"layout_map: the mesh has no axis `{axis}` (its axes: {', '.join(sizes)})")
        for node in graph.nodes:
            if node.name != path and all(s.id != path for s in node.scope):
                continue
            if node.op not in _SPLIT or not node.params:
                continue
            out = node.shape[-1]
            if out is None or out % sizes[axis]:
                raise CnnError("usage", f"layout_map: layer `{node.name}` has {out} output channels, which the "
                                        f"{sizes[axis]} devices of axis `{axis}` don't divide")
            kernel, bias = _SPLIT[node.op]
            rank = len(node.args["kernel"]) + 2 if node.op == "conv" else 2
            lm[f"{node.name}/{kernel}"] = (None,) * (rank - 1) + (axis,)
            if node.args.get("bias"):
                lm[f"{node.name}/{bias}"] = (axis,)
    return lm
