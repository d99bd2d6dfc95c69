"""fungiclf-train: compose the config, train one model, evaluate on test, write the run folder.

    fungiclf-train                                   # default experiment (synthetic data)
    fungiclf-train dataset=image_folder dataset.path=/data/defungi
    fungiclf-train dataset=medmnist dataset.path=/data/pneumoniamnist.npz
    fungiclf-train -m model=ann,cnn optimizer=adam,sgd   # a sweep, one run folder per job
    fungiclf-train trainer=smoke                     # seconds; what CI runs
"""

import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import hydra
import keras
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from fungiclf.data.dataset import Dataset, build_dataset
from fungiclf.errors import ConfigError, FungiclfError
from fungiclf.data.views import usable_views
from fungiclf.evaluation.evaluate import evaluate_split, split_probabilities
from fungiclf.experiments import expand_row
from fungiclf.evaluation.metrics import THRESHOLD_RULES, as_two_columns, choose_threshold, report_table
from fungiclf.evaluation.plots import plot_confusion, plot_curves
from fungiclf.evaluation.run_folder import read_metrics, write_csv, write_json
from fungiclf.evaluation.summary import majority_warning, print_summary
from fungiclf.models import build_estimator, build_model, get_spec
from fungiclf.models.classical import learned_values, predict_proba
from fungiclf.provenance import provenance
from fungiclf.seeding import seed_everything
from fungiclf.smoke import apply_smoke
from fungiclf.tracking import check_logger, log_finished_run
from fungiclf.validation import check_choice, check_number
from fungiclf.training.cv import Outcome, cross_validate, refit_dataset, refit_epochs, refit_threshold, wants_refit
from fungiclf.training.fit import fit_keras
from fungiclf.training.fit_classical import fit_classical

log = logging.getLogger("fungiclf.train")

# main() names a file here; every failed job, in this process or in a launcher's worker
# process (hydra/launcher=joblib), appends its one-line error to it.
FAILURES_FILE_ENV = "FUNGICLF_FAILED_JOBS_FILE"


