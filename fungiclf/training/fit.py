"""Keras fit: a plan of phases (epochs, learning-rate scale, layers to unfreeze, whether to
select on val), run with checkpointing, early stopping and a state that survives a kill."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from fungiclf.data.batches import ArrayBatches
from fungiclf.data.dataset import Dataset
from fungiclf.models.applications import unfreeze_top
from fungiclf.training.balance import class_weights, oversample
from fungiclf.data.views import usable_views
from fungiclf.training.callbacks import Deadline, StopOnNaN, ValMacroF1, WallClock, monitor_mode
from fungiclf.training.optimizers import build_optimizer
from fungiclf.training.resume import (
    AtomicCheckpoint,
    EpochBackup,
    EpochSync,
    ReplayingEarlyStopping,
    ReplayingReduceLROnPlateau,
    finished_phase,
    logged_epochs,
    mark_finished,
    phase_dir,
)
from fungiclf.runs import HISTORY, KERAS_MODEL, replace_atomically

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Phase:
    """One fit phase.

    Attributes:
        number: 1, or 2 for fine-tuning.
        epochs: epochs to run (at most, when selecting).
        lr_scale: factor on optimizer.lr.
        unfreeze: backbone layers made trainable before the phase (phase 2), or None.
    """

    number: int
    epochs: int
    lr_scale: float = 1.0
    unfreeze: int | str | None = None


@dataclass(frozen=True)
class FitPlan:
    """The phases to run and how to choose the model.

    Attributes:
        phases: run in order; a phase with 0 epochs is skipped.
        select: keep the best epoch on ``monitor`` (checkpoint + early stopping); False for a
            refit, which runs every epoch and keeps the last (it has no val split).
        monitor: the val metric selected on, or "loss" for a refit.
    """

    phases: tuple[Phase, ...]
    select: bool = True
    monitor: str = "val_loss"


def plan_fit(model, trainer, fixed_epochs: list[int] | None = None) -> FitPlan:
    """The plan of ModelSettings ``model`` and TrainerSettings ``trainer``: phase 1 for
    trainer.epochs, plus model.finetune's phase 2; a refit runs ``fixed_epochs`` per phase."""
    finetune = model.finetune or {}
    epochs = list(fixed_epochs) if fixed_epochs is not None else [trainer.epochs, finetune.get("epochs", 0)]
    phases = [Phase(1, epochs[0])]
    if len(epochs) > 1 and epochs[1] > 0:
        phases.append(Phase(2, epochs[1], finetune["lr_factor"], finetune["unfreeze"]))
    if fixed_epochs is not None:
        return FitPlan(tuple(phases), select=False, monitor="loss")
    return FitPlan(tuple(phases), select=True, monitor=trainer.monitor)


@dataclass
class FitResult:
    """What training produced.

    Attributes:
        model: the network with the chosen weights (the best checkpoint, or a refit's last epoch).
        history: one row per epoch (epoch from 1, train/val loss and metrics, lr, phase).
        best_epoch: 1-based epoch of the chosen weights.
        balance: what balancing did: mode and class weights or per-class counts used.
        epochs_to_best: per phase, the epochs that phase ran up to and including the best
            epoch ([phase 1] or [phase 1, fine-tuning]); what a refit repeats.
        budget_warning: a metrics.json "warnings" entry when trainer.time_budget ended
            training early, else None.
    """

    model: keras.Model
    history: pd.DataFrame
    best_epoch: int
    balance: dict = field(default_factory=dict)
    epochs_to_best: list[int] = field(default_factory=list)
    budget_warning: dict | None = None


def training_weights(trainer, data: Dataset, index: np.ndarray, sigmoid: bool) -> tuple[np.ndarray | None, dict]:
    """(per-row sample weights or None, record for metrics.json) from class weights and pos_weight."""
    weights = class_weights(trainer, data.labels[index], data.class_names)
    if weights is None and trainer.pos_weight is None:
        return None, {}
    per_class = np.ones(len(data.class_names), dtype=np.float32)
    for c, w in (weights or {}).items():
        per_class[c] = w
    if trainer.pos_weight is not None:
        per_class[1] *= trainer.pos_weight
    record = {"class_weight": {data.class_names[c]: float(per_class[c]) for c in range(len(per_class))}}
    return per_class[data.labels], record


def compile_model(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    sigmoid: bool,
    label_smoothing: float = 0.0,
    jit_compile: str | bool = "auto",
) -> None:
    """Cross-entropy on one-hot targets (softmax) or 0/1 targets (sigmoid), so that label
    smoothing and mixed (soft) targets work alike."""
    if sigmoid:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
        metric = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric], jit_compile=jit_compile)


def training_targets(labels: np.ndarray, num_classes: int, sigmoid: bool) -> np.ndarray:
    """(N,) float 0/1 targets for a sigmoid head, else (N, K) one-hot float32 rows."""
    return labels.astype("float32") if sigmoid else np.eye(num_classes, dtype="float32")[labels]


