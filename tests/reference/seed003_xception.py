"""Seed 003: "Xception: 使用Tensorflow从头开始实现" (Xception from scratch), code exactly as written.

The seed's code has lost its line breaks ("import tensorflow as tf" glued to a
comment, ``def`` glued to comments); the statements are unambiguous once
re-split. Layers are unnamed in the seed, so Keras auto-names them.
"""

import keras
from keras import layers


def conv_bn(x, filters, kernel_size, strides=1):
    """Conv2D(same, use_bias=False) -> BatchNormalization()."""
    x = layers.Conv2D(filters=filters, kernel_size=kernel_size, strides=strides,
                      padding="same", use_bias=False)(x)
    return layers.BatchNormalization()(x)


def sep_bn(x, filters, kernel_size, strides=1):
    """SeparableConv2D(same, use_bias=False) -> BatchNormalization()."""
    x = layers.SeparableConv2D(filters=filters, kernel_size=kernel_size, strides=strides,
                               padding="same", use_bias=False)(x)
    return layers.BatchNormalization()(x)


def entry_flow(x):
    """Entry flow as written.

    Seed quirk (kept): each shortcut ``tensor = conv_bn(tensor, f, 1, strides=2)``
    is computed from the previous *shortcut* ``tensor``, not from the Add
    output ``x`` (the paper feeds the block output). The chain is
    relu(64ch) -> 1x1/2 128 -> 1x1/2 256 -> 1x1/2 728. Also the first
    separable block starts without a ReLU (its input is already a ReLU).
    """
    x = conv_bn(x, filters=32, kernel_size=3, strides=2)
    x = layers.ReLU()(x)
    x = conv_bn(x, filters=64, kernel_size=3, strides=1)
    tensor = layers.ReLU()(x)

    x = sep_bn(tensor, filters=128, kernel_size=3)
    x = layers.ReLU()(x)
    x = sep_bn(x, filters=128, kernel_size=3)
    x = layers.MaxPool2D(pool_size=3, strides=2, padding="same")(x)
    tensor = conv_bn(tensor, filters=128, kernel_size=1, strides=2)
    x = layers.Add()([tensor, x])

    for filters in (256, 728):
        x = layers.ReLU()(x)
        x = sep_bn(x, filters=filters, kernel_size=3)
        x = layers.ReLU()(x)
        x = sep_bn(x, filters=filters, kernel_size=3)
        x = layers.MaxPool2D(pool_size=3, strides=2, padding="same")(x)
        tensor = conv_bn(tensor, filters=filters, kernel_size=1, strides=2)
        x = layers.Add()([tensor, x])
    return x


def middle_flow(tensor):
    """Middle flow, 8 times: (ReLU, sep_bn 728) x3, then a 4th ReLU, then Add with the input.

    Seed quirk (kept): a ReLU is applied after the third sep_bn, before the Add.
    """
    for _ in range(8):
        x = layers.ReLU()(tensor)
        x = sep_bn(x, filters=728, kernel_size=3)
        x = layers.ReLU()(x)
        x = sep_bn(x, filters=728, kernel_size=3)
        x = layers.ReLU()(x)
        x = sep_bn(x, filters=728, kernel_size=3)
        x = layers.ReLU()(x)
        tensor = layers.Add()([tensor, x])
    return tensor


def exit_flow(tensor, classes=1000):
    """Exit flow as written: no ReLU after the last sep_bn(2048) before the pool (seed quirk, kept)."""
    x = layers.ReLU()(tensor)
    x = sep_bn(x, filters=728, kernel_size=3)
    x = layers.ReLU()(x)
    x = sep_bn(x, filters=1024, kernel_size=3)
    x = layers.MaxPool2D(pool_size=3, strides=2, padding="same")(x)
    tensor = conv_bn(tensor, filters=1024, kernel_size=1, strides=2)
    x = layers.Add()([tensor, x])
    x = sep_bn(x, filters=1536, kernel_size=3)
    x = layers.ReLU()(x)
    x = sep_bn(x, filters=2048, kernel_size=3)
    x = layers.GlobalAvgPool2D()(x)
    return layers.Dense(units=classes, activation="softmax")(x)


def xception(input_shape=(299, 299, 3), classes=1000):
    """Seed 003 "四、创建Xception模型": entry_flow -> middle_flow -> exit_flow on 299x299x3.

    Spatial sizes: 150 (conv/2) -> 75 -> 38 -> 19 (entry) -> 19 (middle)
    -> 10 (exit). The seed prints 22,855,952 trainable params.
    Expect 22,910,480 total / 22,855,952 trainable, (None, 1000).
    """
    inputs = keras.Input(shape=input_shape)
    x = entry_flow(inputs)
    x = middle_flow(x)
    output = exit_flow(x, classes)
    return keras.Model(inputs=inputs, outputs=output, name="xception_seed003")
