"""ShuffleNetV2 in plain Keras 3, transcribed from torchvision's shufflenetv2.py (`channel_shuffle`,
`InvertedResidual`, `ShuffleNetV2`, `shufflenet_v2_x0_5` .. `shufflenet_v2_x2_0`), channels-last.
The reference for specs/shufflenet_v2.cnn.

As a Keras user writes torch's pieces:
- every torch conv with padding 1 is ZeroPadding2D(1) and a 'valid' conv (torch pads symmetrically);
- MaxPool2d(3, 2, padding=1) is ZeroPadding2D(1) and a 'valid' MaxPooling2D, which is torch's
  because it follows a ReLU (zeros are never above the window's max);
- x.chunk(2, dim=1) is keras.ops.split on the channels;
- channel_shuffle(x, 2): torch views (N, 2, C/2, H, W) and swaps the two channel axes; channels-last
  that is Reshape to (H, W, 2, C/2), Permute the last two axes, Reshape back to (H, W, C);
- x.mean([2, 3]) is GlobalAveragePooling2D;
- BatchNorm2d is BatchNormalization(epsilon=1e-5, momentum=0.9);
- initialisers are torch's defaults: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) kernels
  (VarianceScaling(1/3, fan_in, uniform); a depthwise 3x3 conv's fan_in is 9 in torch, so its
  kernel is RandomUniform(-1/3, 1/3)) and the fc's bias likewise.
"""
from __future__ import annotations

import keras
from keras import layers

STAGE_OUT_CHANNELS = {
    0.5: [24, 48, 96, 192, 1024],
    1.0: [24, 116, 232, 464, 1024],
    1.5: [24, 176, 352, 704, 1024],
    2.0: [24, 244, 488, 976, 2048],
}
KAIMING_A5 = keras.initializers.VarianceScaling(1 / 3, mode="fan_in", distribution="uniform")
DEPTHWISE = keras.initializers.RandomUniform(-1 / 3, 1 / 3)


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)(x)


def _pw(x, filters, name):
    """nn.Conv2d(in, filters, 1, 1, 0, bias=False)."""
    return layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=KAIMING_A5, name=name)(x)


def _dw(x, stride, name):
    """InvertedResidual.depthwise_conv(c, c, kernel_size=3, stride=stride, padding=1)."""
    x = layers.ZeroPadding2D(1, name=f"{name}_zp")(x)
    return layers.DepthwiseConv2D(3, strides=stride, use_bias=False, depthwise_initializer=DEPTHWISE, name=name)(x)


def _channel_shuffle(x, groups, name):
    h, w, c = x.shape[1:]
    x = layers.Reshape((h, w, groups, c // groups), name=f"{name}_view")(x)
    x = layers.Permute((1, 2, 4, 3), name=f"{name}_transpose")(x)
    return layers.Reshape((h, w, c), name=f"{name}_flat")(x)


def _branch2(x, c, stride, name):
    x = layers.ReLU(name=f"{name}_r1")(_bn(_pw(x, c, f"{name}_pw1"), f"{name}_bn1"))
    x = _bn(_dw(x, stride, f"{name}_dw"), f"{name}_bn2")
    return layers.ReLU(name=f"{name}_r2")(_bn(_pw(x, c, f"{name}_pw2"), f"{name}_bn3"))


def _inverted_residual(x, oup, stride, name):
    c = oup // 2
    if stride == 1:
        x1, x2 = keras.ops.split(x, 2, axis=-1)
        out = layers.Concatenate(name=f"{name}_concat")([x1, _branch2(x2, c, 1, f"{name}_b2")])
    else:
        b1 = _bn(_dw(x, stride, f"{name}_b1_dw"), f"{name}_b1_bn1")
        b1 = layers.ReLU(name=f"{name}_b1_r")(_bn(_pw(b1, c, f"{name}_b1_pw"), f"{name}_b1_bn2"))
        out = layers.Concatenate(name=f"{name}_concat")([b1, _branch2(x, c, stride, f"{name}_b2")])
    return _channel_shuffle(out, 2, f"{name}_shuffle")


def shufflenet_v2(scale=1.0, input_shape=(224, 224, 3), classes=1000, stages_repeats=(4, 8, 4)):
    channels = STAGE_OUT_CHANNELS[scale]
    inputs = keras.Input(input_shape)
    x = layers.ZeroPadding2D(1, name="stem_zp")(inputs)
    x = layers.Conv2D(channels[0], 3, strides=2, use_bias=False, kernel_initializer=KAIMING_A5, name="stem")(x)
    x = layers.ReLU(name="stem_relu")(_bn(x, "stem_bn"))
    x = layers.ZeroPadding2D(1, name="pool_zp")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool")(x)
    for stage, (repeats, oup) in enumerate(zip(stages_repeats, channels[1:4])):
        x = _inverted_residual(x, oup, 2, f"s{stage + 2}u0")
        for i in range(1, repeats):
            x = _inverted_residual(x, oup, 1, f"s{stage + 2}u{i}")
    x = layers.ReLU(name="head_relu")(_bn(_pw(x, channels[4], "head"), "head_bn"))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    bound = 1.0 / channels[4] ** 0.5
    x = layers.Dense(classes, kernel_initializer=KAIMING_A5,
                     bias_initializer=keras.initializers.RandomUniform(-bound, bound), name="logits")(x)
    return keras.Model(inputs, x, name=f"shufflenet_v2_x{scale}_reference")
