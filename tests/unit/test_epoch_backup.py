"""The epoch backup a killed job continues from, written off the training loop."""

import json

import keras
import numpy as np
import pytest

from fungiclf.training.resume import EpochBackup


def trained_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    x = np.random.default_rng(seed).normal(size=(32, 4)).astype("float32")
    model.fit(x, np.arange(32) % 3, epochs=2, verbose=0)
    return model


def values(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v.value) for v in [*model.variables, *model.optimizer.variables]]


def test_a_backup_restores_weights_optimizer_state_and_epoch(tmp_path):
    source = trained_model(0)
    backup = EpochBackup(tmp_path)
    backup.set_model(source)
    for epoch in range(3):  # three epochs end; only the last backup stays
        backup.on_epoch_end(epoch)
    backup.on_train_end()  # waits for the write in flight
    assert json.loads((tmp_path / "state.json").read_text()) == {"epoch": 3, "weights": "epoch-0003.npz"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0003.npz", "state.json"]

    target = trained_model(1)  # other weights, other Adam moments
    assert not all(np.array_equal(a, b) for a, b in zip(values(source), values(target)))
    restore = EpochBackup(tmp_path)
    restore.set_model(target)
    restore.on_train_begin()
    assert all(np.array_equal(a, b) for a, b in zip(values(source), values(target)))
    assert target._initial_epoch == 3


def test_a_failed_backup_write_stops_training_with_its_error(tmp_path):
    model = trained_model(0)
    blocker = tmp_path / "backup"
    blocker.write_text("a file where the backup folder should be")
    backup = EpochBackup(blocker)
    backup.set_model(model)
    backup.on_epoch_end(0)  # the write fails in its thread ...
    with pytest.raises(OSError):
        backup.on_train_end()  # ... and the training thread raises it


def test_a_backup_of_another_model_is_refused(tmp_path):
    backup = EpochBackup(tmp_path)
    backup.set_model(trained_model(0))
    backup.on_epoch_end(0)
    backup.on_train_end()
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    other.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    restore = EpochBackup(tmp_path)
    restore.set_model(other)
    with pytest.raises(ValueError, match="not this run's backup"):
        restore.on_train_begin()
