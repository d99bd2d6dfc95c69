"""Fit one model on a dataset's train split, then predict val and test once each."""

import dataclasses
import logging
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from fungiclf.data.dataset import Dataset
from fungiclf.data.views import usable_views
from fungiclf.evaluation.calibration import apply_temperature, calibration_metrics, fit_temperature
from fungiclf.evaluation.evaluate import evaluate_split, split_probabilities
from fungiclf.evaluation.metrics import as_two_columns, choose_threshold
from fungiclf.models import build_estimator, build_model
from fungiclf.models.classical import learned_values, predict_proba
from fungiclf.training.compute import xla_cpu_warning
from fungiclf.training.fit import FitPlan, fit_keras
from fungiclf.training.fit_classical import fit_classical
from fungiclf.training.warm_start import check_unseen_test, warm_start

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Outcome:
    """One fitted model's results.

    Attributes:
        val: val metrics, or None for a refit (it trained on val).
        test: test metrics (with ci95 for the run's own model).
        predictions: predictions.csv of the test split.
        history: per-epoch history, or None for scikit-learn models.
        best_epoch: 1-based epoch of the chosen weights (None for scikit-learn).
        params: parameter count (or learned values of an estimator).
        balance: what balancing did.
        train_seconds, eval_seconds: wall time of fitting and of predicting val and test.
        epochs_to_best: per phase, epochs up to the best one ([] for scikit-learn).
        threshold: decision threshold on p(class 1) for two classes.
        y_true, y_pred: (N_test,) class indices behind predictions.csv.
        warnings: metrics.json "warnings" entries about how the model trained.
        calibration: metrics.json "calibration" (evaluation.calibration=temperature: the
            temperature and the ECE and NLL before and after), or None.
    """

    val: dict | None
    test: dict
    predictions: pd.DataFrame
    history: pd.DataFrame | None
    best_epoch: int | None
    params: int
    balance: dict
    train_seconds: float
    eval_seconds: float
    epochs_to_best: list[int] = dataclasses.field(default_factory=list)
    threshold: float = 0.5
    y_true: np.ndarray | None = None
    y_pred: np.ndarray | None = None
    warnings: list[dict] = dataclasses.field(default_factory=list)
    calibration: dict | None = None


def fit_and_evaluate(
    settings,
    data: Dataset,
    run_dir: Path,
    plan: FitPlan,
    trackers=(),
    fixed_threshold: float | None = None,
    reported: bool = True,
    first: bool = True,
) -> Outcome:
    """Build and fit the model of Settings ``settings`` on data's train split (a Keras model
    by ``plan``), then predict val and test, averaged over the run's test-time views.

    Writes model.keras / model.joblib into ``run_dir``. ``fixed_threshold`` (a refit's,
    from its folds) replaces a threshold chosen on val. ``reported``: this model's metrics
    are the job's (its own split, or a refit; False for a CV fold): bootstrap confidence
    intervals on its test metrics, and its own warnings (a solver that did not converge)
    logged. ``first``: the job's first model, which logs the warnings every model of the job
    shares (XLA on a CPU), so that they print once per job. Outcome keeps every warning.
    """
    started = time.perf_counter()
    model_settings = settings.model
    classical = model_settings.kind == "sklearn"
    warnings: list[dict] = []

    def keep(warning: dict | None, logged: bool) -> None:
        if warning:
            if logged:
                log.warning("%s", warning["message"])
            warnings.append(warning)

    if classical:
        estimator, balance, warning = fit_classical(
            build_estimator(model_settings), data, settings.trainer, settings.seed, run_dir
        )
        keep(warning, logged=reported)
        predict, history, best_epoch, params = partial(predict_proba, estimator), None, None, learned_values(estimator)
        epochs_to_best: list[int] = []
    else:
        input_shape = tuple(int(v) for v in data.images.shape[1:])
        model = build_model(model_settings, settings.augment, input_shape, len(data.class_names), settings.seed)
        log.info(
            "Built <model.name=%s>: %s params, input %s", model_settings.name, f"{model.count_params():,}", input_shape
        )
        keep(xla_cpu_warning(model, settings.trainer.jit_compile), logged=first)  # before the slow part
        if model_settings.init is not None:
            check_unseen_test(model_settings.init, settings.dataset, data)
            log.info("%s", warm_start(model, model_settings.init))
        result = fit_keras(model, data, plan, settings, run_dir, list(trackers))
        keep(result.budget_warning, logged=False)  # the Deadline logged it when it stopped
        predict, history, best_epoch, balance = result.model.predict, result.history, result.best_epoch, result.balance
        params, epochs_to_best = int(result.model.count_params()), result.epochs_to_best
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    height, width = data.images.shape[1:3]
    replicas = settings.trainer.devices if isinstance(settings.trainer.devices, int) else 1
    probabilities = partial(
        split_probabilities,
        predict,
        data,
        batch_size=settings.trainer.batch_size,
        flatten=classical,
        views=usable_views(settings.trainer.tta, height, width),
        multiple_of=replicas,
    )
    raw_val = probabilities("val") if len(data.index("val")) else None
    raw_test = probabilities("test")
    calibration = None
    if settings.evaluation.calibration == "temperature" and raw_val is not None:
        temperature = fit_temperature(as_two_columns(raw_val), data.labels[data.index("val")])  # checked: check_task
        calibration = {"method": "temperature", "temperature": temperature}
        keep(temperature_warning(temperature, len(raw_val)), logged=reported)
        before = {"val": raw_val, "test": raw_test}
        raw_val, raw_test = apply_temperature(raw_val, temperature), apply_temperature(raw_test, temperature)
    threshold = decision_threshold(model_settings.threshold, data, raw_val, fixed_threshold)
    val = evaluate_split(data, "val", raw_val, threshold) if raw_val is not None else None
    test = evaluate_split(data, "test", raw_test, threshold, settings.seed if reported else None)
    if calibration is not None:
        calibration.update(before_and_after(data, before, {"val": val, "test": test}))
        log.info(
            "Temperature %.3f fitted on val <evaluation.calibration=temperature>: test ECE %.4f -> %.4f",
            calibration["temperature"],
            calibration["test"]["ece_before"],
            calibration["test"]["ece_after"],
        )
    return Outcome(
        val.metrics if val is not None else None,
        test.metrics,
        test.predictions,
        history,
        best_epoch,
        params,
        balance,
        train_seconds,
        time.perf_counter() - started,
        epochs_to_best,
        threshold,
        test.y_true,
        test.y_pred,
        warnings,
        calibration,
    )


