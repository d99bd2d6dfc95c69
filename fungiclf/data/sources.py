"""Data sources: an image folder and a MedMNIST-style .npz, found by name in SOURCES."""

import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fungiclf.data.samples import SPLITS, Samples
from fungiclf.errors import DataError

log = logging.getLogger(__name__)

SPLIT_DIR_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                   "validation": "val", "test": "test", "testing": "test"}


def _files_in(folder: Path) -> list[Path]:
    """Regular, non-hidden files under ``folder`` (recursively), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def group_keys(names: list[str], pattern: str | None) -> np.ndarray:
    """Group key per file name: the first regex group of ``pattern``, else the name itself.

    Args:
        names: file names or ids.
        pattern: e.g. r"^(.+)_\\d+\\.\\w+$" groups "H1_101a_7.jpg" under "H1_101a".
    """
    if not pattern:
        return np.array(names, dtype=object)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise DataError(f"dataset.group_pattern {pattern!r} is not a valid regular expression: {exc}") from None
    if regex.groups < 1:
        raise DataError(f"dataset.group_pattern {pattern!r} has no capturing group (the group key)")
    keys, unmatched = [], 0
    for name in names:
        match = regex.search(Path(name).name)
        if match is None:
            unmatched += 1
            keys.append(name)
        else:
            keys.append(match.group(1))
    if unmatched:
        log.warning("dataset.group_pattern matched no group in %d of %d file names; each of those is its own group",
                    unmatched, len(names))
    return np.array(keys, dtype=object)


def load_image_folder(path: str, group_pattern: str | None = None, **_: object) -> Samples:
    """Class folders (root/CLASS/img), or root/{train,val,test}/CLASS/img (val optional).

    Non-image files inside class folders are kept here and skipped, with a warning,
    when decoding fails.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"dataset.path {str(root)!r} does not exist")
    if not root.is_dir():
        raise DataError(f"dataset.path {str(root)!r} is not a folder")
    subdirs = _class_dirs(root)
    split_dirs = {SPLIT_DIR_NAMES[d.name.lower()]: d for d in subdirs if d.name.lower() in SPLIT_DIR_NAMES}
    if "train" in split_dirs and "test" in split_dirs:
        parts = {s: split_dirs[s] for s in SPLITS if s in split_dirs}
    elif split_dirs and len(split_dirs) == len(subdirs):
        raise DataError(f"dataset.path {str(root)!r} has {sorted(split_dirs)} folders; a split layout needs train/ and test/")
    else:
        parts = {"": root}

    class_names = sorted({d.name for folder in parts.values() for d in _class_dirs(folder)})
    if len(class_names) < 2:
        raise DataError(f"dataset.path {str(root)!r} needs at least two class folders, found {len(class_names)}")
    index = {c: i for i, c in enumerate(class_names)}
    ids, labels, paths, given = [], [], [], []
    for split, folder in parts.items():
        present = {d.name for d in _class_dirs(folder)}
        for missing in sorted(set(class_names) - present):
            if split == "train":
                raise DataError(f"class {missing!r} has no folder in {str(folder)!r}: the model cannot learn it")
            log.warning("class %r has no folder in %s: it will not be evaluated there", missing, folder)
        for cls in sorted(present):
            files = _files_in(folder / cls)
            if not files and split in ("", "train"):
                raise DataError(f"class folder {str(folder / cls)!r} is empty")
            for f in files:
                ids.append(str(f.relative_to(root)))
                labels.append(index[cls])
                paths.append(str(f))
                given.append(split)
    return Samples(
        class_names=class_names,
        ids=ids,
        labels=np.array(labels, dtype=np.int64),
        groups=group_keys(ids, group_pattern),
        paths=paths,
        given_split=None if parts.keys() == {""} else np.array(
            [g if g != "train" or "val" in parts else "" for g in given], dtype=object),
    )


def load_npz(path: str, class_names: list[str] | None = None, **_: object) -> Samples:
    """A MedMNIST-style .npz: {train,val,test}_images (N,H,W[,C]) uint8 and _labels (N,1)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"dataset.path {str(file)!r} does not exist")
    try:
        data = np.load(file)
    except Exception as exc:  # numpy raises several types for a non-npz file
        raise DataError(f"{str(file)!r} is not a readable .npz file ({type(exc).__name__})") from None
    images, labels, ids, given = [], [], [], []
    for split in SPLITS:
        for key in (f"{split}_images", f"{split}_labels"):
            if key not in data.files:
                raise DataError(f"{str(file)!r} has no array {key!r} (found {sorted(data.files)})")
        x, y = data[f"{split}_images"], data[f"{split}_labels"]
        if y.ndim == 2 and y.shape[1] > 1:
            raise DataError(f"{str(file)!r} key {split + '_labels'!r} is multi-label {y.shape}; only single-label tasks are supported")
        y = y.reshape(-1)
        if len(x) != len(y):
            raise DataError(f"{str(file)!r}: {split}_images has {len(x)} rows but {split}_labels has {len(y)}")
        if x.ndim not in (3, 4):
            raise DataError(f"{str(file)!r} key {split + '_images'!r} has shape {x.shape}; expected (N,H,W) or (N,H,W,C)")
        images.append(x)
        labels.append(y.astype(np.int64))
        ids += [f"{split}/{i}" for i in range(len(y))]
        given += [split] * len(y)
    all_labels = np.concatenate(labels)
    n_classes = len(class_names) if class_names else int(all_labels.max()) + 1
    if all_labels.min() < 0 or all_labels.max() >= n_classes:
        raise DataError(f"{str(file)!r}: labels must lie in [0, {n_classes - 1}], found {all_labels.min()}..{all_labels.max()}")
    shapes = {x.shape[1:] for x in images}
    if len(shapes) > 1:
        raise DataError(f"{str(file)!r}: image shapes differ between splits: {sorted(shapes)}")
    return Samples(
        class_names=list(class_names) if class_names else [str(i) for i in range(n_classes)],
        ids=ids,
        labels=all_labels,
        groups=np.array(ids, dtype=object),
        images=np.concatenate(images).astype(np.uint8, copy=False),
        given_split=np.array(given, dtype=object),
    )


SOURCES: dict[str, Callable[..., Samples]] = {
    "image_folder": load_image_folder,
    "npz": load_npz,
}
