"""Model parallelism on JAX: a large dense head split across two devices by its block path.

Two virtual CPU devices stand in for two accelerators. Run: .venv/bin/python examples/model_parallel_jax.py
"""
import os

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import cnndsl  # noqa: E402

SPEC = """
block head(units, classes) { dense(units, activation=relu) -> dense(classes) }
network net(x: [16, 16, 3]) {
    conv(8, 3, padding=same, activation=relu) -> global_avgpool
    head(4096, 10)
}
"""
graph = cnndsl.check(SPEC)
x = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype("float32")

reference = cnndsl.compile(graph)                          # one device
expected = np.asarray(reference(x))

mesh = keras.distribution.DeviceMesh((1, 2), ("batch", "model"), jax.devices())
layouts = cnndsl.layout_map(graph, mesh, {"head_1": "model"})   # the head block's conv/dense weights split
keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layouts, batch_dim_name="batch"))
model = cnndsl.compile(graph)
model.set_weights(reference.get_weights())

kernel = model.get_layer("head_1-dense_1").kernel.value
assert len(jax.devices()) == 2 and kernel.sharding.spec == jax.sharding.PartitionSpec(None, "model")
assert [s.data.shape for s in kernel.addressable_shards] == [(8, 2048), (8, 2048)]   # half the columns each
np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
print("ok: head_1's 4096 units split over", [str(d) for d in kernel.sharding.device_set], "outputs equal")
