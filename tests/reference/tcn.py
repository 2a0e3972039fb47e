"""The TCN of Bai, Kolter and Koltun (2018, "An Empirical Evaluation of Generic Convolutional and
Recurrent Networks for Sequence Modeling", arXiv:1803.01271, Section 3, Figure 1) as its authors' code
builds it for sequential MNIST (locuslab/TCN: `TemporalConvNet`, `TemporalBlock`, mnist_pixel/model.py),
written directly in Keras, independently of specs/audio.cnn.

`levels` residual blocks of `channels` channels; block i: two Conv1D of kernel `kernel`, dilation 2**i,
causal padding (the code's pad-then-chomp), each followed by ReLU and dropout; the input (through a
1x1 Conv1D where the channels differ) added; ReLU. Then the last time step, a Dense layer and
log_softmax. Weight normalisation left out (a reparametrisation of the same kernel at inference).
Kernels start from normal(0, 0.01), as the code's init_weights.
"""
import keras
from keras import layers


def tcn(input_shape=(784, 1), classes=10, channels=25, levels=8, kernel=7, dropout=0.05):
    init = keras.initializers.RandomNormal(0.0, 0.01)
    seq = keras.Input(shape=input_shape)
    x = seq
    for i in range(levels):
        h = x
        for _ in range(2):
            h = layers.Conv1D(channels, kernel, dilation_rate=2 ** i, padding="causal", kernel_initializer=init)(h)
            h = layers.Activation("relu")(h)
            h = layers.Dropout(dropout)(h)
        res = x if x.shape[-1] == channels else layers.Conv1D(channels, 1, kernel_initializer=init)(x)
        x = layers.Activation("relu")(layers.Add()([h, res]))
    x = layers.Cropping1D((input_shape[0] - 1, 0))(x)            # y[:, -1, :], the last time step
    x = layers.Flatten()(x)
    out = layers.Dense(classes, activation="log_softmax", kernel_initializer=init)(x)
    return keras.Model(seq, out, name="tcn_reference")
