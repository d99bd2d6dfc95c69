"""One function around Keras fit: compile, fit with callbacks, reload the best checkpoint."""

import logging

from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from fungiclf.data.batches import ArrayBatches
from fungiclf.data.dataset import Dataset
from fungiclf.data.mixing import Mixing
from fungiclf.errors import ConfigError
from fungiclf.models.applications import unfreeze_top
from fungiclf.training.balance import balance_mode, class_weights, oversample
from fungiclf.tracking import epoch_callbacks
from fungiclf.training.callbacks import ValMacroF1, make_callbacks, monitor_mode
from fungiclf.training.optimizers import build_optimizer
from fungiclf.validation import check_number

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    """What training produced.

    Attributes:
        model: the network with the best weights (reloaded from model.keras).
        history: one row per epoch (epoch from 1, train/val loss and metrics, lr).
        best_epoch: 1-based epoch of the best monitored value (the last epoch in a refit).
        balance: what balancing did: mode and class weights or per-class counts used.
        epochs_to_best: per training phase, the epochs that phase ran up to and including
            the best epoch ([phase 1] or [phase 1, fine-tuning]); what a refit repeats.
    """

    model: keras.Model
    history: pd.DataFrame
    best_epoch: int
    balance: dict = field(default_factory=dict)
    epochs_to_best: list[int] = field(default_factory=list)


def training_weights(trainer: DictConfig, data: Dataset, index: np.ndarray, sigmoid: bool) -> tuple[np.ndarray | None, dict]:
    """(per-row sample weights or None, record for metrics.json) from class weights and pos_weight."""
    weights = class_weights(trainer, data.labels[index], data.class_names)
    pos_weight = trainer.get("pos_weight")
    if pos_weight is not None and not sigmoid:
        raise ConfigError("trainer.pos_weight needs model.head=sigmoid (a binary task with one output unit)")
    if weights is None and pos_weight is None:
        return None, {}
    per_class = np.ones(len(data.class_names), dtype=np.float32)
    for c, w in (weights or {}).items():
        per_class[c] = w
    if pos_weight is not None:
        per_class[1] *= check_number(pos_weight, "pos_weight", "trainer", 0.0, low_open=True)
    record = {"class_weight": {data.class_names[c]: float(per_class[c]) for c in range(len(per_class))}}
    return per_class[data.labels], record


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer, sigmoid: bool,
                  label_smoothing: float = 0.0) -> None:
    """Cross-entropy on one-hot targets (softmax) or 0/1 targets (sigmoid), so that label
    smoothing and mixed (soft) targets work alike."""
    if sigmoid:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
        metric = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric])


def training_targets(labels: np.ndarray, num_classes: int, sigmoid: bool) -> np.ndarray:
    """(N,) float 0/1 targets for a sigmoid head, else (N, K) one-hot float32 rows."""
    return labels.astype("float32") if sigmoid else np.eye(num_classes, dtype="float32")[labels]


def mixing_settings(trainer: DictConfig) -> Mixing | None:
    """trainer.mixup / trainer.cutmix / trainer.mix_prob, validated (None when off)."""
    mixing = Mixing(mixup=float(check_number(trainer.get("mixup") or 0.0, "mixup", "trainer", 0.0)),
                    cutmix=float(check_number(trainer.get("cutmix") or 0.0, "cutmix", "trainer", 0.0)),
                    prob=float(check_number(trainer.get("mix_prob", 1.0), "mix_prob", "trainer", 0.0, 1.0)))
    return mixing if mixing.active else None


