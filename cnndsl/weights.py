"""Weights across frameworks: a compiled Keras model's into the torch module of the same spec, and back.

    >>> model = cnndsl.compile("specs/resnet34.cnn")            # Keras
    >>> net = cnndsl.to_torch(cnndsl.check("specs/resnet34.cnn"))
    >>> cnndsl.weights.keras_to_torch(model, net)              # and torch_to_keras(net, model)

Layers meet by name: a Keras layer ``layer1-0-conv1`` is the torch module ``layer1.0.conv1`` (the
IR's name separator ``-`` is torch's ``.``). Layouts move with them:

- Conv1D/2D/3D kernels (*window, C_in/groups, C_out) are torch's (C_out, C_in/groups, *window);
  DepthwiseConv1D/2D (*window, C_in, mult) is (C_in·mult, 1, *window); SeparableConv1D/2D is both;
  Conv1D/2D/3DTranspose (*window, C_out, C_in) is (C_in, C_out, *window).
- Dense kernels (in, out) are transposed; a dense layer that reads a flatten in torch's (C, H, W)
  order (the root module's ``cnndsl_flatten``) has its rows permuted from Keras's (H, W, C).
- BatchNormalization's [gamma, beta, moving_mean, moving_variance] are weight, bias, running_mean
  and running_var (gamma or beta absent where scale or center is false).
- MultiHeadAttention's query, key, value and output kernels (C, heads, dim) and (heads, dim, C) are
  the rows of torch's packed ``in_proj_weight`` and its ``out_proj`` (``nn.MultiheadAttention``), or
  the preamble's four Linear layers.
- PReLU, LayerScale (a bare parameter, (C, 1, 1) over NCHW), PositionEmbedding (a bare parameter,
  the input's torch shape with a batch axis of 1), LayerNormalization and Normalization move to
  torch's channels-first layout; ClassToken is a bare (1, 1, C) parameter in both.

A Keras model that was not compiled from a spec (any ``keras.Model``; ``cnndsl convert``) goes through
its imported spec: ``keras_model_to_torch(model)`` compiles the spec's Keras build, copies the model's
weights into it layer by layer in order (``copy_imported``: the import drops Keras's generated names,
so names can't pair them), then into the spec's torch module as above, and refuses a module with a
tensor no Keras weight filled.

Only Keras and torch are imported, and only by these functions' callers having built the models.
"""
from __future__ import annotations

import re

import numpy as np

from .errors import CnnError
from .ir import module_path


def _layers(model):
    """Every layer of a Keras model, nested models (a ``sequential`` group) flattened, in order."""
    import keras
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


_BARE = ("LayerScale", "ClassToken", "PositionEmbedding")    # torch holds these as bare nn.Parameters


def _module(torch_module, layer):
    path = ".".join(module_path(layer.name))
    try:
        if type(layer).__name__ in _BARE:             # a bare parameter of its parent module
            return torch_module.get_parameter(path)
        return torch_module.get_submodule(path)
    except AttributeError:
        raise CnnError("usage", f"the torch module has no `{path}` for Keras layer `{layer.name}`",
                       hint="move weights between the Keras and torch builds of the same spec") from None


def _channels_first(a, rank):
    """A Keras per-position array (input shape minus the batch) in torch's layout."""
    return np.moveaxis(a, -1, 0) if rank >= 3 else a


def _kernel_to_torch(k):
    """A Keras conv kernel (*window, C_in/groups, C_out) as torch's (C_out, C_in/groups, *window); a
    transposed conv's (*window, C_out, C_in) is torch's (C_in, C_out, *window) by the same move."""
    d = k.ndim - 2
    return k.transpose(d + 1, d, *range(d))


def _kernel_to_keras(t):
    d = t.ndim - 2
    return t.transpose(*range(2, d + 2), 1, 0)


def _depthwise(tensor, shape):
    """A Keras depthwise kernel (*window, C_in, mult) and torch's grouped (C_in·mult, 1, *window)."""
    *window, cin, mult = shape
    d = len(window)
    return (tensor, lambda k: np.moveaxis(k.reshape(*window, cin * mult), d, 0)[:, None],
            lambda t: np.moveaxis(t[:, 0], 0, d).reshape(*window, cin, mult))


