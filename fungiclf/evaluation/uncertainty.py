"""How sure a test metric is: stratified (and grouped) bootstrap confidence intervals, a
paired bootstrap for the difference of two models on the same test split, and McNemar's
exact test on per-image correctness.

A bootstrap resample is a vector of multiplicities (how often each test image is drawn),
so every statistic is a weighted one, computed for all resamples at once with numpy.
Resampling is stratified by class (each class keeps its size) and, when the test set has
groups (patches of one photograph), draws whole groups, so near-duplicates move together.
"""

import numpy as np

from fungiclf.evaluation.calibration import weighted_ece

CI_LEVEL = 0.95
N_RESAMPLES = 1000
CHUNK = 250  # resamples computed at once: bounds memory at CHUNK x N multiplicities


def resample_weights(
    labels: np.ndarray, groups: np.ndarray | None, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_resamples, N) multiplicity of each item in each stratified (grouped) bootstrap resample.

    Args:
        labels: (N,) class index per item; the strata.
        groups: (N,) group key per item, or None (every item its own group). A group's
            stratum is its most common label.
    """
    n = len(labels)
    if groups is None:
        group_of = np.arange(n)
    else:
        group_of = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1].reshape(-1)
    n_groups = int(group_of.max()) + 1 if n else 0
    votes = np.zeros((n_groups, int(labels.max()) + 1 if n else 1), np.int64)
    np.add.at(votes, (group_of, labels), 1)
    stratum = votes.argmax(1)
    draws = np.zeros((n_resamples, n_groups), np.int32)
    for cls in np.unique(stratum):
        members = np.flatnonzero(stratum == cls)
        # drawing len(members) groups with replacement = one multinomial count vector per resample
        draws[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=n_resamples)
    return draws[:, group_of]


def weighted_accuracy(weights: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """(B,) accuracy of each resample."""
    return (weights * correct).sum(1) / weights.sum(1)


def weighted_f1_macro(weights: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(B,) macro-F1 over the classes present in ``y_true`` (all of them in every stratified
    resample), as classification_metrics' f1_macro; ``n_classes`` is K, the model's outputs."""
    scores = []
    for k in np.unique(y_true) if len(y_true) else range(n_classes):
        tp = (weights * ((y_true == k) & (y_pred == k))).sum(1)
        denominator = (weights * (y_true == k)).sum(1) + (weights * (y_pred == k)).sum(1)
        scores.append(np.divide(2 * tp, denominator, out=np.zeros_like(tp, dtype=float), where=denominator > 0))
    return np.mean(scores, axis=0)


