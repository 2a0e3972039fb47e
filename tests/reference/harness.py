"""Helpers the reference tests share (imports frameworks only when called):

- ``copy_by_name(ref, spec)``: a hand Keras transcription's weights into a compiled spec whose
  layers with weights carry the same names (a shared layer is one layer in both).
- ``keras_vs_torch(graph, model)``: the spec's torch build (cnndsl.to_torch) given the Keras model's
  weights (cnndsl.weights.keras_to_torch), and the largest relative difference of their outputs.
- ``timm_reference(name)`` and ``timm_vs_spec(...)``: the timm harness of the timm-counted specs (a timm
  model with random BN statistics; the compiled spec given its weights by module path; logits compared).
"""
from __future__ import annotations

import numpy as np


def randomized(model, seed=0):
    """Every bias, BN gamma/beta/statistic and LayerNorm weight random (kernels already are)."""
    from torch_compare import randomize_keras
    randomize_keras(model, seed=seed)
    return model


def copy_by_name(ref, spec) -> int:
    """Copies every layer of ``ref`` that has weights into ``spec``'s layer of that name, weight shapes
    checked; every spec layer with weights must be covered. Returns how many layers it copied."""
    spec_layers = {layer.name: layer for layer in spec.layers if layer.weights}
    ref_layers = {layer.name: layer for layer in ref.layers if layer.weights}
    assert set(spec_layers) == set(ref_layers), (sorted(set(spec_layers) ^ set(ref_layers)))[:10]
    for name, layer in ref_layers.items():
        w = layer.get_weights()
        assert [v.shape for v in w] == [v.shape for v in spec_layers[name].get_weights()], name
        spec_layers[name].set_weights(w)
    return len(ref_layers)


def relative(got, want) -> float:
    """max |got - want| / max(1, max |want|)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))


def keras_vs_torch(graph, model, x) -> float:
    """The spec's torch module with ``model``'s weights moved across: its output's largest relative
    difference from the Keras model's on ``x`` (channels-last)."""
    import cnndsl
    from cnndsl.weights import keras_to_torch
    from torch_compare import keras_outputs, torch_counts, torch_outputs, worst
    module = cnndsl.to_torch(graph).eval()
    assert torch_counts(module) == (graph.trainable, graph.non_trainable)
    keras_to_torch(model, module)
    return worst(keras_outputs(model, [x]), torch_outputs(module, [x]))


def timm_reference(name, **kwargs):
    """timm's model ``name`` (no weights downloaded), BN statistics and affine weights randomised."""
    from reference.timm_models import create, randomize
    model = create(name, **kwargs)
    randomize(model)
    return model


def running_statistics(model) -> int:
    """torch's BN running means and variances: what Keras counts as non-trainable."""
    return sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))


def timm_vs_spec(timm_model, spec, x) -> float:
    """Copies the timm model's weights into the compiled spec by module path (every module with
    weights has its layer) and returns the largest difference of the logits relative to their size."""
    import torch
    from reference.timm_models import copy_weights
    n_weighted = sum(1 for _, m in timm_model.named_modules() if list(m.parameters(recurse=False)))
    assert copy_weights(timm_model, spec) == n_weighted
    with torch.no_grad():
        want = timm_model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(spec(x, training=False))
    assert np.abs(want).max() > 0
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))
