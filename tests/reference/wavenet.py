"""A WaveNet stack (van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio",
arXiv:1609.03499, Section 2, Eq. 2 and Figure 4), sized as ibab/tensorflow-wavenet's
wavenet_params.json, written directly in Keras, independently of specs/audio.cnn.

A causal Conv1D (width 2, no bias) from the one-hot mu-law input to `residual` channels; then for
each dilation (1, 2, ..., 512, `stacks` times): a filter and a gate Conv1D (width 2, causal, dilated),
z = tanh(filter) * sigmoid(gate); a 1x1 Conv1D of z to the skip channels (collected) and one to the
residual channels, added to the layer's input (the last layer's is unused and left out). The skips
summed, ReLU, 1x1 Conv1D, ReLU, 1x1 Conv1D to the quantisation channels (logits).
"""
import keras
from keras import layers


def wavenet(input_shape=(16000, 256), stacks=5, layers_per_stack=10, residual=32, gate=32, skip_channels=512):
    wave = keras.Input(shape=input_shape)
    x = layers.Conv1D(residual, 2, padding="causal", use_bias=False)(wave)
    n = stacks * layers_per_stack
    skips = []
    for i in range(n):
        d = 2 ** (i % layers_per_stack)
        f = layers.Activation("tanh")(layers.Conv1D(gate, 2, padding="causal", dilation_rate=d)(x))
        g = layers.Activation("sigmoid")(layers.Conv1D(gate, 2, padding="causal", dilation_rate=d)(x))
        z = layers.Multiply()([f, g])
        skips.append(layers.Conv1D(skip_channels, 1)(z))
        if i < n - 1:
            x = layers.Add()([x, layers.Conv1D(residual, 1)(z)])
    y = layers.Activation("relu")(layers.Add()(skips))
    y = layers.Activation("relu")(layers.Conv1D(skip_channels, 1)(y))
    y = layers.Conv1D(input_shape[-1], 1)(y)
    return keras.Model(wave, y, name="wavenet_reference")
