"""C3D (Tran, Bourdev, Fergus, Torresani and Paluri, "Learning Spatiotemporal Features with 3D
Convolutional Networks", ICCV 2015, arXiv:1412.0767, Section 3.3, Figure 3), written directly in Keras,
independently of specs/video.cnn.

Eight Conv3D of 3x3x3, stride 1, size-keeping padding, ReLU (64; 128; 256, 256; 512, 512; 512, 512);
MaxPooling3D pool1 1x2x2, pool2..pool5 2x2x2 of stride 2 (pool5 rounding up as Caffe's pools do:
2x7x7 -> 1x4x4, i.e. Keras's 'same'); fc6 and fc7 Dense 4096 with ReLU and dropout 0.5; fc8 softmax
over Sports-1M's 487 classes. Input: 16 frames of 112x112 RGB, channels-last.
"""
import keras
from keras import layers


def c3d(input_shape=(16, 112, 112, 3), classes=487, dropout=0.5):
    clip = keras.Input(shape=input_shape)
    x = clip
    for stage, (filters, convs) in enumerate(((64, 1), (128, 1), (256, 2), (512, 2), (512, 2))):
        for _ in range(convs):
            x = layers.Conv3D(filters, (3, 3, 3), padding="same", activation="relu")(x)
        if stage == 0:
            x = layers.MaxPooling3D((1, 2, 2), strides=(1, 2, 2))(x)
        elif stage == 4:
            x = layers.MaxPooling3D((2, 2, 2), strides=(2, 2, 2), padding="same")(x)
        else:
            x = layers.MaxPooling3D((2, 2, 2), strides=(2, 2, 2))(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(layers.Dense(4096, activation="relu")(x))
    x = layers.Dropout(dropout)(layers.Dense(4096, activation="relu")(x))
    return keras.Model(clip, layers.Dense(classes, activation="softmax")(x), name="c3d_reference")
