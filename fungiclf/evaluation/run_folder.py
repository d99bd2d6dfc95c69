"""Writing the run folder's files (contract in DESIGN.md), each written atomically."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from fungiclf.data.views import views_warning
from fungiclf.evaluation.metrics import report_table
from fungiclf.evaluation.plots import plot_confusion, plot_curves
from fungiclf.evaluation.summary import majority_warning
from fungiclf.provenance import provenance, resources
from fungiclf.training.compute import precision_warning
from fungiclf.training.resume import replace_atomically


def _clean(value):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: dict) -> None:
    replace_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(_clean(payload), indent=2) + "\n"))


def write_text(path: Path, text: str) -> None:
    replace_atomically(path, lambda tmp: Path(tmp).write_text(text))


def write_csv(path: Path, table: pd.DataFrame) -> None:
    replace_atomically(path, lambda tmp: table.to_csv(tmp, index=False))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    replace_atomically(path, lambda tmp: np.savez(tmp, **arrays))   # the temporary name ends in .npz: savez keeps it


def read_metrics(run_dir: Path) -> dict | None:
    """metrics.json of a run folder, or None when missing or unreadable (half-written)."""
    try:
        return json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None


def labelled_matrix(cm: list[list[int]], names: list[str]) -> pd.DataFrame:
    """confusion_matrix.csv: rows true class, columns predicted class."""
    return pd.DataFrame(cm, index=names, columns=names).rename_axis("true \\ predicted").reset_index()


def metrics_record(settings, data, trained, timings: dict, fingerprint: str) -> dict:
    """metrics.json of a completed run (schema in DESIGN.md; keys are added, never renamed)."""
    outcome, names = trained.outcome, data.class_names
    test_counts = np.bincount(data.labels[data.index("test")], minlength=len(names))
    history = outcome.history
    metrics = {
        "status": "completed",
        "dataset": settings.dataset.name, "model": settings.model.name, "classes": names,
        "experiment": settings.experiment.name, "row": settings.experiment.row,
        "published_source": settings.experiment.source, "published": dict(settings.experiment.published),
        "baselines": {"majority_class": names[int(test_counts.argmax())],
                      "majority_rate": float(test_counts.max() / test_counts.sum()), "chance_rate": 1.0 / len(names)},
        **{f"n_{s}": int(len(data.index(s))) for s in ("train", "val", "test")},
        "groups": {s: int(len(set(data.groups[data.index(s)]))) for s in ("train", "val", "test")},
        "skipped_files": len(data.skipped), "skipped": [list(s) for s in data.skipped[:100]],
        "duplicates_across_splits": data.duplicates, "data_quality": data.quality,
        "params": outcome.params,
        "epochs_run": None if history is None else int(len(history)), "best_epoch": outcome.best_epoch,
        "monitor": None if history is None else ("loss" if settings.cv.refit else settings.trainer.monitor),
        "balance": outcome.balance,
        "threshold": {"setting": settings.model.threshold, "value": outcome.threshold} if len(names) == 2 else None,
        "tta": settings.trainer.tta,
        "compute": dataclasses.asdict(trained.compute) if trained.compute is not None else None,
        "timings": timings, "test": outcome.test, "val": outcome.val,
        **({"cv": trained.cv} if trained.cv is not None else {}),
        "config_fingerprint": fingerprint,
        "data_fingerprint": data.fingerprint, "split_fingerprint": data.split_fingerprint,
        "provenance": provenance(), "resources": resources(),
    }
    compute_warning = precision_warning(trained.compute) if trained.compute is not None else None
    views = views_warning(settings, data.images.shape[1:3])
    metrics["warnings"] = [*data.warnings, *outcome.warnings,
                           *filter(None, [compute_warning, views, majority_warning(metrics)])]
    return metrics


def write_run_folder(run_dir: Path, settings, data, trained, timings: dict, fingerprint: str) -> dict:
    """Every file of a completed run (DESIGN.md's run-folder contract), metrics.json last;
    returns its content."""
    outcome, names = trained.outcome, data.class_names
    write_csv(run_dir / "split.csv", data.split_table())
    if len(data.removed) or "low_variance" in data.quality or settings.filters.drop_duplicates:
        write_csv(run_dir / "removed.csv", data.removed)
    if outcome.history is not None:
        write_csv(run_dir / "history.csv", outcome.history)
        plot_curves(outcome.history, run_dir / "curves.png")
    write_csv(run_dir / "predictions.csv", outcome.predictions)
    write_csv(run_dir / "classification_report.csv", report_table(outcome.y_true, outcome.y_pred, names))
    write_csv(run_dir / "confusion_matrix.csv", labelled_matrix(outcome.test["confusion_matrix"], names))
    plot_confusion(np.array(outcome.test["confusion_matrix"]), names, run_dir / "confusion_matrix.png")
    metrics = metrics_record(settings, data, trained, timings, fingerprint)
    write_json(run_dir / "metrics.json", metrics)
    return metrics
