"""scikit-learn baselines on flattened pixels scaled to [0, 1] (PneumoniaMNIST report)."""

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC


def build_logreg(**kw) -> LogisticRegression:
    """L2 logistic regression, max_iter 500 (report defaults)."""
    return LogisticRegression(**kw)


def build_linear_svm(**kw) -> LinearSVC:
    """LinearSVC, squared hinge, primal (dual=False)."""
    return LinearSVC(**kw)


def build_random_forest(**kw) -> RandomForestClassifier:
    """100 trees, entropy criterion, all cores."""
    return RandomForestClassifier(**kw)


def predict_proba(estimator: BaseEstimator, x: np.ndarray) -> np.ndarray:
    """(N, K) probabilities, or (N, 1) p(positive) for binary decision functions.

    Estimators without predict_proba (LinearSVC) get their decision function squashed:
    a logistic for two classes (p >= 0.5 exactly where the estimator predicts positive),
    a softmax over classes otherwise. Scores for ROC-AUC, not calibrated probabilities.
    """
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(x)
    scores = estimator.decision_function(x)
    return expit(scores)[:, None] if scores.ndim == 1 else softmax(scores, axis=1)


def learned_values(estimator: BaseEstimator) -> int:
    """Parameter count: coefficients + intercepts, or tree nodes for a forest."""
    if hasattr(estimator, "coef_"):
        return int(estimator.coef_.size + np.size(estimator.intercept_))
    if hasattr(estimator, "estimators_"):
        return int(sum(tree.tree_.node_count for tree in estimator.estimators_))
    return 0
