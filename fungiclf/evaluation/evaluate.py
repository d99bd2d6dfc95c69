"""Evaluate a trained model on one split: one un-shuffled predict pass gives labels and predictions."""

import numpy as np
import pandas as pd

from fungiclf.data.batches import ArrayBatches, flat_pixels
from fungiclf.data.dataset import Dataset
from fungiclf.evaluation.metrics import as_two_columns, classification_metrics, predict_labels


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


def evaluate_split(predict_fn, data: Dataset, split: str, batch_size: int, threshold: float = 0.5,
                   flatten: bool = False) -> tuple[dict, pd.DataFrame]:
    """Metrics and the predictions table of ``split``.

    Args:
        predict_fn: maps a batch source to (N, K) or (N, 1) probabilities: ``model.predict``
            for Keras; for scikit-learn a function of a (N, D) float array (``flatten=True``).
    """
    index = data.index(split)
    if flatten:
        raw = predict_fn(flat_pixels(data.images, index))
    else:
        raw = predict_fn(ArrayBatches(data.images, data.labels, index, batch_size), verbose=0)
    y_pred = predict_labels(raw, threshold)
    proba = as_two_columns(raw)
    metrics = classification_metrics(data.labels[index], y_pred, proba, data.class_names)
    return metrics, predictions_table(data, index, proba, y_pred)