def fit_keras(
    model: keras.Model,
    data: Dataset,
    plan: FitPlan,
    settings,
    run_dir: Path,
    trackers: list[keras.callbacks.Callback] = (),
) -> FitResult:
    """Run ``plan`` on data's train split (selecting on its val split; test is never touched).

    Each phase logs to ``<run>/.fit/phase<N>/history.csv`` and keeps a backup there, so a
    killed job continues where it stopped (training/resume.py; the caller clears the state
    unless resuming). model.keras is the best checkpoint over all phases, or a refit's
    last epoch.

    Args:
        settings: the job's Settings (trainer, optimizer, model, seed are read).
        trackers: live per-epoch callbacks (TensorBoard), one set for all phases.
    """
    trainer, sigmoid = settings.trainer, settings.model.head == "sigmoid"
    train_index = data.index("train")
    balance: dict = {"mode": trainer.balance}
    if trainer.balance == "oversample":
        train_index = oversample(train_index, data.labels, settings.seed)
        balance["counts_after"] = {
            data.class_names[c]: int(n) for c, n in zip(*np.unique(data.labels[train_index], return_counts=True))
        }
    sample_weight, record = training_weights(trainer, data, train_index, sigmoid)
    balance.update(record)
    y = training_targets(data.labels, len(data.class_names), sigmoid)
    replicas = trainer.devices if isinstance(trainer.devices, int) else 1
    train_batches = ArrayBatches(
        data.images,
        y,
        train_index,
        trainer.batch_size,
        shuffle=True,
        sample_weight=sample_weight,
        seed=settings.seed,
        mixing=trainer.mixing if trainer.mixing.active else None,
        multiple_of=replicas,
    )
    val_batches = (
        ArrayBatches(data.images, y, data.index("val"), trainer.batch_size, multiple_of=replicas)
        if plan.select
        else None
    )
    val_f1 = (
        ValMacroF1(
            val_batches,
            data.labels[data.index("val")],
            settings.model.threshold if not isinstance(settings.model.threshold, str) else 0.5,
        )
        if plan.monitor == "val_f1_macro"
        else None
    )

    deadline = fit_deadline(settings, data) if plan.select else None
    histories, best_value = [], None
    for phase in plan.phases:
        if phase.epochs <= 0:
            continue
        if phase.unfreeze is not None:  # from the best checkpoint (a refit: phase 1's last epoch)
            model = _reload(run_dir, model)
            count = unfreeze_top(model, phase.unfreeze)
            log.info("Fine-tuning: %d backbone layers trainable <model.finetune.unfreeze=%s>", count, phase.unfreeze)
        done = finished_phase(run_dir, phase.number)
        if done is None:
            best_value = run_phase(
                model,
                phase,
                plan,
                settings,
                run_dir,
                train_batches,
                val_batches,
                val_f1,
                best_value,
                [*trackers, *([deadline] if deadline else [])],
            )
        else:
            log.info("resume=true: phase %d finished before; not run again", phase.number)
            best_value = done.get("best_value")
        histories.append(logged_epochs(phase_dir(run_dir, phase.number) / HISTORY).assign(phase=phase.number))
        if deadline is not None and deadline.stopped_after is not None:
            break  # the budget is spent: no later phase
    for batches in (train_batches, val_batches):
        if batches is not None:
            batches.close()
    history = pd.concat(histories, ignore_index=True).drop(columns="epoch")
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    if not plan.select:
        if not np.isfinite(history["loss"].iloc[-1]):
            raise FloatingPointError("the refit's training loss became NaN; try a lower optimizer.lr")
        return FitResult(model, history, len(history), balance, [p.epochs for p in plan.phases])
    best, _ = _best(history, plan.monitor)
    stopped = (
        None
        if deadline is None or deadline.stopped_after is None
        else {
            "kind": "time_budget",
            "message": f"trainer.time_budget ended training after {len(history)} of "
            f"{sum(p.epochs for p in plan.phases)} epochs; the best val epoch ({best + 1}) was kept",
        }
    )
    return FitResult(
        _reload(run_dir, model), history, best + 1, balance, epochs_to_best_per_phase(history, plan.monitor), stopped
    )


def fit_deadline(settings, data: Dataset) -> Deadline | None:
    """The Deadline of trainer.time_budget for one fit (with cv.folds, each fit's equal share),
    or None without a budget."""
    budget = settings.trainer.time_budget
    if budget is None:
        return None
    fits = settings.cv.folds + 1 if settings.cv.folds else 1
    n_val = max(len(data.index("val")), 1)
    views = len(usable_views(settings.trainer.tta, *data.images.shape[1:3]))
    return Deadline(budget / fits, views * (n_val + len(data.index("test"))) / n_val)


