"""Callback pieces of a Keras run: the monitor's direction and the validation macro-F1.

The callback list itself is put together per phase in fit.py."""

import keras
import numpy as np
from sklearn.metrics import f1_score


def monitor_mode(monitor: str) -> str:
    """'min' for losses and error rates, 'max' for everything else."""
    return "min" if "loss" in monitor or "error" in monitor else "max"


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
