"""Imported first by each part of the package that needs Keras (models, training,
inference, the training entrypoint): Keras and its backend, imported once, quietly
(fungiclf/quiet.py). The rest of the package never imports Keras."""

from fungiclf.quiet import import_keras_quietly

import_keras_quietly()
