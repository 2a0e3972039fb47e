"""The one layer cnndsl adds to Keras: LRN (local response normalisation).

Keras 3 has no LRN, and a ``Lambda`` around ``tf.nn.local_response_normalization``
would tie the model to TensorFlow and would not serialize. So LRN is a small
layer written with ``keras.ops`` only; it runs on any Keras backend. It is
registered as ``cnndsl>LRN``, so ``keras.saving.load_model`` finds it once this
module has been imported (``cnndsl.backends.keras.install_import_hook`` does
that as soon as Keras is imported).

``backends.python`` copies the class below, decorator included, into the
standalone modules it writes, so the class uses only the name ``keras``.
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
