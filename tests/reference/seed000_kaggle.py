"""Seed 000 (Kaggle notebook): an Inception module and two residual connections.

All three cells use ``Input(batch_shape=(1000, ...))``; the builders keep the
fixed batch of 1000 by default (``batch_size`` parameter). Layer names are not
given in the seed, so Keras auto-names them.
"""

import keras
from keras import layers


def inception_module(batch_size=1000):
    """Seed 000, In[4]-In[5]: four-branch Inception module on 28x28x256.

    Branches: a) 1x1/2 (64); b) 1x1 (128) -> 3x3/2 same (128);
    c) avgpool 3/2 same -> 3x3 same (128); d) 1x1 (128) -> 3x3 same (128)
    -> 3x3/2 same (128). All convs relu. Concatenated on the last axis.
    Note branch a (1x1, stride 2) uses the default padding 'valid', which gives
    14x14 from 28x28 just like 'same' would. Expect 820,032 params,
    output (1000, 14, 14, 448).
    """
    x = keras.Input(batch_shape=(batch_size, 28, 28, 256))
    branch_a = layers.Conv2D(64, 1, activation="relu", strides=2)(x)

    branch_b = layers.Conv2D(128, 1, activation="relu")(x)
    branch_b = layers.Conv2D(128, 3, activation="relu", strides=2, padding="same")(branch_b)

    branch_c = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    branch_c = layers.Conv2D(128, 3, activation="relu", padding="same")(branch_c)

    branch_d = layers.Conv2D(128, 1, activation="relu")(x)
    branch_d = layers.Conv2D(128, 3, activation="relu", padding="same")(branch_d)
    branch_d = layers.Conv2D(128, 3, activation="relu", strides=2, padding="same")(branch_d)

    output = layers.concatenate([branch_a, branch_b, branch_c, branch_d], axis=-1)
    return keras.Model(x, output, name="inception_module")


def residual_identity(batch_size=1000):
    """Seed 000, In[9]: identity residual connection on 32x32x128.

    Two 3x3 same relu convs (128), then ``add([z, x])``. No activation after
    the add (the seed has none). Expect 295,168 params, (1000, 32, 32, 128).
    """
    x = keras.Input(batch_shape=(batch_size, 32, 32, 128))
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    z = layers.Conv2D(128, 3, activation="relu", padding="same")(y)
    op = layers.add([z, x])
    return keras.Model(x, op, name="residual_identity")


def residual_projection(batch_size=1000):
    """Seed 000, In[10]: residual connection with a linear 1x1/2 projection.

    Main path: two 3x3 same relu convs (256 -> 128 -> 128), maxpool 2/2
    (valid). Shortcut: Conv2D(128, 1, strides=2, padding='same') with no
    activation, applied to the block input. ``add([t, residual])``.
    Expect 475,520 params, (1000, 16, 16, 128).
    """
    x = keras.Input(batch_shape=(batch_size, 32, 32, 256))
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    z = layers.Conv2D(128, 3, activation="relu", padding="same")(y)
    t = layers.MaxPooling2D(2, strides=2)(z)
    residual = layers.Conv2D(128, 1, strides=2, padding="same")(x)
    op = layers.add([t, residual])
    return keras.Model(x, op, name="residual_projection")
