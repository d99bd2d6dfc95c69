"""Fitting a model: the fit loop, its callbacks, optimizers, resume state and devices."""

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
