"""Stratified, optionally grouped train/val/test assignment; k-fold over train+val."""

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from fungiclf.data.samples import SPLITS

log = logging.getLogger(__name__)


def assign_splits(
    labels: np.ndarray,
    groups: np.ndarray,
    fractions: dict[str, float],
    seed: int,
    given: np.ndarray | None = None,
) -> np.ndarray:
    """Assign every item to "train", "val" or "test".

    Whole groups are assigned, class by class: each class's groups, shuffled with
    ``seed`` and taken largest first, go to the split furthest below its target share of
    that class. With one item per group this is a plain stratified random split.
    A group's class is its most common label.

    Args:
        labels: (N,) int class indices.
        groups: (N,) group keys.
        fractions: target share per split, e.g. {"train": 0.6, "val": 0.2, "test": 0.2}.
        seed: shuffling seed.
        given: (N,) a split the source ships ("" where unassigned). Given items keep
            their split; unassigned items are shared out among the splits that are
            missing, in proportion to their fractions (val carved out of train/).

    Returns:
        (N,) array of split names.
    """
    n = len(labels)
    out = np.array([""] * n, dtype=object) if given is None else np.asarray(given, dtype=object).copy()
    todo = np.flatnonzero(out == "")
    if len(todo) == 0:
        return out.astype(str)
    present = set(out[out != ""])
    # For train/ + test/ sources, the train/ items carry "" and are shared between train and val.
    targets = {s: f for s, f in fractions.items() if s not in present and f > 0}
    if not targets:
        raise ValueError("no split left to assign items to")
    names = list(targets)
    share = np.array([targets[s] for s in names], dtype=float)
    share /= share.sum()
    rng = np.random.default_rng(seed)

    group_keys, group_of = np.unique(groups[todo], return_inverse=True)
    sizes = np.bincount(group_of)
    group_label = np.array([np.bincount(labels[todo][group_of == g]).argmax() for g in range(len(group_keys))])
    for cls in np.unique(group_label):
        cls_groups = np.flatnonzero(group_label == cls)
        cls_groups = cls_groups[rng.permutation(len(cls_groups))]
        cls_groups = cls_groups[np.argsort(-sizes[cls_groups], kind="stable")]
        total = sizes[cls_groups].sum()
        filled = np.zeros(len(names))
        for g in cls_groups:
            deficit = share * total - filled
            k = int(np.argmax(deficit))
            filled[k] += sizes[g]
            out[todo[group_of == g]] = names[k]
    return out.astype(str)


def kfold_indices(labels: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, grouped K-fold: a list of (fit_index, holdout_index) int arrays."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(a, b) for a, b in splitter.split(np.zeros(len(labels)), labels, groups)]


def check_no_group_leak(split: np.ndarray, groups: np.ndarray, given: np.ndarray | None = None) -> None:
    """Raise ValueError if a group we assigned sits in two splits (a guard against bugs).

    Items whose split the source ships (``given`` not "") are checked only against each
    other, with a warning: a group spanning a published train/ and test/ is the source's.
    """
    assigned = np.ones(len(split), bool) if given is None else np.asarray(given) == ""
    seen: dict[str, str] = {}
    for s, g in zip(split[assigned], groups[assigned]):
        if seen.setdefault(g, s) != s:
            raise ValueError(f"group {g!r} is in both {seen[g]!r} and {s!r}")
    if given is not None and (~assigned).any():
        per_group = pd.Series(np.asarray(split, dtype=object)).groupby(np.asarray(groups, dtype=object)).nunique()
        crossing = list(per_group.index[per_group > 1])
        if crossing:
            log.warning(
                "%d groups span the dataset's own split folders (e.g. %r): the source's split, kept as given",
                len(crossing),
                crossing[0],
            )


__all__ = ["SPLITS", "assign_splits", "kfold_indices", "check_no_group_leak"]
