"""Data sources: an image folder and a MedMNIST-style .npz (a CSV table: data/table.py).
fungiclf.data.dataset.SOURCES finds them by name."""

import collections
import logging
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from fungiclf.data.samples import SPLITS, Samples, own_split
from fungiclf.errors import DataError

log = logging.getLogger(__name__)

SPLIT_DIR_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
# A file name up to its trailing number (H1_101a_7.jpg, IM-0115-0001.jpeg); image_folder's
# group_by=prefix preset is the same pattern.
NUMBERED_NAME = r"^(.+)[_-]\d+\.\w+$"


def _files_in(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Regular, non-hidden files under ``folder`` (recursively, following links), sorted; and
    (path, reason) of what was left out: a link back into a folder already walked (a loop)
    or a link to nothing."""
    files, ignored, seen = [], [], set()
    for top, dirs, names in os.walk(folder, followlinks=True):
        here = os.stat(top)
        if (here.st_dev, here.st_ino) in seen:  # reached again through a link: a loop
            ignored.append((Path(top), "symbolic link loop"))
            dirs[:] = []
            continue
        seen.add((here.st_dev, here.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            path = Path(top) / name
            if name.startswith("."):
                continue
            if path.is_file():
                files.append(path)
            elif path.is_symlink():
                ignored.append((path, "link to nothing"))
    return sorted(files), ignored


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def group_keys(
    ids: list[str], pattern: str | None, names: list[str] | None = None, labels: list | None = None
) -> np.ndarray:
    """Group key per item: the first regex group of ``pattern`` searched in its name; an item
    whose name does not match is its own group (its id), with a warning. Without a pattern
    each item is its own group, with a warning when the names come in numbered series. A
    pattern that matches no name at all is a DataError (another dataset's naming, e.g.
    dataset=defungi on chest X-rays): the split would group nothing while the config says it does.

    Args:
        ids: unique item ids (paths relative to the dataset folder).
        pattern: e.g. r"^(.+)_\\d+\\.\\w+$" groups "H1_101a_7.jpg" under "H1_101a".
        names: the text searched per item: its path inside its class folder ("slide7/p_1.jpg"
            or, in a flat class folder, the file name). Default: each id's file name.
        labels: each item's class, for the numbered-series check (default: one class).
    """
    names = names if names is not None else [Path(i).name for i in ids]
    if not pattern:
        flat = not any("/" in name for name in names)  # subfolders: load_image_folder warned
        if flat and (series := numbered_series(names, labels if labels is not None else [0] * len(names))):
            log.warning(
                "%d of %d file names come in numbered series (%s: the same name up to a trailing number), "
                "and the split is per file. If a series is one photograph, slide or patient, group by it to "
                "keep it on one side of the split: dataset.group_by=prefix (dataset=image_folder) or "
                "dataset.group_pattern='%s'",
                len(series),
                len(names),
                ", ".join(series[:2]),
                NUMBERED_NAME,
            )
        return np.array(ids, dtype=object)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise DataError(f"dataset.group_pattern {pattern!r} is not a valid regular expression: {exc}") from None
    if regex.groups < 1:
        raise DataError(f"dataset.group_pattern {pattern!r} has no capturing group (the group key)")
    keys, unmatched = [], 0
    for item, name in zip(ids, names):
        match = regex.search(name)
        if match is None:
            unmatched += 1
            keys.append(item)
        else:
            keys.append(match.group(1))
    if unmatched and unmatched == len(ids):  # not this data's naming: the split would leak in silence
        raise DataError(
            f"the grouping pattern '{pattern}' (dataset.group_by / group_pattern) matched none of the "
            f"{len(ids)} file names (e.g. {names[0]!r}), so no image "
            f"would be grouped with its near-duplicates; set a pattern that fits these names, or "
            f"dataset.group_by=none to split per file"
        )
    if unmatched:
        log.warning(
            "dataset.group_pattern matched no group in %d of %d file names; each of those is its own group",
            unmatched,
            len(ids),
        )
    return np.array(keys, dtype=object)


def numbered_series(names: list[str], labels: list) -> list[str]:
    """Of the file ``names`` (of classes ``labels``), those that share their part before a
    trailing number with another name (H1_101a_7.jpg and H1_101a_8.jpg share H1_101a), when
    such series look like groups: they hold at least a fifth of the names, and there are more
    than twice as many series as classes (cat_001.png ... cat_500.png, one series a class, is
    a naming scheme, not one photograph). Empty otherwise."""
    prefixes = [m.group(1) if (m := re.search(NUMBERED_NAME, name)) else None for name in names]
    counts = collections.Counter(p for p in prefixes if p is not None)
    series = [name for name, prefix in zip(names, prefixes) if prefix is not None and counts[prefix] > 1]
    shared = sum(1 for count in counts.values() if count > 1)
    if len(series) < 0.2 * len(names) or shared <= 2 * len(set(labels)):
        return []
    return series


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
        raise DataError(
            f"dataset.path {str(root)!r} has {sorted(split_dirs)} folders; a split layout needs train/ and test/"
        )
    else:
        parts = {"": root}

    class_names = sorted({d.name for folder in parts.values() for d in _class_dirs(folder)})
    if len(class_names) < 2:
        loose = 0 if class_names else sum(1 for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
        hint = (
            f"; it holds {loose} files itself: give the folder whose subfolders are the classes" if loose else ""
        )  # only without any class folder: one class folder beside a README is another mistake
        raise DataError(f"dataset.path {str(root)!r} needs at least two class folders, found {len(class_names)}{hint}")
    index = {c: i for i, c in enumerate(class_names)}
    ids, names, labels, paths, given, ignored = [], [], [], [], [], []
    for split, folder in parts.items():
        present = {d.name for d in _class_dirs(folder)}
        for missing in sorted(set(class_names) - present):
            if split == "train":
                raise DataError(f"class {missing!r} has no folder in {str(folder)!r}: the model cannot learn it")
            log.warning("class %r has no folder in %s: it will not be evaluated there", missing, folder)
        for cls in sorted(present):
            files, left_out = _files_in(folder / cls)
            ignored += [(str(p.relative_to(root)), reason) for p, reason in left_out]
            if not files and split in ("", "train"):
                raise DataError(f"class folder {str(folder / cls)!r} is empty")
            for f in files:
                ids.append(str(f.relative_to(root)))
                names.append(f.relative_to(folder / cls).as_posix())
                labels.append(index[cls])
                paths.append(str(f))
                given.append(split)
    if ignored:
        log.warning(
            "%d entries of %s left out: %s",
            len(ignored),
            root,
            ", ".join(f"{p} ({reason})" for p, reason in ignored[:5]),
        )
    nested = [name for name in names if "/" in name]
    if nested and not group_pattern:
        log.warning(
            "%d files sit in subfolders of their class folders (%s), and the split is per file. If a "
            "subfolder holds one photograph, slide or patient, group by it to keep it on one side of the "
            "split: dataset.group_by=folder (dataset=image_folder) or dataset.group_pattern='^([^/]+)/'",
            len(nested),
            ids[names.index(nested[0])],
        )
    return Samples(
        class_names=class_names,
        ids=ids,
        labels=np.array(labels, dtype=np.int64),
        groups=group_keys(ids, group_pattern, names, labels),
        paths=paths,
        given_split=None if parts.keys() == {""} else own_split(given),
        grouped=bool(group_pattern),
        skipped=ignored,
    )


def npz_pixels(x: np.ndarray, file: Path, key: str) -> np.ndarray:
    """An npz image array as uint8 0-255: uint8 as is; floats in [0, 1] scaled (logged);
    integer or integral float values in 0-255 cast. NaN, other ranges, other dtypes and
    other shapes are refused: casting them would train on wrong pixels without a word."""
    where = f"{str(file)!r} key {key!r}"
    if x.ndim not in (3, 4) or 0 in x.shape[1:] or (x.ndim == 4 and x.shape[3] not in (1, 3, 4)):
        raise DataError(f"{where} has shape {x.shape}; expected (N, H, W) or (N, H, W, C) with C 1, 3 or 4")
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{where} holds {x.dtype} values; expected uint8 pixels (or floats in [0, 1])")
    if len(x) == 0:
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{where} holds NaN or infinite pixels ({int((~np.isfinite(x)).sum())} values)")
    low, high = float(x.min()), float(x.max())
    if np.issubdtype(x.dtype, np.floating) and low >= 0 and high <= 1:
        log.info("%s: float pixels in [0, 1], scaled to 0-255", where)
        return np.round(x * 255).astype(np.uint8)
    if low >= 0 and high <= 255 and np.array_equal(x, np.round(x)):
        log.info("%s: %s pixels in 0-255, stored as uint8", where, x.dtype)
        return x.astype(np.uint8)
    raise DataError(f"{where} holds {x.dtype} pixels in [{low:g}, {high:g}]; expected uint8 0-255 or floats in [0, 1]")


def npz_labels(y: np.ndarray, file: Path, key: str) -> np.ndarray:
    """Integer class labels of shape (N,) or (N, 1); multi-label and non-integer labels refused."""
    where = f"{str(file)!r} key {key!r}"
    if y.ndim == 2 and y.shape[1] > 1:
        raise DataError(f"{where} is multi-label {y.shape}; only single-label tasks are supported")
    if y.ndim > 2:
        raise DataError(f"{where} has shape {y.shape}; expected (N,) or (N, 1) class labels")
    y = y.reshape(-1)
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)) or (
        np.issubdtype(y.dtype, np.floating) and not (np.isfinite(y).all() and np.array_equal(y, np.round(y)))
    ):
        raise DataError(f"{where} holds {y.dtype} values that are not whole class numbers")
    return y.astype(np.int64)


def npz_expanded_bytes(file: Path) -> int:
    """What an .npz's arrays take once loaded (its members' uncompressed sizes), read from
    the archive's directory without loading anything; 0 for a file that is no zip archive."""
    try:
        with zipfile.ZipFile(file) as archive:
            return sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return 0