def _pairs(layer, module, flatten):
    """[(torch tensor, Keras array -> torch array, torch array -> Keras array), ...] in Keras weight order."""
    cls = type(layer).__name__
    if re.fullmatch(r"Conv[123]D(Transpose)?", cls):
        out = [(module.weight, _kernel_to_torch, _kernel_to_keras)]
    elif re.fullmatch(r"DepthwiseConv[12]D", cls):
        out = [_depthwise(module.weight, layer.get_weights()[0].shape)]
    elif re.fullmatch(r"SeparableConv[12]D", cls):
        out = [_depthwise(module.depthwise.weight, layer.get_weights()[0].shape),
               (module.pointwise.weight, _kernel_to_torch, _kernel_to_keras)]
        if layer.use_bias:
            out.append((module.pointwise.bias, None, None))
        return out
    elif cls == "MultiHeadAttention":       # EinsumDense kernels (C, heads, dim) and (heads, dim, C_out)
        dense = (layer._query_dense, layer._key_dense, layer._value_dense, layer._output_dense)
        if hasattr(module, "in_proj_weight"):     # nn.MultiheadAttention: query, key, value rows of in_proj
            c = module.embed_dim
            linears = [(module.in_proj_weight[k * c:(k + 1) * c],
                        None if module.in_proj_bias is None else module.in_proj_bias[k * c:(k + 1) * c])
                       for k in range(3)] + [(module.out_proj.weight, module.out_proj.bias)]
        else:
            linears = [(lin.weight, lin.bias) for lin in (module.query, module.key, module.value,
                                                          module.attention_output)]
        out = []
        for k, (sub, (weight, bias)) in enumerate(zip(dense, linears)):
            for tensor, w in zip((weight, bias), sub.weights):
                shape = tuple(w.shape)
                if tensor is weight:
                    cin = shape[0] if k < 3 else shape[0] * shape[1]
                    out.append((tensor, lambda k, c=cin: k.reshape(c, -1).T, lambda t, s=shape: t.T.reshape(s)))
                else:
                    out.append((tensor, lambda k: k.reshape(-1), lambda t, s=shape: t.reshape(s)))
        return out
    elif cls == "Dense":
        if layer.name in flatten:                   # keyed by the layer's name (`aux1-fc1`)
            h, w, c = flatten[layer.name]

            def to_torch(k):
                return k.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1).T

            def to_keras(t):
                return t.T.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
            out = [(module.weight, to_torch, to_keras)]
        else:
            out = [(module.weight, lambda k: k.T, lambda t: t.T)]
    elif cls == "BatchNormalization":
        out = ([(module.weight, None, None)] if layer.scale else []) + ([(module.bias, None, None)] if layer.center else [])
        return out + [(module.running_mean, None, None), (module.running_var, None, None)]
    elif cls == "LayerNormalization":
        shape = tuple(module.weight.shape) if module.weight is not None else None
        move = (lambda k: np.moveaxis(k, -1, 0)) if shape is not None and len(shape) == 3 else None
        back = (lambda t: np.moveaxis(t, 0, -1)) if move else None
        out = ([(module.weight, move, back)] if layer.scale else []) + ([(module.bias, move, back)] if layer.center else [])
        return out
    elif cls == "PReLU":
        rank = module.weight.dim()
        return [(module.weight, lambda k: _channels_first(k, rank) if rank >= 3 else k,
                 lambda t: np.moveaxis(t, 0, -1) if rank >= 3 else t)]
    elif cls == "WeightedAdd":
        return [(module.w, None, None)]
    elif cls == "ClassToken":                       # (1, 1, C) in both
        return [(module, None, None)]
    elif cls == "PositionEmbedding":                # the input's shape; torch's layout, a batch axis of 1
        rank = module.dim() - 1
        return [(module, lambda k: _channels_first(k, rank)[None],
                 lambda t: np.moveaxis(t[0], 0, -1) if rank >= 3 else t[0])]
    elif cls == "GRN":
        return [(module.gamma, None, None), (module.beta, None, None)]
    elif cls == "GroupNormalization":
        return ([(module.weight, None, None)] if layer.scale else []) + ([(module.bias, None, None)] if layer.center else [])
    elif cls == "LayerScale":
        shape = tuple(module.shape)
        return [(module, lambda k: k.reshape(shape), lambda t: t.reshape(-1))]
    elif cls == "Normalization":
        shape = tuple(module.mean.shape)
        return [(module.mean, lambda k: k.reshape(shape), lambda t: t.reshape(layer.get_weights()[0].shape)),
                (module.variance, lambda k: k.reshape(shape), lambda t: t.reshape(layer.get_weights()[1].shape)),
                (module.count, lambda k: k.reshape(()), lambda t: t.reshape(layer.get_weights()[2].shape))]
    else:
        raise CnnError("unsupported", f"moving the weights of a Keras {cls} (`{layer.name}`) to torch is not supported")
    if getattr(layer, "use_bias", False):
        out.append((module.bias, None, None))
    return out


def keras_to_torch(keras_model, torch_module) -> None:
    """Copy a compiled spec's Keras weights into its torch module (``cnndsl.to_torch``), in place."""
    _copy_to_torch(keras_model, torch_module)


