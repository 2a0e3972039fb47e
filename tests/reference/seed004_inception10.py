"""Seed 004: Inception10 for CIFAR-10 (subclassed ConvBNRelu / InceptionBlk / Inception10 models).

Rewritten functionally with the same layers in the same order. Convs keep the
Keras default use_bias=True.
"""

import keras
from keras import layers


def conv_bn_relu(x, ch, kernelsz=3, strides=1, padding="same"):
    """Seed ``ConvBNRelu``: Conv2D(ch, kernelsz, strides, padding) -> BatchNormalization -> relu.

    Seed detail: ``call`` runs its inner Sequential with ``training=False``,
    so BN always normalizes with its moving statistics (which therefore never
    update). The call below passes training=False too, but a Keras 3
    functional model overrides an explicit ``training`` with the outer call's
    value, so in fit() this BN trains normally. This changes behaviour only,
    not shapes or parameter counts.
    """
    x = layers.Conv2D(ch, kernelsz, strides=strides, padding=padding)(x)
    x = layers.BatchNormalization()(x, training=False)
    return layers.Activation("relu")(x)


def inception_blk(x, ch, strides=1):
    """Seed ``InceptionBlk``: four branches concatenated on axis 3 (``tf.concat``).

    c1: CBR 1x1/strides; c2: CBR 1x1/strides -> CBR 3x3/1;
    c3: CBR 1x1/strides -> CBR 5x5/1; c4: MaxPool 3x3/1 same -> CBR 1x1/strides
    (the stride sits on the 1x1 after the pool, as in the seed). All 'same'.
    """
    x1 = conv_bn_relu(x, ch, kernelsz=1, strides=strides)
    x2 = conv_bn_relu(x, ch, kernelsz=1, strides=strides)
    x2 = conv_bn_relu(x2, ch, kernelsz=3, strides=1)
    x3 = conv_bn_relu(x, ch, kernelsz=1, strides=strides)
    x3 = conv_bn_relu(x3, ch, kernelsz=5, strides=1)
    x4 = layers.MaxPool2D(3, strides=1, padding="same")(x)
    x4 = conv_bn_relu(x4, ch, kernelsz=1, strides=strides)
    return layers.Concatenate(axis=3)([x1, x2, x3, x4])


def inception10(num_blocks=2, num_classes=10, init_ch=16, input_shape=(32, 32, 3)):
    """Seed 004 ``Inception10(num_blocks=2, num_classes=10)`` (init_ch default 16) on 32x32x3.

    CBR 3x3 init_ch -> for each block: InceptionBlk(ch, strides=2),
    InceptionBlk(ch, strides=1), then ch *= 2 -> GlobalAveragePooling2D ->
    Dense(num_classes, softmax). With the defaults: 32x32x16 -> 16x16x64 ->
    8x8x128 -> 128 -> 10. The seed's ``self.blocks`` Sequential is flattened.
    Expect 121,418 total / 120,234 trainable, (None, 10).
    """
    inputs = keras.Input(shape=input_shape)
    x = conv_bn_relu(inputs, init_ch)
    out_channels = init_ch
    for _ in range(num_blocks):
        for layer_id in range(2):
            x = inception_blk(x, out_channels, strides=2 if layer_id == 0 else 1)
        out_channels *= 2
    x = layers.GlobalAveragePooling2D()(x)
    y = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, y, name="inception10")
