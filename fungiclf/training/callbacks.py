"""Callback pieces of a Keras run: the monitor's direction and the validation macro-F1.

The callback list itself is put together per phase in fit.py."""

import logging
import math
import time

import keras
import numpy as np
from sklearn.metrics import f1_score

from fungiclf.errors import FungiclfError

log = logging.getLogger("fungiclf.training.fit")


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
            raise FungiclfError(
                f"loss became {what} at epoch {self.epoch + 1}: lower optimizer.lr (or check the "
                f"data for empty or constant images)"
            )


class ValMacroF1(keras.callbacks.Callback):
    """Adds ``val_f1_macro`` to the epoch logs (one predict pass over the validation batches)."""

    def __init__(self, batches: keras.utils.PyDataset, labels: np.ndarray, threshold: float = 0.5) -> None:
        super().__init__()
        self.batches, self.labels, self.threshold = batches, labels, threshold

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        proba = self.model.predict(self.batches, verbose=0)[: len(self.labels)]  # batches may be padded
        pred = (proba[:, 0] >= self.threshold).astype(int) if proba.shape[1] == 1 else proba.argmax(1)
        if logs is not None:
            logs["val_f1_macro"] = float(f1_score(self.labels, pred, average="macro", zero_division=0))


class WallClock(keras.callbacks.Callback):
    """Logs how long a phase will take after its first epoch, then an ETA at most once every
    ``every`` seconds. The first step of the first epoch (compilation, warm-up) is replaced by a
    steady step in the estimate; later estimates use the epochs actually timed.

    Args:
        epochs: the phase's last epoch (1-based; early stopping may end it sooner).
        every: seconds between ETA lines.
    """

    def __init__(self, epochs: int, every: float = 60.0) -> None:
        super().__init__()
        self.epochs, self.every = epochs, every
        self.durations: list[float] = []
        self.began = self.first_step = self.last_step = self.logged = 0.0
        self.steps = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.began, self.steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.last_step = time.perf_counter()
        if self.steps == 0:
            self.first_step = self.last_step
        self.steps += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        took, left = now - self.began, self.epochs - epoch - 1
        if not self.durations and self.steps > 1:  # the phase's first epoch: its first step compiled
            step = (self.last_step - self.first_step) / (self.steps - 1)
            steady = took - (self.first_step - self.began) + step
            self.durations.append(steady)
            if left:
                log.info(
                    "Epoch %d took %.1f s (its first step %.1f s, compiling); up to %d more epochs take about "
                    "%s: done near %s (early stopping may end it sooner)",
                    epoch + 1,
                    took,
                    self.first_step - self.began,
                    left,
                    duration(left * steady),
                    clock(left * steady),
                )
            self.logged = now
            return
        self.durations.append(took)
        if left and now - self.logged >= self.every:
            remaining = left * float(np.mean(self.durations[-5:]))
            log.info(
                "Epoch %d/%d: about %s left in this phase, done near %s",
                epoch + 1,
                self.epochs,
                duration(remaining),
                clock(remaining),
            )
            self.logged = now


class Deadline(keras.callbacks.Callback):
    """Ends a fit (all its phases) before the epoch that would leave too little of
    ``seconds`` to evaluate: the next epoch is assumed to take as long as the slowest so far,
    and evaluation ``eval_share`` times an epoch's validation pass (the val and test images
    times the test-time views, over the val images). The checkpoint keeps the best val epoch.

    Args:
        seconds: this fit's share of trainer.time_budget, from now.
        eval_share: evaluation time / one validation pass.
    """

    def __init__(self, seconds: float, eval_share: float) -> None:
        super().__init__()
        self.seconds, self.eval_share = seconds, eval_share
        self.end = time.monotonic() + seconds
        self.began = self.val_began = self.val_seconds = self.longest = 0.0
        self.stopped_after: int | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.began, self.val_seconds = time.monotonic(), 0.0

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.val_began = time.monotonic()

    def on_test_end(self, logs: dict | None = None) -> None:
        self.val_seconds = time.monotonic() - self.val_began

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self.began)
        evaluation = self.val_seconds * self.eval_share
        if now + self.longest + evaluation > self.end:
            self.model.stop_training = True
            self.stopped_after = epoch + 1
            log.warning(
                "trainer.time_budget: stopping after epoch %d: another epoch (%s) and the evaluation (%s) "
                "would end past this fit's %s; the best val epoch so far is kept",
                epoch + 1,
                duration(self.longest),
                duration(evaluation),
                duration(self.seconds),
            )


def duration(seconds: float) -> str:
    """12 s, 4.5 min, 2.1 h."""
    return (
        f"{seconds:.0f} s"
        if seconds < 90
        else f"{seconds / 60:.1f} min"
        if seconds < 5400
        else f"{seconds / 3600:.1f} h"
    )


def clock(seconds: float) -> str:
    """The wall-clock time ``seconds`` from now, HH:MM."""
    return time.strftime("%H:%M", time.localtime(time.time() + seconds))
