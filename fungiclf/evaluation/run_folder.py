"""Writing the run folder's files (contract in DESIGN.md), each written atomically."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from fungiclf import runs
from fungiclf.data.views import views_warning
from fungiclf.evaluation.metrics import report_table
from fungiclf.evaluation.plots import plot_confusion, plot_curves, plot_reliability
from fungiclf.evaluation.summary import majority_warning
from fungiclf.provenance import provenance, resources
from fungiclf.runs import write_csv, write_json


def labelled_matrix(cm: list[list[int]], names: list[str]) -> pd.DataFrame:
    """confusion_matrix.csv: rows true class, columns predicted class."""
    return pd.DataFrame(cm, index=names, columns=names).rename_axis("true \\ predicted").reset_index()


def positive_class(settings, names: list[str]) -> dict | None:
    """Which class of a two-class task is positive (label 1), and what made it so."""
    if len(names) != 2:
        return None
    chosen = next((c for c in settings.plan if c.key == "dataset.positive_class"), None)
    if not settings.dataset.positive_class:
        by = "label order: the second class; set dataset.positive_class to choose"
    else:
        by = f"dataset.positive_class, from {chosen.source}" if chosen else "dataset.positive_class"
    return {"name": names[1], "chosen_by": by}


def protocol_warning(settings) -> dict | None:
    """A run on a dataset's own published split (an npz's, or a published table's) that
    changes what a comparison with published numbers measures: val, weights, data."""
    if settings.dataset.source != "npz" and not settings.experiment.published:
        return None
    changes = [
        text
        for changed, text in (
            (settings.dataset.val_from_train, "val carved out of train (dataset.val_from_train)"),
            (
                settings.trainer.balance != "none",
                f"a balanced loss or sampling (trainer.balance={settings.trainer.balance})",
            ),
            (settings.filters.fraction < 1.0, f"a fraction of train (dataset.fraction={settings.filters.fraction:g})"),
            (settings.filters.drop_duplicates, "val/test duplicates dropped (dataset.drop_cross_split_duplicates)"),
        )
        if changed
    ]
    if not changes:
        return None
    return {
        "kind": "protocol",
        "message": f"not the published protocol ({'; '.join(changes)}): compare with published numbers with care",
    }


def metrics_record(settings, data, trained, timings: dict, fingerprint: str) -> dict:
    """metrics.json of a completed run (schema in DESIGN.md; keys are added, never renamed)."""
    outcome, names = trained.outcome, data.class_names
    test_counts = np.bincount(data.labels[data.index("test")], minlength=len(names))
    history = outcome.history
    metrics = {
        "status": "completed",
        "dataset": settings.dataset.name,
        "model": settings.model.name,
        "classes": names,
        "experiment": settings.experiment.name,
        "row": settings.experiment.row,
        "published_source": settings.experiment.source,
        "published": dict(settings.experiment.published),
        "baselines": {
            "majority_class": names[int(test_counts.argmax())],
            "majority_rate": float(test_counts.max() / test_counts.sum()),
            "chance_rate": 1.0 / len(names),
        },
        **{f"n_{s}": int(len(data.index(s))) for s in ("train", "val", "test")},
        "groups": {s: int(len(set(data.groups[data.index(s)]))) for s in ("train", "val", "test")},
        "skipped_files": len(data.skipped),
        "skipped": [list(s) for s in data.skipped[:100]],
        "duplicates_across_splits": data.duplicates,
        "data_quality": data.quality,
        "params": outcome.params,
        "epochs_run": None if history is None else int(len(history)),
        "best_epoch": outcome.best_epoch,
        "monitor": None if history is None else ("loss" if settings.cv.refit else settings.trainer.monitor),
        "balance": outcome.balance,
        "threshold": {"setting": settings.model.threshold, "value": outcome.threshold} if len(names) == 2 else None,
        "positive_class": positive_class(settings, names),
        "plan": [dataclasses.asdict(choice) for choice in settings.plan],
        "tta": settings.trainer.tta,
        "calibration": outcome.calibration or {"method": "none"},
        "compute": dataclasses.asdict(trained.compute) if trained.compute is not None else None,
        "timings": timings,
        "test": outcome.test,
        "val": outcome.val,
        **({"cv": trained.cv} if trained.cv is not None else {}),
        "config_fingerprint": fingerprint,
        "data_fingerprint": data.fingerprint,
        "split_fingerprint": data.split_fingerprint,
        "provenance": provenance(),
        "resources": resources(),
    }
    views = views_warning(settings, data.images.shape[1:3])
    metrics["warnings"] = [
        *data.warnings,
        *outcome.warnings,
        *filter(None, [views, majority_warning(metrics), protocol_warning(settings)]),
    ]
    return metrics


def write_run_folder(run_dir: Path, settings, data, trained, timings: dict, fingerprint: str) -> dict:
    """Every file of a completed run (DESIGN.md's run-folder contract), metrics.json last;
    returns its content."""
    outcome, names = trained.outcome, data.class_names
    write_csv(run_dir / runs.SPLIT, data.split_table())
    if len(data.removed) or "low_variance" in data.quality or settings.filters.drop_duplicates:
        write_csv(run_dir / runs.REMOVED, data.removed)
    if outcome.history is not None:
        write_csv(run_dir / runs.HISTORY, outcome.history)
        plot_curves(outcome.history, run_dir / runs.CURVES)
    write_csv(run_dir / runs.PREDICTIONS, outcome.predictions)
    write_csv(run_dir / runs.CLASS_REPORT, report_table(outcome.y_true, outcome.y_pred, names))
    write_csv(run_dir / runs.CONFUSION_CSV, labelled_matrix(outcome.test["confusion_matrix"], names))
    plot_confusion(np.array(outcome.test["confusion_matrix"]), names, run_dir / runs.CONFUSION_PNG)
    calibrated = {
        name: block
        for name, block in (("test", outcome.test), ("val", outcome.val))
        if block and "reliability" in block
    }
    if calibrated:
        plot_reliability(calibrated, run_dir / runs.RELIABILITY_PNG)
    metrics = metrics_record(settings, data, trained, timings, fingerprint)
    write_json(run_dir / runs.METRICS, metrics)
    return metrics
