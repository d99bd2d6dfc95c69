"""The training half of a job: the final model, and the cross-validation folds around it."""

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path


from fungiclf.data.dataset import Dataset
from fungiclf.tracking import epoch_callbacks
from fungiclf.training.compute import Compute, compute_context, precision_warning
from fungiclf.training.cv import cross_validate, refit_dataset, refit_epochs, refit_threshold
from fungiclf.training.fit import plan_fit
from fungiclf.training.resume import prepare_state
from fungiclf.training.pruning import trial_callbacks
from fungiclf.training.run import Outcome, fit_and_evaluate
from fungiclf.training.session import fresh_session

log = logging.getLogger(__name__)


@dataclass
class Trained:
    """The final model's outcome, the CV block for metrics.json (None without folds), the
    seconds the folds took, and what the job computed with."""

    outcome: Outcome
    cv: dict | None
    cv_seconds: float | None
    compute: Compute | None = None


def train_job(settings, data: Dataset, run_dir: Path, fingerprint: str) -> Trained:
    """Fit and evaluate the run's own model (and CV folds) under the job's precision and
    data-parallel distribution (training/compute.py)."""
    with compute_context(settings.trainer) as compute:
        concrete = dataclasses.replace(settings, trainer=dataclasses.replace(settings.trainer, devices=compute.devices))
        trained = _final_model_and_folds(concrete, data, run_dir, fingerprint)
    trained.compute = compute
    if warning := precision_warning(compute):
        trained.outcome.warnings.append(warning)
    return trained


def _final_model_and_folds(settings, data: Dataset, run_dir: Path, fingerprint: str) -> Trained:
    """Without cv.refit the final model trains on the regular split and the folds follow. With
    cv.refit the folds come first: they choose how many epochs (and which threshold) the
    final model, trained on train+val, gets."""
    trackers = epoch_callbacks(settings.logger, run_dir)
    prepare_state(run_dir, fingerprint, settings.resume, data.fingerprint)
    if not settings.cv.refit:  # an Optuna trial's pruner watches this fit (the one on the job's own val split)
        pruning = trial_callbacks(settings.optimized_metric, settings.trainer.monitor)
        plan = plan_fit(settings.model, settings.trainer)
        outcome = fit_and_evaluate(settings, data, run_dir, plan, [*trackers, *pruning])
        if not settings.cv.folds:
            return Trained(outcome, None, None)
        started = time.perf_counter()
        cv = cross_validate(settings, data, run_dir, fingerprint)
        return Trained(outcome, cv, time.perf_counter() - started)
    started = time.perf_counter()
    cv = cross_validate(settings, data, run_dir, fingerprint)
    cv_seconds = time.perf_counter() - started
    fresh_session()
    epochs, refit_data = refit_epochs(cv), refit_dataset(data)
    cv["refit"] = {"epochs_per_phase": epochs, "n_fit": len(refit_data.index("train"))}
    log.info(
        "cv.refit=true: training the final model on train+val (%d images)%s",
        cv["refit"]["n_fit"],
        f" for {epochs} epochs per phase" if epochs else "",
    )
    threshold = refit_threshold(cv) if isinstance(settings.model.threshold, str) else None
    outcome = fit_and_evaluate(
        settings,
        refit_data,
        run_dir,
        plan_fit(settings.model, settings.trainer, epochs or [1]),
        trackers,
        fixed_threshold=threshold,
        first=False,
    )
    return Trained(outcome, cv, cv_seconds)
