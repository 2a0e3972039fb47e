"""The keras.applications zoo (issue 8): every function, the spec network that states it exactly.

One row per keras.applications function: the module (``specs/applications/<module>.cnn``), the
spec's network (the function's name in lower case) and the function. ``numeric`` marks the
networks whose outputs are compared with copied weights (each family's smallest member and every
network under 30M parameters); the structure, names and counts are compared for all 40. Nothing
here imports Keras.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPECS = Path(__file__).resolve().parent.parent / "specs" / "applications"


@dataclass(frozen=True)
class Zoo:
    module: str           # keras.applications module, and the spec file's name
    function: str         # keras.applications function
    numeric: bool = True  # compare outputs with copied weights

    @property
    def network(self) -> str:
        return self.function.lower()

    @property
    def spec(self) -> Path:
        return SPECS / f"{self.module}.cnn"

    @property
    def id(self) -> str:
        return self.network


ZOO = [
    Zoo("convnext", "ConvNeXtTiny"), Zoo("convnext", "ConvNeXtSmall", False),
    Zoo("convnext", "ConvNeXtBase", False), Zoo("convnext", "ConvNeXtLarge", False),
    Zoo("convnext", "ConvNeXtXLarge", False),
    Zoo("densenet", "DenseNet121"), Zoo("densenet", "DenseNet169"), Zoo("densenet", "DenseNet201"),
    *(Zoo("efficientnet", f"EfficientNetB{k}", k <= 4) for k in range(8)),
    *(Zoo("efficientnet_v2", f"EfficientNetV2{v}", v in ("B0", "B1", "B2", "B3", "S"))
      for v in ("B0", "B1", "B2", "B3", "S", "M", "L")),
    Zoo("inception_resnet_v2", "InceptionResNetV2"),
    Zoo("inception_v3", "InceptionV3"),
    Zoo("mobilenet", "MobileNet"),
    Zoo("mobilenet_v2", "MobileNetV2"),
    Zoo("mobilenet_v3", "MobileNetV3Small"), Zoo("mobilenet_v3", "MobileNetV3Large"),
    Zoo("nasnet", "NASNetMobile"), Zoo("nasnet", "NASNetLarge", False),
    Zoo("resnet", "ResNet50"), Zoo("resnet", "ResNet101", False), Zoo("resnet", "ResNet152", False),
    Zoo("resnet_v2", "ResNet50V2"), Zoo("resnet_v2", "ResNet101V2", False), Zoo("resnet_v2", "ResNet152V2", False),
    Zoo("vgg16", "VGG16"), Zoo("vgg19", "VGG19"),
    Zoo("xception", "Xception"),
]

# (spec parameters, keras.applications keyword arguments) of each variant the tests compare.
VARIANTS = {
    "top": ({}, {}),
    "avg": ({"include_top": False, "pooling": "avg"}, {"include_top": False, "pooling": "avg"}),
}
