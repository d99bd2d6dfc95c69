"""fungiclf: a Hydra + Keras experiment runner for microscopy and medical image classification.

Importing the package does not import Keras: the report, the data commands and the config
checks answer without it. The parts that build, train or load models (``fungiclf.models``,
``fungiclf.training``, ``fungiclf.inference``, ``fungiclf.train``) import it quietly (see
fungiclf/quiet.py). A saved model.keras loads in plain Keras after ``import fungiclf.layers``,
which registers the package's own layers.
"""

import os

# TensorFlow's C++ logging above INFO/WARNING stays on; a user's own setting wins. Set
# before anything imports keras.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fungiclf.settings import schema  # noqa: E402,F401  (stores the config schemas in Hydra's ConfigStore)

__version__ = "0.1.0"
