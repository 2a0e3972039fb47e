"""The original U-Net as a Keras 3 functional model, transcribed from the paper.

Olaf Ronneberger, Philipp Fischer, Thomas Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015 (arXiv:1505.04597), Fig. 1 and Sections 2-3. Written from the paper, not
from specs/unet.cnn, as the reference tests/test_unet.py compares that spec with.

- Contracting path: at each of depth + 1 levels, two unpadded 3x3 convolutions with ReLU of
  base * 2**level filters (64, 128, 256, 512, 1024); a 2x2 max pool of stride 2 between levels.
- Expanding path, from the bottom back to level 0: a 2x2 up-convolution of stride 2 (Conv2DTranspose,
  no activation) halving the channels; the contracting path's map of that level, cropped at its
  centre to the up-sampled size ("copy and crop"), concatenated with it (the cropped copy first, as
  Fig. 1 draws it); two unpadded 3x3 convolutions with ReLU.
- A 1x1 convolution to `classes` (no activation: the paper's soft-max belongs to its loss).
- Kernels start from a Gaussian of standard deviation sqrt(2 / fan_in) (Sec. 3).
- No dropout (the paper adds it at the end of the contracting path for augmentation only).

With the defaults: a 572x572x1 input, a (None, 388, 388, 2) output, 31,030,658 parameters.
Every max pool must see an even height and width (Sec. 3), so that the crops are centred; for
other input sizes the crop cannot be centred and this raises ValueError.
"""

import keras
from keras import layers


def unet(input_shape=(572, 572, 1), classes=2, base=64, depth=4):
    init = keras.initializers.VarianceScaling(scale=2.0, mode="fan_in", distribution="untruncated_normal")

    def two_convs(x, filters, name):
        x = layers.Conv2D(filters, 3, activation="relu", kernel_initializer=init, name=f"{name}_conv1")(x)
        x = layers.Conv2D(filters, 3, activation="relu", kernel_initializer=init, name=f"{name}_conv2")(x)
        return x

    inputs = keras.Input(shape=input_shape)

    # Contracting path.
    x = inputs
    skips = []
    for level in range(depth + 1):
        if level > 0:
            x = layers.MaxPooling2D(pool_size=2, strides=2, name=f"down{level}_pool")(x)
        x = two_convs(x, base * 2**level, f"down{level}")
        skips.append(x)

    # Expanding path.
    for level in reversed(range(depth)):
        filters = base * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, kernel_initializer=init, name=f"up{level}_upconv")(x)
        skip = skips[level]
        dh = skip.shape[1] - x.shape[1]
        dw = skip.shape[2] - x.shape[2]
        if dh % 2 or dw % 2:
            raise ValueError(f"level {level}: cannot centre-crop {skip.shape[1]}x{skip.shape[2]} to "
                             f"{x.shape[1]}x{x.shape[2]}; every max pool needs an even input size")
        skip = layers.Cropping2D(cropping=(dh // 2, dw // 2), name=f"up{level}_crop")(skip)
        x = layers.Concatenate(name=f"up{level}_concat")([skip, x])
        x = two_convs(x, filters, f"up{level}")

    outputs = layers.Conv2D(classes, 1, kernel_initializer=init, name="output")(x)
    return keras.Model(inputs, outputs, name="unet")
