"""The layers cnndsl adds to Keras, all in this one module.

- ``LRN``: local response normalisation. Keras 3 has none, and a ``Lambda``
  around ``tf.nn.local_response_normalization`` would tie the model to
  TensorFlow and would not serialize.
- ``LayerScale``, ``StochasticDepth``: ConvNeXt's, and ``CustomScaleLayer``:
  InceptionResNetV2's scaled residual. keras.applications defines these inside
  its model files, unregistered; these are the same computations with the same
  weights, under the same class names.
- What Keras has no layer for: torch's pools (``TorchPool``: padding, ceil_mode,
  count_include_pad; ``AdaptivePool``), tensor math (``Divide``, ``Stack``,
  ``MatMul``, ``Elementwise``, ``Reduce``), and learned tensors (``WeightedAdd``,
  ``ClassToken``, ``PositionEmbedding``, ``GRN``).

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
class TorchPool(keras.layers.Layer):
    """Max or average pooling as torch pools, 1-D, 2-D or 3-D: ``padding`` per side and ``ceil_mode``.

    Max pooling pads with -inf (a pad is never the maximum). Average pooling divides as torch does:
    with ``count_include_pad`` (torch's default) by the window's size within the padded input (the
    part of a ceil-mode window past the padding is left out of the count, as torch leaves it out);
    without it, by the number of input elements in the window.
    """

    def __init__(self, mode, pool_size, strides, padding=(0, 0), ceil_mode=False, count_include_pad=True, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)
        self.padding, self.ceil_mode = tuple(padding), bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def _extra(self, n, k, s, p):
        span = n + 2 * p - k
        out = (-(-span // s) if self.ceil_mode else span // s) + 1
        if self.ceil_mode and (out - 1) * s >= n + p:
            out -= 1
        return max(0, (out - 1) * s + k - (n + 2 * p)), out

    def call(self, x):
        dims = x.shape[1:-1]
        extra = [self._extra(n, k, s, p)[0] for n, k, s, p in zip(dims, self.pool_size, self.strides, self.padding)]
        pads = [[0, 0], *([p, p + e] for p, e in zip(self.padding, extra)), [0, 0]]
        if self.mode == "max":
            y = keras.ops.pad(x, pads, constant_values=float("-inf"))
            return keras.ops.max_pool(y, self.pool_size, self.strides, "valid")
        size = 1
        for k in self.pool_size:
            size *= k
        sums = keras.ops.average_pool(keras.ops.pad(x, pads), self.pool_size, self.strides, "valid") * size
        ones = keras.ops.ones_like(x[:1, ..., :1])
        # The elements a window counts: the input and, with count_include_pad, its padding (not the extra
        # ceil-mode overhang).
        inside = keras.ops.pad(ones, [[0, 0], *([p, p] for p in self.padding), [0, 0]],
                               constant_values=1.0 if self.count_include_pad else 0.0)
        inside = keras.ops.pad(inside, [[0, 0], *([0, e] for e in extra), [0, 0]])
        counts = keras.ops.average_pool(inside, self.pool_size, self.strides, "valid") * size
        return sums / counts

    def compute_output_shape(self, input_shape):
        dims = [None if d is None else self._extra(d, k, s, p)[1]
                for d, k, s, p in zip(input_shape[1:-1], self.pool_size, self.strides, self.padding)]
        return (input_shape[0], *dims, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": list(self.padding), "ceil_mode": self.ceil_mode,
                "count_include_pad": self.count_include_pad}


@keras.saving.register_keras_serializable(package="cnndsl")
class TorchPool2D(TorchPool):
    """The name ``TorchPool`` had when it pooled 2-D inputs only: ``.keras`` files saved then still load."""


@keras.saving.register_keras_serializable(package="cnndsl")
class AdaptivePool(keras.layers.Layer):
    """torch's adaptive average or max pooling to ``size``, 1-D, 2-D or 3-D, channels last.

    Output bin i along an axis of length L covers inputs floor(i·L/size) to ceil((i+1)·L/size)
    (excluded), as torch's adaptive_avg_pool / adaptive_max_pool: bins overlap where size does not
    divide L. A rectangle's mean (or max) is taken one axis at a time, which is exact.
    """

    def __init__(self, mode, size, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.size = tuple(size) if isinstance(size, (list, tuple)) else (int(size),)

    def call(self, x):
        reduce = keras.ops.mean if self.mode == "avg" else keras.ops.max
        for axis, out in enumerate(self.size, start=1):
            n = x.shape[axis]
            parts = []
            for i in range(out):
                start, stop = i * n // out, -(-(i + 1) * n // out)
                index = [slice(None)] * len(x.shape)
                index[axis] = slice(start, stop)
                parts.append(reduce(x[tuple(index)], axis=axis, keepdims=True))
            x = keras.ops.concatenate(parts, axis=axis) if len(parts) > 1 else parts[0]
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "size": list(self.size)}


@keras.saving.register_keras_serializable(package="cnndsl")
class Divide(keras.layers.Layer):
    """``inputs[0] / inputs[1]``, broadcasting as NumPy. No weights."""

    @staticmethod
    def broadcast(*shapes):
        """NumPy's broadcast of shapes aligned from the right, the batch apart; an unknown size meeting
        anything but an equal one stays unknown (as Keras's merge layers say)."""
        rank = max(len(s) for s in shapes) - 1
        out = []
        for i in range(1, rank + 1):
            dims = [s[-i] for s in shapes if len(s) - 1 >= i]
            known = [d for d in dims if d is not None and d != 1]
            out.append(None if None in dims else known[0] if known else 1)
        batch = [s[0] for s in shapes if s[0] is not None]
        return (batch[0] if batch else None, *reversed(out))

    def call(self, inputs):
        return keras.ops.divide(inputs[0], inputs[1])

    def compute_output_shape(self, input_shape):
        return self.broadcast(*input_shape)


@keras.saving.register_keras_serializable(package="cnndsl")
class Stack(keras.layers.Layer):
    """``keras.ops.stack(inputs, axis)``: equal shapes along a new axis. No weights."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return keras.ops.stack(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape):
        dims = [next((s[i] for s in input_shape if s[i] is not None), None) for i in range(len(input_shape[0]))]
        axis = self.axis % (len(dims) + 1)
        return (*dims[:axis], len(input_shape), *dims[axis:])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@keras.saving.register_keras_serializable(package="cnndsl")
class MatMul(keras.layers.Layer):
    """``a @ b`` over the last two axes (``b``'s swapped with ``transpose_b``); the others broadcast."""

    @staticmethod
    def broadcast(*shapes):
        """NumPy's broadcast of shapes aligned from the right, the batch apart; an unknown size meeting
        anything but an equal one stays unknown (as Keras's merge layers say)."""
        rank = max(len(s) for s in shapes) - 1
        out = []
        for i in range(1, rank + 1):
            dims = [s[-i] for s in shapes if len(s) - 1 >= i]
            known = [d for d in dims if d is not None and d != 1]
            out.append(None if None in dims else known[0] if known else 1)
        batch = [s[0] for s in shapes if s[0] is not None]
        return (batch[0] if batch else None, *reversed(out))

    def __init__(self, transpose_b=False, **kwargs):
        super().__init__(**kwargs)
        self.transpose_b = bool(transpose_b)

    def call(self, inputs):
        a, b = inputs
        if self.transpose_b:
            b = keras.ops.swapaxes(b, -1, -2)
        return keras.ops.matmul(a, b)

    def compute_output_shape(self, input_shape):
        a, b = input_shape
        m = b[-2] if self.transpose_b else b[-1]
        return (*self.broadcast(a[:-2], b[:-2]), a[-2], m)

    def get_config(self):
        return {**super().get_config(), "transpose_b": self.transpose_b}


@keras.saving.register_keras_serializable(package="cnndsl")
class WeightedAdd(keras.layers.Layer):
    """EfficientDet's BiFPN fusion: ``Σ w_i · x_i`` with one learned weight per input, initialised to 1.

    ``normalize``: ``fast`` is w = relu(w) / (Σ relu(w) + 1e-4), ``softmax`` is softmax(w), ``none``
    is relu(w) (non-negative, not normalised).
    """

    def __init__(self, normalize="fast", **kwargs):
        super().__init__(**kwargs)
        self.normalize = normalize

    def build(self, input_shape):
        self.w = self.add_weight(shape=(len(input_shape),), name="w", initializer="ones", trainable=True)

    def call(self, inputs):
        if self.normalize == "softmax":
            w = keras.ops.softmax(self.w)
        else:
            w = keras.ops.relu(self.w)
            if self.normalize == "fast":
                w = w / (keras.ops.sum(w) + 1e-4)
        out = inputs[0] * w[0]
        for i in range(1, len(inputs)):
            out = out + inputs[i] * w[i]
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="cnndsl")
class Elementwise(keras.layers.Layer):
    """One elementwise function of ``keras.ops``: abs, square, sqrt, exp, log, or power (``exponent``)."""

    def __init__(self, function, exponent=None, **kwargs):
        super().__init__(**kwargs)
        self.function = function
        self.exponent = None if exponent is None else float(exponent)

    def call(self, x):
        if self.function == "power":
            return keras.ops.power(x, self.exponent)
        return getattr(keras.ops, self.function)(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "function": self.function, "exponent": self.exponent}


@keras.saving.register_keras_serializable(package="cnndsl")
class Reduce(keras.layers.Layer):
    """The mean, max or sum (``mode``) over ``axis`` (an axis or a list), with ``keepdims``."""

    def __init__(self, mode, axis=-1, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.keepdims = bool(keepdims)

    def call(self, x):
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        return getattr(keras.ops, self.mode)(x, axis=axis, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        axes = {a % len(input_shape) for a in (self.axis if isinstance(self.axis, list) else [self.axis])}
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "axis": self.axis, "keepdims": self.keepdims}


@keras.saving.register_keras_serializable(package="cnndsl")
class ClassToken(keras.layers.Layer):
    """Prepends a learned token (C weights, zeros at first) to a sequence: [N, C] -> [N + 1, C] (ViT's)."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), name="token", initializer="zeros",
                                     trainable=True)

    def call(self, x):
        token = keras.ops.broadcast_to(keras.ops.cast(self.token, x.dtype),
                                       (keras.ops.shape(x)[0], 1, x.shape[-1]))
        return keras.ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        return (input_shape[0], None if n is None else n + 1, input_shape[2])


@keras.saving.register_keras_serializable(package="cnndsl")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned tensor of the input's shape, batch aside (ViT's position embedding)."""

    def build(self, input_shape):
        self.embedding = self.add_weight(shape=tuple(input_shape[1:]), name="embedding",
                                         initializer=keras.initializers.RandomNormal(stddev=0.02), trainable=True)

    def call(self, x):
        return x + keras.ops.cast(self.embedding, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="cnndsl")
class GRN(keras.layers.Layer):
    """ConvNeXt V2's Global Response Normalization, channels last, any spatial rank.

    ``Gx = ||x||_2`` over the spatial axes, ``Nx = Gx / (mean over channels of Gx + epsilon)``,
    ``out = gamma * (x * Nx) + beta + x``; gamma and beta (C each) start at 0, as ConvNeXt V2's.
    """

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        c = input_shape[-1]
        self.gamma = self.add_weight(shape=(c,), name="gamma", initializer="zeros", trainable=True)
        self.beta = self.add_weight(shape=(c,), name="beta", initializer="zeros", trainable=True)

    def call(self, x):
        spatial = tuple(range(1, len(x.shape) - 1))
        gx = keras.ops.sqrt(keras.ops.sum(keras.ops.square(x), axis=spatial, keepdims=True))
        nx = gx / (keras.ops.mean(gx, axis=-1, keepdims=True) + self.epsilon)
        return self.gamma * (x * nx) + self.beta + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


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
