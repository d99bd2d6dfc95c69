"""Bootstrap intervals, the paired bootstrap and McNemar's test."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from fungiclf.evaluation.uncertainty import (
    bootstrap_ci,
    mcnemar_exact,
    paired_bootstrap,
    resample_weights,
    weighted_auc,
    weighted_f1_macro,
)


def noisy_predictions(n: int, seed: int = 0, classes: int = 3, skill: float = 0.35):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    proba = rng.dirichlet(np.ones(classes), n)
    proba[np.arange(n), y] += skill
    proba /= proba.sum(1, keepdims=True)
    return y, proba.argmax(1), proba


def test_weighted_metrics_equal_sklearn_on_repeated_rows():
    y, pred, proba = noisy_predictions(300)
    weights = np.random.default_rng(1).integers(0, 3, (4, 300))
    for w in weights:
        rows = np.repeat(np.arange(300), w)
        assert weighted_f1_macro(w[None], y, pred, 3)[0] == pytest.approx(
            f1_score(y[rows], pred[rows], average="macro", labels=[0, 1, 2], zero_division=0)
        )
        assert weighted_auc(w[None], y, proba)[0] == pytest.approx(
            roc_auc_score(y[rows], proba[rows], multi_class="ovr")
        )


def test_resamples_are_stratified_by_class_and_move_whole_groups():
    labels = np.array([0, 0, 0, 0, 1, 1])
    groups = np.array(["a", "a", "b", "b", "c", "d"])
    weights = resample_weights(labels, groups, 200, np.random.default_rng(0))
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 2] == weights[:, 3]).all()  # a group moves whole
    assert (weights[:, :4].sum(1) == 4).all() and (weights[:, 4:].sum(1) == 2).all()  # class sizes kept


def test_interval_contains_the_estimate_and_narrows_as_the_test_set_grows():
    widths = []
    for n in (150, 1500):
        y, pred, proba = noisy_predictions(n)
        ci = bootstrap_ci(y, pred, proba, None, seed=0)
        accuracy = float((y == pred).mean())
        assert ci["accuracy"][0] <= accuracy <= ci["accuracy"][1]
        assert ci["f1_macro"][0] <= f1_score(y, pred, average="macro") <= ci["f1_macro"][1]
        assert ci["roc_auc"][0] <= roc_auc_score(y, proba, multi_class="ovr") <= ci["roc_auc"][1]
        widths.append(ci["accuracy"][1] - ci["accuracy"][0])
    assert widths[1] < widths[0] / 2  # ~ 1 / sqrt(n): ten times the images, a third the width


def test_grouped_resampling_is_wider_with_near_duplicate_groups():
    """Ten copies of each of 60 'photographs': per-image resampling treats 600 images as
    independent, grouped resampling sees only 60, so its interval is wider."""
    y, pred, proba = noisy_predictions(60, seed=3)
    rows = np.repeat(np.arange(60), 10)
    groups = np.array([f"photo{i}" for i in rows])
    per_image = bootstrap_ci(y[rows], pred[rows], proba[rows], None)
    grouped = bootstrap_ci(y[rows], pred[rows], proba[rows], groups)
    width = {name: ci["accuracy"][1] - ci["accuracy"][0] for name, ci in (("image", per_image), ("group", grouped))}
    assert width["group"] > 2 * width["image"] and grouped["unit"] == "group"


def test_mcnemar_matches_a_hand_computed_binomial_p_value():
    # 1 image only A gets right, 9 only B: p = 2 * P(X <= 1), X ~ Bin(10, 1/2) = 2 * 11 / 1024
    a = np.array([True] * 20 + [True] + [False] * 9)
    b = np.array([True] * 20 + [False] + [True] * 9)
    result = mcnemar_exact(a, b)
    assert (result["a_only"], result["b_only"]) == (1, 9)
    assert result["p_value"] == pytest.approx(22 / 1024)
    assert mcnemar_exact(a, a)["p_value"] == 1.0


def test_paired_difference_of_identical_models_is_exactly_zero():
    y, pred, _ = noisy_predictions(200)
    result = paired_bootstrap(y, pred, pred, 3, None)
    assert result["accuracy"]["difference"] == 0 and result["accuracy"]["ci95"] == [0.0, 0.0]
    better = np.where(np.arange(200) % 2 == 0, y, pred)  # B fixes half of the rows
    result = paired_bootstrap(y, pred, better, 3, None)
    assert result["accuracy"]["ci95"][0] > 0
