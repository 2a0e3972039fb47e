"""YOLOv8 (Ultralytics) as a plain Keras 3 functional model: the reference for specs/yolov8.cnn.

Transcribed from Ultralytics' `ultralytics/cfg/models/v8/yolov8.yaml` and the modules it names
(`ultralytics/nn/modules/conv.py` Conv, `block.py` Bottleneck, C2f, SPPF, `head.py` Detect with
its legacy class branch, as v8 models build it) and `ultralytics/nn/tasks.py` parse_model, channels
last. Not generated from the spec.

- Conv = Conv2d(k, s, padding k // 2, no bias) + BatchNorm2d + SiLU. torch's symmetric padding is an
  explicit ZeroPadding2D before a 'valid' conv where the stride is 2 (Keras's 'same' would pad an even
  input 0 above and 1 below); at stride 1 'same' is torch's padding.
- BatchNorm2d has eps 1e-3 and momentum 0.03 (Ultralytics' initialize_weights): Keras epsilon 1e-3,
  momentum 0.97.
- C2f: cv1, `chunk(2, 1)` (keras.ops.split), n Bottlenecks from the second half, cv2 over the
  concatenation of both halves and every Bottleneck's output.
- SPPF: cv1 to c1 // 2, MaxPool2d(5, 1, 2) three times in a chain ('same' max pool), cv2 over all four.
- Detect: per level, cat(box branch, class branch); the box branch ends in a 1x1 conv to 4 * reg_max
  channels with a bias, the class branch in one to nc. Returned before the box decoding (what
  Detect returns in training): three tensors, strides 8, 16, 32; and the DFL's output.
- DFL (head.py `Detect.dfl`, block.py `DFL`): the box branches as (h * w, 4, reg_max), joined along
  the anchors, a softmax over the bins, a 1x1 Conv2d(reg_max, 1, bias=False) fixed to arange(reg_max)
  and not trained (`requires_grad_(False)`: Keras's trainable=False), as (anchors, 4).
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

SCALES = {"n": (0.33, 0.25, 1024), "s": (0.33, 0.50, 1024), "m": (0.67, 0.75, 768),
          "l": (1.00, 1.00, 512), "x": (1.00, 1.25, 512)}


def yolov8(input_shape=(640, 640, 3), scale="n", nc=80, reg_max=16):
    depth, width, max_channels = SCALES[scale]

    def ch(c2):
        # parse_model: `if c2 != nc: c2 = make_divisible(min(c2, max_channels) * width, 8)`
        return c2 if c2 == nc else math.ceil(min(c2, max_channels) * width / 8) * 8

    def reps(n):
        return max(round(n * depth), 1) if n > 1 else n

    def conv(x, c2, k=1, s=1, name=None):
        if s > 1:
            x = layers.ZeroPadding2D(k // 2, name=f"{name}_pad")(x)
            x = layers.Conv2D(c2, k, strides=s, use_bias=False, name=f"{name}_conv")(x)
        else:
            x = layers.Conv2D(c2, k, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=0.97, name=f"{name}_bn")(x)
        return layers.Activation("silu", name=f"{name}_act")(x)

    def c2f(x, c2, n, shortcut=False, name=None):
        c = int(c2 * 0.5)
        y = list(ops.split(conv(x, 2 * c, 1, name=f"{name}_cv1"), 2, axis=-1))
        for i in range(n):
            h = conv(y[-1], c, 3, name=f"{name}_m_{i}_cv1")
            h = conv(h, c, 3, name=f"{name}_m_{i}_cv2")
            y.append(layers.Add(name=f"{name}_m_{i}_add")([y[-1], h]) if shortcut else h)
        return conv(layers.Concatenate(name=f"{name}_cat")(y), c2, 1, name=f"{name}_cv2")

    def sppf(x, c2, k=5, name=None):
        c_ = x.shape[-1] // 2
        y = [conv(x, c_, 1, name=f"{name}_cv1")]
        for i in range(3):
            y.append(layers.MaxPooling2D(k, strides=1, padding="same", name=f"{name}_m_{i}")(y[-1]))
        return conv(layers.Concatenate(name=f"{name}_cat")(y), c2, 1, name=f"{name}_cv2")

    def up(x, name):
        return layers.UpSampling2D(2, interpolation="nearest", name=name)(x)

    def cat(xs, name):
        return layers.Concatenate(name=name)(xs)

    inputs = keras.Input(input_shape)
    n3, n6 = reps(3), reps(6)
    x = conv(inputs, ch(64), 3, 2, name="b0")
    x = conv(x, ch(128), 3, 2, name="b1")
    x = c2f(x, ch(128), n3, True, name="b2")
    x = conv(x, ch(256), 3, 2, name="b3")
    x4 = c2f(x, ch(256), n6, True, name="b4")
    x = conv(x4, ch(512), 3, 2, name="b5")
    x6 = c2f(x, ch(512), n6, True, name="b6")
    x = conv(x6, ch(1024), 3, 2, name="b7")
    x = c2f(x, ch(1024), n3, True, name="b8")
    x9 = sppf(x, ch(1024), 5, name="b9")

    x = cat([up(x9, "h10"), x6], "h11")
    x12 = c2f(x, ch(512), n3, name="h12")
    x = cat([up(x12, "h13"), x4], "h14")
    x15 = c2f(x, ch(256), n3, name="h15")
    x = cat([conv(x15, ch(256), 3, 2, name="h16"), x12], "h17")
    x18 = c2f(x, ch(512), n3, name="h18")
    x = cat([conv(x18, ch(512), 3, 2, name="h19"), x9], "h20")
    x21 = c2f(x, ch(1024), n3, name="h21")

    feats = [x15, x18, x21]
    c2 = max(16, feats[0].shape[-1] // 4, reg_max * 4)
    c3 = max(feats[0].shape[-1], min(nc, 100))
    outputs, boxes = [], []
    for i, f in enumerate(feats):
        box = conv(conv(f, c2, 3, name=f"d_box{i}_0"), c2, 3, name=f"d_box{i}_1")
        box = layers.Conv2D(4 * reg_max, 1, name=f"d_box{i}_2")(box)
        cls = conv(conv(f, c3, 3, name=f"d_cls{i}_0"), c3, 3, name=f"d_cls{i}_1")
        cls = layers.Conv2D(nc, 1, name=f"d_cls{i}_2")(cls)
        outputs.append(layers.Concatenate(name=f"d_out{i}")([box, cls]))
        boxes.append(layers.Reshape((-1, 4, reg_max), name=f"dfl_view{i}")(box))
    bins = layers.Activation("softmax", name="dfl_softmax")(layers.Concatenate(axis=1, name="dfl_cat")(boxes))
    dfl = layers.Conv2D(1, 1, use_bias=False, trainable=False, name="dfl_conv",
                        kernel_initializer=keras.initializers.Constant(
                            np.arange(reg_max, dtype="float32").reshape(1, 1, reg_max, 1)))
    outputs.append(layers.Reshape((-1, 4), name="dfl")(dfl(bins)))
    return keras.Model(inputs, outputs, name=f"yolov8{scale}_reference")
