"""CBAM-ResNet-50 in plain Keras 3, transcribed from the paper ("CBAM: Convolutional Block Attention
Module", Woo et al., ECCV 2018: Figure 2, Eq. 2 and 3, Figure 3) on torchvision's ResNet-50
(resnet.py's `Bottleneck`, stride on the 3x3 conv), channels-last. The reference for
specs/attention_cnns.cnn's `cbam_resnet50`.

- Channel attention: one MLP (Dense C/16 with ReLU, Dense C), its two layers made once and called
  on both the average- and the max-pooled descriptor (the paper's shared MLP), summed, sigmoid,
  multiplied into the features.
- Spatial attention: mean and max over the channels (keras.ops applied to the symbolic tensors),
  concatenated [mean, max], a 7x7 conv (padding 3, no bias), sigmoid, multiplied.
- Every torch padding is ZeroPadding2D and a 'valid' layer; BN is torch's (epsilon 1e-5).
Layers with weights are named as the spec names them, so weights copy by name.
"""
from __future__ import annotations

import keras
from keras import layers, ops


def _conv(x, filters, kernel, stride=1, padding=0, name=None, bias=False):
    if padding:
        x = layers.ZeroPadding2D(padding)(x)
    return layers.Conv2D(filters, kernel, strides=stride, use_bias=bias, name=name)(x)


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)(x)


def cbam(x, reduction, name):
    c = x.shape[-1]
    fc1 = layers.Dense(c // reduction, activation="relu", name=f"{name}_mlp_fc1")
    fc2 = layers.Dense(c, name=f"{name}_mlp_fc2")
    avg = fc2(fc1(ops.mean(x, axis=(1, 2), keepdims=True)))
    mx = fc2(fc1(ops.max(x, axis=(1, 2), keepdims=True)))
    y = x * ops.sigmoid(avg + mx)
    pooled = ops.concatenate([ops.mean(y, axis=-1, keepdims=True), ops.max(y, axis=-1, keepdims=True)], axis=-1)
    s = _conv(pooled, 1, 7, padding=3, name=f"{name}_spatial_conv")
    return y * ops.sigmoid(s)


def _bottleneck(x, planes, stride, downsample, reduction, name):
    out = layers.ReLU()(_bn(_conv(x, planes, 1, name=f"{name}_conv1"), f"{name}_bn1"))
    out = layers.ReLU()(_bn(_conv(out, planes, 3, stride=stride, padding=1, name=f"{name}_conv2"), f"{name}_bn2"))
    out = _bn(_conv(out, planes * 4, 1, name=f"{name}_conv3"), f"{name}_bn3")
    out = cbam(out, reduction, f"{name}_cbam")
    identity = x
    if downsample:
        identity = _bn(_conv(x, planes * 4, 1, stride=stride, name=f"{name}_downsample_0"), f"{name}_downsample_1")
    return layers.ReLU()(out + identity)


def cbam_resnet50(input_shape=(224, 224, 3), classes=1000, depths=(3, 4, 6, 3), reduction=16):
    inputs = keras.Input(input_shape)
    x = layers.ReLU()(_bn(_conv(inputs, 64, 7, stride=2, padding=3, name="conv1"), "bn1"))
    x = layers.MaxPooling2D(3, strides=2)(layers.ZeroPadding2D(1)(x))    # after a ReLU: zeros never win
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), depths)):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            downsample = i == 0 and (stride != 1 or inplanes != planes * 4)
            x = _bottleneck(x, planes, stride, downsample, reduction, f"layer{stage + 1}_{i}")
            inplanes = planes * 4
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(classes, name="fc")(x)
    return keras.Model(inputs, x, name="cbam_resnet50_reference")