def config_fingerprint(cfg: DictConfig) -> str:
    """Hash of the resolved job config (``resume`` itself excluded), before smoke caps."""
    content = OmegaConf.to_container(cfg, resolve=True)
    content.pop("resume", None)
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Run one job and return its metrics.json content. Raises on failure."""
    fingerprint = config_fingerprint(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.backend.clear_session()
    seed_everything(int(cfg.seed))
    apply_smoke(cfg)
    check_logger(cfg)
    refit = wants_refit(cfg.cv)   # also checks cv.folds before any data work
    OmegaConf.save(cfg, run_dir / "config_resolved.yaml", resolve=True)  # what actually ran
    cache_dir = str(Path(cfg.paths.cache_dir).expanduser())
    timings: dict[str, float | bool] = {}

    started = time.perf_counter()
    data = build_dataset(cfg, cache_dir)
    write_csv(run_dir / "split.csv", data.split_table())
    if len(data.removed) or "low_variance" in data.quality or cfg.dataset.get("drop_cross_split_duplicates"):
        write_csv(run_dir / "removed.csv", data.removed)
    timings["data_seconds"] = time.perf_counter() - started
    timings["data_from_cache"] = data.from_cache

    started = time.perf_counter()
    if refit:  # the folds come first: they choose how many epochs the refit on train+val runs
        cv = cross_validate(cfg, data, run_dir, partial(fit_and_evaluate, intervals=False))
        timings["cv_seconds"] = time.perf_counter() - started
        keras.backend.clear_session()
        epochs, refit_data = refit_epochs(cv), refit_dataset(data)
        cv["refit"] = {"epochs_per_phase": epochs, "n_fit": len(refit_data.index("train"))}
        log.info("cv.refit=true: training the final model on train+val (%d images)%s",
                 cv["refit"]["n_fit"], f" for {epochs} epochs per phase" if epochs else "")
        rule = isinstance(cfg.model.get("threshold"), str)   # chosen on val: the folds' median
        outcome = fit_and_evaluate(cfg, refit_data, run_dir, epochs, refit_threshold(cv) if rule else None)
    else:
        outcome = fit_and_evaluate(cfg, data, run_dir)
        cv = cross_validate(cfg, data, run_dir, partial(fit_and_evaluate, intervals=False)) if int(cfg.cv.folds or 0) else None
        if cv is not None:
            timings["cv_seconds"] = time.perf_counter() - started - outcome.train_seconds - outcome.eval_seconds
    timings["train_seconds"], timings["eval_seconds"] = outcome.train_seconds, outcome.eval_seconds
    history, test, predictions = outcome.history, outcome.test, outcome.predictions

    y_true = data.labels[data.index("test")]
    y_pred = predictions["predicted"].map({n: i for i, n in enumerate(data.class_names)}).to_numpy()
    if history is not None:
        write_csv(run_dir / "history.csv", history)
        plot_curves(history, run_dir / "curves.png")
    write_csv(run_dir / "predictions.csv", predictions)
    write_csv(run_dir / "classification_report.csv", report_table(y_true, y_pred, data.class_names))
    write_csv(run_dir / "confusion_matrix.csv",
              _labelled_matrix(test["confusion_matrix"], data.class_names))
    plot_confusion(np.array(test["confusion_matrix"]), data.class_names, run_dir / "confusion_matrix.png")

    test_counts = np.bincount(y_true, minlength=len(data.class_names))
    metrics = {
        "status": "completed",
        "dataset": cfg.dataset.name, "model": cfg.model.name, "classes": data.class_names,
        "experiment": cfg.get("experiment_name"), "row": cfg.get("row"), "published_source": cfg.get("published_source"),
        "published": published_numbers(cfg),
        "baselines": {"majority_class": data.class_names[int(test_counts.argmax())],
                      "majority_rate": float(test_counts.max() / test_counts.sum()),
                      "chance_rate": 1.0 / len(data.class_names)},
        **{f"n_{s}": int(len(data.index(s))) for s in ("train", "val", "test")},
        "groups": {s: int(len(set(data.groups[data.index(s)]))) for s in ("train", "val", "test")},
        "skipped_files": len(data.skipped), "skipped": [list(s) for s in data.skipped[:100]],
        "duplicates_across_splits": data.duplicates, "data_quality": data.quality,
        "params": outcome.params,
        "epochs_run": None if history is None else int(len(history)), "best_epoch": outcome.best_epoch,
        "monitor": None if history is None else ("loss" if refit else cfg.trainer.monitor),
        "balance": outcome.balance,
        "threshold": {"setting": cfg.model.get("threshold", 0.5), "value": outcome.threshold}
        if len(data.class_names) == 2 else None,
        "tta": cfg.trainer.get("tta") or "none",
        "timings": timings, "test": test, "val": outcome.val,
        **({"cv": cv} if cv is not None else {}),
        "config_fingerprint": fingerprint,
        "data_fingerprint": data.fingerprint, "split_fingerprint": data.split_fingerprint,
        "provenance": provenance(),
    }
    metrics["warnings"] = [*data.warnings, *filter(None, [majority_warning(metrics)])]
    write_json(run_dir / "metrics.json", metrics)
    log_finished_run(cfg, run_dir, metrics, history)
    return metrics


def published_numbers(cfg: DictConfig) -> dict[str, float]:
    """The published numbers of the job's experiment row ({} without a row or numbers)."""
    row = cfg.get("row")
    published = cfg.rows[str(row)].get("published") if row is not None else None
    return dict(OmegaConf.to_container(published)) if published else {}


def fit_and_evaluate(cfg: DictConfig, data: Dataset, run_dir: Path, fixed_epochs: list[int] | None = None,
                     fixed_threshold: float | None = None, intervals: bool = True) -> Outcome:
    """Build and fit the configured model on data's train split (selecting on val), then
    predict val and test once each. Writes model.keras / model.joblib into ``run_dir``.

    A refit passes a dataset without val rows (val metrics are then None) and, for Keras
    models, ``fixed_epochs`` per phase (see fit_keras), and the folds' ``fixed_threshold``.
    ``intervals``: bootstrap confidence intervals for the test metrics (off for CV folds)."""
    started = time.perf_counter()
    classical = get_spec(cfg.model.name).kind == "sklearn"
    if classical:
        estimator, balance = fit_classical(build_estimator(cfg.model), data, cfg, run_dir)
        predict, history, best_epoch, params = partial(predict_proba, estimator), None, None, learned_values(estimator)
        epochs_to_best = []
    else:
        input_shape = tuple(int(v) for v in data.images.shape[1:])
        model = build_model(cfg.model, cfg.augment, input_shape, len(data.class_names), int(cfg.seed))
        log.info("Built <model.name=%s>: %s params, input %s", cfg.model.name, f"{model.count_params():,}", input_shape)
        result = fit_keras(model, data, cfg, run_dir, fixed_epochs)
        predict, history, best_epoch, balance = result.model.predict, result.history, result.best_epoch, result.balance
        params, epochs_to_best = int(result.model.count_params()), result.epochs_to_best
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    height, width = data.images.shape[1:3]
    views = usable_views(str(cfg.trainer.get("tta") or "none"), height, width)
    probabilities = partial(split_probabilities, predict, data, batch_size=int(cfg.trainer.batch_size),
                            flatten=classical, views=views)
    raw_val = probabilities("val") if len(data.index("val")) else None
    threshold = decision_threshold(cfg.model.get("threshold", 0.5), data, raw_val, fixed_threshold)
    val = evaluate_split(data, "val", raw_val, threshold)[0] if raw_val is not None else None
    test, predictions = evaluate_split(data, "test", probabilities("test"), threshold,
                                       int(cfg.seed) if intervals else None)
    return Outcome(val, test, predictions, history, best_epoch, params, balance, train_seconds,
                   time.perf_counter() - started, epochs_to_best, threshold)


