"""PSPNet (ResNet-50, dilated) in plain Keras 3: the pyramid pooling module transcribed from the paper
("Pyramid Scene Parsing Network", Zhao et al., CVPR 2017: Section 3.2, Figure 3(c)) and hszhao/semseg's
model/pspnet.py (`PPM`, the `cls` head), on torchvision's resnet.py (`Bottleneck`, `_make_layer` with
replace_stride_with_dilation=[False, True, True]), channels-last. The reference for specs/lib/psp.cnn
and specs/pspnet.cnn.

- Adaptive average pooling to b x b is an AveragePooling2D of L / b (torch's bins where b divides the
  feature size L: the only sizes this reference builds; it refuses the others).
- Every torch padding is ZeroPadding2D and a 'valid' layer; a dilated 3x3 conv at stride 1 pads its
  dilation on each side ('same'); BN is torch's (epsilon 1e-5).
- The resizes are Keras's bilinear Resizing (half-pixel centres).
Layers with weights are named as the spec names them (weights copy by name).
"""
from __future__ import annotations

import keras
from keras import layers


def _conv(x, filters, kernel, stride=1, padding=0, dilation=1, name=None, bias=False):
    if padding:
        x = layers.ZeroPadding2D(padding)(x)
    return layers.Conv2D(filters, kernel, strides=stride, dilation_rate=dilation, use_bias=bias, name=name)(x)


def _bn(x, name):
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=name)(x)


def pyramid_pooling(x, bins=(1, 2, 3, 6), name="ppm"):
    h, w, c = x.shape[1:]
    out = [x]
    for i, b in enumerate(bins):
        if h % b or w % b:
            raise ValueError(f"this reference pools {b} x {b} bins of equal size only, not of {h} x {w}")
        y = layers.AveragePooling2D((h // b, w // b))(x)
        y = layers.ReLU()(_bn(_conv(y, c // len(bins), 1, name=f"{name}_{i}_conv"), f"{name}_{i}_bn"))
        out.append(layers.Resizing(h, w, interpolation="bilinear")(y))
    return layers.Concatenate()(out)


def _bottleneck(x, planes, stride, dilation, name):
    y = layers.ReLU()(_bn(_conv(x, planes, 1, name=f"{name}_conv1"), f"{name}_bn1"))
    y = _conv(y, planes, 3, stride=stride, padding=dilation, dilation=dilation, name=f"{name}_conv2")
    y = layers.ReLU()(_bn(y, f"{name}_bn2"))
    y = _bn(_conv(y, planes * 4, 1, name=f"{name}_conv3"), f"{name}_bn3")
    if stride != 1 or x.shape[-1] != planes * 4:
        x = _bn(_conv(x, planes * 4, 1, stride=stride, name=f"{name}_downsample_0"), f"{name}_downsample_1")
    return layers.ReLU()(y + x)


def pspnet_resnet50(input_shape=(473, 473, 3), classes=21):
    inputs = keras.Input(input_shape)
    x = layers.ReLU()(_bn(_conv(inputs, 64, 7, stride=2, padding=3, name="conv1"), "bn1"))
    x = layers.MaxPooling2D(3, strides=2)(layers.ZeroPadding2D(1)(x))    # after a ReLU: zeros never win
    dilation = 1
    for stage, (planes, blocks, stride, dilate) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3),
                                                                  (1, 2, 2, 2), (False, False, True, True))):
        previous = dilation
        if dilate:                      # torchvision's _make_layer: the stride becomes a dilation
            dilation, stride = dilation * stride, 1
        for i in range(blocks):
            x = _bottleneck(x, planes, stride if i == 0 else 1, previous if i == 0 else dilation,
                            f"layer{stage + 1}_{i}")
    x = pyramid_pooling(x)
    x = layers.ReLU()(_bn(_conv(x, 512, 3, padding=1, name="cls_0"), "cls_1"))
    x = layers.Dropout(0.1)(x)
    x = _conv(x, classes, 1, name="cls_4", bias=True)
    x = layers.Resizing(*input_shape[:2], interpolation="bilinear")(x)
    return keras.Model(inputs, x, name="pspnet_resnet50_reference")
