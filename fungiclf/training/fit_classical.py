"""Fit a scikit-learn estimator on the train split (flattened pixels in [0, 1])."""

import logging
from pathlib import Path

import joblib
import numpy as np
from omegaconf import DictConfig
from sklearn.base import BaseEstimator

from fungiclf.data.batches import flat_pixels
from fungiclf.data.dataset import Dataset
from fungiclf.errors import ConfigError
from fungiclf.training.balance import balance_mode, oversample

log = logging.getLogger(__name__)


def fit_classical(estimator: BaseEstimator, data: Dataset, cfg: DictConfig, run_dir: Path) -> tuple[BaseEstimator, dict]:
    """Fit on train (the val split is only evaluated), save model.joblib; returns (estimator, balance record)."""
    mode = balance_mode(cfg.trainer)
    index = data.index("train")
    record: dict = {"mode": mode}
    if mode == "class_weight":
        if cfg.trainer.get("class_weight") not in (None, "balanced"):
            raise ConfigError("scikit-learn models take trainer.class_weight=balanced or model.class_weight=balanced only")
        estimator.set_params(class_weight="balanced")
    elif mode == "oversample":
        index = oversample(index, data.labels, int(cfg.seed))
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=int(cfg.seed))
    record["estimator_class_weight"] = estimator.get_params().get("class_weight")
    log.info("Fitting <model.name=%s> on %d images of %d features", cfg.model.name, len(index),
             int(np.prod(data.images.shape[1:])))
    estimator.fit(flat_pixels(data.images, index), data.labels[index])
    # joblib files run code when loaded: load only a model.joblib you made yourself.
    joblib.dump(estimator, run_dir / "model.joblib")
    return estimator, record
