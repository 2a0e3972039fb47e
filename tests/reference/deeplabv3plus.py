"""DeepLabV3+ (ResNet-50) as the Keras example builds it: the reference for specs/deeplabv3plus.cnn.

"Multiclass semantic segmentation using DeepLabV3+", Soumik Rakshit, keras.io/examples/vision/
deeplabv3_plus (keras-io examples/vision/deeplabv3_plus.py, Keras 3 version): `convolution_block`,
`DilatedSpatialPyramidPooling` and `DeeplabV3Plus`, written as there, with keras.applications.ResNet50
(weights=None here: nothing downloads) as the backbone and `preprocess_input` in the model.

Two switches, for the comparison:
- `resize=True` (the default) replaces the example's integer-factor UpSampling2D layers with Resizing
  layers to the size of the map each one meets (the ASPP input, the low-level map, the input), so that
  the model also builds at 513x513, where the example's factors (513 // 4 // 33 = 3) give 99x99
  against a 129x129 low-level map. `resize=False` is the example's code unchanged (sizes that are
  multiples of 16 only).
- `num_classes`: 21 by default (PASCAL VOC); the example uses 20.
"""
from __future__ import annotations

import keras
from keras import layers, ops


def convolution_block(block_input, num_filters=256, kernel_size=3, dilation_rate=1, use_bias=False):
    x = layers.Conv2D(num_filters, kernel_size=kernel_size, dilation_rate=dilation_rate, padding="same",
                      use_bias=use_bias, kernel_initializer=keras.initializers.HeNormal())(block_input)
    x = layers.BatchNormalization()(x)
    return ops.nn.relu(x)


def _upsample(x, like_hw, resize):
    """The example's UpSampling2D by the integer factor, or (resize) a Resizing to `like_hw`."""
    if resize:
        return layers.Resizing(like_hw[0], like_hw[1], interpolation="bilinear")(x)
    return layers.UpSampling2D(size=(like_hw[0] // x.shape[1], like_hw[1] // x.shape[2]),
                               interpolation="bilinear")(x)


def DilatedSpatialPyramidPooling(dspp_input, resize=True):
    dims = dspp_input.shape
    x = layers.AveragePooling2D(pool_size=(dims[-3], dims[-2]))(dspp_input)
    x = convolution_block(x, kernel_size=1, use_bias=True)
    out_pool = _upsample(x, (dims[-3], dims[-2]), resize)

    out_1 = convolution_block(dspp_input, kernel_size=1, dilation_rate=1)
    out_6 = convolution_block(dspp_input, kernel_size=3, dilation_rate=6)
    out_12 = convolution_block(dspp_input, kernel_size=3, dilation_rate=12)
    out_18 = convolution_block(dspp_input, kernel_size=3, dilation_rate=18)

    x = layers.Concatenate(axis=-1)([out_pool, out_1, out_6, out_12, out_18])
    return convolution_block(x, kernel_size=1)


def DeeplabV3Plus(image_size=(512, 512), num_classes=21, resize=True):
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    model_input = keras.Input(shape=(h, w, 3))
    preprocessed = keras.applications.resnet50.preprocess_input(model_input)
    resnet50 = keras.applications.ResNet50(weights=None, include_top=False, input_tensor=preprocessed)
    x = resnet50.get_layer("conv4_block6_2_relu").output
    x = DilatedSpatialPyramidPooling(x, resize)

    input_b = resnet50.get_layer("conv2_block3_2_relu").output
    if resize:
        input_a = _upsample(x, input_b.shape[1:3], True)
    else:   # the example: image_size // 4 // x.shape[1]
        input_a = layers.UpSampling2D(size=(h // 4 // x.shape[1], w // 4 // x.shape[2]),
                                      interpolation="bilinear")(x)
    input_b = convolution_block(input_b, num_filters=48, kernel_size=1)

    x = layers.Concatenate(axis=-1)([input_a, input_b])
    x = convolution_block(x)
    x = convolution_block(x)
    x = _upsample(x, (h, w), resize)
    model_output = layers.Conv2D(num_classes, kernel_size=(1, 1), padding="same")(x)
    return keras.Model(inputs=model_input, outputs=model_output)
