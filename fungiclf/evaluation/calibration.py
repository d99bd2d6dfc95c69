"""Whether a model's probabilities mean what they say: the expected calibration error, the
Brier score and the negative log-likelihood of one split, the reliability diagram's bins, and
temperature scaling (evaluation.calibration=temperature).

ECE here is the top-label ECE over 15 equal-width confidence bins (Guo et al. 2017): the
images are binned by the probability of their predicted class, and the ECE is the mean over
bins, weighted by their image counts, of |accuracy - mean confidence|. The Brier score is
scikit-learn's, scaled by one half for any number of classes (for two classes the usual
mean (p - y)^2, in [0, 1]); the NLL is scikit-learn's log loss (natural log, per image).
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss, log_loss

ECE_BINS = 15
LOGIT_EPS = 1e-12  # scikit-learn's temperature scaling takes log(p + 1e-12) as a probability's logit


def confidence_bins(proba: np.ndarray, y_pred: np.ndarray, bins: int = ECE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """((N,) confidence: the probability of the predicted class (the top one, except past a
    two-class threshold other than 0.5), (N,) bin index in [0, bins)); bin b holds
    confidences in (b/bins, (b+1)/bins], the first also 0."""
    proba, y_pred = np.asarray(proba, dtype=np.float64), np.asarray(y_pred)
    confidence = proba[np.arange(len(proba)), y_pred]
    return confidence, np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)


def weighted_ece(
    weights: np.ndarray, proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, bins: int = ECE_BINS
) -> np.ndarray:
    """(B,) top-label ECE of each row of ``weights`` ((B, N) multiplicities of the N images:
    bootstrap resamples; one row of ones for the split itself).

    Args:
        proba: (N, K) probabilities; y_true, y_pred: (N,) class indices (the prediction at the
            run's threshold, so that accuracy is the run's own).
    """
    confidence, where = confidence_bins(proba, y_pred, bins)
    correct = (np.asarray(y_true) == np.asarray(y_pred)).astype(np.float64)
    members = np.eye(bins)[where]  # (N, bins) one-hot bin of each image
    weights = np.asarray(weights, dtype=np.float64)
    count = weights @ members
    gap = weights @ (members * (correct - confidence)[:, None])  # per bin: sum of (correct - confidence)
    return np.abs(gap).sum(1) / np.clip(count.sum(1), 1e-12, None)


def calibration_metrics(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray) -> dict:
    """{"ece", "brier", "nll"} of one split; ``proba``: (N, K) rows summing to 1 (K >= 2)."""
    labels = list(range(proba.shape[1]))
    clipped = np.clip(np.asarray(proba, dtype=np.float64), 1e-15, 1.0)
    clipped /= clipped.sum(1, keepdims=True)
    return {
        "ece": float(weighted_ece(np.ones((1, len(y_true))), proba, y_true, y_pred)[0]),
        "brier": float(brier_score_loss(y_true, clipped, labels=labels, scale_by_half=True)),
        "nll": float(log_loss(y_true, clipped, labels=labels)),
    }


def reliability_table(proba: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, bins: int = ECE_BINS) -> dict:
    """The reliability diagram's bins: lower/upper edges, image count, mean confidence and
    accuracy per bin (None where a bin is empty)."""
    confidence, where = confidence_bins(proba, y_pred, bins)
    correct = np.asarray(y_true) == np.asarray(y_pred)
    count = np.bincount(where, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(where, confidence, bins) / count
        accuracy = np.bincount(where, correct.astype(float), bins) / count
    edges = np.linspace(0, 1, bins + 1)
    return {
        "lower": edges[:-1].tolist(),
        "upper": edges[1:].tolist(),
        "count": count.tolist(),
        "confidence": [None if n == 0 else float(c) for n, c in zip(count, mean_confidence)],
        "accuracy": [None if n == 0 else float(a) for n, a in zip(count, accuracy)],
    }


class GivenProbabilities(ClassifierMixin, BaseEstimator):
    """A classifier whose input rows are its class probabilities: how a model's outputs are
    handed to scikit-learn's CalibratedClassifierCV."""

    def fit(self, proba: np.ndarray, y: np.ndarray) -> "GivenProbabilities":
        self.classes_ = np.arange(np.asarray(proba).shape[1])
        return self

    def predict_proba(self, proba: np.ndarray) -> np.ndarray:
        return np.asarray(proba, dtype=np.float64)

    def predict(self, proba: np.ndarray) -> np.ndarray:
        return np.asarray(proba).argmax(1)


def fit_temperature(proba: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature T that minimises the NLL of softmax(log(p) / T) on these (validation)
    rows: scikit-learn's temperature scaling (CalibratedClassifierCV, method "temperature").

    Args:
        proba: (N, K) probabilities (K >= 2; as_two_columns for a sigmoid head).
        y_true: (N,) class indices; every class of the K must occur, 5 times at least
            (scikit-learn passes the rows through its 5-fold splitter).
    """
    proba = np.asarray(proba, dtype=np.float64)
    model = GivenProbabilities().fit(proba, y_true)
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature").fit(proba, y_true)
    (scaling,) = calibrated.calibrated_classifiers_[0].calibrators
    return float(1.0 / scaling.beta_)  # beta_: the inverse temperature


def apply_temperature(raw: np.ndarray, temperature: float) -> np.ndarray:
    """Model outputs with ``temperature`` applied, in their own layout: (N, 1) p(class 1) of a
    sigmoid head, or (N, K) rows of a softmax; the predicted class of each row stays."""
    raw = np.asarray(raw, dtype=np.float64)
    two = np.concatenate([1 - raw, raw], axis=1) if raw.shape[1] == 1 else raw
    logits = np.log(two + LOGIT_EPS) / temperature
    scaled = np.exp(logits - logits.max(1, keepdims=True))
    scaled /= scaled.sum(1, keepdims=True)
    return scaled[:, 1:] if raw.shape[1] == 1 else scaled
