"""Seed 002 (Hands-On ML ch.14 notes): LeNet-5, AlexNet, GoogLeNet, three-tower module."""

import keras
from keras import layers

from .lrn import LocalResponseNormalization

# AlexNet's LRN hyper-parameters (seed 002): r=2, alpha=0.00002, beta=0.75, k=1.
LRN_ARGS = dict(depth_radius=2, bias=1.0, alpha=0.00002, beta=0.75)


def lenet5(classes=10):
    """Seed 002, LeNet-5 ``keras.models.Sequential([...])`` cell, on 28x28x1.

    The text (Table 14-1, bullet list) and the code disagree; the code wins:
    Conv_1: Conv2D 32 5x5/1 'same' relu (the text's "zero-pad 28 to 32" is
    realised as padding='same', not a ZeroPadding layer) -> AvgPool2D
    (pool 2 default, strides 2, 'valid') -> Conv_3: Conv2D 48 5x5/1 'valid'
    relu -> AvgPool2D 2/2 'valid' -> Flatten (5*5*48 = 1200) -> Dense 256
    relu -> Dense 84 relu -> Dense 10 softmax. Plain AvgPool (no LeNet
    trainable pooling coefficients), plain Dense output (no RBF), full C3
    connectivity. Filter counts are the code's 32/48, not LeNet's 6/16; the
    text's "Conv_2 ... stride s=2" is a typo (the code and the arithmetic
    use stride 1). Expect 369,174 params, (None, 10).
    """
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, (5, 5), strides=(1, 1), padding="same", activation="relu",
                      name="Conv_1")(inputs)
    x = layers.AvgPool2D(pool_size=(2, 2), strides=(2, 2), padding="valid")(x)
    x = layers.Conv2D(48, (5, 5), strides=(1, 1), padding="valid", activation="relu",
                      name="Conv_3")(x)
    x = layers.AvgPool2D(pool_size=(2, 2), strides=(2, 2), padding="valid")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dense(84, activation="relu")(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def alexnet(classes=1000):
    """Seed 002, AlexNet = Table 14-2 of Hands-On ML (the seed has no code for it).

    Table 14-2 (Layer, maps, kernel, stride, padding, activation), input 227x227x3:
      C1  Conv 96  11x11 /4 valid relu -> 55x55   then LRN (after the ReLU)
      S2  MaxPool  3x3  /2 valid        -> 27x27
      C3  Conv 256 5x5  /1 same  relu  -> 27x27   then LRN
      S4  MaxPool  3x3  /2 valid        -> 13x13
      C5  Conv 384 3x3  /1 same  relu
      C6  Conv 384 3x3  /1 same  relu
      C7  Conv 256 3x3  /1 same  relu  -> 13x13
      S8  MaxPool  3x3  /2 valid        -> 6x6
      Flatten (9216) -> F9 Dense 4096 relu -> Dropout 0.5
      -> F10 Dense 4096 relu -> Dropout 0.5 -> Out Dense 1000 softmax.
    Choices: LRN sits right after C1 and C3 (the text: "immediately after the
    ReLU step of layers C1 and C3"), before S2/S4 (the seed's Chinese aside
    "LRN after each pooling layer" is ignored). Dropout is applied to the
    outputs of F9 and F10 (the text), i.e. after each of them. A Flatten is
    inserted before F9 (the table has none; the Dense needs 1-D input). Single
    tower (no two-GPU split, so C3/C5.. see all input maps). Convs keep their
    bias. Expect 62,378,344 params, (None, 1000).
    """
    inputs = keras.Input(shape=(227, 227, 3))
    x = layers.Conv2D(96, 11, strides=4, padding="valid", activation="relu", name="C1")(inputs)
    x = LocalResponseNormalization(**LRN_ARGS, name="C1_lrn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="S2")(x)
    x = layers.Conv2D(256, 5, strides=1, padding="same", activation="relu", name="C3")(x)
    x = LocalResponseNormalization(**LRN_ARGS, name="C3_lrn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="S4")(x)
    x = layers.Conv2D(384, 3, strides=1, padding="same", activation="relu", name="C5")(x)
    x = layers.Conv2D(384, 3, strides=1, padding="same", activation="relu", name="C6")(x)
    x = layers.Conv2D(256, 3, strides=1, padding="same", activation="relu", name="C7")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="S8")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(4096, activation="relu", name="F9")(x)
    x = layers.Dropout(0.5, name="F9_dropout")(x)
    x = layers.Dense(4096, activation="relu", name="F10")(x)
    x = layers.Dropout(0.5, name="F10_dropout")(x)
    outputs = layers.Dense(classes, activation="softmax", name="Out")(x)
    return keras.Model(inputs, outputs, name="alexnet")


# GoogLeNet inception modules, paper order (Szegedy et al. 2014, Table 1):
# #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def googlenet_inception(x, spec, name):
    """Figure 14-13 inception module: every layer stride 1, 'same', ReLU.

    Branches (concatenated in this order on the channel axis):
    1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> 5x5 | maxpool 3x3/1 same -> 1x1 proj.
    """
    n1, n3r, n3, n5r, n5, npool = spec

    def conv(t, filters, k, suffix):
        return layers.Conv2D(filters, k, padding="same", activation="relu",
                             name=f"{name}_{suffix}")(t)

    b1 = conv(x, n1, 1, "1x1")
    b2 = conv(conv(x, n3r, 1, "3x3_reduce"), n3, 3, "3x3")
    b3 = conv(conv(x, n5r, 1, "5x5_reduce"), n5, 5, "5x5")
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b4 = conv(b4, npool, 1, "pool_proj")
    return layers.concatenate([b1, b2, b3, b4], axis=3, name=f"{name}_output")


def googlenet(classes=1000):
    """Seed 002, GoogLeNet = Figure 14-14 of Hands-On ML (no auxiliary classifiers).

    Layer list (224x224x3 input; every conv ReLU with bias; "(S)" = same):
      conv1 7x7/2 64 same -> 112; maxpool 3x3/2 same -> 56; LRN;
      conv2 1x1/1 64 same; conv2 3x3/1 192 same; LRN; maxpool 3x3/2 same -> 28;
      inception 3a, 3b; maxpool 3x3/2 same -> 14;
      inception 4a, 4b, 4c, 4d, 4e; maxpool 3x3/2 same -> 7;
      inception 5a, 5b (-> 7x7x1024); GlobalAveragePooling2D; Dropout 0.4;
      Dense 1000 softmax.
    Module numbers are read in the paper's order (see GOOGLENET_MODULES).

    Ambiguities: the blogger's asides in seed 002 say the first conv/pool use
    padding='valid', but the figure marks every layer "+2(S)"/"+1(S)" (same)
    and the text says the maps are "down to 7 x 7" after 5 poolings, which
    only 'same' gives (224/2/2/2/2/2 = 7; 'valid' would give 5x5), so all
    layers use 'same'. The figure gives no LRN hyper-parameters; the AlexNet
    ones from the seed (r=2, alpha=2e-5, beta=0.75, k=1) are used - they are
    also Caffe's GoogLeNet LRN (local_size 5, alpha 1e-4 / 5). LRN has no
    weights, so the count does not depend on this. Final pool is a global
    average pool (figure: "Global avg pool"), equivalent to the paper's
    7x7/1 average pool. Expect 6,998,552 params, (None, 1000).
    """
    inputs = keras.Input(shape=(224, 224, 3))
    x = layers.Conv2D(64, 7, strides=2, padding="same", activation="relu", name="conv1_7x7_s2")(inputs)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = LocalResponseNormalization(**LRN_ARGS, name="pool1_norm1")(x)
    x = layers.Conv2D(64, 1, padding="same", activation="relu", name="conv2_3x3_reduce")(x)
    x = layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2_3x3")(x)
    x = LocalResponseNormalization(**LRN_ARGS, name="conv2_norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)
    for key in ("3a", "3b"):
        x = googlenet_inception(x, GOOGLENET_MODULES[key], f"inception_{key}")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool3_3x3_s2")(x)
    for key in ("4a", "4b", "4c", "4d", "4e"):
        x = googlenet_inception(x, GOOGLENET_MODULES[key], f"inception_{key}")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool4_3x3_s2")(x)
    for key in ("5a", "5b"):
        x = googlenet_inception(x, GOOGLENET_MODULES[key], f"inception_{key}")
    x = layers.GlobalAveragePooling2D(name="pool5_global_avg")(x)
    x = layers.Dropout(0.4, name="pool5_drop")(x)
    outputs = layers.Dense(classes, activation="softmax", name="loss3_classifier")(x)
    return keras.Model(inputs, outputs, name="googlenet")


def inception_towers():
    """Seed 002, three-tower inception example (becominghuman.ai) on 32x32x3.

    tower_1: 1x1 (64) -> 3x3 (64); tower_2: 1x1 (64) -> 5x5 (64);
    tower_3: maxpool 3x3/1 same -> 1x1 (64). All convs 'same', relu, stride 1.
    ``concatenate(axis=3)``. Expect 140,160 params, (None, 32, 32, 192).
    """
    input_img = keras.Input(shape=(32, 32, 3))
    tower_1 = layers.Conv2D(64, (1, 1), padding="same", activation="relu")(input_img)
    tower_1 = layers.Conv2D(64, (3, 3), padding="same", activation="relu")(tower_1)
    tower_2 = layers.Conv2D(64, (1, 1), padding="same", activation="relu")(input_img)
    tower_2 = layers.Conv2D(64, (5, 5), padding="same", activation="relu")(tower_2)
    tower_3 = layers.MaxPooling2D((3, 3), strides=(1, 1), padding="same")(input_img)
    tower_3 = layers.Conv2D(64, (1, 1), padding="same", activation="relu")(tower_3)
    output = layers.concatenate([tower_1, tower_2, tower_3], axis=3)
    return keras.Model(input_img, output, name="inception_towers")
