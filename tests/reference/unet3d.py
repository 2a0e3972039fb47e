"""The 3-D U-Net of Çiçek, Abdulkadir, Lienkamp, Brox and Ronneberger ("3D U-Net: Learning Dense
Volumetric Segmentation from Sparse Annotation", MICCAI 2016, arXiv:1606.06650, Section 2, Figure 1),
written directly in Keras, independently of specs/unet3d.cnn.

- Analysis path, `depth + 1` levels: two unpadded 3x3x3 Conv3D, each followed by BatchNormalization and
  ReLU, to base * 2**level and twice that many channels (32/64, 64/128, 128/256, 256/512); a 2x2x2
  MaxPooling3D of stride 2 between levels.
- Synthesis path, back up: a 2x2x2 Conv3DTranspose of stride 2 keeping the channels; the analysis
  map of that level centre-cropped (Cropping3D) to its size and concatenated before it; two unpadded
  3x3x3 Conv3D with BN and ReLU to 2 * base * 2**level channels (256, 128, 64).
- A 1x1x1 Conv3D to the labels (3).
- The paper's 19,069,955 parameters: up-convolutions without bias, BN without learned scale and shift
  (Caffe's BatchNorm layer); Keras adds BN's moving statistics as non-trainable weights.
A pool of odd size (a crop that can't be centred) raises ValueError.
"""
import keras
from keras import layers


def unet3d(input_shape=(132, 132, 116, 3), classes=3, base=32, depth=3):
    def two_convs(x, f1, f2):
        for f in (f1, f2):
            x = layers.Conv3D(f, 3)(x)
            x = layers.BatchNormalization(center=False, scale=False)(x)
            x = layers.Activation("relu")(x)
        return x

    inputs = keras.Input(shape=input_shape)
    x, skips = inputs, []
    for level in range(depth + 1):
        if level > 0:
            x = layers.MaxPooling3D(2, strides=2)(x)
        x = two_convs(x, base * 2 ** level, 2 * base * 2 ** level)
        skips.append(x)
    for level in reversed(range(depth)):
        u = layers.Conv3DTranspose(x.shape[-1], 2, strides=2, use_bias=False)(x)
        skip = skips[level]
        crop = []
        for axis in (1, 2, 3):
            extra = skip.shape[axis] - u.shape[axis]
            if extra % 2:
                raise ValueError(f"level {level}: the copy can't be centred ({skip.shape[axis]} vs {u.shape[axis]})")
            crop.append((extra // 2, extra // 2))
        x = layers.Concatenate()([layers.Cropping3D(tuple(crop))(skip), u])
        x = two_convs(x, 2 * base * 2 ** level, 2 * base * 2 ** level)
    return keras.Model(inputs, layers.Conv3D(classes, 1)(x), name="unet3d_reference")
