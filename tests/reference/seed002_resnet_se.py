"""Seed 002: ResNet-34 (ResidualUnit), keras.applications ResNet-50/152, SE block, SE-ResNet unit."""

import keras
from keras import layers


def default_conv2d(filters, kernel_size=3, strides=1, **kwargs):
    """Seed 002 ``DefaultConv2D = partial(Conv2D, kernel_size=3, strides=1, padding='SAME', use_bias=False)``."""
    return layers.Conv2D(filters, kernel_size=kernel_size, strides=strides,
                         padding="same", use_bias=False, **kwargs)


def residual_unit(x, filters, strides=1, activation="relu"):
    """Seed 002 ``class ResidualUnit(keras.layers.Layer)`` rewritten functionally.

    main: conv3x3/strides -> BN -> act -> conv3x3/1 -> BN;
    skip (only when strides > 1): conv1x1/2 -> BN (the seed hard-codes
    strides=2 in the skip conv); out = act(main + skip). The seed applies
    ``keras.activations.get(activation)`` as a function; here it is an
    Activation layer (no weights either way).
    """
    z = default_conv2d(filters, strides=strides)(x)
    z = layers.BatchNormalization()(z)
    z = layers.Activation(activation)(z)
    z = default_conv2d(filters)(z)
    z = layers.BatchNormalization()(z)
    skip = x
    if strides > 1:
        skip = default_conv2d(filters, kernel_size=1, strides=2)(x)
        skip = layers.BatchNormalization()(skip)
    return layers.Activation(activation)(layers.Add()([z, skip]))


def resnet34(input_shape=(224, 224, 3), classes=10):
    """Seed 002, "Implementing a ResNet-34 CNN Using Keras" (Sequential + ResidualUnit).

    conv7x7/2 64 same no-bias -> BN -> relu -> maxpool 3/2 same; then residual
    units 64x3, 128x4, 256x6, 512x3 (stride 2 whenever the filter count
    changes, i.e. first unit of 128/256/512); GlobalAvgPool2D -> Flatten (a
    no-op kept from the seed) -> Dense(10, softmax). The seed's model has 10
    classes. Expect 21,306,826 total / 21,289,802 trainable, (None, 10).
    """
    inputs = keras.Input(shape=input_shape)
    x = default_conv2d(64, kernel_size=7, strides=2)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPool2D(pool_size=3, strides=2, padding="same")(x)
    prev_filters = 64
    for filters in [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3:
        strides = 1 if filters == prev_filters else 2
        x = residual_unit(x, filters, strides=strides)
        prev_filters = filters
    x = layers.GlobalAvgPool2D()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="resnet34")


def resnet50():
    """Seed 002 ``keras.applications.resnet50.ResNet50(weights="imagenet")``, here weights=None.

    Expect 25,636,712 total / 25,583,592 trainable, (None, 1000).
    """
    return keras.applications.ResNet50(weights=None)


def resnet152():
    """Seed 002 mentions ResNet-152 (keras.applications); keras.applications.ResNet152(weights=None).

    Expect 60,419,944 total, (None, 1000).
    """
    return keras.applications.ResNet152(weights=None)


def se_block_fn(x, ratio=16):
    """Seed 002 SE block (Figure 14-22): GAP -> Dense(C/ratio, relu) -> Dense(C, sigmoid) -> x * s.

    The seed has no code. GlobalAveragePooling2D(keepdims=True) gives
    (1, 1, C) so Multiply broadcasts over H and W.
    """
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Dense(channels // ratio, activation="relu")(s)
    s = layers.Dense(channels, activation="sigmoid")(s)
    return layers.Multiply()([x, s])


def se_block(input_shape=(14, 14, 256), ratio=16):
    """Seed 002, SE block on 14x14x256 with ratio 16 (16 hidden units).

    Expect 8,464 params (4,112 + 4,352), output (None, 14, 14, 256).
    """
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, se_block_fn(inputs, ratio), name="se_block")


def se_resnet_unit(input_shape=(14, 14, 256), filters=256, ratio=16):
    """Seed 002, Figure 14-20 right (SE-ResNet unit), stride 1, 256 filters on 14x14x256.

    ResidualUnit main path (conv-BN-relu-conv-BN, no-bias 3x3 convs), then the
    SE block on that residual branch, then add the identity input, then relu.
    No skip conv (stride 1, same depth). Expect 1,190,160 total /
    1,189,136 trainable, output (None, 14, 14, 256).
    """
    inputs = keras.Input(shape=input_shape)
    z = default_conv2d(filters)(inputs)
    z = layers.BatchNormalization()(z)
    z = layers.Activation("relu")(z)
    z = default_conv2d(filters)(z)
    z = layers.BatchNormalization()(z)
    z = se_block_fn(z, ratio)
    outputs = layers.Activation("relu")(layers.Add()([z, inputs]))
    return keras.Model(inputs, outputs, name="se_resnet_unit")
