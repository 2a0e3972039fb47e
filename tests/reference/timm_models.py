"""timm's models, the references of the timm specs (issue 16): ``create(name)`` builds
``timm.create_model(name, pretrained=False)`` in eval mode.

timm imports names from torchvision when it loads (FrozenBatchNorm2d, datasets and transforms for
its data pipeline, feature extraction), none of which the models built here use. Where the
installed torchvision cannot load (a CUDA build beside a CPU torch: "operator torchvision::nms does
not exist"), every torchvision module is a stand-in whose classes refuse to be built, so a model
that did use one would fail loudly; the models are timm's own code either way.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types


class _StandIn(types.ModuleType):
    """A torchvision module that cannot load: any name in it is a class that refuses to be built."""
    __path__: list = []

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Absent(attr, (), {"__init__": _refuse})


class _Absent(type):
    """A stand-in class: its attributes (enum members) are further stand-ins."""
    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Absent(f"{cls.__name__}.{attr}", (), {"__init__": _refuse})


def _refuse(*args, **kwargs):
    raise NotImplementedError("torchvision cannot load here")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StandIn(spec.name)

    def exec_module(self, module):
        pass


def _timm():
    try:
        import torchvision  # noqa: F401
    except (RuntimeError, OSError):
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        sys.meta_path.insert(0, _Finder())
    import timm
    return timm


def create(name: str, **kwargs):
    return _timm().create_model(name, pretrained=False, **kwargs).eval()


def count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def copy_weights(model, keras_model) -> int:
    """Copies a timm model's weights into a compiled spec whose layer names are timm's module paths
    (`.` written `_`): torch's conv (out, in/groups, kh, kw) -> Keras's (kh, kw, in/groups, out) (1-D
    alike), a
    linear layer's weight transposed, BN weight, bias, running mean and variance -> gamma, beta,
    moving mean and variance. Returns how many layers it copied; every module with weights is one."""
    import torch
    nn, copied = torch.nn, 0
    for name, m in model.named_modules():
        own = [p for p in m.parameters(recurse=False)]
        if not own:
            continue
        layer = keras_model.get_layer(name.replace(".", "_"))
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):     # (out, in, *k) -> (*k, in, out)
            w = [m.weight.detach().numpy().transpose(*range(2, m.weight.ndim), 1, 0)]
            if m.bias is not None:
                w.append(m.bias.detach().numpy())
        elif isinstance(m, nn.Linear):
            w = [m.weight.detach().numpy().T] + ([m.bias.detach().numpy()] if m.bias is not None else [])
        elif isinstance(m, nn.BatchNorm2d):
            w = [t.detach().numpy() for t in (m.weight, m.bias, m.running_mean, m.running_var)]
        else:
            raise TypeError(f"{name}: {type(m).__name__} has weights this copy does not know")
        if isinstance(m, nn.Conv1d):    # the spec may write it as a k x 1 2-D conv: the same values
            w[0] = w[0].reshape(tuple(layer.get_weights()[0].shape))
        layer.set_weights(w)
        copied += 1
    return copied


def randomize(model, seed=0) -> None:
    """Gives every BN random statistics and affine weights (timm initialises them to 0/1), so that
    an output comparison sees them."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
