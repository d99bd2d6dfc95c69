"""Classification metrics from labels and probabilities, all computed by scikit-learn."""

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from fungiclf.evaluation.calibration import calibration_metrics


def as_two_columns(proba: np.ndarray) -> np.ndarray:
    """(N, 1) sigmoid outputs -> (N, 2) [p(class 0), p(class 1)]; (N, K) passes through."""
    proba = np.asarray(proba, dtype=np.float64)
    return np.concatenate([1 - proba, proba], axis=1) if proba.shape[1] == 1 else proba


def predict_labels(proba: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Predicted class per row: for one sigmoid column p(class 1) >= threshold; for two
    columns the argmax at the default 0.5 (a tie goes to class 0, as the estimator's own
    predict does) and p(class 1) >= threshold otherwise; for more classes the argmax."""
    proba = np.asarray(proba)
    if proba.shape[1] == 1 or (proba.shape[1] == 2 and threshold != 0.5):
        return (proba[:, -1] >= threshold).astype(np.int64)
    return proba.argmax(1)


THRESHOLD_RULES = ["val_youden", "val_accuracy", "val_f1_macro"]


def choose_threshold(y_true: np.ndarray, p_pos: np.ndarray, rule: str) -> float:
    """The decision threshold on p(class 1) that maximises ``rule`` on these (validation) rows.

    Rules: "val_youden" (sensitivity + specificity - 1, i.e. balanced accuracy: robust to a
    test set whose class shares differ), "val_accuracy", "val_f1_macro". The returned value
    lies halfway between the two scores it separates, so it does not sit on a score.
    """
    y_true, p_pos = np.asarray(y_true).astype(int), np.asarray(p_pos, dtype=np.float64)
    order = np.argsort(-p_pos, kind="stable")
    scores, positive = p_pos[order], y_true[order]
    n, n_pos = len(scores), int(positive.sum())
    n_neg = n - n_pos
    # cut k: the k highest scores are called positive (k = 0..n); only cuts between distinct scores count
    tp = np.concatenate([[0], np.cumsum(positive)])
    fp = np.arange(n + 1) - tp
    valid = np.ones(n + 1, bool)
    valid[1:n] = scores[:-1] != scores[1:]
    tn, fn = n_neg - fp, n_pos - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        if rule == "val_youden":
            value = np.nan_to_num(tp / n_pos) + np.nan_to_num(tn / n_neg)
        elif rule == "val_accuracy":
            value = (tp + tn) / n
        elif rule == "val_f1_macro":
            value = np.nan_to_num(2 * tp / (2 * tp + fp + fn)) + np.nan_to_num(2 * tn / (2 * tn + fn + fp))
        else:
            raise ValueError(f"unknown threshold rule {rule!r}; rules: {THRESHOLD_RULES}")
    value = np.where(valid, value, -np.inf)
    best = int(np.argmax(value))  # first best: the highest threshold among equals
    upper = 1.0 if best == 0 else scores[best - 1]
    lower = 0.0 if best == n else scores[best]
    return float((upper + lower) / 2)


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> float | None:
    """ROC-AUC (binary), or one-vs-rest macro over classes present; None if undefined."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if n_classes == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    if len(present) < n_classes:  # OvR over the classes present, renormalised
        sub = proba[:, present] / np.clip(proba[:, present].sum(1, keepdims=True), 1e-12, None)
        if len(present) == 2:  # two classes left: a binary AUC of the second against the first
            return float(roc_auc_score(y_true == present[1], sub[:, 1]))
        return float(roc_auc_score(y_true, sub, multi_class="ovr", average="macro", labels=present))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", average="macro"))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict:
    """The metrics block of metrics.json for one split.

    Args:
        y_true, y_pred: (N,) int class indices.
        proba: (N, K) class probabilities (use as_two_columns for a sigmoid head).
        class_names: K names; with two classes, the second is the positive class.

    A class with no image in ``y_true`` (labelled images of some classes only) has no
    recall: its per-class recall and F1 are None, and the macro and weighted averages are
    over the classes present (``averaged_over`` names them when that is not all K), as the
    ROC-AUC is. ``ece``, ``brier`` and ``nll`` say how well the probabilities are calibrated
    (evaluation/calibration.py).
    """
    labels = list(range(len(class_names)))
    present = [int(c) for c in np.unique(y_true)] or labels
    out: dict = {"accuracy": float(accuracy_score(y_true, y_pred)), "n": int(len(y_true))}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average=average, zero_division=0)
        out.update({f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)})
    if len(present) < len(class_names):
        out["averaged_over"] = [class_names[c] for c in present]
    auc = _roc_auc(y_true, proba, len(class_names))
    out["roc_auc"] = auc
    if len(y_true):
        out.update(calibration_metrics(y_true, y_pred, proba))
    if len(class_names) > 2:
        out["roc_auc_ovr_macro"] = auc
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    out["confusion_matrix"] = cm.tolist()
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=class_names, output_dict=True, zero_division=0
    )
    out["per_class"] = {
        name: {
            "precision": float(report[name]["precision"]),
            "recall": float(report[name]["recall"]) if report[name]["support"] else None,
            "f1": float(report[name]["f1-score"]) if report[name]["support"] else None,
            "support": int(report[name]["support"]),
        }
        for name in class_names
    }
    if len(class_names) == 2:
        tn, fp, fn, tp = cm.ravel()
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=[1], average=None, zero_division=0)
        out.update(
            {
                "positive_class": class_names[1],
                "precision_pos": float(p[0]),
                "recall_pos": float(r[0]),
                "f1_pos": float(f[0]),
                "false_negative_rate": float(fn / (fn + tp)) if fn + tp else None,
                "false_positive_rate": float(fp / (fp + tn)) if fp + tn else None,
                "sensitivity": float(tp / (tp + fn)) if tp + fn else None,
                "specificity": float(tn / (tn + fp)) if tn + fp else None,
            }
        )
    return out


def report_table(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """classification_report.csv as a DataFrame: per class and averages."""
    report = classification_report(
        y_true,
        y_pred,
        labels=list(range(len(class_names))),
        target_names=class_names,
        output_dict=True,
        zero_division=0,
    )
    report.pop("accuracy", None)
    return pd.DataFrame(report).T.rename_axis("class").reset_index()
