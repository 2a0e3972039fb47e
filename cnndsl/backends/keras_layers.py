"""The layers cnndsl adds to Keras, all in this one module.

- ``LRN``: local response normalisation. Keras 3 has none, and a ``Lambda``
  around ``tf.nn.local_response_normalization`` would tie the model to
  TensorFlow and would not serialize.
- ``LayerScale``, ``StochasticDepth``: ConvNeXt's, and ``CustomScaleLayer``:
  InceptionResNetV2's scaled residual. keras.applications defines these inside
  its model files, unregistered; these are the same computations with the same
  weights, under the same class names.

Each is written with ``keras.ops`` only, so it runs on any Keras backend, and
is registered as ``cnndsl>Name``, so ``keras.saving.load_model`` finds it once
this module has been imported (``cnndsl.backends.keras.install_import_hook``
does that as soon as Keras is imported).

``backends.python`` copies the classes a model uses, decorators included, into
the standalone modules it writes, so the classes use only the name ``keras``.
"""
import keras


@keras.saving.register_keras_serializable(package="cnndsl")
class LRN(keras.layers.Layer):
    """Local response normalisation across channels, as ``tf.nn.local_response_normalization``.

    ``sqr_sum[..., c] = sum(x[..., d] ** 2 for d in [c - radius, c + radius] clipped to [0, C))``
    and ``out = x / (bias + alpha * sqr_sum) ** beta``. No weights.
    """

    def __init__(self, radius=5, alpha=1.0, beta=0.5, bias=1.0, **kwargs):
        super().__init__(**kwargs)
        self.radius = int(radius)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.bias = float(bias)

    def call(self, inputs):
        r, channels = self.radius, inputs.shape[-1]
        squared = keras.ops.square(inputs)
        padded = keras.ops.pad(squared, [[0, 0]] * (len(inputs.shape) - 1) + [[r, r]])
        # The window of channel c is padded[c : c + 2r + 1]: add up 2r + 1 shifted slices.
        sqr_sum = padded[..., :channels]
        for offset in range(1, 2 * r + 1):
            sqr_sum = sqr_sum + padded[..., offset:offset + channels]
        return inputs / keras.ops.power(self.bias + self.alpha * sqr_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "radius": self.radius, "alpha": self.alpha,
                "beta": self.beta, "bias": self.bias}


@keras.saving.register_keras_serializable(package="cnndsl")
class LayerScale(keras.layers.Layer):
    """Multiplies each channel by a learned scale, initialised to ``init_values`` (ConvNeXt's LayerScale).

    ``projection_dim`` (the channel count) may be left out: it is then read from the input.
    """

    def __init__(self, init_values, projection_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, input_shape):
        if self.projection_dim is None:
            self.projection_dim = input_shape[-1]
        self.gamma = self.add_weight(shape=(self.projection_dim,),
                                     initializer=keras.initializers.Constant(self.init_values), trainable=True)

    def call(self, x):
        return x * self.gamma

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


@keras.saving.register_keras_serializable(package="cnndsl")
class StochasticDepth(keras.layers.Layer):
    """Drops a sample's whole residual path with probability ``drop_path_rate`` in training (ConvNeXt's).

    In training, each sample is kept with probability 1 - rate and then scaled by 1 / (1 - rate);
    in inference it is the identity.
    """

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x, training=None):
        if training:
            keep_prob = 1 - self.drop_path_rate
            shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
            random_tensor = keras.ops.floor(keep_prob + keras.random.uniform(shape, 0, 1))
            return (x / keep_prob) * random_tensor
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


@keras.saving.register_keras_serializable(package="cnndsl")
class CustomScaleLayer(keras.layers.Layer):
    """``inputs[0] + inputs[1] * scale``: InceptionResNetV2's scaled residual. No weights."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def _fix_torch_same_average_pool():
    """Make Keras's torch backend average a 'same'-padded pool as TensorFlow and JAX do.

    Where 'same' padding is asymmetric (a 3×3/2 pool over 28×28 pads 0 before and 1 after),
    Keras 3's torch backend pads by replicating the edge values and averages them in, where
    TensorFlow and JAX average over the elements inside the input only. Max pooling is unaffected.
    This replaces the backend's ``average_pool`` for that one case with the exact computation: a
    zero-padded sum divided by the count of in-bounds elements. Nothing changes on other backends.
    """
    if keras.backend.backend() != "torch":
        return
    from keras.src.backend.torch import nn
    if getattr(nn.average_pool, "cnndsl_fixed", False):
        return
    import torch
    import torch.nn.functional as F
    original = nn.average_pool

    def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
        x = nn.convert_to_tensor(inputs)
        dims = x.ndim - 2
        if padding != "same" or dims not in (1, 2, 3):
            return original(inputs, pool_size, strides, padding, data_format)
        pool = nn.standardize_tuple(pool_size, dims, "pool_size")
        steps = pool if strides is None else nn.standardize_tuple(strides, dims, "strides")
        last = nn.backend.standardize_data_format(data_format) == "channels_last"
        if last:
            x = torch.movedim(x, -1, 1)
        pads = [nn._compute_padding_length(x.shape[2 + i], pool[i], steps[i]) for i in range(dims)]
        if all(left == right for left, right in pads):
            return original(inputs, pool_size, strides, padding, data_format)
        flat = [p for pair in reversed(pads) for p in pair]
        pool_fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[dims - 1]
        sums = pool_fn(F.pad(x, flat), pool, steps)
        counts = pool_fn(F.pad(torch.ones_like(x[:, :1]), flat), pool, steps)
        out = sums / counts
        return torch.movedim(out, 1, -1) if last else out

    average_pool.cnndsl_fixed = True
    nn.average_pool = average_pool


_fix_torch_same_average_pool()
