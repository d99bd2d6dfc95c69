"""fresh_session: a single-process sweep on TensorFlow does not keep every finished model's
traced train step alive (the growth benchmarks/sweep_memory.py measures)."""

import keras
import numpy as np
import pytest

from fungiclf.training import session
from fungiclf.training.session import fresh_session

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the registry that keeps graphs alive is TensorFlow's"
)


def _fit_small_model() -> None:
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 8, 8, 1), "float32"), np.array([0, 1, 0, 1]), epochs=1, verbose=0)


def test_models_trained_one_after_another_release_their_traced_functions(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    monkeypatch.setattr(session, "_present_before_first_session", None)

    @tf.custom_gradient
    def users_own_op(x):
        return x, lambda upstream: upstream

    tf.function(users_own_op)(tf.constant(1.0))  # traced: TensorFlow registers its gradient closure
    users_entries = {name for name in ops.gradient_registry._registry if name.startswith("CustomGradient-")}
    fresh_session()
    _fit_small_model()  # the first model also fills TensorFlow's lasting per-op caches
    fresh_session()
    runtime_functions = len(context.context().list_function_names())
    for _ in range(3):
        _fit_small_model()
        fresh_session()
        assert len(context.context().list_function_names()) == runtime_functions
    assert users_entries and users_entries <= set(ops.gradient_registry._registry)