def run_phase(
    model: keras.Model,
    phase: Phase,
    plan: FitPlan,
    settings,
    run_dir: Path,
    train_batches: ArrayBatches,
    val_batches: ArrayBatches | None,
    val_f1: ValMacroF1 | None,
    best_so_far: float | None,
    trackers,
) -> float | None:
    """Fit one phase (continuing from its backup when there is one); returns the best
    monitored value so far, which a later phase must beat to overwrite model.keras."""
    trainer, folder = settings.trainer, phase_dir(run_dir, phase.number)
    folder.mkdir(parents=True, exist_ok=True)
    optimizer = build_optimizer(settings.optimizer, len(train_batches), phase.epochs, phase.lr_scale)
    compile_model(model, optimizer, settings.model.head == "sigmoid", trainer.label_smoothing, trainer.jit_compile)
    done_epochs = EpochBackup.saved_epoch(folder)
    past = logged_epochs(folder / HISTORY)
    past = past[past["epoch"] < done_epochs] if len(past) else past
    past_logs = past.drop(columns="epoch").to_dict("records") if len(past) else []
    if done_epochs:
        log.info("resume=true: phase %d continues after epoch %d", phase.number, done_epochs)
    mode = monitor_mode(plan.monitor)
    if len(past) and plan.monitor in past:
        seen = past[plan.monitor].min() if mode == "min" else past[plan.monitor].max()
        best_so_far = seen if best_so_far is None else (min if mode == "min" else max)(best_so_far, seen)
    callbacks: list[keras.callbacks.Callback] = [EpochSync(train_batches)]
    if getattr(model.optimizer, "inner_optimizer", model.optimizer).use_ema:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if val_f1 is not None:
        callbacks.append(val_f1)
    # The history row of an epoch is written before its backup, so after a kill it is never behind it.
    stop_on_nan = StopOnNaN()
    callbacks += [
        stop_on_nan,
        WallClock(phase.epochs),
        LogLearningRate(),
        keras.callbacks.CSVLogger(str(folder / HISTORY), append=True),
    ]
    if plan.select:
        callbacks += [
            AtomicCheckpoint(
                str(run_dir / KERAS_MODEL),
                monitor=plan.monitor,
                mode=mode,
                save_best_only=True,
                initial_value_threshold=best_so_far,
            ),
            ReplayingEarlyStopping(past_logs, monitor=plan.monitor, mode=mode, patience=trainer.patience),
        ]
    if settings.optimizer.schedule == "reduce_on_plateau":
        callbacks.append(
            ReplayingReduceLROnPlateau(
                past_logs,
                monitor=plan.monitor,
                mode=mode,
                factor=settings.optimizer.plateau_factor,
                patience=settings.optimizer.plateau_patience,
                min_lr=settings.optimizer.min_lr,
            )
        )
    callbacks += [*trackers, EpochBackup(folder)]
    log.info(
        "Training <model.name=%s> phase %d for %s%d epochs, %d steps each, monitoring %s",
        settings.model.name,
        phase.number,
        "up to " if plan.select else "",
        phase.epochs,
        len(train_batches),
        plan.monitor,
    )
    # shuffle=False: ArrayBatches draws each epoch's order from (seed, epoch). Keras' own batch
    # shuffle draws from Python's global random state, which no backup holds, so a resumed
    # run trained its epochs on other batches than the uninterrupted one.
    model.fit(
        train_batches,
        validation_data=val_batches,
        epochs=phase.epochs,
        callbacks=callbacks,
        verbose=trainer.verbose,
        shuffle=False,
    )
    stop_on_nan.check()
    history = logged_epochs(folder / HISTORY)
    if plan.select and plan.monitor in history:
        values = history[plan.monitor]
        phase_best = values.min() if mode == "min" else values.max()
        best_so_far = phase_best if best_so_far is None else (min if mode == "min" else max)(best_so_far, phase_best)
    mark_finished(run_dir, phase.number, {"best_value": None if best_so_far is None else float(best_so_far)})
    if not plan.select:
        replace_atomically(run_dir / KERAS_MODEL, lambda tmp: model.save(tmp))
    return best_so_far


class LogLearningRate(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to the epoch logs (history.csv's learning_rate)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def epochs_to_best_per_phase(history: pd.DataFrame, monitor: str) -> list[int]:
    """Per phase, the epochs a refit must run to retrace the path to the best checkpoint.

    A phase before the best one counts up to its own best epoch, since the next phase
    started from that checkpoint; the best phase counts up to the best epoch; later ones 0.
    """
    best_row = _best(history, monitor)[0]
    best_phase = history["phase"].iloc[best_row]
    counts = []
    for phase, rows in history.groupby("phase", sort=True):
        if phase < best_phase:
            counts.append(_best(rows.reset_index(drop=True), monitor)[0] + 1)
        else:
            counts.append(best_row - int(rows.index[0]) + 1 if phase == best_phase else 0)
    return counts


def _best(history: pd.DataFrame, monitor: str) -> tuple[int, float]:
    """(row, value) of the best monitored epoch; a monitor always NaN is an error."""
    values = history[monitor].to_numpy(dtype=float)
    if np.isnan(values).all():
        raise FloatingPointError(f"{monitor} was NaN in every epoch (the loss diverged); try a lower optimizer.lr")
    row = int(np.nanargmin(values) if monitor_mode(monitor) == "min" else np.nanargmax(values))
    return row, float(values[row])


def _reload(run_dir: Path, model: keras.Model) -> keras.Model:
    """The best checkpoint (model.keras), or ``model`` itself if no epoch was ever saved."""
    checkpoint = run_dir / KERAS_MODEL
    return keras.models.load_model(checkpoint) if checkpoint.exists() else model
