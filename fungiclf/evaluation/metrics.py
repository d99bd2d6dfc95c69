"""Classification metrics from labels and probabilities, all computed by scikit-learn."""

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             precision_recall_fscore_support, roc_auc_score)


def as_two_columns(proba: np.ndarray) -> np.ndarray:
    """(N, 1) sigmoid outputs -> (N, 2) [p(class 0), p(class 1)]; (N, K) passes through."""
    proba = np.asarray(proba, dtype=np.float64)
    return np.concatenate([1 - proba, proba], axis=1) if proba.shape[1] == 1 else proba


def predict_labels(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Predicted class per row: p(class 1) >= threshold for one sigmoid column, else argmax."""
    proba = np.asarray(proba)
    return (proba[:, 0] >= threshold).astype(np.int64) if proba.shape[1] == 1 else proba.argmax(1)


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> float | None:
    """ROC-AUC (binary), or one-vs-rest macro over classes present; None if undefined."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if n_classes == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    if len(present) < n_classes:  # OvR over the classes present, renormalised
        sub = proba[:, present] / np.clip(proba[:, present].sum(1, keepdims=True), 1e-12, None)
        return float(roc_auc_score(y_true, sub, multi_class="ovr", average="macro", labels=present))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro"))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray,
                           class_names: list[str]) -> dict:
    """The metrics block of metrics.json for one split.

    Args:
        y_true, y_pred: (N,) int class indices.
        proba: (N, K) class probabilities (use as_two_columns for a sigmoid head).
        class_names: K names; with two classes, the second is the positive class.
    """
    labels = list(range(len(class_names)))
    out: dict = {"accuracy": float(accuracy_score(y_true, y_pred)), "n": int(len(y_true))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        out.update({f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)})
    auc = _roc_auc(y_true, proba, len(class_names))
    out["roc_auc"] = auc
    if len(class_names) > 2:
        out["roc_auc_ovr_macro"] = auc
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    out["confusion_matrix"] = cm.tolist()
    report = classification_report(y_true, y_pred, labels=labels, target_names=class_names,
                                   output_dict=True, zero_division=0)
    out["per_class"] = {name: {"precision": float(report[name]["precision"]), "recall": float(report[name]["recall"]),
                               "f1": float(report[name]["f1-score"]), "support": int(report[name]["support"])}
                        for name in class_names}
    if len(class_names) == 2:
        tn, fp, fn, tp = cm.ravel()
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=[1], average=None, zero_division=0)
        out.update({"positive_class": class_names[1], "precision_pos": float(p[0]), "recall_pos": float(r[0]),
                    "f1_pos": float(f[0]), "false_negative_rate": float(fn / (fn + tp)) if fn + tp else None,
                    "false_positive_rate": float(fp / (fp + tn)) if fp + tn else None})
    return out


def report_table(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """classification_report.csv as a DataFrame: per class and averages."""
    report = classification_report(y_true, y_pred, labels=list(range(len(class_names))), target_names=class_names,
                                   output_dict=True, zero_division=0)
    report.pop("accuracy", None)
    return pd.DataFrame(report).T.rename_axis("class").reset_index()
