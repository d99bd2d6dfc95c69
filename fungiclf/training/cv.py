"""K-fold cross-validation over train+val; the test split stays fixed and is only predicted."""

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from fungiclf.data.dataset import Dataset
from fungiclf.data.split import kfold_indices
from fungiclf.evaluation import HEADLINE_METRICS
from fungiclf.training.fit import plan_fit
from fungiclf.runs import STATE_DIR, replace_atomically
from fungiclf.training.resume import prepare_state
from fungiclf.training.run import fit_and_evaluate
from fungiclf.training.session import fresh_session

log = logging.getLogger(__name__)


def fold_dataset(data: Dataset, fit_rows: np.ndarray, holdout_rows: np.ndarray) -> Dataset:
    """The same pixels with train/val reassigned to one fold; test rows unchanged."""
    split = data.split.copy()
    split[fit_rows] = "train"
    split[holdout_rows] = "val"
    return dataclasses.replace(data, split=split)


def cross_validate(settings, data: Dataset, run_dir: Path, fingerprint: str) -> dict:
    """Train ``cv.folds`` models on stratified (grouped) folds of train+val.

    Each fold's model selects on, and reports "val" for, its held-out fold, and also reports
    the fixed test split. Returns metrics.json's "cv" block: per-fold values, mean and sd
    (sample standard deviation) of HEADLINE_METRICS. Fold artifacts go to ``run_dir/cv/fold_<k>``;
    a finished fold's record (fold.json) lets resume=true skip it.
    """
    folds = settings.cv.folds
    pool = np.sort(np.concatenate([data.index("train"), data.index("val")]))
    per_fold = []
    for k, (fit, holdout) in enumerate(kfold_indices(data.labels[pool], data.groups[pool], folds, settings.seed)):
        fold_dir = run_dir / "cv" / f"fold_{k + 1}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        record = _finished_fold(fold_dir, fingerprint) if settings.resume else None
        if record is None:
            log.info("CV fold %d/%d: %d fit, %d held out <cv.folds=%d>", k + 1, folds, len(fit), len(holdout), folds)
            fresh_session()
            prepare_state(fold_dir, fingerprint, settings.resume, data.fingerprint)
            outcome = fit_and_evaluate(
                settings,
                fold_dataset(data, pool[fit], pool[holdout]),
                fold_dir,
                plan_fit(settings.model, settings.trainer),
                reported=False,
                first=settings.cv.refit and k == 0,
            )
            record = {
                "fold": k + 1,
                "n_fit": int(len(fit)),
                "n_holdout": int(len(holdout)),
                "best_epoch": outcome.best_epoch,
                "epochs_to_best": outcome.epochs_to_best,
                "threshold": outcome.threshold,
                "warnings": sorted({w["kind"] for w in outcome.warnings}),
                "val": {key: outcome.val.get(key) for key in HEADLINE_METRICS},
                "test": {key: outcome.test.get(key) for key in HEADLINE_METRICS},
            }
            replace_atomically(
                fold_dir / "fold.json",
                lambda tmp: Path(tmp).write_text(json.dumps({"fingerprint": fingerprint, **record})),
            )
            shutil.rmtree(fold_dir / STATE_DIR, ignore_errors=True)  # fold.json is the fold's record now
        else:
            log.info("resume=true: CV fold %d/%d finished before; not run again", k + 1, folds)
        per_fold.append(record)
    if stopped := sum("convergence" in f.get("warnings", []) for f in per_fold):
        log.warning(
            "%d of %d CV fold models stopped at model.max_iter before their solver converged "
            "(cv.per_fold warnings in metrics.json)",
            stopped,
            folds,
        )
    summary: dict = {"folds": folds, "per_fold": per_fold}
    for part in ("val", "test"):
        for stat, fn in (("mean", np.mean), ("sd", lambda v: np.std(v, ddof=1))):
            summary[f"{part}_{stat}"] = {
                key: float(fn(values))
                if len(values := [f[part][key] for f in per_fold if f[part][key] is not None]) > 1
                else None
                for key in HEADLINE_METRICS
            }
    return summary


def _finished_fold(fold_dir: Path, fingerprint: str) -> dict | None:
    try:
        record = json.loads((fold_dir / "fold.json").read_text())
    except (OSError, ValueError):
        return None
    return {k: v for k, v in record.items() if k != "fingerprint"} if record.get("fingerprint") == fingerprint else None


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
