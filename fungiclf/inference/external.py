"""A finished run measured on labelled images from outside its dataset (external validation:
another hospital's X-rays, another microscope's slides). Each image's class is the nearest
folder above it that is named after one of the run's classes."""

import os
from pathlib import Path

import numpy as np

from fungiclf.errors import FungiclfError
from fungiclf.evaluation.metrics import as_two_columns, classification_metrics, predict_labels
from fungiclf.evaluation.summary import majority_warning
from fungiclf.evaluation.uncertainty import bootstrap_ci


def folder_labels(paths: list[Path], classes: list[str]) -> np.ndarray:
    """(N,) class index of each image: its nearest ancestor folder named after a class
    (``ext/test/NORMAL/x.jpeg`` and ``ext/NORMAL/patient3/x.jpeg`` are both NORMAL)."""
    index = {name: i for i, name in enumerate(classes)}
    labels, unlabelled = [], []
    for path in paths:
        found = next((index[folder.name] for folder in Path(os.path.abspath(path)).parents
                      if folder.name in index), None)
        if found is None:
            unlabelled.append(path)
        labels.append(found)
    if unlabelled:
        raise FungiclfError(f"--labels: {len(unlabelled)} images are not inside a folder named after a class of the "
                            f"run ({', '.join(classes)}), e.g. {str(unlabelled[0])!r}")
    return np.array(labels, dtype=np.int64)


def external_record(y_true: np.ndarray, raw: np.ndarray, threshold: float, classes: list[str], model: str,
                    seed: int = 0) -> dict:
    """The metrics of the run's outputs ``raw`` (N, K or 1) against ``y_true`` (N,), laid out
    like metrics.json (``test`` with ``ci95`` over images, ``baselines``, ``warnings``) so
    that the run summary prints it."""
    y_pred, proba = predict_labels(raw, threshold), as_two_columns(raw)
    metrics = classification_metrics(y_true, y_pred, proba, classes)
    metrics["ci95"] = bootstrap_ci(y_true, y_pred, proba, None, seed)
    counts = np.bincount(y_true, minlength=len(classes))
    record = {"model": model, "dataset": f"{len(y_true)} labelled images", "classes": classes,
              "n_test": int(len(y_true)), "threshold": float(threshold), "test": metrics,
              "baselines": {"majority_class": classes[int(counts.argmax())],
                            "majority_rate": float(counts.max() / len(y_true))}}
    record["warnings"] = [w for w in [majority_warning(record)] if w]
    return record
