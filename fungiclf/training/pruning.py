"""Pruning an Optuna trial from its per-epoch validation metric (hparams_search=optuna).

A job launched by the study sweeper finds its trial in its environment (fungiclf/study.py);
each epoch's validation metric is reported to it, and when the study's pruner judges the trial
unpromising, training stops and the job is recorded as "pruned" (not failed)."""

import logging
import math

import keras

from fungiclf.errors import RunPruned
from fungiclf.study import TrialAddress, open_trial
from fungiclf.training.callbacks import monitor_mode

log = logging.getLogger(__name__)


def trial_callbacks(
    optimized_metric: str, monitor: str, direction: str | None = None
) -> list[keras.callbacks.Callback]:
    """[ReportToTrial] for a job that is a study's trial, else [].

    Args:
        optimized_metric: the job's optimized_metric ("val.f1_macro"): its epoch log
            ("val_f1_macro") is reported when the fit logs it, else ``monitor``.
        monitor: trainer.monitor ("val_loss"), logged every epoch.
        direction: the study's ("maximize" / "minimize"); read from the study when None.
    """
    address = TrialAddress.from_env()
    if address is None:
        return []
    trial = open_trial(address)
    direction = direction or trial.study.direction.name.lower()
    return [ReportToTrial(trial, optimized_metric, monitor, direction)]


class ReportToTrial(keras.callbacks.Callback):
    """Reports each epoch's validation metric to ``trial`` (step = epoch over all phases, from
    0) and stops the job with RunPruned when the study's pruner says so.

    The value reported is the epoch log of ``optimized_metric`` when there is one; otherwise the
    monitored metric, negated when its direction is not the study's (a loss, in a study that
    maximizes), so that the pruner always compares in the study's direction.
    """

    def __init__(self, trial, optimized_metric: str, monitor: str, direction: str) -> None:
        super().__init__()
        self.trial, self.monitor, self.direction = trial, monitor, direction
        self.wanted = optimized_metric.replace(".", "_", 1) if optimized_metric.startswith("val.") else None
        self.step = 0

    def signal(self, logs: dict) -> tuple[str, float] | None:
        """(what is reported, its value in the study's direction), or None when the epoch logged neither."""
        if self.wanted and self.wanted in logs:
            return self.wanted, float(logs[self.wanted])
        if self.monitor in logs:
            same = (monitor_mode(self.monitor) == "max") == (self.direction == "maximize")
            return (self.monitor if same else f"-{self.monitor}"), float(logs[self.monitor]) * (1 if same else -1)
        return None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        reported = self.signal(logs or {})
        step, self.step = self.step, self.step + 1
        if reported is None or not math.isfinite(reported[1]):
            return
        name, value = reported
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise RunPruned(
                f"pruned by the study's {type(self.trial.study.pruner).__name__} after epoch {step + 1}: "
                f"{name} = {value:.4f}"
            )
