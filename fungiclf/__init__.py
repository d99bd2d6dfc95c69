"""fungiclf: a Hydra + Keras experiment runner for microscopy and medical image classification.

Importing the package imports Keras (quietly: see fungiclf/quiet.py) and registers the
package's own layers, so a saved model.keras loads in plain Keras after ``import fungiclf``.
"""

import os

# TensorFlow's C++ logging above INFO/WARNING stays on; a user's own setting wins. Set
# before anything imports keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fungiclf.quiet import import_keras_quietly  # noqa: E402

import_keras_quietly()

from fungiclf import layers  # noqa: E402,F401  (registers RandomTranspose, BackbonePreprocess)
from fungiclf.settings import schema  # noqa: E402,F401  (stores the config schemas in Hydra's ConfigStore)

__version__ = "0.1.0"