def load_npz(path: str, class_names: list[str] | None = None, **_: object) -> Samples:
    """A MedMNIST-style .npz: {train,val,test}_images (N,H,W[,C]) and _labels (N,1).

    Pixels become uint8 (npz_pixels). Labels must be 0..K-1 with K = len(class_names), or,
    without class names, exactly the labels present: {0, 7} names no 8-class task.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(
            f"dataset.path {str(file)!r} does not exist"
            if not file.exists()
            else f"dataset.path {str(file)!r} is a folder, not a MedMNIST-style .npz file (a folder of class "
            f"folders is read by dataset=image_folder)"
        )
    expanded, memory = npz_expanded_bytes(file), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if expanded > memory:
        raise DataError(
            f"{str(file)!r} expands to {expanded / 1e9:.1f} GB, more than this machine's "
            f"{memory / 1e9:.1f} GB of memory: it is refused before it is loaded"
        )
    try:
        data = np.load(file)
    except Exception as exc:  # numpy raises several types for a non-npz file
        raise DataError(f"{str(file)!r} is not a readable .npz file ({type(exc).__name__})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(
            f"{str(file)!r} is a single .npy array, not a .npz archive of {SPLITS[0]}_images, "
            f"{SPLITS[0]}_labels, ... (np.savez writes one)"
        )
    images, labels, ids, given = [], [], [], []
    for split in SPLITS:
        for key in (f"{split}_images", f"{split}_labels"):
            if key not in data.files:
                raise DataError(f"{str(file)!r} has no array {key!r} (found {sorted(data.files)})")
        try:
            raw_x, raw_y = data[f"{split}_images"], data[f"{split}_labels"]
        except Exception as exc:  # a damaged member (truncated zip entry, bad header)
            raise DataError(f"{str(file)!r}: the {split} arrays cannot be read ({type(exc).__name__})") from None
        x = npz_pixels(raw_x, file, f"{split}_images")
        y = npz_labels(raw_y, file, f"{split}_labels")
        if len(x) != len(y):
            raise DataError(f"{str(file)!r}: {split}_images has {len(x)} rows but {split}_labels has {len(y)}")
        if split == "train" and len(x) == 0:
            raise DataError(f"{str(file)!r}: train_images has no rows")
        images.append(x)
        labels.append(y)
        ids += [f"{split}/{i}" for i in range(len(y))]
        given += [split] * len(y)
    all_labels = np.concatenate(labels)
    present = np.unique(all_labels)
    if class_names:
        if present.min() < 0 or present.max() >= len(class_names):
            raise DataError(
                f"{str(file)!r}: labels must lie in [0, {len(class_names) - 1}] for the "
                f"{len(class_names)} classes of dataset.class_names; "
                f"found {present.min()}..{present.max()}"
            )
        names = list(class_names)
    else:
        if present.min() < 0 or not np.array_equal(present, np.arange(len(present))):
            raise DataError(
                f"{str(file)!r}: labels are {present.tolist()[:10]}, not 0..K-1; set dataset.class_names "
                f"(one name per label, {int(present.max()) + 1} names for labels up to {present.max()}) "
                f"or relabel the file"
            )
        names = [str(i) for i in range(len(present))]
    shapes = {x.shape[1:] for x in images if len(x)}
    if len(shapes) > 1:
        raise DataError(f"{str(file)!r}: image shapes differ between splits: {sorted(shapes)}")
    return Samples(
        class_names=names,
        ids=ids,
        labels=all_labels,
        groups=np.array(ids, dtype=object),
        images=np.concatenate([x for x in images if len(x)]),
        given_split=np.array(given, dtype=object),
    )
