"""Evaluate a trained model on one split: one un-shuffled predict pass (per test-time view)
gives the probabilities; labels and predictions come from the same rows."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fungiclf.data.batches import ArrayBatches, flat_pixels
from fungiclf.data.dataset import Dataset
from fungiclf.evaluation.calibration import reliability_table
from fungiclf.evaluation.metrics import as_two_columns, classification_metrics, predict_labels
from fungiclf.evaluation.uncertainty import bootstrap_ci


def predictions_table(data: Dataset, index: np.ndarray, proba: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """predictions.csv: id, [group], true, predicted, p_<class> per class."""
    names = np.array(data.class_names)
    table = pd.DataFrame({"id": [data.ids[i] for i in index]})
    if data.grouped:
        table["group"] = data.groups[index]
    table["true"] = names[data.labels[index]]
    table["predicted"] = names[y_pred]
    for k, name in enumerate(data.class_names):
        table[f"p_{name}"] = proba[:, k]
    return table


def split_probabilities(
    predict_fn: Callable,
    data: Dataset,
    split: str,
    batch_size: int,
    flatten: bool = False,
    views: tuple[int, ...] = (0,),
    multiple_of: int = 1,
) -> np.ndarray:
    """Model outputs for ``split``'s rows, averaged over the dihedral ``views``.

    Args:
        predict_fn: maps a batch source to (N, K) or (N, 1) probabilities: ``model.predict``
            for Keras; for scikit-learn a function of a (N, D) float array (``flatten=True``).
        multiple_of: data-parallel replicas (batches padded, outputs trimmed).
    Returns:
        (N, K) probabilities, or (N, 1) p(class 1) for a sigmoid head.
    """
    index = data.index(split)
    outputs = []
    for view in views:
        if flatten:
            outputs.append(predict_fn(flat_pixels(data.images, index, view)))
        else:
            batches = ArrayBatches(data.images, data.labels, index, batch_size, view=view, multiple_of=multiple_of)
            outputs.append(predict_fn(batches, verbose=0)[: len(index)])  # padding rows, if any, are last
            batches.close()
    return np.mean(np.asarray(outputs, dtype=np.float64), axis=0)


@dataclass
class Evaluation:
    """One split evaluated: metrics.json's block, predictions.csv, and the (N,) true and
    predicted class indices behind them."""

    metrics: dict
    predictions: pd.DataFrame
    y_true: np.ndarray
    y_pred: np.ndarray


def group_metrics(
    y_true: np.ndarray, raw: np.ndarray, groups: np.ndarray, threshold: float, class_names: list[str]
) -> dict | None:
    """Metrics of whole groups (a photograph's patches, a patient's X-rays): a group's outputs
    are the mean of its images' outputs (N, K or 1), classified with the same threshold, and
    scored against its images' class. None when some group holds two classes (it has no one
    class to be scored against) or when no group holds more than one image."""
    frame = pd.DataFrame(np.asarray(raw, dtype=np.float64)).assign(group=groups, label=y_true)
    by_group = frame.groupby("group", sort=True)
    if by_group["label"].nunique().max() > 1 or by_group.size().max() < 2:
        return None
    mean = by_group.mean()
    outputs = mean.drop(columns="label").to_numpy()
    metrics = classification_metrics(
        mean["label"].to_numpy().astype(np.int64),
        predict_labels(outputs, threshold),
        as_two_columns(outputs),
        class_names,
    )
    return {**metrics, "unit": "group: the mean output of its images"}


def evaluate_split(
    data: Dataset, split: str, raw: np.ndarray, threshold: float = 0.5, ci_seed: int | None = None
) -> Evaluation:
    """Metrics and the predictions table of ``split`` from its model outputs ``raw``.

    With ``ci_seed``, the metrics get ``ci95``: bootstrap intervals resampling whole groups
    when the dataset is grouped (see uncertainty.bootstrap_ci). A grouped dataset's metrics
    also get ``per_group``: the same metrics over whole groups (group_metrics). ``reliability``
    holds the reliability diagram's bins (evaluation/calibration.py).
    """
    index = data.index(split)
    y_true, y_pred, proba = data.labels[index], predict_labels(raw, threshold), as_two_columns(raw)
    metrics = classification_metrics(y_true, y_pred, proba, data.class_names)
    if len(y_true):
        metrics["reliability"] = reliability_table(proba, y_true, y_pred)  # reliability.png's bins
    if ci_seed is not None:
        metrics["ci95"] = bootstrap_ci(y_true, y_pred, proba, data.groups[index] if data.grouped else None, ci_seed)
    if data.grouped and (per_group := group_metrics(y_true, raw, data.groups[index], threshold, data.class_names)):
        metrics["per_group"] = per_group
    return Evaluation(metrics, predictions_table(data, index, proba, y_pred), y_true, y_pred)
