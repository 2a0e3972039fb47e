"""Seed 001: Conv2d_bn, InceptionV1/V3 blocks, VGG16 and VGG16_Inception.

Transcribed from cells In[2], In[5], In[12], In[13], In[15], the VGG16 cell
and In[7] ("修改後"). channels_last only, so ``bn_axis`` is always 3 (the seed
computes it from ``K.image_data_format()``).
"""

import keras
from keras import layers

V1_SPECS = ((64,), (96, 128), (16, 32), (32,))


def conv2d_bn(x, filters, kernel_size, padding="same", strides=(1, 1),
              normalizer=True, activation="relu", name=None):
    """Seed 001 In[2] ``Conv2d_bn``: Conv2D(use_bias=False) -> BN(scale=False) -> act.

    With ``name`` the layers are ``name_conv``, ``name_bn``, ``name_act``.
    BatchNormalization(scale=False) has 3 weights per channel (beta trainable;
    moving mean/variance non-trainable).
    """
    conv_name = bn_name = act_name = None
    if name is not None:
        conv_name, bn_name, act_name = name + "_conv", name + "_bn", name + "_act"
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                      use_bias=False, name=conv_name)(x)
    if normalizer:
        x = layers.BatchNormalization(axis=3, scale=False, name=bn_name)(x)
    if activation:
        x = layers.Activation(activation, name=act_name)(x)
    return x


def _branch3_and_concat(x, branch_0, branch_1, branch_2, br3, channel_axis, name, pool_name):
    maxpoolb3 = layers.MaxPooling2D(pool_size=(3, 3), strides=(1, 1), padding="same",
                                    name=pool_name)(x)
    branch_3 = conv2d_bn(maxpoolb3, br3[0], (1, 1), name=name + "_Branch_3")
    return layers.concatenate([branch_0, branch_1, branch_2, branch_3],
                              axis=channel_axis, name=name + "_Concatenated")


def inception_v1_block_fn(x, specs, channel_axis, name, pool_name="maxpoolb3"):
    """Seed 001 In[5] ``InceptionV1_block``: 1x1 | 1x1->3x3 | 1x1->5x5 | pool3/1->1x1.

    Seed bug: the pool is always named 'maxpoolb3', so two blocks in one model
    clash. ``pool_name`` defaults to the seed's name; VGG16_Inception passes a
    unique one.
    """
    br0, br1, br2, br3 = specs
    branch_0 = conv2d_bn(x, br0[0], (1, 1), name=name + "_Branch_0")
    branch_1 = conv2d_bn(x, br1[0], (1, 1), name=name + "_Branch_1")
    branch_1 = conv2d_bn(branch_1, br1[1], (3, 3), name=name + "_Branch_1_1")
    branch_2 = conv2d_bn(x, br2[0], (1, 1), name=name + "_Branch_2")
    branch_2 = conv2d_bn(branch_2, br2[1], (5, 5), name=name + "_Branch_2_1")
    return _branch3_and_concat(x, branch_0, branch_1, branch_2, br3, channel_axis, name, pool_name)


def inception_v3_block_fn(x, specs, channel_axis, name, pool_name="maxpoolb3"):
    """Seed 001 In[13] ``InceptionV3_block``: V1 block with 3x3 -> 1x3,3x1 and 5x5 -> 1x5,5x1.

    Both factorized convs of a branch have ``br[1]`` filters (as in the seed).
    Same 'maxpoolb3' naming caveat as the V1 block.
    """
    br0, br1, br2, br3 = specs
    branch_0 = conv2d_bn(x, br0[0], (1, 1), name=name + "_Branch_0")
    branch_1 = conv2d_bn(x, br1[0], (1, 1), name=name + "_Branch_1")
    branch_1 = conv2d_bn(branch_1, br1[1], (1, 3), name=name + "_Branch_1_1")
    branch_1 = conv2d_bn(branch_1, br1[1], (3, 1), name=name + "_Branch_1_2")
    branch_2 = conv2d_bn(x, br2[0], (1, 1), name=name + "_Branch_2")
    branch_2 = conv2d_bn(branch_2, br2[1], (1, 5), name=name + "_Branch_2_1")
    branch_2 = conv2d_bn(branch_2, br2[1], (5, 1), name=name + "_Branch_2_2")
    return _branch3_and_concat(x, branch_0, branch_1, branch_2, br3, channel_axis, name, pool_name)


