"""The expected figures of every spec in the library (issue 5), one row per spec and setting.

The figures are Keras's counts of the seeds' own code (tests/reference/check_figures.py prints
them from the reference models): total, trainable and non-trainable parameters and the output
shapes, batch first. ``params`` are the spec's network parameters (``cnndsl.check(path,
**params)``); ``reference`` are the keyword arguments of its reference builder
(``tests/reference``: ``build(spec, **reference)``) for the same network.

``keras`` optionally overrides both for the Keras comparison only, to keep it cheap: the seed-000
cells use a fixed batch of 1000, compared at batch 2. ``slow`` marks the networks whose Keras
comparison takes seconds (over 60M parameters). Nothing here imports Keras.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    spec: str                       # path relative to specs/
    total: int
    trainable: int
    outputs: tuple                  # one shape per output, in the network's output order
    params: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    keras: tuple | None = None      # (spec params, reference params) for the Keras comparison
    slow: bool = False

    @property
    def non_trainable(self) -> int:
        return self.total - self.trainable

    @property
    def id(self) -> str:
        shown = ",".join(f"{k}={_show(v)}" for k, v in self.params.items())
        return self.spec.removesuffix(".cnn") + (f"[{shown}]" if shown else "")

    @property
    def keras_params(self) -> tuple:
        """(spec params, reference params) for compiling and comparing with Keras."""
        if self.keras is None:
            return self.params, self.reference
        return {**self.params, **self.keras[0]}, {**self.reference, **self.keras[1]}


def _show(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


SMALL_BATCH = ({"batch": 2}, {"batch_size": 2})

CASES = [
    # seed 000: Kaggle notebook (batch 1000)
    Case("inception_module.cnn", 820_032, 820_032, ((1000, 14, 14, 448),), keras=SMALL_BATCH),
    Case("residual_identity.cnn", 295_168, 295_168, ((1000, 32, 32, 128),), keras=SMALL_BATCH),
    Case("residual_projection.cnn", 475_520, 475_520, ((1000, 16, 16, 128),), keras=SMALL_BATCH),
    # seed 001: Inception v1/v3 blocks, VGG16, VGG16_Inception
    Case("inception_v1_block.cnn", 124_704, 123_968, ((None, 224, 224, 256),)),
    Case("inception_v3_block.cnn", 95_488, 94_432, ((None, 224, 224, 256),)),
    Case("vgg16.cnn", 138_356_392, 138_356_392, ((None, 1000),), slow=True,
         params=dict(include_top=True, pooling="max", classes=1000, channels=1),
         reference=dict(include_top=True, pooling="max", classes=1000, channels=1)),
    Case("vgg16.cnn", 14_713_536, 14_713_536, ((None, 512),),
         params=dict(include_top=False, pooling="max"), reference=dict(include_top=False, pooling="max")),
    Case("vgg16.cnn", 138_357_544, 138_357_544, ((None, 1000),), slow=True,
         params=dict(channels=3), reference=dict(include_top=True, channels=3)),
    Case("vgg16_inception.cnn", 8_442_064, 8_429_680, ((None, 512),),
         reference=dict(include_top=False)),
    # seed 002: Hands-On ML ch. 14 notes
    Case("lenet5.cnn", 369_174, 369_174, ((None, 10),)),
    Case("alexnet.cnn", 62_378_344, 62_378_344, ((None, 1000),), slow=True),
    Case("googlenet.cnn", 6_998_552, 6_998_552, ((None, 1000),)),
    Case("inception_towers.cnn", 140_160, 140_160, ((None, 32, 32, 192),)),
    Case("resnet34.cnn", 21_306_826, 21_289_802, ((None, 10),)),
    Case("resnet50.cnn", 25_636_712, 25_583_592, ((None, 1000),)),
    Case("resnet152.cnn", 60_419_944, 60_268_520, ((None, 1000),), slow=True),
    Case("se_block.cnn", 8_464, 8_464, ((None, 14, 14, 256),)),
    Case("se_resnet_unit.cnn", 1_190_160, 1_189_136, ((None, 14, 14, 256),)),
    Case("applications/xception.cnn", 20_861_480, 20_806_952, ((None, 10, 10, 2048),),
         params=dict(include_top=False, image=[299, 299, 3])),
    Case("xception_transfer.cnn", 20_871_725, 20_817_197, ((None, 5),)),
    Case("xception_class_loc.cnn", 20_879_921, 20_825_393, ((None, 5), (None, 4))),
    # seed 003: Xception from scratch
    Case("xception.cnn", 22_910_480, 22_855_952, ((None, 1000),)),
    # seed 004: Inception10 for CIFAR-10
    Case("inception10.cnn", 121_418, 120_234, ((None, 10),),
         params=dict(num_blocks=2, num_classes=10, init_ch=16),
         reference=dict(num_blocks=2, num_classes=10, init_ch=16)),
    # not in the issue: a setting that exercises the parameters (the seed's figures hold for its own)
    Case("inception10.cnn", 127_653, 126_293, ((None, 5),),
         params=dict(num_blocks=3, num_classes=5, init_ch=8),
         reference=dict(num_blocks=3, num_classes=5, init_ch=8)),
]
