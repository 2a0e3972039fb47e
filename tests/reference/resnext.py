"""ResNeXt-50 32x4d in plain Keras 3, transcribed from torchvision's resnet.py (`Bottleneck`,
`ResNet`, `_make_layer`, `resnext50_32x4d`), channels-last. The reference for specs/resnext.cnn.

Every torch conv with padding p is written as ZeroPadding2D(p) and a 'valid' Conv2D (torch pads
symmetrically); the max pool MaxPool2d(3, 2, padding=1) as ZeroPadding2D(1) and a 'valid'
MaxPooling2D, which is torch's because it follows a ReLU (zeros are never above the window's max).
BatchNorm2d is BatchNormalization(epsilon=1e-5, momentum=0.9): torch's momentum 0.1 weighs the new
batch, Keras's the running value.
"""
from __future__ import annotations

import keras
from keras import layers

CONV_INIT = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")


def _conv(x, filters, kernel, stride=1, padding=0, groups=1, name=None):
    """nn.Conv2d(in, filters, kernel, stride, padding, groups=groups, bias=False)."""
    if padding:
        x = layers.ZeroPadding2D(padding, name=f"{name}_zp")(x)
    return layers.Conv2D(filters, kernel, strides=stride, groups=groups, use_bias=False,
                         kernel_initializer=CONV_INIT, name=name)(x)


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)(x)


def _bottleneck(x, planes, stride, downsample, groups, base_width, name):
    width = int(planes * (base_width / 64.0)) * groups
    identity = x
    out = layers.ReLU(name=f"{name}_r1")(_bn(_conv(x, width, 1, name=f"{name}_c1"), f"{name}_n1"))
    out = _conv(out, width, 3, stride=stride, padding=1, groups=groups, name=f"{name}_c2")
    out = layers.ReLU(name=f"{name}_r2")(_bn(out, f"{name}_n2"))
    out = _bn(_conv(out, planes * 4, 1, name=f"{name}_c3"), f"{name}_n3")
    if downsample:
        identity = _bn(_conv(x, planes * 4, 1, stride=stride, name=f"{name}_d0"), f"{name}_d1")
    out = layers.Add(name=f"{name}_sum")([out, identity])
    return layers.ReLU(name=f"{name}_r3")(out)


def resnext50_32x4d(input_shape=(224, 224, 3), classes=1000, layers_=(3, 4, 6, 3), groups=32, width_per_group=4):
    inputs = keras.Input(input_shape)
    x = _conv(inputs, 64, 7, stride=2, padding=3, name="stem")
    x = layers.ReLU(name="stem_relu")(_bn(x, "stem_bn"))
    x = layers.ZeroPadding2D(1, name="pool_zp")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool")(x)
    inplanes = 64
    for stage, (planes, blocks, stride) in enumerate(zip((64, 128, 256, 512), layers_, (1, 2, 2, 2))):
        for i in range(blocks):
            s = stride if i == 0 else 1
            downsample = i == 0 and (s != 1 or inplanes != planes * 4)
            x = _bottleneck(x, planes, s, downsample, groups, width_per_group, f"s{stage + 1}b{i}")
            inplanes = planes * 4
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    bound = 1.0 / x.shape[-1] ** 0.5           # nn.Linear's default initialisation
    x = layers.Dense(classes, name="logits",
                     kernel_initializer=keras.initializers.VarianceScaling(1 / 3, mode="fan_in", distribution="uniform"),
                     bias_initializer=keras.initializers.RandomUniform(-bound, bound))(x)
    return keras.Model(inputs, x, name="resnext50_32x4d_reference")
