"""Reference Keras 3 models transcribed from the seed documents (the five source documents of cnndsl's first version).

``REFERENCES`` maps a spec file name (relative to the specs folder) to a
``"module:function"`` string naming its builder in this package. Nothing here
imports keras or tensorflow until ``get`` or ``build`` is called.

    from tests.reference import REFERENCES, get, build
    model = build("vgg16.cnn", include_top=False, pooling="max")
"""

import importlib

REFERENCES = {
    "inception_module.cnn": "seed000_kaggle:inception_module",
    "residual_identity.cnn": "seed000_kaggle:residual_identity",
    "residual_projection.cnn": "seed000_kaggle:residual_projection",
    "inception_v1_block.cnn": "seed001_inception_vgg:inception_v1_block",
    "inception_v3_block.cnn": "seed001_inception_vgg:inception_v3_block",
    "vgg16.cnn": "seed001_inception_vgg:vgg16",
    "vgg16_inception.cnn": "seed001_inception_vgg:vgg16_inception",
    "lenet5.cnn": "seed002_classic:lenet5",
    "alexnet.cnn": "seed002_classic:alexnet",
    "googlenet.cnn": "seed002_classic:googlenet",
    "inception_towers.cnn": "seed002_classic:inception_towers",
    "resnet34.cnn": "seed002_resnet_se:resnet34",
    "resnet50.cnn": "seed002_resnet_se:resnet50",
    "resnet152.cnn": "seed002_resnet_se:resnet152",
    "se_block.cnn": "seed002_resnet_se:se_block",
    "se_resnet_unit.cnn": "seed002_resnet_se:se_resnet_unit",
    "xception.cnn": "seed003_xception:xception",
    "applications/xception.cnn": "seed002_transfer:applications_xception",
    "xception_transfer.cnn": "seed002_transfer:xception_transfer",
    "xception_class_loc.cnn": "seed002_transfer:xception_class_loc",
    "inception10.cnn": "seed004_inception10:inception10",
}


def get(name):
    """Return the builder callable for spec ``name`` (imports its module, hence keras)."""
    module_name, func_name = REFERENCES[name].split(":")
    module = importlib.import_module(f".{module_name}", __name__)
    return getattr(module, func_name)


def build(name, **params):
    """Build the reference ``keras.Model`` for spec ``name`` with builder ``params``."""
    return get(name)(**params)
