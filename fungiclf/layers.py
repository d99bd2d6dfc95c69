"""The package's own Keras layers, registered for saving under the "fungiclf" package.

``import fungiclf`` imports this module, so a saved ``model.keras`` loads in plain Keras
afterwards: ``import fungiclf, keras; keras.models.load_model("run/model.keras")``.
"""

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
import keras
from keras import layers, ops

# keras.applications preprocess_input per backbone name (0-255 RGB in, the backbone's scale out).
BACKBONE_PREPROCESS = {
    "vgg16": keras.applications.vgg16.preprocess_input,
    "resnet50": keras.applications.resnet.preprocess_input,
    "inceptionv3": keras.applications.inception_v3.preprocess_input,
    "xception": keras.applications.xception.preprocess_input,
    "mobilenetv2": keras.applications.mobilenet_v2.preprocess_input,
    "densenet121": keras.applications.densenet.preprocess_input,
    "efficientnetb0": keras.applications.efficientnet.preprocess_input,
}


@keras.saving.register_keras_serializable(package="fungiclf")
class RandomFlips(layers.Layer):
    """Mirror each image left-right and, independently, upside down, each with probability
    0.5 (training only). keras.layers.RandomFlip("horizontal_and_vertical") draws one coin
    for both axes (Keras 3.15), so it only ever shows an image as it is or turned by half."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.mode, self.seed = mode, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = ops.shape(inputs)[0]
        for axis, on in ((2, "horizontal" in self.mode), (1, "vertical" in self.mode)):
            if on:
                coin = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) < 0.5
                inputs = ops.where(coin, ops.flip(inputs, axis=axis), inputs)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode, "seed": self.seed}


@keras.saving.register_keras_serializable(package="fungiclf")
class RandomTranspose(layers.Layer):
    """Swap height and width of each image with probability 0.5 (square images; training only)."""

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        batch = ops.shape(inputs)[0]
        flip = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator) < 0.5
        return ops.where(flip, ops.transpose(inputs, (0, 2, 1, 3)), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="fungiclf")
class BackbonePreprocess(layers.Layer):
    """The backbone's preprocess_input on 0-255 RGB pixels, as a layer (saved with the model)."""

    def __init__(self, backbone: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.backbone = backbone

    def call(self, inputs):
        return BACKBONE_PREPROCESS[self.backbone](inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "backbone": self.backbone}


@keras.saving.register_keras_serializable(package="fungiclf")
class RandomBlur(layers.Layer):
    """Gaussian-blur each image by its own sigma, drawn from U(0, max_sigma) pixels (training
    only). keras.layers.RandomGaussianBlur draws one sigma per batch and caps it at 1 pixel.

    The blur is separable: rows and columns are each multiplied by a (side x side) Gaussian
    matrix built per image, renormalised at the borders; sigma 0 leaves the image as it is.
    Input and output: (batch, height, width, channels).
    """

    def __init__(self, max_sigma: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_sigma, self.seed = max_sigma, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @staticmethod
    def _gaussian_matrices(sigma, side: int):
        """(batch, side, side) row-normalised Gaussian weights for sigmas of shape (batch,)."""
        position = ops.cast(ops.arange(side), "float32")
        squared = ops.square(position[:, None] - position[None, :])[None]
        weights = ops.exp(-squared / (2.0 * ops.square(sigma)[:, None, None] + 1e-6))
        return weights / ops.sum(weights, axis=-1, keepdims=True)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        height, width = inputs.shape[1], inputs.shape[2]
        sigma = keras.random.uniform((ops.shape(inputs)[0],), 0.0, self.max_sigma, seed=self.seed_generator)
        images = ops.cast(inputs, "float32")
        images = ops.einsum("bij,bjwc->biwc", self._gaussian_matrices(sigma, height), images)
        images = ops.einsum("bkw,bhwc->bhkc", self._gaussian_matrices(sigma, width), images)
        return ops.cast(images, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_sigma": self.max_sigma, "seed": self.seed}
