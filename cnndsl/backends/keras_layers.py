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
        self.gamma = self.add_weight(shape=(self.projection_dim,), name="gamma",
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


@keras.saving.register_keras_serializable(package="cnndsl")
class Split(keras.layers.Layer):
    """Cuts ``axis`` into parts of the given ``sizes``; returns a list of tensors. No weights."""

    def __init__(self, sizes, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.sizes = [int(s) for s in sizes]
        self.axis = int(axis)

    def call(self, x):
        cuts, total = [], 0
        for size in self.sizes[:-1]:
            total += size
            cuts.append(total)
        return keras.ops.split(x, cuts, axis=self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        return [tuple(size if i == self.axis % len(shape) else d for i, d in enumerate(shape)) for size in self.sizes]

    def get_config(self):
        return {**super().get_config(), "sizes": self.sizes, "axis": self.axis}


@keras.saving.register_keras_serializable(package="cnndsl")
class Slice(keras.layers.Layer):
    """``x[..., start:stop]`` along ``axis`` (Python's rule: stop excluded, negatives from the end)."""

    def __init__(self, start, stop=None, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop, self.axis = int(start), None if stop is None else int(stop), int(axis)

    def call(self, x):
        index = [slice(None)] * len(x.shape)
        index[self.axis] = slice(self.start, self.stop)
        return x[tuple(index)]

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        ax = self.axis % len(shape)
        if shape[ax] is not None:
            lo, hi, _ = slice(self.start, self.stop).indices(shape[ax])
            shape[ax] = hi - lo
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop, "axis": self.axis}


@keras.saving.register_keras_serializable(package="cnndsl")
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet's channel shuffle: channels as (groups, C / groups), transposed, flattened back."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def call(self, x):
        shape = keras.ops.shape(x)
        c = x.shape[-1]
        y = keras.ops.reshape(x, (-1, shape[1], shape[2], self.groups, c // self.groups))
        y = keras.ops.transpose(y, (0, 1, 2, 4, 3))
        return keras.ops.reshape(y, (-1, shape[1], shape[2], c))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="cnndsl")
class TorchPool2D(keras.layers.Layer):
    """Max or average pooling as torch pools: ``padding`` pixels on each side and ``ceil_mode``.

    Max pooling pads with -inf (a pad is never the maximum). Average pooling counts the padding as
    torch's default (count_include_pad=True) does, except for the part of a ceil-mode window that
    falls past the padding, which torch leaves out of the count, as this does.
    """

    def __init__(self, mode, pool_size, strides, padding=(0, 0), ceil_mode=False, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)
        self.padding, self.ceil_mode = tuple(padding), bool(ceil_mode)

    def _extra(self, n, k, s, p):
        span = n + 2 * p - k
        out = (-(-span // s) if self.ceil_mode else span // s) + 1
        if self.ceil_mode and (out - 1) * s >= n + p:
            out -= 1
        return max(0, (out - 1) * s + k - (n + 2 * p)), out

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        (eh, _), (ew, _) = (self._extra(n, k, s, p) for n, k, s, p in
                            zip((h, w), self.pool_size, self.strides, self.padding))
        (ph, pw) = self.padding
        pads = [[0, 0], [ph, ph + eh], [pw, pw + ew], [0, 0]]
        if self.mode == "max":
            y = keras.ops.pad(x, pads, constant_values=float("-inf"))
            return keras.ops.max_pool(y, self.pool_size, self.strides, "valid")
        kh, kw = self.pool_size
        sums = keras.ops.average_pool(keras.ops.pad(x, pads), self.pool_size, self.strides, "valid") * (kh * kw)
        inside = keras.ops.pad(keras.ops.ones_like(x[:1, :, :, :1]), [[0, 0], [ph, ph], [pw, pw], [0, 0]],
                               constant_values=1.0)
        inside = keras.ops.pad(inside, [[0, 0], [0, eh], [0, ew], [0, 0]])
        counts = keras.ops.average_pool(inside, self.pool_size, self.strides, "valid") * (kh * kw)
        return sums / counts

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        dims = [None if d is None else self._extra(d, k, s, p)[1]
                for d, k, s, p in zip((h, w), self.pool_size, self.strides, self.padding)]
        return (n, dims[0], dims[1], c)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": list(self.padding), "ceil_mode": self.ceil_mode}

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
