"""K-fold cross-validation over train+val; the test split stays fixed and is only predicted."""

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from fungiclf.data.dataset import Dataset
from fungiclf.data.split import kfold_indices
from fungiclf.errors import ConfigError
from fungiclf.validation import check_number

log = logging.getLogger(__name__)

SUMMARY_KEYS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "roc_auc")


@dataclasses.dataclass
class Outcome:
    """One fitted model's results: val/test metrics, test predictions, history (None for sklearn).

    ``val`` is None for a refit model (it trained on val); ``epochs_to_best`` is FitResult's
    ([] for sklearn); ``threshold`` is the decision threshold on p(class 1) of a two-class model.
    """

    val: dict | None
    test: dict
    predictions: pd.DataFrame
    history: pd.DataFrame | None
    best_epoch: int | None
    params: int
    balance: dict
    train_seconds: float
    eval_seconds: float
    epochs_to_best: list[int] = dataclasses.field(default_factory=list)
    threshold: float = 0.5


def fold_dataset(data: Dataset, fit_rows: np.ndarray, holdout_rows: np.ndarray) -> Dataset:
    """The same pixels with train/val reassigned to one fold; test rows unchanged."""
    split = data.split.copy()
    split[fit_rows] = "train"
    split[holdout_rows] = "val"
    return dataclasses.replace(data, split=split)


def cross_validate(cfg: DictConfig, data: Dataset, run_dir: Path,
                   fit_and_evaluate: Callable[[DictConfig, Dataset, Path], Outcome]) -> dict:
    """Train ``cv.folds`` models on stratified (grouped) folds of train+val.

    Each fold's model selects on, and reports "val" for, its held-out fold, and also reports
    the fixed test split. Returns metrics.json's "cv" block: per-fold values, mean and sd
    (sample standard deviation) of SUMMARY_KEYS. Fold artifacts go to ``run_dir/cv/fold_<k>``.
    """
    folds = int(check_number(cfg.cv.folds, "folds", "cv", 2, integer=True))
    pool = np.sort(np.concatenate([data.index("train"), data.index("val")]))
    if folds > len(np.unique(data.groups[pool])):
        raise ConfigError(f"cv.folds={folds} is more than the {len(np.unique(data.groups[pool]))} groups in train+val")
    per_fold = []
    for k, (fit, holdout) in enumerate(kfold_indices(data.labels[pool], data.groups[pool], folds, int(cfg.seed))):
        log.info("CV fold %d/%d: %d fit, %d held out <cv.folds=%d>", k + 1, folds, len(fit), len(holdout), folds)
        keras.backend.clear_session()
        fold_dir = run_dir / "cv" / f"fold_{k + 1}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        outcome = fit_and_evaluate(cfg, fold_dataset(data, pool[fit], pool[holdout]), fold_dir)
        per_fold.append({"fold": k + 1, "n_fit": int(len(fit)), "n_holdout": int(len(holdout)),
                         "best_epoch": outcome.best_epoch, "epochs_to_best": outcome.epochs_to_best,
                         "threshold": outcome.threshold,
                         "val": {key: outcome.val.get(key) for key in SUMMARY_KEYS},
                         "test": {key: outcome.test.get(key) for key in SUMMARY_KEYS}})
    summary: dict = {"folds": folds, "per_fold": per_fold}
    for part in ("val", "test"):
        for stat, fn in (("mean", np.mean), ("sd", lambda v: np.std(v, ddof=1))):
            summary[f"{part}_{stat}"] = {
                key: float(fn(values)) if len(values := [f[part][key] for f in per_fold if f[part][key] is not None]) > 1
                else None for key in SUMMARY_KEYS}
    return summary


def wants_refit(cv: DictConfig) -> bool:
    """cv.refit, checked with cv.folds: a refit needs folds (K >= 2) to choose its epochs."""
    refit = cv.get("refit")
    if refit not in (None, True, False):
        raise ConfigError(f"cv.refit must be true or false, got {refit!r}")
    folds = check_number(cv.get("folds") or 0, "folds", "cv", 0, integer=True)
    if folds == 1:
        raise ConfigError("cv.folds=1 is not cross-validation: use 0 (off) or K >= 2")
    if refit and not folds:
        raise ConfigError("cv.refit=true needs cv.folds=K (K >= 2): the folds choose how long the refit trains")
    return bool(refit)


def refit_dataset(data: Dataset) -> Dataset:
    """The same pixels with val folded into train: a refit trains on train+val, and has no val."""
    split = np.where(np.isin(data.split, ["train", "val"]), "train", data.split)
    return dataclasses.replace(data, split=split)


def refit_epochs(cv_summary: dict) -> list[int] | None:
    """Epochs per phase for a Keras refit: the median over folds of each phase's epochs up
    to its best epoch (phase 1 at least 1). None for scikit-learn models (no epochs)."""
    per_phase = [fold["epochs_to_best"] for fold in cv_summary["per_fold"]]
    if not any(per_phase):
        return None
    phases = max(len(p) for p in per_phase)
    medians = [round(float(np.median([p[i] if i < len(p) else 0 for p in per_phase]))) for i in range(phases)]
    return [max(1, medians[0]), *medians[1:]]


def refit_threshold(cv_summary: dict) -> float:
    """The decision threshold of a refit whose model.threshold is chosen on val: the
    median of the folds' thresholds (the refit has no val of its own)."""
    return float(np.median([fold["threshold"] for fold in cv_summary["per_fold"]]))
