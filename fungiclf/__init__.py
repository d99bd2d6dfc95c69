"""fungiclf: a Hydra + Keras experiment runner for microscopy and medical image classification."""

import os

# Quiet TensorFlow's C++ start-up chatter (CUDA probing) on the default backend; set
# before anything imports keras. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
