"""Local response normalization as a weightless Keras layer (keras.ops only).

Seed 002 says AlexNet's LRN "can be implemented using the
tf.nn.local_response_normalization() function (which you can wrap in a Lambda
layer)". A Lambda around a tf.* call is backend-specific and does not
serialize, so the references use this layer instead. It implements exactly the
semantics of ``tf.nn.local_response_normalization`` on the last (channel) axis::

    sqr_sum[..., c] = sum(x[..., d] ** 2 for d in [c - r, c + r] ∩ [0, C))
    out = x / (bias + alpha * sqr_sum) ** beta

Note ``alpha`` multiplies the plain sum (TensorFlow's convention), not
``alpha / n`` as in Caffe. The defaults are the AlexNet values from seed 002
(r=2, alpha=0.00002, beta=0.75, k=1). The layer has no weights.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cnndsl_reference")
class LocalResponseNormalization(keras.layers.Layer):
    """Channel-wise LRN; ``depth_radius`` is r, ``bias`` is k."""

    def __init__(self, depth_radius=2, bias=1.0, alpha=0.00002, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        r = self.depth_radius
        channels = inputs.shape[-1]
        squared = ops.square(inputs)
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[r, r]]
        padded = ops.pad(squared, pad)
        # Window [c - r, c + r] for every channel c: sum 2r+1 shifted slices.
        sqr_sum = padded[..., 0:channels]
        for offset in range(1, 2 * r + 1):
            sqr_sum = sqr_sum + padded[..., offset:offset + channels]
        return inputs / ops.power(self.bias + self.alpha * sqr_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            depth_radius=self.depth_radius,
            bias=self.bias,
            alpha=self.alpha,
            beta=self.beta,
        )
        return config
