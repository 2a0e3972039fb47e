"""Comparing a spec's torch module with its Keras build, and with torchvision, output by output.

torch holds tensors of rank 4 and more channels-first; these helpers move inputs and outputs
between the layouts so that both frameworks see the same values.
"""
from __future__ import annotations

import numpy as np

TOLERANCE = 1e-5


def import_torchvision():
    """``import torchvision`` with its C++ ops' meta registrations stubbed out.

    torchvision's wheel here is built against PyPI's CUDA torch; with the CPU torch the tests install,
    ``import torchvision`` fails while registering ``torchvision::nms``'s meta kernel (the op library
    ``_C.so`` doesn't load). The model builders are pure Python and use none of those ops, so the tests
    import torchvision with ``torchvision._meta_registrations`` replaced by an empty module. Confined to
    the tests: cnndsl itself never imports torchvision."""
    from tv import torchvision
    return torchvision()


def randomize_keras(model, seed=0):
    """Random biases, BN gammas, betas and statistics, and zero-initialised weights (other kernels already
    are random): every weight shows in outputs."""
    import keras
    rng = np.random.default_rng(seed)
    for var in model.weights:
        leaf = var.path.rsplit("/", 1)[-1]
        if leaf in ("gamma", "moving_variance", "variance"):
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype(var.dtype))
        elif leaf in ("beta", "bias", "moving_mean", "mean"):
            var.assign(rng.normal(0.0, 0.1, var.shape).astype(var.dtype))
        elif var.dtype.startswith("float") and not np.any(np.asarray(var)):   # a zero-initialised kernel
            var.assign(rng.normal(0.0, 0.1, var.shape).astype(var.dtype))      # (ViT's head) would hide its input

    def layers(m):
        for layer in m.layers:
            yield from layers(layer) if isinstance(layer, keras.Model) else [layer]
    for layer in layers(model):
        if type(layer).__name__ == "Normalization":
            layer.finalize_state()


def randomize_torch(module, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point:
                if name.endswith(("running_var", "variance")):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.add_(torch.randn(t.shape, generator=g) * 0.05)


def nchw(x):
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim >= 4 else x


def nhwc(y):
    return np.moveaxis(y, 1, -1) if y.ndim >= 4 else y


def inputs(graph, seed=0, batch=2):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, ((n.shape[0] or batch),) + tuple(n.shape[1:])).astype("float32")
            for n in graph.inputs.values()]


def as_list(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def keras_outputs(model, xs):
    return [np.asarray(y) for y in as_list(model(xs if len(xs) > 1 else xs[0], training=False))]


def torch_outputs(module, xs):
    import torch
    with torch.no_grad():
        ys = module(*[torch.from_numpy(nchw(x)) for x in xs])
    return [nhwc(y.numpy()) for y in as_list(ys)]


def worst(a_list, b_list) -> float:
    """The largest difference, relative to the outputs' size (at least 1)."""
    out = 0.0
    for a, b in zip(a_list, b_list):
        assert a.shape == b.shape, (a.shape, b.shape)
        out = max(out, float(np.abs(a - b).max()) / max(1.0, float(np.abs(a).max())))
    return out


def torch_counts(module) -> tuple:
    """(trainable, non-trainable) as torch holds them: parameters that require grad; frozen parameters
    (trainable=false) and the state that is not a parameter, BN's running statistics and the like,
    without the batch counter ``num_batches_tracked`` (a step count, not a weight)."""
    params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)   # trainable=false
    names = {n for n, _ in module.named_parameters()}
    buffers = sum(t.numel() for n, t in module.state_dict(keep_vars=True).items()
                  if n not in names and not n.endswith("num_batches_tracked"))
    return params, frozen + buffers
