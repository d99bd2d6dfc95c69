"""What the per-epoch backup costs the training loop: Keras' BackupAndRestore against fungiclf's.

    .venv/bin/python benchmarks/epoch_backup.py [--epochs 20] [--epoch-seconds 0.3]
    KERAS_BACKEND=jax .venv/bin/python benchmarks/epoch_backup.py ...

The report CNN (model=cnn, 80x80 gray, 1.14 M parameters; Adam, so weights and two moments)
after one fitted batch. For --epochs epochs, alternating A B A B, the epoch-end backup is
called as fit would call it, with --epoch-seconds of idle time between epochs standing in
for training (0.3 s: 5,468 DeFungi training images at GPU.md's 18,400 img/s on a GPU):

  A  Keras' BackupAndRestore (save_freq="epoch"): model.save_weights in the training loop,
     what fungiclf ran before;
  B  fungiclf's EpochBackup: the variables copied to host memory in the loop, the file
     written by a background thread during the next epoch.

Prints the median milliseconds the loop spends in each backup, the ratio A / B, and each
as a share of an epoch of --epoch-seconds. Run by hand; not part of the tests.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import fungiclf  # noqa: F401  (first: it quiets TensorFlow's start-up before Keras is imported)
import keras
import numpy as np
from hydra import compose, initialize_config_module

from fungiclf.models import build_model
from fungiclf.settings.resolve import resolve
from fungiclf.training.resume import EpochBackup


def report_cnn() -> keras.Model:
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        settings = resolve(compose("train", overrides=["model=cnn", "augment=none"]))
    model = build_model(settings.model, settings.augment, (80, 80, 1), 5, 0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(np.zeros((32, 80, 80, 1), np.uint8), np.eye(5)[np.zeros(32, int)], verbose=0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--epoch-seconds", type=float, default=0.3)
    args = parser.parse_args()
    model = report_cnn()
    with tempfile.TemporaryDirectory() as scratch:
        keras_backup = keras.callbacks.BackupAndRestore(f"{scratch}/keras", save_freq="epoch", delete_checkpoint=False)
        ours = EpochBackup(Path(scratch) / "fungiclf")
        spent: dict[str, list[float]] = {"keras": [], "fungiclf": []}
        for callback in (keras_backup, ours):
            callback.set_model(model)
        for epoch in range(args.epochs):
            for name, callback in (("keras", keras_backup), ("fungiclf", ours)):
                time.sleep(args.epoch_seconds)  # the epoch's training
                started = time.perf_counter()
                callback.on_epoch_end(epoch)
                spent[name].append(time.perf_counter() - started)
        ours.on_train_end()
    a, b = (statistics.median(spent[name]) * 1000 for name in ("keras", "fungiclf"))
    epoch_ms = args.epoch_seconds * 1000
    print(
        f"{keras.backend.backend()}, report CNN ({model.count_params():,} parameters), {args.epochs} epochs: "
        f"backup in the training loop {a:.1f} ms (Keras BackupAndRestore, {a / epoch_ms:.1%} of a "
        f"{epoch_ms:.0f} ms epoch) against {b:.1f} ms (fungiclf EpochBackup, {b / epoch_ms:.1%}); "
        f"ratio {a / b:.1f}x (medians)"
    )


if __name__ == "__main__":
    main()
