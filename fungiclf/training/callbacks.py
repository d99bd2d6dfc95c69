"""Callback pieces of a Keras run: the monitor's direction and the validation macro-F1.

The callback list itself is put together per phase in fit.py."""

import math

import keras
import numpy as np
from sklearn.metrics import f1_score

from fungiclf.errors import FungiclfError


def monitor_mode(monitor: str) -> str:
    """'min' for losses and error rates, 'max' for everything else."""
    return "min" if "loss" in monitor or "error" in monitor else "max"


class StopOnNaN(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite (Keras' TerminateOnNaN
    stops as silently as it began: the job went on to score NaN weights); ``check()`` after
    fit raises the one-line error, so the job is recorded as failed and what is on disk stays."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.bad = 0, None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad = float(loss)
            self.model.stop_training = True

    def check(self) -> None:
        if self.bad is not None:
            what = "NaN" if math.isnan(self.bad) else "infinite"
            raise FungiclfError(f"loss became {what} at epoch {self.epoch + 1}: lower optimizer.lr (or check the "
                                f"data for empty or constant images)")


class ValMacroF1(keras.callbacks.Callback):
    """Adds ``val_f1_macro`` to the epoch logs (one predict pass over the validation batches)."""

    def __init__(self, batches: keras.utils.PyDataset, labels: np.ndarray, threshold: float = 0.5) -> None:
        super().__init__()
        self.batches, self.labels, self.threshold = batches, labels, threshold

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        proba = self.model.predict(self.batches, verbose=0)[:len(self.labels)]   # batches may be padded
        pred = (proba[:, 0] >= self.threshold).astype(int) if proba.shape[1] == 1 else proba.argmax(1)
        if logs is not None:
            logs["val_f1_macro"] = float(f1_score(self.labels, pred, average="macro", zero_division=0))