def _copy_to_torch(keras_model, torch_module) -> set:
    """``keras_to_torch``; returns the ids of the torch tensors it wrote."""
    import torch
    flatten = getattr(torch_module, "cnndsl_flatten", {})
    written = set()
    with torch.no_grad():
        for layer in _layers(keras_model):
            weights = layer.get_weights()
            if not weights:
                continue
            pairs = _pairs(layer, _module(torch_module, layer), flatten)
            if len(pairs) != len(weights):
                raise CnnError("usage", f"Keras layer `{layer.name}` has {len(weights)} weights, its torch module "
                                        f"{len(pairs)}")
            for (tensor, convert, _), w in zip(pairs, weights):
                value = np.asarray(convert(w) if convert else w)
                if tuple(value.shape) != tuple(tensor.shape):
                    raise CnnError("usage", f"`{layer.name}`: a Keras weight of shape {tuple(w.shape)} does not fit "
                                            f"torch's {tuple(tensor.shape)}")
                if not value.flags.writeable or any(step < 0 for step in value.strides):
                    value = np.array(value)     # torch takes neither; np.array keeps 0-d arrays 0-d
                tensor.copy_(torch.from_numpy(value))   # a strided view (a transposed kernel) copied once, by torch
                written.add(id(tensor if tensor._base is None else tensor._base))   # a view: its tensor
    return written


def torch_to_keras(torch_module, keras_model) -> None:
    """Copy a torch module's weights (``cnndsl.to_torch`` of the same spec) into the Keras model, in place."""
    flatten = getattr(torch_module, "cnndsl_flatten", {})
    for layer in _layers(keras_model):
        weights = layer.get_weights()
        if not weights:
            continue
        pairs = _pairs(layer, _module(torch_module, layer), flatten)
        new = []
        for (tensor, _, back), w in zip(pairs, weights):
            value = tensor.detach().cpu().numpy()
            value = back(value) if back else value
            if tuple(value.shape) != tuple(w.shape):
                raise CnnError("usage", f"`{layer.name}`: torch's {tuple(tensor.shape)} does not fit the Keras "
                                        f"weight's {tuple(w.shape)}")
            new.append(value.astype(w.dtype))
        layer.set_weights(new)
        if type(layer).__name__ == "Normalization":
            layer.finalize_state()     # Keras computes with mean and variance copied at build or adapt time


# --- a Keras model that was not compiled from a spec ---------------------------------------------------

def copy_imported(model, twin) -> None:
    """Copy a Keras model's weights into the compiled build of its imported spec, in place.

    ``twin`` is ``cnndsl.compile(cnndsl.from_keras(model))``: the importer keeps every weighted layer,
    in order, but not Keras's generated names (``conv2d_12``), so layers meet by position here, each
    pair checked for its class and its weights' shapes."""
    mine = [layer for layer in _layers(model) if layer.weights]
    theirs = [layer for layer in _layers(twin) if layer.weights]
    if len(mine) != len(theirs):
        raise CnnError("usage", f"the Keras model has {len(mine)} layers with weights, the compiled spec "
                                f"{len(theirs)}", hint="copy_imported takes a model and the build of its imported spec")
    for a, b in zip(mine, theirs):
        sa, sb = ([tuple(v.shape) for v in layer.weights] for layer in (a, b))
        if type(a).__name__ != type(b).__name__ or sa != sb:
            raise CnnError("usage", f"Keras layer `{a.name}` ({type(a).__name__}, weights {sa}) meets `{b.name}` "
                                    f"({type(b).__name__}, {sb}) in the compiled spec",
                           hint="copy_imported takes a model and the build of its imported spec")
        for va, vb in zip(a.weights, b.weights):    # variable to variable: no copy through numpy
            vb.assign(va)
        if type(b).__name__ == "Normalization":
            b.finalize_state()


def keras_model_to_torch(model, graph=None, *, twin=None):
    """Any Keras model as a torch module with its weights (what ``cnndsl convert`` saves).

    ``graph`` is the model's imported spec, checked (``cnndsl.check(cnndsl.from_keras(model))``, the
    default); the module is ``cnndsl.to_torch(graph)``. The weights go through the spec's Keras build
    (``twin``, compiled here unless given): the model's into it by position (``copy_imported``), then
    into torch by name (``keras_to_torch``), with the layout moves. Returns the module in eval mode."""
    from .api import check, compile, from_keras, to_torch
    if graph is None:
        graph = check(from_keras(model))
    if twin is None:
        twin = compile(graph)
    copy_imported(model, twin)
    module = to_torch(graph)
    written = _copy_to_torch(twin, module)
    unset = [name for name, t in module.state_dict(keep_vars=True).items()
             if id(t) not in written and not name.endswith("num_batches_tracked")]
    if unset:     # never a module with some of its weights at torch's random initialisation
        raise CnnError("unsupported", f"{len(unset)} of the torch module's weights have no Keras weight: "
                                      f"{', '.join(unset[:3])}{', ...' if len(unset) > 3 else ''}")
    return module.eval()
