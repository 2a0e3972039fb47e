"""The non-local block (embedded Gaussian) and the non-local ResNet-50 in plain Keras 3, transcribed
from the paper ("Non-local Neural Networks", Wang et al., CVPR 2018: Eq. 1 and 6, Figure 2, Table 2c)
on keras.applications' ResNet-50 layout (keras/src/applications/resnet.py's `residual_block_v1`,
written out here: conv biases, BN epsilon 1.001e-5, the stride on the first 1x1 conv). The reference
for specs/lib/nonlocal.cnn and specs/nonlocal_resnet50.cnn.

The block, with keras.ops on the symbolic tensors: theta, phi, g 1x1 convs to C/2; positions
flattened; softmax(theta phi^T) over the keys; times g; back to the map; 1x1 conv W_z to C, BN,
added to the input. Layers with weights are named as the spec names them (weights copy by name).
"""
from __future__ import annotations

import keras
from keras import layers, ops


def nonlocal_block(x, name, inner=None, subsample=False):
    c = x.shape[-1]
    d = inner or c // 2
    positions = tuple(x.shape[1:-1])
    theta = ops.reshape(layers.Conv2D(d, 1, name=f"{name}_theta")(x), (-1, positions[0] * positions[1], d))
    phi, g = layers.Conv2D(d, 1, name=f"{name}_phi")(x), layers.Conv2D(d, 1, name=f"{name}_g")(x)
    if subsample:                                    # Section 3.3: max pooling after phi and g
        phi, g = layers.MaxPooling2D(2)(phi), layers.MaxPooling2D(2)(g)
    n_keys = phi.shape[1] * phi.shape[2]
    phi, g = ops.reshape(phi, (-1, n_keys, d)), ops.reshape(g, (-1, n_keys, d))
    f = ops.softmax(ops.matmul(theta, ops.transpose(phi, (0, 2, 1))), axis=-1)
    y = ops.reshape(ops.matmul(f, g), (-1, *positions, d))
    y = layers.Conv2D(c, 1, name=f"{name}_w")(y)
    y = layers.BatchNormalization(name=f"{name}_bn")(y)
    return x + y


def _conv_bn(x, filters, kernel, stride=1, padding="valid", name=None):
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, name=f"{name}_conv")(x)
    return layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn")(x)


def _bottleneck(x, filters, stride, shortcut, name):
    s = _conv_bn(x, 4 * filters, 1, stride, name=f"{name}_0") if shortcut else x
    y = layers.ReLU()(_conv_bn(x, filters, 1, stride, name=f"{name}_1"))
    y = layers.ReLU()(_conv_bn(y, filters, 3, padding="same", name=f"{name}_2"))
    y = _conv_bn(y, 4 * filters, 1, name=f"{name}_3")
    return layers.ReLU()(s + y)


def nonlocal_resnet50(input_shape=(224, 224, 3), classes=1000):
    inputs = keras.Input(input_shape)
    x = layers.ZeroPadding2D(3)(inputs)
    x = layers.ReLU()(_conv_bn(x, 64, 7, 2, name="conv1"))
    x = layers.MaxPooling2D(3, strides=2)(layers.ZeroPadding2D(1)(x))
    for stage, blocks in enumerate((3, 4, 6, 3)):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            x = _bottleneck(x, 64 * 2 ** stage, stride, i == 0, f"conv{stage + 2}_block{i + 1}")
            if stage in (1, 2) and i % 2 == 1:           # res3 and res4, every other block
                x = nonlocal_block(x, f"conv{stage + 2}_nonlocal{i + 1}")
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="nonlocal_resnet50_reference")