def decision_threshold(setting, data: Dataset, raw_val: np.ndarray | None, fixed: float | None = None) -> float:
    """model.threshold: a number, or a rule (THRESHOLD_RULES) applied to the validation
    outputs of a two-class model. ``fixed`` (a refit, which has no val) wins."""
    if fixed is not None:
        return fixed
    if not isinstance(setting, str):
        return float(check_number(setting, "threshold", "model", 0.0, 1.0))
    check_choice(setting, THRESHOLD_RULES, "threshold", "model")
    if len(data.class_names) != 2:
        raise ConfigError(f"model.threshold={setting} needs a two-class task; the dataset has {len(data.class_names)}")
    chosen = choose_threshold(data.labels[data.index("val")], as_two_columns(raw_val)[:, 1], setting)
    log.info("Decision threshold %.4f chosen on val <model.threshold=%s>", chosen, setting)
    return chosen


def _labelled_matrix(cm: list[list[int]], names: list[str]) -> pd.DataFrame:
    """confusion_matrix.csv: rows true class, columns predicted class."""
    table = pd.DataFrame(cm, index=names, columns=names)
    return table.rename_axis("true \\ predicted").reset_index()


def run_job(cfg: DictConfig, run_dir: Path, task_overrides: list[str] | None = None) -> float | None:
    """Train one job; on failure write metrics.json with status "failed" and the one-line error.

    ``task_overrides`` (the job's command-line overrides) are needed when ``cfg.row``
    picks an experiment row. Returns the value of ``cfg.optimized_metric`` (for
    sweepers), or None for a failed job.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        cfg = expand_row(cfg, list(task_overrides or []))
        previous = read_metrics(run_dir) if cfg.get("resume") else None
        if previous and previous.get("status") == "completed" and \
                previous.get("config_fingerprint") == config_fingerprint(cfg):
            log.info("resume=true: %s already holds a completed run of this config; skipping it", run_dir)
            return _metric_value(previous, cfg)
        metrics = train(cfg, run_dir)
    except FungiclfError as exc:
        return _record_failure(run_dir, cfg, str(exc))
    except Exception as exc:  # a bug or a resource problem: keep the traceback in the run log
        log.exception("Job failed")
        return _record_failure(run_dir, cfg, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    print_summary(metrics, run_dir)
    return _metric_value(metrics, cfg)


def _metric_value(metrics: dict, cfg: DictConfig) -> float | None:
    """metrics[cfg.optimized_metric], a dotted key path such as "val.f1_macro"."""
    value = metrics
    for key in str(cfg.get("optimized_metric", "val.f1_macro")).split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _record_failure(run_dir: Path, cfg: DictConfig, message: str) -> None:
    message = " ".join(message.split())
    log.error("%s", message)
    write_json(run_dir / "metrics.json", {
        "status": "failed", "error": message,
        "dataset": OmegaConf.select(cfg, "dataset.name"), "model": OmegaConf.select(cfg, "model.name"),
    })
    if failures_file := os.environ.get(FAILURES_FILE_ENV):
        with open(failures_file, "a") as f:  # one short append per failed job
            f.write(f"{run_dir}: {message}\n")


@hydra.main(version_base="1.3", config_path="pkg://fungiclf.conf", config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    hydra_config = HydraConfig.get()
    return run_job(cfg, Path(hydra_config.runtime.output_dir), list(hydra_config.overrides.task))


def main() -> None:
    """Console script: run the job(s); exit 1 with one line per failed job."""
    with tempfile.NamedTemporaryFile("r", prefix="fungiclf-failed-", suffix=".txt") as failures:
        os.environ[FAILURES_FILE_ENV] = failures.name
        hydra_main()
        failed = failures.read().splitlines()
    if failed:
        print(f"fungiclf-train: {len(failed)} job(s) failed:", *failed, sep="\n  ", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
