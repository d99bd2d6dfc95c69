"""The callbacks of a Keras run: checkpoint, early stopping, CSV log, LR plateau, NaN guard."""

from pathlib import Path

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
        proba = self.model.predict(self.batches, verbose=0)
        pred = (proba[:, 0] >= self.threshold).astype(int) if proba.shape[1] == 1 else proba.argmax(1)
        if logs is not None:
            logs["val_f1_macro"] = float(f1_score(self.labels, pred, average="macro", zero_division=0))


def make_callbacks(run_dir: Path, monitor: str, patience: int, history_file: str, plateau: dict | None,
                   val_f1: ValMacroF1 | None, best_so_far: float | None = None,
                   select: bool = True, ema: bool = False) -> list[keras.callbacks.Callback]:
    """Callbacks in the order they must run (the F1 callback first, so the others see it).

    ``ema``: the optimizer keeps an exponential moving average of the weights; it is
    swapped in for validation, the checkpoint and the end of training (SwapEMAWeights runs
    first, so every later callback sees the averaged weights).

    ``best_so_far``: the monitored value of an earlier phase's checkpoint, which a later
    phase must beat before it overwrites model.keras. ``select=False`` (a refit without a
    validation split) leaves out the checkpoint and early stopping: every epoch runs.
    """
    mode = monitor_mode(monitor)
    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema else []
    callbacks += [val_f1] if val_f1 is not None else []
    callbacks += [keras.callbacks.TerminateOnNaN(), keras.callbacks.CSVLogger(str(run_dir / history_file))]
    if select:
        callbacks += [
            keras.callbacks.ModelCheckpoint(str(run_dir / "model.keras"), monitor=monitor, mode=mode,
                                            save_best_only=True, initial_value_threshold=best_so_far),
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience, restore_best_weights=True),
        ]
    if plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, **plateau))
    return callbacks