def weighted_binary_auc(weights: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """(B,) ROC-AUC with per-item weights: the weighted share of (positive, negative) pairs
    ranked correctly, ties counting half (the Mann-Whitney form)."""
    order = np.argsort(score, kind="stable")
    w, pos, s = weights[:, order].astype(float), positive[order].astype(bool), score[order]
    negative_weight = np.cumsum(w * ~pos, axis=1)  # negatives at or below each rank
    starts = np.searchsorted(s, s, side="left")  # first rank of each tie block
    ends = np.searchsorted(s, s, side="right") - 1  # last rank of each tie block
    below = np.where(starts > 0, negative_weight[:, np.maximum(starts - 1, 0)], 0.0)
    tied = negative_weight[:, ends] - below
    pairs = (w * pos * (below + 0.5 * tied)).sum(1)
    total = (w * pos).sum(1) * (w * ~pos).sum(1)
    return np.divide(pairs, total, out=np.full(len(w), np.nan), where=total > 0)


def weighted_auc(weights: np.ndarray, y_true: np.ndarray, proba: np.ndarray) -> np.ndarray | None:
    """(B,) ROC-AUC as classification_metrics defines it: binary on p(class 1), else
    one-vs-rest macro over the classes present (probabilities renormalised over them)."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if proba.shape[1] == 2:
        return weighted_binary_auc(weights, y_true == 1, proba[:, 1])
    sub = proba[:, present] / np.clip(proba[:, present].sum(1, keepdims=True), 1e-12, None)
    if len(present) == 2:  # as classification_metrics: the second present class against the first
        return weighted_binary_auc(weights, y_true == present[1], sub[:, 1])
    return np.mean([weighted_binary_auc(weights, y_true == k, sub[:, i]) for i, k in enumerate(present)], axis=0)


def _interval(values: np.ndarray) -> list[float]:
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray,
    groups: np.ndarray | None,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> dict:
    """95% percentile intervals of accuracy, macro-F1, ROC-AUC and ECE over stratified
    (grouped) bootstrap resamples of one test split: metrics.json's ``test.ci95``.

    Args:
        y_true, y_pred: (N,) class indices; proba: (N, K) probabilities (K >= 2).
        groups: (N,) group keys to resample whole, or None (resample images).
    """
    rng = np.random.default_rng(seed)
    n_classes = proba.shape[1]
    stats: dict[str, list[np.ndarray]] = {"accuracy": [], "f1_macro": [], "roc_auc": [], "ece": []}
    for start in range(0, n_resamples, CHUNK):
        weights = resample_weights(y_true, groups, min(CHUNK, n_resamples - start), rng)
        stats["accuracy"].append(weighted_accuracy(weights, y_true == y_pred))
        stats["f1_macro"].append(weighted_f1_macro(weights, y_true, y_pred, n_classes))
        stats["ece"].append(weighted_ece(weights, proba, y_true, y_pred))
        auc = weighted_auc(weights, y_true, proba)
        if auc is not None:
            stats["roc_auc"].append(auc)
    out: dict = {name: _interval(np.concatenate(values)) if values else None for name, values in stats.items()}
    out.update(
        level=CI_LEVEL,
        resamples=n_resamples,
        seed=seed,
        unit="group" if groups is not None else "image",
        stratified_by="class",
    )
    return out


def paired_bootstrap(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    n_classes: int,
    groups: np.ndarray | None,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> dict:
    """Difference B - A in accuracy and macro-F1 on one test split, with a 95% interval from
    the same stratified (grouped) resamples applied to both models."""
    rng = np.random.default_rng(seed)
    accuracy, f1 = [], []
    for start in range(0, n_resamples, CHUNK):
        weights = resample_weights(y_true, groups, min(CHUNK, n_resamples - start), rng)
        accuracy.append(weighted_accuracy(weights, pred_b == y_true) - weighted_accuracy(weights, pred_a == y_true))
        f1.append(
            weighted_f1_macro(weights, y_true, pred_b, n_classes)
            - weighted_f1_macro(weights, y_true, pred_a, n_classes)
        )
    ones = np.ones((1, len(y_true)))
    return {
        "accuracy": {
            "difference": float(np.mean(pred_b == y_true) - np.mean(pred_a == y_true)),
            "ci95": _interval(np.concatenate(accuracy)),
        },
        "f1_macro": {
            "difference": float(
                weighted_f1_macro(ones, y_true, pred_b, n_classes)[0]
                - weighted_f1_macro(ones, y_true, pred_a, n_classes)[0]
            ),
            "ci95": _interval(np.concatenate(f1)),
        },
        "resamples": n_resamples,
        "unit": "group" if groups is not None else "image",
    }


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's exact test: of the images exactly one model gets right, is the split 50/50?

    Returns the discordant counts (``a_only``: A right and B wrong; ``b_only``) and the
    two-sided binomial p-value (1.0 when there are none).
    """
    a_only = int(np.sum(correct_a & ~correct_b))
    b_only = int(np.sum(~correct_a & correct_b))
    from scipy.stats import binomtest  # scipy.stats costs 1-2 s to import: only when two runs are compared

    p = 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)
    return {"a_only": a_only, "b_only": b_only, "p_value": p}
