"""Fit a scikit-learn estimator on the train split (flattened pixels in [0, 1])."""

import logging
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from fungiclf.data.batches import flat_pixels
from fungiclf.data.dataset import Dataset
from fungiclf.training.balance import oversample
from fungiclf.runs import SKOPS_MODEL, save_estimator

log = logging.getLogger(__name__)


def fit_classical(
    estimator: BaseEstimator, data: Dataset, trainer, seed: int, run_dir: Path
) -> tuple[BaseEstimator, dict, dict | None]:
    """Fit on train (the val split is only evaluated) with TrainerSettings ``trainer``'s
    balancing; save model.skops (a format that loads without running code). Returns
    (estimator, balance record, the metrics.json ``convergence`` warning when the solver
    stopped at model.max_iter, else None)."""
    index = data.index("train")
    record: dict = {"mode": trainer.balance}
    if trainer.balance == "class_weight":
        estimator.set_params(class_weight="balanced")
    elif trainer.balance == "oversample":
        index = oversample(index, data.labels, seed)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    record["estimator_class_weight"] = estimator.get_params().get("class_weight")
    log.info(
        "Fitting %s on %d images of %d features (pixels as decoded: the augment group, optimizer and "
        "trainer's epoch keys are for Keras models)",
        type(estimator).__name__,
        len(index),
        int(np.prod(data.images.shape[1:])),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(flat_pixels(data.images, index), data.labels[index])
    for other in [w for w in caught if not issubclass(w.category, ConvergenceWarning)]:
        warnings.showwarning(other.message, other.category, other.filename, other.lineno)
    save_estimator(run_dir / SKOPS_MODEL, estimator)
    return estimator, record, convergence_warning(estimator, caught)


def convergence_warning(estimator: BaseEstimator, caught: list[warnings.WarningMessage]) -> dict | None:
    """One metrics.json warning for scikit-learn's multi-line ConvergenceWarning: the fit
    stopped at ``max_iter`` and its scores are those of an unfinished fit."""
    if not any(issubclass(w.category, ConvergenceWarning) for w in caught):
        return None
    return {
        "kind": "convergence",
        "message": f"{type(estimator).__name__} stopped at model.max_iter={estimator.get_params().get('max_iter')} "
        f"before its solver converged (tol {estimator.get_params().get('tol')}); "
        "raise model.max_iter, or read its scores as those of an unfinished fit",
    }
