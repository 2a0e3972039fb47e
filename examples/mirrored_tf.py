"""Data parallelism on TensorFlow: tf.distribute.MirroredStrategy over two devices, one training step equal
to the same step on one device. Two logical CPU devices stand in for two GPUs.

Run: .venv/bin/python examples/mirrored_tf.py
"""
import os

os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

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
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    return model.get_weights()


keras.utils.set_random_seed(1)
single = cnndsl.compile(SPEC)
start = single.get_weights()
expected = one_step(single)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = cnndsl.compile(SPEC)
    model.set_weights(start)
got = one_step(model)
assert strategy.num_replicas_in_sync == 2
for a, b in zip(got, expected):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
print("ok: MirroredStrategy over", strategy.num_replicas_in_sync, "replicas: one step equals one device's")
