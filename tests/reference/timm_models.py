"""timm's models, the references of the timm specs (issue 16): ``create(name)`` builds
``timm.create_model(name, pretrained=False)`` in eval mode.

timm imports torchvision when it loads; torchvision is imported through ``tv.torchvision()`` (its
compiled ops' registrations stubbed, as every torchvision reference in the tests is), so one process can
build timm's and torchvision's models in any order.
"""
from __future__ import annotations


def _timm():
    from tv import timm
    return timm()


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
