"""Using a finished run: load its model and preprocessing, predict new images, explain them."""

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
