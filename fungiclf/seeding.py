"""One global seed for Python, NumPy, Keras (initialisers, keras.random) and the backend."""

import sys

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
import keras


def seed_everything(seed: int) -> None:
    """keras.utils.set_random_seed, without importing TensorFlow on the JAX or torch backend.

    Keras seeds TensorFlow whenever it is installed (for tf.data pipelines), which would
    load TensorFlow into a JAX or torch run. fungiclf feeds no tf.data on those backends,
    so there we mark Keras' lazy TensorFlow handle unavailable before seeding.
    """
    if keras.backend.backend() != "tensorflow" and "tensorflow" not in sys.modules:
        try:
            from keras.src.utils import module_utils

            if module_utils.tensorflow._available is None:
                module_utils.tensorflow._available = False
        except (ImportError, AttributeError):  # a Keras without this handle: fall through
            pass
    keras.utils.set_random_seed(int(seed))
