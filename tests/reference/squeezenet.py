"""SqueezeNet 1.1 in plain Keras 3, transcribed from torchvision's squeezenet.py (`Fire`,
`SqueezeNet(version="1_1")`, `squeezenet1_1`), channels-last. The reference for specs/squeezenet.cnn.

torch's MaxPool2d(3, stride=2, ceil_mode=True) is written out: the pool's output size is torch's
ceil((n - 3) / 2) + 1 (a window may not start past the input), and the input is padded at the
bottom and right by what those windows need, then pooled 'valid'. The padding is zeros, which is
right here because every pool follows a ReLU (its inputs are >= 0).
"""
from __future__ import annotations

import math

import keras
from keras import layers


def _ceil_maxpool(x, name):
    """torch.nn.MaxPool2d(3, stride=2, ceil_mode=True) on a ReLU's output."""
    extra = []
    for n in x.shape[1:3]:
        out = math.ceil((n - 3) / 2) + 1
        if (out - 1) * 2 >= n:          # torch drops a last window that would start in the padding
            out -= 1
        extra.append((out - 1) * 2 + 3 - n)
    if any(extra):
        x = layers.ZeroPadding2D(((0, extra[0]), (0, extra[1])), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name=name)(x)


def _fire(x, squeeze, expand1x1, expand3x3, name):
    x = layers.Conv2D(squeeze, 1, activation="relu", kernel_initializer="he_uniform", name=f"{name}_s1x1")(x)
    left = layers.Conv2D(expand1x1, 1, activation="relu", kernel_initializer="he_uniform", name=f"{name}_e1x1")(x)
    right = layers.Conv2D(expand3x3, 3, padding="same", activation="relu", kernel_initializer="he_uniform",
                          name=f"{name}_e3x3")(x)
    return layers.Concatenate(name=f"{name}_cat")([left, right])


def squeezenet1_1(input_shape=(224, 224, 3), classes=1000, dropout=0.5):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", kernel_initializer="he_uniform", name="c1")(inputs)
    x = _ceil_maxpool(x, "p1")
    x = _fire(x, 16, 64, 64, "f2")
    x = _fire(x, 16, 64, 64, "f3")
    x = _ceil_maxpool(x, "p3")
    x = _fire(x, 32, 128, 128, "f4")
    x = _fire(x, 32, 128, 128, "f5")
    x = _ceil_maxpool(x, "p5")
    x = _fire(x, 48, 192, 192, "f6")
    x = _fire(x, 48, 192, 192, "f7")
    x = _fire(x, 64, 256, 256, "f8")
    x = _fire(x, 64, 256, 256, "f9")
    # classifier: Dropout, final_conv (normal(0, 0.01)), ReLU, AdaptiveAvgPool2d(1), flatten
    x = layers.Dropout(dropout, name="drop")(x)
    x = layers.Conv2D(classes, 1, activation="relu",
                      kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01), name="c10")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, x, name="squeezenet1_1_reference")
