"""Build every reference model, print its figures and assert the expected ones.

Run from the repository root:  python -m tests.reference.check_figures
(or python tests/reference/check_figures.py). Exits 1 if any figure differs.
Not a pytest test: building ResNet-152 and the Xceptions takes a while.
"""

import math
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    __package__ = "tests.reference"  # noqa: A001

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# (spec, builder params, total, trainable or None, output shapes)
CASES = [
    ("inception_module.cnn", {}, 820_032, None, [(1000, 14, 14, 448)]),
    ("residual_identity.cnn", {}, 295_168, None, [(1000, 32, 32, 128)]),
    ("residual_projection.cnn", {}, 475_520, None, [(1000, 16, 16, 128)]),
    ("inception_v1_block.cnn", {}, 124_704, 123_968, [(None, 224, 224, 256)]),
    ("inception_v3_block.cnn", {}, 95_488, 94_432, [(None, 224, 224, 256)]),
    ("vgg16.cnn", dict(include_top=True, pooling="max", classes=1000, channels=1),
     138_356_392, None, [(None, 1000)]),
    ("vgg16.cnn", dict(include_top=False, pooling="max"), 14_713_536, None, [(None, 512)]),
    ("vgg16.cnn", dict(include_top=True, channels=3), 138_357_544, None, [(None, 1000)]),
    ("vgg16_inception.cnn", dict(include_top=False), 8_442_064, 8_429_680, [(None, 512)]),
    ("lenet5.cnn", {}, 369_174, None, [(None, 10)]),
    ("alexnet.cnn", {}, 62_378_344, None, [(None, 1000)]),
    ("googlenet.cnn", {}, 6_998_552, None, [(None, 1000)]),
    ("inception_towers.cnn", {}, 140_160, None, [(None, 32, 32, 192)]),
    ("resnet34.cnn", {}, 21_306_826, 21_289_802, [(None, 10)]),
    ("resnet50.cnn", {}, 25_636_712, 25_583_592, [(None, 1000)]),
    ("resnet152.cnn", {}, 60_419_944, None, [(None, 1000)]),
    ("se_block.cnn", {}, 8_464, None, [(None, 14, 14, 256)]),
    ("se_resnet_unit.cnn", {}, 1_190_160, 1_189_136, [(None, 14, 14, 256)]),
    ("xception.cnn", {}, 22_910_480, 22_855_952, [(None, 1000)]),
    ("applications/xception.cnn", {}, 20_861_480, None, [(None, 10, 10, 2048)]),
    ("xception_transfer.cnn", {}, 20_871_725, 20_817_197, [(None, 5)]),
    ("xception_class_loc.cnn", {}, 20_879_921, None, [(None, 5), (None, 4)]),
    ("inception10.cnn", dict(num_blocks=2, num_classes=10, init_ch=16),
     121_418, 120_234, [(None, 10)]),
]


def count(weights):
    return sum(math.prod(w.shape) for w in weights)


def check_lrn():
    """Compare LocalResponseNormalization with tf.nn.local_response_normalization."""
    import numpy as np
    import tensorflow as tf

    from .lrn import LocalResponseNormalization

    x = np.random.default_rng(0).normal(size=(2, 5, 5, 11)).astype("float32") * 30
    for r, k, alpha, beta in [(2, 1.0, 0.00002, 0.75), (5, 1.0, 1.0, 0.5), (1, 2.0, 1e-3, 0.6)]:
        ours = np.asarray(LocalResponseNormalization(r, k, alpha, beta)(x))
        ref = tf.nn.local_response_normalization(x, depth_radius=r, bias=k, alpha=alpha, beta=beta).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    print("LRN matches tf.nn.local_response_normalization")


def main():
    from . import REFERENCES

    assert "tensorflow" not in sys.modules, "tests.reference must not import tensorflow at import time"
    from . import build

    covered = {spec for spec, *_ in CASES}
    assert covered == set(REFERENCES), f"uncovered: {set(REFERENCES) - covered}"

    failures = []
    print(f"{'spec':28} {'params':44} {'total':>12} {'trainable':>12} {'non-train':>10}  outputs")
    for spec, params, total, trainable, shapes in CASES:
        model = build(spec, **params)
        got_total = model.count_params()
        got_train = count(model.trainable_weights)
        got_shapes = [tuple(t.shape) for t in model.outputs]
        shown = ",".join(f"{k}={v}" for k, v in params.items()) or "-"
        print(f"{spec:28} {shown:44} {got_total:>12,} {got_train:>12,} "
              f"{got_total - got_train:>10,}  {got_shapes}")
        if got_total != total:
            failures.append(f"{spec} {params}: total {got_total:,} != {total:,}")
        if trainable is not None and got_train != trainable:
            failures.append(f"{spec} {params}: trainable {got_train:,} != {trainable:,}")
        if got_shapes != shapes:
            failures.append(f"{spec} {params}: outputs {got_shapes} != {shapes}")
        del model
    check_lrn()
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"\nall {len(CASES)} figures match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