def inception_v1_block(input_shape=(224, 224, 1), specs=V1_SPECS, name="Block_1"):
    """Seed 001 In[12]: one InceptionV1 block on Input(224,224,1), name 'Block_1'.

    Expect 124,704 total / 123,968 trainable, output (None, 224, 224, 256).
    """
    img_input = keras.Input(shape=input_shape)
    x = inception_v1_block_fn(img_input, specs, 3, name)
    return keras.Model(img_input, x)


def inception_v3_block(input_shape=(224, 224, 1), specs=V1_SPECS, name="Block_1"):
    """Seed 001 In[15]: one InceptionV3 (factorized) block on Input(224,224,1).

    Expect 95,488 total / 94,432 trainable, output (None, 224, 224, 256).
    """
    img_input = keras.Input(shape=input_shape)
    x = inception_v3_block_fn(img_input, specs, 3, name)
    return keras.Model(img_input, x)


def _top(x, include_top, pooling, classes):
    """The seed's shared classifier / global pooling tail (unnamed global pools)."""
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        return layers.Dense(classes, activation="softmax", name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D()(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D()(x)
    return x


def vgg16(include_top=True, pooling="max", classes=1000, channels=1):
    """Seed 001, "原vgg16架構" cell: VGG16 on Input(224, 224, channels).

    13 Conv2D 3x3 same relu (with bias) in 5 blocks of 2,2,3,3,3 convs
    (64,128,256,512,512), each block ending in MaxPooling2D 2/2. Top:
    Flatten, fc1 4096, fc2 4096, predictions (softmax). Without the top,
    ``pooling`` 'avg'/'max' adds a global pool (seed default 'max'); None
    leaves the 7x7x512 map. The seed's ``input_tensor`` argument is unused
    in the seed and dropped here. Expect 138,356,392 (channels=1, top),
    138,357,544 (channels=3, top), 14,713,536 (no top, max).
    """
    img_input = keras.Input(shape=(224, 224, channels))
    x = img_input
    for block, (filters, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    x = _top(x, include_top, pooling, classes)
    return keras.Model(img_input, x, name="vgg16")


def vgg16_inception(include_top=False, pooling="max", classes=1000, channels=1):
    """Seed 001 In[7] ``VGG16_Inception``, called as ``VGG16_Inception(include_top=False)``.

    VGG16 with every conv replaced by Conv2d_bn (BN scale=False, no conv bias),
    block 3's three convs replaced by InceptionV1 blocks Block_3_1..3 with
    specs ((64,),(96,128),(16,32),(32,)) and block 5's by InceptionV3 blocks
    Block_5_1..3 with ((128,),(192,256),(32,64),(64,)).

    Seed bug: every block names its branch-3 pool 'maxpoolb3', so the model
    cannot be built as printed. Choice: each block's pool is named
    ``<block name>_maxpoolb3`` (e.g. 'Block_3_1_maxpoolb3'). All other names
    are the seed's. The default here is include_top=False because that is how
    the seed calls it (the function's own default is True).
    Expect 8,442,064 total / 8,429,680 trainable, output (None, 512).
    """
    img_input = keras.Input(shape=(224, 224, channels))
    x = conv2d_bn(img_input, 64, (3, 3), activation="relu", padding="same", name="block1_conv1")
    x = conv2d_bn(x, 64, (3, 3), activation="relu", padding="same", name="block1_conv2")
    x = layers.MaxPooling2D((2, 2), strides=(2, 2), name="block1_pool")(x)

    x = conv2d_bn(x, 128, (3, 3), activation="relu", padding="same", name="block2_conv1")
    x = conv2d_bn(x, 128, (3, 3), activation="relu", padding="same", name="block2_conv2")
    x = layers.MaxPooling2D((2, 2), strides=(2, 2), name="block2_pool")(x)

    for i in (1, 2, 3):
        name = f"Block_3_{i}"
        x = inception_v1_block_fn(x, V1_SPECS, 3, name, pool_name=name + "_maxpoolb3")
    x = layers.MaxPooling2D((2, 2), strides=(2, 2), name="block3_pool")(x)

    for i in (1, 2, 3):
        x = conv2d_bn(x, 512, (3, 3), activation="relu", padding="same", name=f"block4_conv{i}")
    x = layers.MaxPooling2D((2, 2), strides=(2, 2), name="block4_pool")(x)

    v3_specs = ((128,), (192, 256), (32, 64), (64,))
    for i in (1, 2, 3):
        name = f"Block_5_{i}"
        x = inception_v3_block_fn(x, v3_specs, 3, name, pool_name=name + "_maxpoolb3")
    x = layers.MaxPooling2D((2, 2), strides=(2, 2), name="block5_pool")(x)

    x = _top(x, include_top, pooling, classes)
    return keras.Model(img_input, x, name="vgg16")
