"""torchvision and timm models as independent references: import torchvision without its compiled ops,
give a torch model random weights and statistics, copy them into a compiled cnndsl Keras model by
layer name (the shipped specs name their layers as the torch modules, `.` written `_`), and compare
outputs. Imports torch only when called (the quick tier imports this module's name only)."""
from __future__ import annotations

import numpy as np


def torchvision():
    """torchvision's model builders. Its compiled ops (torchvision/_C.so) are built for PyPI's CUDA torch and
    don't load with the CPU torch the tests install; the builders are pure Python and need none of them, so
    the two modules that register those ops' kernels are stubbed (here only, in the tests)."""
    import sys
    import types
    for mod in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules.setdefault(mod, types.ModuleType(mod))
    import torchvision as tv
    return tv


def timm():
    """timm, which imports torchvision: through `torchvision()`'s stubs."""
    torchvision()
    import timm as t
    return t


def effdet():
    """effdet (Ross Wightman's efficientdet-pytorch), through `timm()`'s stubs. Its bench module
    torch.jit.scripts the box decoding at import, which calls torchvision's compiled NMS (stubbed here):
    scripting is skipped while it imports (the models themselves are plain modules, never scripted)."""
    timm()
    import sys
    import torch
    if "effdet" not in sys.modules:
        script = torch.jit.script
        torch.jit.script = lambda fn, *args, **kw: fn
        try:
            import effdet as e
        finally:
            torch.jit.script = script
    import effdet as e
    return e


def randomize(module, seed=0):
    """Random weights, biases and BN/LN affine parameters and running statistics, so that a wrong copy or a
    wrong epsilon shows (torch's initial BN is the identity in eval mode)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 1.0 / max(1.0, float(np.sqrt(p[0].numel()))) if p.dim() > 1 else 0.5
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if name.endswith("weight") and p.dim() == 1 else 0.0))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return module.eval()


def copy_by_name(torch_model, keras_model, special=None) -> list:
    """Copy every torch module's weights into the Keras layer named as its path (`.` -> `_`).

    Conv (out, in, *k) -> (*k, in, out), into a depthwise layer (C·m, 1, *k) -> (*k, C, m); Linear (out, in) -> (in, out); BatchNorm (weight, bias,
    running_mean, running_var) -> (gamma, beta, moving_mean, moving_variance); LayerNorm and GroupNorm
    (weight, bias) -> (gamma, beta). ``special`` maps a module class to a function(module, layer) for the
    rest (the module's children included: `attention_copier`). A parameter of any other module (ViT's class
    token and position embedding) goes to the layer named as its state_dict key, reshaped to that
    layer's one weight. Returns the names of the Keras layers that got weights; a torch module with
    weights and no Keras layer of its name raises."""
    import torch
    special = special or {}
    layers = {layer.name: layer for layer in keras_model.layers}
    done, covered = [], []
    t = lambda v: v.detach().numpy()               # noqa: E731

    def layer_named(name, path, what):
        if name not in layers:
            raise KeyError(f"no Keras layer named {name} for torch's {path} ({what})")
        return layers[name]

    for path, module in torch_model.named_modules():
        if any(path.startswith(c + ".") for c in covered):
            continue                               # copied with its parent by a special rule
        own = list(module.named_parameters(recurse=False))
        fn = next((f for cls, f in special.items() if isinstance(module, cls)), None)
        if not own and fn is None:
            continue
        name = path.replace(".", "_")
        known = (torch.nn.modules.conv._ConvNd, torch.nn.Linear, torch.nn.modules.batchnorm._BatchNorm,
                 torch.nn.LayerNorm, torch.nn.GroupNorm)
        if fn is None and not isinstance(module, known):
            for pname, p in own:                   # a bare parameter: the layer named as its key
                key = f"{path}.{pname}" if path else pname
                layer = layer_named(key.replace(".", "_"), key, "parameter")
                (w,) = layer.get_weights()
                layer.set_weights([t(p).reshape(w.shape)])
                done.append(layer.name)
            continue
        layer = layer_named(name, path, type(module).__name__)
        if fn is not None:
            fn(module, layer)
            covered.append(path)
        elif isinstance(module, torch.nn.modules.conv._ConvNd):
            k = t(module.weight)
            if type(layer).__name__.startswith("Depthwise"):     # (C·m, 1, *k) -> (*k, C, m)
                c = module.in_channels
                w = [np.transpose(k.reshape(c, -1, *k.shape[2:]), (*range(2, k.ndim), 0, 1))]
            else:
                w = [np.transpose(k, (*range(2, k.ndim), 1, 0))]
            layer.set_weights(w + ([t(module.bias)] if module.bias is not None else []))
        elif isinstance(module, torch.nn.Linear):
            layer.set_weights([t(module.weight).T] + ([t(module.bias)] if module.bias is not None else []))
        elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            layer.set_weights([t(module.weight), t(module.bias), t(module.running_mean), t(module.running_var)])
        elif isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
            layer.set_weights([t(module.weight), t(module.bias)])
        else:
            raise TypeError(f"no rule to copy torch's {type(module).__name__} ({path})")
        done.append(name)
    return done


def attention_copier(qkv, out):
    """A `special` rule for a torch attention module: ``qkv(module)`` gives the packed (3 width, width)
    query/key/value weight and its (3 width) bias, ``out(module)`` the output Linear; the Keras
    MultiHeadAttention's kernels are (width, heads, key_dim) per projection and (heads, key_dim, width)."""
    def copy(module, layer):
        weight, bias = (v.detach().numpy() for v in qkv(module))
        o = out(module)
        q, k, v, o_kernel = (w.shape for w in layer.get_weights()[0::2])
        width = weight.shape[1]
        kernels = [w.T.reshape(shape) for w, shape in zip(np.split(weight, 3), (q, k, v))]
        biases = [b.reshape(shape[1:]) for b, shape in zip(np.split(bias, 3), (q, k, v))]
        out_kernel = o.weight.detach().numpy().T.reshape(o_kernel)
        assert out_kernel.shape[-1] == width
        layer.set_weights([kernels[0], biases[0], kernels[1], biases[1], kernels[2], biases[2],
                           out_kernel, o.bias.detach().numpy()])
    return copy


def relative_difference(got, want) -> float:
    """max |got - want| / max(1, max |want|)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))
