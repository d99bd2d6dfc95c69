import numpy as np
import pytest

from fungiclf.evaluation.metrics import as_two_columns, classification_metrics, predict_labels


def test_multiclass_metrics_match_hand_computed_confusion_matrix():
    # true 0: 3 right, 1 -> class 1 ; true 1: 2 right ; true 2: 1 right, 1 -> class 0
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 0])
    proba = np.eye(3)[y_pred]
    m = classification_metrics(y_true, y_pred, proba, ["a", "b", "c"])
    assert m["confusion_matrix"] == [[3, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(6 / 8)
    precision = [3 / 4, 2 / 3, 1 / 1]
    recall = [3 / 4, 2 / 2, 1 / 2]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall)]
    assert m["precision_macro"] == pytest.approx(np.mean(precision))
    assert m["recall_macro"] == pytest.approx(np.mean(recall))
    assert m["f1_macro"] == pytest.approx(np.mean(f1))
    assert m["f1_weighted"] == pytest.approx(np.average(f1, weights=[4, 2, 2]))
    assert m["per_class"]["c"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert "roc_auc_ovr_macro" in m and "false_negative_rate" not in m


def test_binary_metrics_false_negative_rate_and_positive_class():
    # positive = class 1: TP 3, FN 1, FP 2, TN 4
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])
    p1 = np.array([0.9, 0.8, 0.7, 0.4, 0.6, 0.55, 0.3, 0.2, 0.1, 0.05])
    m = classification_metrics(y_true, y_pred, as_two_columns(p1[:, None]), ["normal", "pneumonia"])
    assert m["false_negative_rate"] == pytest.approx(1 / 4)
    assert m["precision_pos"] == pytest.approx(3 / 5)
    assert m["recall_pos"] == pytest.approx(3 / 4)
    assert m["positive_class"] == "pneumonia"
    # ROC-AUC by counting ordered (pos, neg) pairs: 22 of 24 pairs rank the positive higher (0.4 < 0.6, 0.55)
    assert m["roc_auc"] == pytest.approx(22 / 24)


def test_threshold_decides_sigmoid_predictions():
    proba = np.array([[0.2], [0.5], [0.8]])
    assert predict_labels(proba, 0.5).tolist() == [0, 1, 1]
    assert predict_labels(proba, 0.7).tolist() == [0, 0, 1]
    assert predict_labels(np.array([[0.1, 0.9], [0.6, 0.4]])).tolist() == [1, 0]
