"""A finished run measured on labelled images from outside its dataset (external validation:
another hospital's X-rays, another microscope's slides). Each image's class is the nearest
folder above it that is named after one of the run's classes."""

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from fungiclf import runs
from fungiclf.errors import FungiclfError
from fungiclf.evaluation.metrics import as_two_columns, classification_metrics, predict_labels
from fungiclf.evaluation.summary import majority_warning
from fungiclf.evaluation.uncertainty import bootstrap_ci


def folder_labels(paths: list[Path], classes: list[str]) -> np.ndarray:
    """(N,) class index of each image: its nearest ancestor folder named after a class
    (``ext/test/NORMAL/x.jpeg`` and ``ext/NORMAL/patient3/x.jpeg`` are both NORMAL)."""
    index = {name: i for i, name in enumerate(classes)}
    labels, unlabelled = [], []
    for path in paths:
        found = next(
            (index[folder.name] for folder in Path(os.path.abspath(path)).parents if folder.name in index), None
        )
        if found is None:
            unlabelled.append(path)
        labels.append(found)
    if unlabelled:
        raise FungiclfError(
            f"--labels: {len(unlabelled)} images are not inside a folder named after a class of the "
            f"run ({', '.join(classes)}), e.g. {str(unlabelled[0])!r}"
        )
    return np.array(labels, dtype=np.int64)


def seen_by_run(paths: list[Path], file_digests: list[str], folder: Path) -> dict[str, int]:
    """How many of ``paths`` the run at ``folder`` trained on or selected with: {"train": n,
    "val": n} for the items of its split.csv that it did not exclude, found by file (under its
    config_resolved.yaml dataset.path; links resolved) or by bytes (``file_digests``, one per
    path, against split.csv's file_digest: a copy under another path). Empty when none are."""
    split = folder / runs.SPLIT
    if not split.is_file():
        return {}
    rows = pd.read_csv(split, dtype=str, keep_default_na=False)
    learned = rows[rows["split"].isin(["train", "val"]) & (rows["excluded"] == "")]
    by_bytes = dict(zip(learned["file_digest"], learned["split"])) if "file_digest" in learned else {}
    source = (runs.read_config(folder).get("dataset") or {}).get("path")
    by_file = {}
    if source and Path(source).suffix == ".npz":  # rows are named data.npz:train/17
        by_file = {f"{os.path.realpath(source)}:{item}": part for item, part in zip(learned["id"], learned["split"])}
    elif source:
        root = (
            Path(source) if Path(source).is_dir() else Path(source).parent
        )  # a CSV's images are relative to its folder
        by_file = {os.path.realpath(root / item): part for item, part in zip(learned["id"], learned["split"])}
    parts = (
        by_file.get(os.path.realpath(path)) or (digest and by_bytes.get(digest))
        for path, digest in zip(paths, file_digests)
    )
    return dict(Counter(part for part in parts if part))


def seen_warning(seen: dict[str, int], n_images: int) -> dict | None:
    """The warning (a "warnings" entry) for images the run trained on or selected with."""
    if not seen:
        return None
    parts = " and ".join(f"{seen[part]} in its {part} split" for part in ("train", "val") if part in seen)
    return {
        "kind": "seen",
        "message": f"{sum(seen.values())} of these {n_images} images are the run's own ({parts}): "
        f"it learned or chose its epoch on them, so its results on them overstate how it does on new images; "
        f"its test split (split.csv) holds the images it never saw",
    }


def external_record(
    y_true: np.ndarray,
    raw: np.ndarray,
    threshold: float,
    classes: list[str],
    model: str,
    seed: int = 0,
    seen: dict[str, int] | None = None,
) -> dict:
    """The metrics of the run's outputs ``raw`` (N, K or 1) against ``y_true`` (N,), laid out
    like metrics.json (``test`` with ``ci95`` over images, ``baselines``, ``warnings``) so
    that the run summary prints it. ``seen``: seen_by_run() of the images, for a warning."""
    y_pred, proba = predict_labels(raw, threshold), as_two_columns(raw)
    metrics = classification_metrics(y_true, y_pred, proba, classes)
    metrics["ci95"] = bootstrap_ci(y_true, y_pred, proba, None, seed)
    counts = np.bincount(y_true, minlength=len(classes))
    record = {
        "model": model,
        "dataset": f"{len(y_true)} labelled images",
        "classes": classes,
        "n_test": int(len(y_true)),
        "threshold": float(threshold),
        "test": metrics,
        "baselines": {
            "majority_class": classes[int(counts.argmax())],
            "majority_rate": float(counts.max() / len(y_true)),
        },
    }
    record["warnings"] = [w for w in [seen_warning(seen or {}, len(y_true)), majority_warning(record, "accuracy")] if w]
    return record
