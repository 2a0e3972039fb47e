"""Seed 002: keras.applications Xception, transfer learning and classification + localization.

The seed loads ``Xception(weights="imagenet", include_top=False)``; every
builder here uses weights=None (never download).
"""

import keras
from keras import layers


def applications_xception(input_shape=(299, 299, 3)):
    """``keras.applications.Xception(weights=None, include_top=False, input_shape=(299,299,3))``.

    The bare base model (output 10x10x2048 at 299x299). Expect 20,861,480 params.
    """
    return keras.applications.Xception(weights=None, include_top=False, input_shape=input_shape)


def _base(input_shape):
    # The seed gives no input_shape (so (None, None, 3)); its preprocess() resizes
    # every image to 224x224, so 224x224x3 is used. Counts do not depend on it.
    return keras.applications.Xception(weights=None, include_top=False, input_shape=input_shape)


def xception_transfer(n_classes=5, input_shape=(224, 224, 3)):
    """Seed 002, "Pretrained Models for Transfer Learning": Xception base + GAP + Dense(5, softmax).

    ``avg = GlobalAveragePooling2D()(base_model.output)``,
    ``output = Dense(n_classes, activation="softmax")(avg)``; n_classes = 5
    (tf_flowers). The seed first freezes the base (``layer.trainable =
    False``) for 5 epochs and then unfreezes it (``layer.trainable = True``)
    for fine-tuning; the reference is the final, unfrozen state: every layer
    trainable, only BN moving statistics (54,528) non-trainable.
    Expect 20,871,725 total / 20,817,197 trainable, (None, 5).
    """
    base_model = _base(input_shape)
    avg = layers.GlobalAveragePooling2D()(base_model.output)
    output = layers.Dense(n_classes, activation="softmax")(avg)
    return keras.Model(inputs=base_model.input, outputs=output)


def xception_class_loc(n_classes=5, input_shape=(224, 224, 3)):
    """Seed 002, "Classification and Localization" (model2): two heads on the pooled features.

    ``class_output = Dense(n_classes, softmax)(avg)`` and
    ``loc_output = Dense(4)(avg)`` (linear). Seed typo: the class head is
    named "class_ouput" in the seed; the reference uses "class_output" as
    the brief asks (names do not change the counts).
    Expect 20,879,921 params, outputs (None, 5) and (None, 4).
    """
    base_model = _base(input_shape)
    avg = layers.GlobalAveragePooling2D()(base_model.output)
    class_output = layers.Dense(n_classes, activation="softmax", name="class_output")(avg)
    loc_output = layers.Dense(4, name="loc_output")(avg)
    return keras.Model(inputs=base_model.input, outputs=[class_output, loc_output])
