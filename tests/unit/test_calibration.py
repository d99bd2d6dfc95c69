"""Calibration: the ECE, Brier score and NLL of a split, and temperature scaling fitted on val."""

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from fungiclf.evaluation.calibration import (
    GivenProbabilities,
    apply_temperature,
    calibration_metrics,
    fit_temperature,
    reliability_table,
    weighted_ece,
)
from fungiclf.evaluation.uncertainty import bootstrap_ci


def calibrated_sample(n: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and labels drawn from them: calibrated by construction."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(classes, 0.5), size=n)
    labels = (rng.uniform(size=(n, 1)) > proba.cumsum(1)).sum(1)
    return proba, labels


@pytest.mark.parametrize("classes", [2, 5])
def test_the_ece_of_calibrated_probabilities_is_near_zero(classes):
    proba, labels = calibrated_sample(100_000, classes)
    assert calibration_metrics(labels, proba.argmax(1), proba)["ece"] < 0.01


def test_the_ece_of_a_constant_overconfident_predictor_is_its_confidence_minus_its_accuracy():
    labels = np.array([0] * 60 + [1] * 40)
    proba = np.tile([0.9, 0.1], (100, 1))
    metrics = calibration_metrics(labels, np.zeros(100, int), proba)
    assert metrics["ece"] == pytest.approx(0.9 - 0.6)
    assert metrics["brier"] == pytest.approx(np.mean((proba[:, 1] - labels) ** 2))  # the two-class Brier
    assert metrics["nll"] == pytest.approx(-np.mean(np.log(proba[np.arange(100), labels])))


def test_past_a_two_class_threshold_the_confidence_is_that_of_the_predicted_class():
    proba = np.tile([0.7, 0.3], (10, 1))
    predicted = np.ones(10, int)  # threshold 0.25: class 1 with p = 0.3
    labels = np.array([1] * 3 + [0] * 7)
    assert calibration_metrics(labels, predicted, proba)["ece"] == pytest.approx(0.0)
    assert reliability_table(proba, labels, predicted)["count"][4] == 10  # (0.267, 0.333]


def test_the_ece_interval_resamples_the_same_statistic():
    proba, labels = calibrated_sample(400, 3, seed=1)
    proba = proba**2 / (proba**2).sum(1, keepdims=True)  # overconfident
    predicted = proba.argmax(1)
    point = calibration_metrics(labels, predicted, proba)["ece"]
    assert weighted_ece(np.ones((1, 400)), proba, labels, predicted)[0] == pytest.approx(point)
    low, high = bootstrap_ci(labels, predicted, proba, None, seed=0)["ece"]
    assert low < point < high


def test_temperature_scaling_recovers_the_temperature_lowers_val_nll_and_keeps_every_prediction():
    proba, labels = calibrated_sample(6000, 5, seed=2)
    sharpened = proba**3 / (proba**3).sum(1, keepdims=True)  # a model three times too sure
    val, test = slice(0, 3000), slice(3000, None)
    temperature = fit_temperature(sharpened[val], labels[val])
    assert temperature == pytest.approx(3.0, rel=0.1)
    before = calibration_metrics(labels[val], sharpened[val].argmax(1), sharpened[val])
    scaled = apply_temperature(sharpened[val], temperature)
    after = calibration_metrics(labels[val], scaled.argmax(1), scaled)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]
    assert (scaled.argmax(1) == sharpened[val].argmax(1)).all()  # accuracy unchanged
    # applied as scikit-learn's own calibrated classifier applies it
    reference = CalibratedClassifierCV(
        FrozenEstimator(GivenProbabilities().fit(sharpened, labels)), method="temperature"
    )
    reference.fit(sharpened[val], labels[val])
    assert np.allclose(apply_temperature(sharpened[test], temperature), reference.predict_proba(sharpened[test]))


def test_a_sigmoid_heads_outputs_keep_their_layout():
    p = np.array([[0.9], [0.2], [0.5]])
    scaled = apply_temperature(p, 2.0)
    assert scaled.shape == (3, 1) and scaled[2, 0] == pytest.approx(0.5)  # the 0.5 cut stays
    assert scaled[0, 0] == pytest.approx(0.75)  # sqrt(0.9) / (sqrt(0.9) + sqrt(0.1))


def test_a_temperature_from_few_val_images_or_far_from_one_is_flagged():
    from fungiclf.training.run import temperature_warning

    assert temperature_warning(0.56, 524) is None  # PneumoniaMNIST's
    assert "T = 0.047 fitted on 32 val images" in temperature_warning(0.047, 32)["message"]
    assert temperature_warning(1.0, 32)["kind"] == "calibration"
    assert temperature_warning(6.0, 5000)["kind"] == "calibration"
