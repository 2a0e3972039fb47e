"""GhostNet in plain Keras 3, transcribed from the authors' PyTorch code (huawei-noah,
Efficient-AI-Backbones `ghostnet_pytorch/ghostnet.py`: `GhostModule`, `GhostBottleneck`,
`SqueezeExcite`, `ConvBnAct`, `GhostNet`, `ghostnet()`), channels last. The reference for
specs/ghostnet.cnn; not generated from it.

- torch's Conv2d padding (k - 1) // 2 on every side: ZeroPadding2D + 'valid' where the stride is 2,
  'same' at stride 1.
- BatchNorm2d: eps 1e-5, momentum 0.1 (torch's), i.e. Keras epsilon 1e-5, momentum 0.9.
- hard_sigmoid written as the authors do, relu6(x + 3) / 6, with keras.ops; the Ghost module's
  `out[:, :oup]` as a tensor slice, always applied.
- Returns logits (no softmax), as the authors' forward.
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

CFGS = [
    # k, t, c, SE, s
    [[3, 16, 16, 0, 1]],
    [[3, 48, 24, 0, 2]],
    [[3, 72, 24, 0, 1]],
    [[5, 72, 40, 0.25, 2]],
    [[5, 120, 40, 0.25, 1]],
    [[3, 240, 80, 0, 2]],
    [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1], [3, 672, 112, 0.25, 1]],
    [[5, 672, 160, 0.25, 2]],
    [[5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1], [5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1]],
]


def _make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _bn(x):
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)


def _conv(x, filters, k, stride=1, groups_dw=False, bias=False, mult=1):
    """A torch Conv2d (padding k // 2), plain or depthwise."""
    if stride > 1:
        x = layers.ZeroPadding2D((k - 1) // 2)(x)
        padding = "valid"
    else:
        padding = "same"
    if groups_dw:
        return layers.DepthwiseConv2D(k, strides=stride, padding=padding, depth_multiplier=mult, use_bias=bias)(x)
    return layers.Conv2D(filters, k, strides=stride, padding=padding, use_bias=bias)(x)


def _ghost_module(x, oup, relu=True, ratio=2, dw_size=3):
    init_channels = math.ceil(oup / ratio)
    x1 = _bn(_conv(x, init_channels, 1))
    if relu:
        x1 = layers.ReLU()(x1)
    x2 = _bn(_conv(x1, None, dw_size, groups_dw=True, mult=ratio - 1))
    if relu:
        x2 = layers.ReLU()(x2)
    out = layers.Concatenate()([x1, x2])
    return out[..., :oup]


def _squeeze_excite(x, se_ratio=0.25, divisor=4):
    in_chs = x.shape[-1]
    reduced = _make_divisible(in_chs * se_ratio, divisor)
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(reduced, 1, use_bias=True)(s)
    s = layers.ReLU()(s)
    s = layers.Conv2D(in_chs, 1, use_bias=True)(s)
    gate = ops.relu6(s + 3.0) / 6.0
    return layers.Multiply()([x, gate])


def _ghost_bottleneck(x, mid, out, k, stride, se_ratio):
    residual = x
    in_chs = x.shape[-1]
    x = _ghost_module(x, mid, relu=True)
    if stride > 1:
        x = _bn(_conv(x, None, k, stride, groups_dw=True))
    if se_ratio:
        x = _squeeze_excite(x, se_ratio)
    x = _ghost_module(x, out, relu=False)
    if in_chs == out and stride == 1:
        shortcut = residual
    else:
        shortcut = _bn(_conv(residual, None, k, stride, groups_dw=True))
        shortcut = _bn(_conv(shortcut, out, 1))
    return layers.Add()([x, shortcut])


def ghostnet(input_shape=(224, 224, 3), num_classes=1000, width=1.0, dropout=0.2):
    inputs = keras.Input(input_shape)
    x = _conv(inputs, _make_divisible(16 * width, 4), 3, 2)
    x = layers.ReLU()(_bn(x))
    for cfg in CFGS:
        for k, exp_size, c, se_ratio, s in cfg:
            x = _ghost_bottleneck(x, _make_divisible(exp_size * width, 4), _make_divisible(c * width, 4), k, s,
                                  se_ratio)
    x = layers.ReLU()(_bn(_conv(x, _make_divisible(exp_size * width, 4), 1)))
    x = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Conv2D(1280, 1, use_bias=True)(x)
    x = layers.ReLU()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(num_classes)(x)
    return keras.Model(inputs, x, name="ghostnet_reference")