def fit_keras(model: keras.Model, data: Dataset, cfg: DictConfig, run_dir: Path,
              fixed_epochs: list[int] | None = None) -> FitResult:
    """Train on the train split, select on the val split; never touches test.

    CSVLogger writes history_phase<N>.csv while a phase runs (merged into the returned
    history afterwards); model.keras is the best checkpoint over all phases.

    ``fixed_epochs`` (a refit, which has no val split): run exactly this many epochs per
    phase, with no checkpoint selection or early stopping; the plateau schedule watches
    the training loss. model.keras is the last epoch.
    """
    trainer = cfg.trainer
    refit = fixed_epochs is not None
    epochs = fixed_epochs[0] if refit else int(check_number(trainer.epochs, "epochs", "trainer", 1, integer=True))
    batch_size = int(check_number(trainer.batch_size, "batch_size", "trainer", 1, integer=True))
    patience = int(check_number(trainer.patience, "patience", "trainer", 0, integer=True))
    sigmoid = cfg.model.get("head", "softmax") == "sigmoid"
    y = training_targets(data.labels, len(data.class_names), sigmoid)
    label_smoothing = float(check_number(trainer.get("label_smoothing") or 0.0, "label_smoothing", "trainer", 0.0, 0.5))

    train_index = data.index("train")
    balance = {"mode": balance_mode(trainer)}
    if balance["mode"] == "oversample":
        train_index = oversample(train_index, data.labels, int(cfg.seed))
        balance["counts_after"] = {data.class_names[c]: int(n) for c, n in
                                   zip(*np.unique(data.labels[train_index], return_counts=True))}
    sample_weight, record = training_weights(trainer, data, train_index, sigmoid)
    balance.update(record)

    train_batches = ArrayBatches(data.images, y, train_index, batch_size, shuffle=True,
                                 sample_weight=sample_weight, seed=int(cfg.seed), mixing=mixing_settings(trainer))
    val_batches = None if refit else ArrayBatches(data.images, y, data.index("val"), batch_size)
    monitor = "loss" if refit else trainer.monitor
    val_f1 = ValMacroF1(val_batches, data.labels[data.index("val")], cfg.model.get("threshold", 0.5)) \
        if monitor == "val_f1_macro" else None
    plateau = None
    if cfg.optimizer.get("schedule") == "reduce_on_plateau":
        plateau = {"factor": cfg.optimizer.plateau_factor, "patience": cfg.optimizer.plateau_patience,
                   "min_lr": cfg.optimizer.min_lr}

    trackers = epoch_callbacks(cfg, run_dir)  # one set for all phases: steps keep counting

    def run_phase(net: keras.Model, phase: int, phase_epochs: int, lr_scale: float, best_so_far: float | None):
        optimizer = build_optimizer(cfg.optimizer, len(train_batches), phase_epochs, lr_scale)
        compile_model(net, optimizer, sigmoid, label_smoothing)
        callbacks = make_callbacks(run_dir, monitor, patience, f"history_phase{phase}.csv", plateau, val_f1,
                                   best_so_far, select=not refit, ema=bool(optimizer.use_ema))
        callbacks += trackers
        log.info("Training <model.name=%s> phase %d for %s%d epochs, %d steps each, monitoring %s",
                 cfg.model.name, phase, "" if refit else "up to ", phase_epochs, len(train_batches), monitor)
        logged = net.fit(train_batches, validation_data=val_batches, epochs=phase_epochs, callbacks=callbacks,
                         verbose=int(trainer.verbose)).history
        (run_dir / f"history_phase{phase}.csv").unlink(missing_ok=True)  # merged into history.csv
        return pd.DataFrame(logged).assign(phase=phase)

    history = run_phase(model, 1, epochs, 1.0, None)
    finetune = cfg.model.get("finetune")
    finetune_epochs = int(finetune.get("epochs") or 0) if finetune else 0
    if refit:
        finetune_epochs = fixed_epochs[1] if len(fixed_epochs) > 1 else 0
    if finetune_epochs > 0:
        best_value = None if refit else _best(history, monitor)[1]
        model = model if refit else _reload(run_dir, model)
        count = unfreeze_top(model, finetune.unfreeze)
        log.info("Fine-tuning: %d backbone layers trainable <model.finetune.unfreeze=%s>", count, finetune.unfreeze)
        history = pd.concat([history, run_phase(model, 2, finetune_epochs, float(finetune.lr_factor),
                                                best_value)], ignore_index=True)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    if refit:
        if not np.isfinite(history["loss"].iloc[-1]):
            raise FloatingPointError("the refit's training loss became NaN; try a lower optimizer.lr")
        model.save(run_dir / "model.keras")
        return FitResult(model, history, len(history), balance, list(fixed_epochs))
    best, _ = _best(history, monitor)
    return FitResult(_reload(run_dir, model), history, best + 1, balance, epochs_to_best_per_phase(history, monitor))


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
    """(row, value) of the best monitored epoch; a monitor never logged or always NaN is an error."""
    if monitor not in history:
        raise ConfigError(f"trainer.monitor={monitor!r} is not a logged metric; logged: {sorted(history.columns)}")
    values = history[monitor].to_numpy(dtype=float)
    if np.isnan(values).all():
        raise FloatingPointError(f"{monitor} was NaN in every epoch (the loss diverged); try a lower optimizer.lr")
    row = int(np.nanargmin(values) if monitor_mode(monitor) == "min" else np.nanargmax(values))
    return row, float(values[row])


def _reload(run_dir: Path, model: keras.Model) -> keras.Model:
    """The best checkpoint (model.keras), or ``model`` itself if no epoch was ever saved."""
    checkpoint = run_dir / "model.keras"
    return keras.models.load_model(checkpoint) if checkpoint.exists() else model
