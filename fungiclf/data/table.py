"""A CSV table of images: one row per image file with its class, and optionally its group
(patient, lesion, slide: the rows of one group stay on one side of the split) and its split.
The layout of CheXpert- or Kaggle-style label files."""

import logging
import os
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from fungiclf.data.samples import Samples, own_split
from fungiclf.data.sources import SPLIT_DIR_NAMES, group_keys
from fungiclf.errors import DataError

log = logging.getLogger(__name__)

COLUMNS = {"image": "image", "label": "label", "group": None, "split": None}  # dataset.columns defaults


def read_table(file: Path, columns: dict) -> pd.DataFrame:
    """The CSV's rows as text, with the columns of ``columns`` (role -> column name) checked."""
    if not file.is_file():
        raise DataError(
            f"dataset.path {str(file)!r} does not exist"
            if not file.exists()
            else f"dataset.path {str(file)!r} is not a file"
        )
    try:
        table = pd.read_csv(file, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{str(file)!r} is not a readable CSV table ({type(exc).__name__})") from None
    for role, column in columns.items():
        if column is not None and column not in table.columns:
            raise DataError(
                f"{str(file)!r} has no column {column!r} (dataset.columns.{role}); "
                f"its columns are {list(table.columns)[:20]}"
            )
    if table.empty:
        raise DataError(f"{str(file)!r} has no rows")
    for role in ("image", "label"):
        blank = np.flatnonzero(table[columns[role]].str.strip() == "")
        if len(blank):  # line numbers count the header as line 1
            raise DataError(
                f"{str(file)!r}: {len(blank)} rows have no {role} in column {columns[role]!r} "
                f"(first: line {blank[0] + 2})"
            )
    return table


def given_split(table: pd.DataFrame, file: Path, column: str) -> np.ndarray:
    """(N,) Samples.given_split from a split column (samples.own_split)."""
    values = table[column].str.strip().str.lower()
    unknown = sorted(set(values) - set(SPLIT_DIR_NAMES))
    if unknown:
        raise DataError(
            f"{str(file)!r}: column {column!r} (dataset.columns.split) holds {unknown[:5]}; expected train, val or test"
        )
    split = values.map(SPLIT_DIR_NAMES).to_numpy(dtype=object)
    for needed in ("train", "test"):
        if not (split == needed).any():
            raise DataError(f"{str(file)!r}: column {column!r} (dataset.columns.split) has no {needed} rows")
    return own_split(split)


def load_csv(
    path: str,
    group_pattern: str | None = None,
    class_names: list[str] | None = None,
    columns: dict | None = None,
    **_: object,
) -> Samples:
    """Rows of a CSV table as Samples.

    Args:
        path: the CSV file; relative image paths are read from its folder.
        group_pattern: regex on each image's file name, used when there is no group column.
        class_names: the class order (every label must be one of them); default: sorted labels.
        columns: role -> column name for image, label and the optional group and split.
    """
    file = Path(path).expanduser()
    columns = {**COLUMNS, **(columns or {})}
    table = read_table(file, columns)
    images = table[columns["image"]].str.strip()
    # One file is one row however it is spelled (a.jpg, ./a.jpg, sub/../a.jpg, a link to it).
    resolved = images.map(lambda name: os.path.realpath(file.parent / Path(name).expanduser()))
    repeated = images[resolved.duplicated()]
    if len(repeated):
        raise DataError(
            f"{str(file)!r}: {len(repeated)} images are listed more than once (first: "
            f"{repeated.iloc[0]!r}, perhaps under another spelling of its path)"
        )
    # One class however its name is encoded: é typed as one code point (NFC) or as e + accent (NFD).
    labels = table[columns["label"]].str.strip().map(lambda label: unicodedata.normalize("NFC", label))
    if class_names:
        class_names = [unicodedata.normalize("NFC", str(name)) for name in class_names]
    names = list(class_names) if class_names else sorted(set(labels))
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise DataError(f"{str(file)!r}: labels {unknown[:5]} are not in dataset.class_names {names}")
    if len(set(labels)) < 2:
        raise DataError(
            f"{str(file)!r}: column {columns['label']!r} holds {len(set(labels))} class; at least two are needed"
        )
    paths = [p if p.is_absolute() else file.parent / p for p in map(Path, images)]
    found = np.array([p.is_file() for p in paths])
    if not found.any():
        raise DataError(
            f"none of the {len(paths)} images listed in {str(file)!r} exist (first: {str(paths[0])!r}); "
            f"relative paths are read from the CSV's folder"
        )
    missing = [(images.iloc[i], "no such file") for i in np.flatnonzero(~found)]
    if missing:
        log.warning(
            "%d images listed in %s do not exist and are left out: %s",
            len(missing),
            file,
            ", ".join(m for m, _ in missing[:5]),
        )
    keep = np.flatnonzero(found)
    ids = [images.iloc[i] for i in keep]
    index = {name: i for i, name in enumerate(names)}
    if columns["group"] is not None:
        keys = table[columns["group"]].str.strip().to_numpy(dtype=object)[keep]
        groups = np.where(keys == "", np.array(ids, dtype=object), keys)  # a row without a group is its own
    else:
        groups = group_keys(ids, group_pattern, labels=[labels.iloc[i] for i in keep])
    return Samples(
        class_names=names,
        ids=ids,
        labels=np.array([index[labels.iloc[i]] for i in keep], dtype=np.int64),
        groups=groups,
        paths=[str(paths[i]) for i in keep],
        given_split=None if columns["split"] is None else given_split(table, file, columns["split"])[keep],
        skipped=missing,
        grouped=columns["group"] is not None or bool(group_pattern),
    )
