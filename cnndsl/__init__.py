"""cnndsl: a small language for convolutional networks, compiled to Keras 3.

    >>> import cnndsl
    >>> net = cnndsl.check("specs/resnet34.cnn")        # IR graph; no Keras import
    >>> net.total_params
    21306826
    >>> model = cnndsl.compile("specs/resnet34.cnn")    # keras.Model (imports Keras)
"""
from .api import check, compile, from_keras, load_spec as load, parse_value, to_torch
from .errors import CnnError, format_error
from .ir import Graph, Node
from .lower import Limits
from .backends.hook import install_import_hook


def layout_map(graph, mesh, shard: dict):
    """A ``keras.distribution.LayoutMap`` that splits the conv and dense weights of the given block paths
    along mesh axes (``cnndsl.distribute``). Imports Keras."""
    from .distribute import layout_map as build
    return build(graph, mesh, shard)


install_import_hook()  # keras.saving.load_model finds cnndsl's LRN, without importing Keras now

def __getattr__(name):
    """``cnndsl.weights`` on first use (it imports numpy; ``import cnndsl`` stays light)."""
    if name == "weights":
        import importlib
        return importlib.import_module(".weights", __name__)
    raise AttributeError(f"module 'cnndsl' has no attribute {name!r}")


__all__ = ["check", "compile", "to_torch", "from_keras", "load", "parse_value", "CnnError", "format_error", "Graph",
           "Node", "Limits", "layout_map"]
__version__ = "0.1.0"