FEW_VAL_IMAGES = 100  # a temperature fitted on fewer val images is flagged
TEMPERATURE_RANGE = (0.25, 4.0)  # one outside it sharpens or flattens a model's probabilities by a lot


def temperature_warning(temperature: float, n_val: int) -> dict | None:
    """A metrics.json warning when the temperature is fitted on few val images or lies far from
    1: one scalar chosen on a small or odd val split may not carry beyond it (a smoke run's 32
    val images gave T = 0.05 and a test ECE ten times worse)."""
    low, high = TEMPERATURE_RANGE
    if n_val >= FEW_VAL_IMAGES and low <= temperature <= high:
        return None
    return {
        "kind": "calibration",
        "message": f"evaluation.calibration=temperature: T = {temperature:.3g} fitted on {n_val} val images "
        f"(flagged below {FEW_VAL_IMAGES} images or outside T in [{low:g}, {high:g}]); it may not carry "
        f"beyond val: compare calibration.val's ECE before and after, or keep evaluation.calibration=none",
    }


def before_and_after(data: Dataset, before: dict[str, np.ndarray], after: dict) -> dict:
    """metrics.json's calibration.val / .test: the ECE and NLL of the outputs ``before`` the
    temperature ({split: raw outputs}) and ``after`` it ({split: Evaluation}), both at the
    run's own predictions (a temperature moves no image to another class)."""
    record = {}
    for split, evaluation in after.items():
        old = calibration_metrics(data.labels[data.index(split)], evaluation.y_pred, as_two_columns(before[split]))
        record[split] = {f"{key}_before": old[key] for key in ("ece", "nll")} | {
            f"{key}_after": evaluation.metrics[key] for key in ("ece", "nll")
        }
    return record


def decision_threshold(
    setting: float | str, data: Dataset, raw_val: np.ndarray | None, fixed: float | None = None
) -> float:
    """model.threshold: a number, or a rule applied to the val outputs of a two-class model
    (checked in resolve); ``fixed`` (a refit's, which has no val) wins."""
    if fixed is not None:
        return fixed
    if not isinstance(setting, str):
        return float(setting)
    chosen = choose_threshold(data.labels[data.index("val")], as_two_columns(raw_val)[:, 1], setting)
    log.info("Decision threshold %.4f chosen on val <model.threshold=%s>", chosen, setting)
    return chosen
