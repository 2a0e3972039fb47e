"""Koch, Zemel and Salakhutdinov's Siamese network (ICML DL Workshop 2015, Figure 4) in plain
Keras 3: the reference for specs/siamese.cnn, written from the paper, as the usual Keras
transcriptions of it are: the encoder one Sequential model, called on both images, then the L1
distance (a Lambda of |h1 - h2|) and a sigmoid unit. Initialisers are section 4.1's. Layer names
are the spec's, so that weights copy by name.
"""
from __future__ import annotations

import keras
from keras import initializers, layers


def siamese(input_shape=(105, 105, 1)) -> keras.Model:
    conv_w, dense_w = initializers.RandomNormal(0.0, 1e-2), initializers.RandomNormal(0.0, 2e-1)
    bias = initializers.RandomNormal(0.5, 1e-2)
    encoder = keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(64, (10, 10), activation="relu", kernel_initializer=conv_w, bias_initializer=bias,
                      name="conv1"),
        layers.MaxPooling2D(name="pool1"),
        layers.Conv2D(128, (7, 7), activation="relu", kernel_initializer=conv_w, bias_initializer=bias,
                      name="conv2"),
        layers.MaxPooling2D(name="pool2"),
        layers.Conv2D(128, (4, 4), activation="relu", kernel_initializer=conv_w, bias_initializer=bias,
                      name="conv3"),
        layers.MaxPooling2D(name="pool3"),
        layers.Conv2D(256, (4, 4), activation="relu", kernel_initializer=conv_w, bias_initializer=bias,
                      name="conv4"),
        layers.Flatten(name="flatten"),
        layers.Dense(4096, activation="sigmoid", kernel_initializer=dense_w, bias_initializer=bias, name="fc"),
    ], name="encoder")
    left, right = keras.Input(input_shape, name="left"), keras.Input(input_shape, name="right")
    h1, h2 = encoder(left), encoder(right)
    distance = layers.Lambda(lambda t: keras.ops.abs(t[0] - t[1]), name="l1")([h1, h2])
    out = layers.Dense(1, activation="sigmoid", kernel_initializer=dense_w, bias_initializer=bias,
                       name="similarity")(distance)
    return keras.Model([left, right], out, name="siamese")
