"""Register cnndsl's Keras layers as soon as Keras is imported, without importing it.

``import cnndsl`` calls ``install_import_hook`` so that ``keras.saving.load_model``
finds the LRN layer in a ``.keras`` file; this module stays tiny because every
``cnndsl check`` imports it.
"""
from __future__ import annotations

import importlib
import sys

_LAYERS = "cnndsl.backends.keras_layers"


def install_import_hook() -> None:
    """Make ``keras.saving.load_model`` find cnndsl's layers, without importing Keras now.

    If Keras is already imported, the layers are registered at once.
    Otherwise a finder on ``sys.meta_path`` waits for ``import keras`` and
    registers them right after Keras has loaded, then removes itself.
    Calling this twice is harmless.
    """
    if sys.modules.get("keras") is not None:
        importlib.import_module(_LAYERS)
    elif not any(isinstance(f, _RegisterAfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterKeras())


class _RegisterAfterKeras:
    """Finds ``keras`` with the other finders and wraps its loader to import ``keras_layers`` after it.

    A meta path finder by protocol (``find_spec``; ``invalidate_caches`` has nothing to drop), not a
    subclass of ``importlib.abc.MetaPathFinder``: importing importlib.abc costs every command's start-up."""

    def invalidate_caches(self):
        pass

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if isinstance(spec.loader, type) or not hasattr(spec.loader, "exec_module"):
            return spec   # not a file-backed package: leave it alone
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            importlib.import_module(_LAYERS)

        spec.loader.exec_module = exec_module
        return spec
