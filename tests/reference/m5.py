"""M5 (Dai et al. 2017, "Very Deep Convolutional Neural Networks for Raw Waveforms", Table 1), written
directly in Keras from the paper, independently of specs/audio.cnn: four Conv1D + BatchNormalization +
ReLU + MaxPooling1D(4) stages (80/4 x 128, 3 x 128, 3 x 256, 3 x 512, 'same' padding), global average
pooling and a softmax Dense over the classes."""
import keras
from keras import layers


def m5(input_shape=(32000, 1), classes=10):
    wave = keras.Input(shape=input_shape)
    x = wave
    for filters, kernel, stride in ((128, 80, 4), (128, 3, 1), (256, 3, 1), (512, 3, 1)):
        x = layers.Conv1D(filters, kernel, strides=stride, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling1D(4)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(wave, layers.Dense(classes, activation="softmax")(x), name="m5_reference")
