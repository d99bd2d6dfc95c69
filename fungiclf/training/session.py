"""A fresh Keras session before each model a process trains (each job of a sweep, each CV
fold, a refit), so that a long single-process sweep does not grow from model to model.

On TensorFlow, ``keras.backend.clear_session()`` is not enough. Every traced train step
calls ``tf.custom_gradient`` (Keras' optimizer all-reduces its gradients through it, even on
one device), and TensorFlow registers each such call's gradient closure in a process-wide
registry it never prunes (tensorflow/tensorflow#97697, #27492). The closure holds the
traced graph, so every finished model's train step, with its functions in TensorFlow's
runtime, stayed alive: 15-20 MB per model of the report CNN. ``fresh_session`` drops those
closures too. A closure is only looked up while its own train step is being traced, so
dropping the ones of models whose tracing has finished changes nothing they compute.
"""

import gc
import sys

import keras

_CUSTOM_GRADIENT = "CustomGradient-"
# Entries registered before fungiclf's first session are somebody else's: never dropped.
_present_before_first_session: frozenset[str] | None = None


def fresh_session() -> None:
    """Clear Keras' global state and, on TensorFlow, the gradient closures that tracing earlier
    models registered; then collect the freed graphs."""
    keras.backend.clear_session(free_memory=False)
    if keras.backend.backend() == "tensorflow":
        _drop_traced_custom_gradients()
    gc.collect()


def _drop_traced_custom_gradients() -> None:
    global _present_before_first_session
    # Read from sys.modules: the TensorFlow backend has imported it; fungiclf never imports
    # TensorFlow itself. A TensorFlow without this private registry has nothing to drop.
    ops = sys.modules.get("tensorflow.python.framework.ops")
    registry = getattr(getattr(ops, "gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict):
        return
    ours = [name for name in registry if isinstance(name, str) and name.startswith(_CUSTOM_GRADIENT)]
    if _present_before_first_session is None:
        _present_before_first_session = frozenset(ours)
        return
    for name in ours:
        if name not in _present_before_first_session:
            del registry[name]
