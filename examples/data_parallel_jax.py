"""Data parallelism on JAX: keras.distribution.DataParallel over two devices, one training step equal to
the same step on one device. Two virtual CPU devices stand in for two accelerators.

Run: .venv/bin/python examples/data_parallel_jax.py
"""
import os

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import cnndsl  # noqa: E402

SPEC = """
network net(image: [32, 32, 3], classes=10) {
    conv(16, 3, padding=same, activation=relu) -> maxpool -> conv(32, 3, padding=same, activation=relu)
    global_avgpool -> dense(classes, activation=softmax)
}
"""
rng = np.random.default_rng(0)
x = rng.normal(size=(8, 32, 32, 3)).astype("float32")
y = rng.integers(0, 10, size=(8,))


def one_step(model):
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    return model.get_weights()


keras.utils.set_random_seed(1)
single = cnndsl.compile(SPEC)
start = single.get_weights()
expected = one_step(single)

keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
model = cnndsl.compile(SPEC)
model.set_weights(start)
got = one_step(model)
assert len(jax.devices()) == 2
for a, b in zip(got, expected):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
print("ok: DataParallel over", len(jax.devices()), "devices: one step equals one device's")
