"""From DatasetSettings and PreprocessSettings to split, decoded arrays: the data half of a run.

Two steps, so that checks on the items (settings/resolve.py ``check_task``) run between them:
``list_items`` reads the source and splits it (nothing decoded), ``load_pixels`` decodes
once (or loads the cache) and applies the exclusions.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from fungiclf.data.fetch import fetch_hint
from fungiclf.data.filters import Filters
from fungiclf.data.prepare import bit_depth_warnings, prepare
from fungiclf.data.quality import (
    cross_split_duplicates,
    low_variance_rows,
    pixel_variance,
)
from fungiclf.data.remote import is_url, mirror
from fungiclf.data.samples import SPLITS, Samples
from fungiclf.data.sources import load_image_folder, load_npz
from fungiclf.data.split import assign_splits, check_no_group_leak
from fungiclf.data.synthetic import ensure_synthetic
from fungiclf.data.table import load_csv
from fungiclf.errors import DataError

log = logging.getLogger(__name__)

SOURCES: dict[str, Callable[..., Samples]] = {"image_folder": load_image_folder, "npz": load_npz, "csv": load_csv}


@dataclass
class Dataset:
    """Decoded pixels of every kept item, and which split each belongs to.

    Attributes:
        images: (N, H, W, C) uint8 (memmap when cached).
        labels: (N,) int class indices.
        ids, groups: (N,) identifiers and group keys.
        split: (N,) "train" / "val" / "test".
        class_names: label names.
        skipped: (id, reason) of files that could not be decoded.
        fingerprint: cache key of the pixels.
        grouped: whether items were grouped by a pattern.
        excluded: (N,) "" for items in use, else why the item is left out of its split
            ("low_variance", "duplicate", "fraction"). Excluded rows stay in split.csv.
        removed: removed.csv: the low-variance and duplicate exclusions, with details.
        quality: metrics.json's "data_quality" block (what was filtered, and how).
        duplicates: metrics.json's "duplicates_across_splits" (counts by kind, dropped).
        from_cache: whether the pixels came from the decode cache.
        warnings: things a user should know about this data, as metrics.json "warnings"
            entries {"kind", "message"} (kind "small_val": a tiny val split).
        file_digests: (N,) hash of each item's file bytes (of its array for array sources),
            so that copies of an image under another path are recognised; None when unknown.
    """

    images: np.ndarray
    labels: np.ndarray
    ids: list[str]
    groups: np.ndarray
    split: np.ndarray
    class_names: list[str]
    skipped: list[tuple[str, str]]
    fingerprint: str
    grouped: bool
    excluded: np.ndarray | None = None
    removed: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality: dict = field(default_factory=dict)
    duplicates: dict = field(default_factory=dict)
    from_cache: bool = False
    warnings: list[dict] = field(default_factory=list)
    file_digests: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.excluded is None:
            self.excluded = np.full(len(self.labels), "", dtype=object)

    def index(self, split: str) -> np.ndarray:
        """Row indices of one split's items in use, in file order."""
        return np.flatnonzero((self.split == split) & (self.excluded == ""))

    def split_table(self) -> pd.DataFrame:
        """split.csv: id, label (class name), group, split, excluded (reason or empty), and
        file_digest (hash of the file bytes) when known."""
        table = pd.DataFrame(
            {
                "id": self.ids,
                "label": np.array(self.class_names)[self.labels],
                "group": self.groups,
                "split": self.split,
                "excluded": self.excluded,
            }
        )
        if self.file_digests is not None:
            table["file_digest"] = self.file_digests
        return table

    @property
    def split_fingerprint(self) -> str:
        """Hash of split.csv's assignment columns (not the digests: runs before them compare alike)."""
        assignment = self.split_table()[["id", "label", "group", "split", "excluded"]]
        return hashlib.sha256(assignment.to_csv(index=False).encode()).hexdigest()[:20]


def check_exists(dataset, cache_dir: str) -> Path:
    """dataset.path, which must exist (a URL: its up-to-date mirror in the cache); a preset's
    message says how to fetch it."""
    if is_url(dataset.path):
        return mirror(dataset.path, cache_dir)
    path = Path(dataset.path)
    if not path.exists():
        hint = f": {fetch_hint(dataset.fetch, path)}" if dataset.fetch else ""
        raise DataError(f"dataset.path {str(path)!r} does not exist{hint}")
    return path


def load_samples(dataset, cache_dir: str) -> Samples:
    """Read the source of DatasetSettings ``dataset`` (file list or arrays; nothing decoded)."""
    if dataset.source == "synthetic":
        path = ensure_synthetic(cache_dir, **dataset.synthetic)
        return SOURCES["image_folder"](str(path), dataset.group_pattern)
    path = check_exists(dataset, cache_dir)
    samples = SOURCES[dataset.source](
        str(path),
        group_pattern=dataset.group_pattern,
        class_names=list(dataset.class_names) if dataset.class_names else None,
        columns=dataset.columns,
    )
    if dataset.positive_class is not None:
        samples = with_positive_class(samples, dataset.positive_class)
    if dataset.val_from_train and samples.given_split is not None:
        # the source's own val joins train; val is then carved out of both by dataset.split
        pooled = np.isin(samples.given_split, ["train", "val", ""])
        samples.given_split = np.where(pooled, "", samples.given_split).astype(object)
        log.info("dataset.val_from_train=true: val is carved out of the source's train and val items")
    return samples


def with_positive_class(samples: Samples, positive: str) -> Samples:
    """Make class ``positive`` label 1 of a two-class task (sensitivity, the threshold and a
    sigmoid's output are about label 1): the two classes swap when it is label 0."""
    names = samples.class_names
    if positive not in names:
        raise DataError(f"dataset.positive_class={positive!r} is not a class of this dataset; its classes are {names}")
    if len(names) != 2:
        raise DataError(
            f"dataset.positive_class={positive!r} needs a two-class task; this dataset has "
            f"{len(names)} classes: set dataset.positive_class=null"
        )
    if names[1] != positive:
        samples.class_names = [names[1], names[0]]
        samples.labels = 1 - samples.labels
    return samples


def cap_per_class(labels: np.ndarray, split: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices keeping at most ``limit`` items per class per split (smoke runs)."""
    rng = np.random.default_rng(seed)
    keep = []
    for s in SPLITS:
        for c in np.unique(labels[split == s]):
            rows = np.flatnonzero((split == s) & (labels == c))
            keep.append(np.sort(rng.permutation(rows)[:limit]))
    return np.sort(np.concatenate(keep)) if keep else np.array([], np.int64)


def train_subset(labels: np.ndarray, groups: np.ndarray, rows: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stratified, grouped ``fraction`` of ``rows``: boolean mask over ``rows``.

    Every class keeps at least one group, so a small fraction cannot drop a class.
    """
    part = assign_splits(labels[rows], groups[rows], {"keep": fraction, "drop": 1.0 - fraction}, seed)
    keep = part == "keep"
    for cls in np.unique(labels[rows]):
        of_class = labels[rows] == cls
        if not keep[of_class].any():
            keep |= groups[rows] == groups[rows][of_class][0]
    return keep


def exclude(data: Dataset, filters: Filters, seed: int, file_digests: np.ndarray, pixel_digests: np.ndarray) -> None:
    """Mark low-variance images, cross-split duplicates and the unused training fraction.

    Fills ``data.excluded``, ``data.removed``, ``data.quality`` and ``data.duplicates`` in place. Order: the
    quality filter, then duplicates, then the training fraction of what is left.
    """
    removed = []
    quality: dict = {}
    if filters.threshold is not None or filters.percentile is not None:
        splits = list(filters.splits)
        rows = np.concatenate([data.index(s) for s in splits])
        variances = pixel_variance(data.images, rows)
        below, cut = low_variance_rows(variances, filters.threshold, filters.percentile)
        data.excluded[rows[below]] = "low_variance"
        removed += [
            (data.ids[r], data.split[r], "low_variance", round(float(v), 3))
            for r, v in zip(rows[below], variances[below])
        ]
        quality["low_variance"] = {
            "threshold": cut,
            "percentile": filters.percentile,
            "splits": splits,
            "removed": int(below.sum()),
            "removed_per_split": {s: int((data.split[rows[below]] == s).sum()) for s in splits},
        }
        log.info(
            "Low-variance filter removed %d of %d images (variance < %.1f) <preprocess.low_variance>",
            below.sum(),
            len(rows),
            cut,
        )

    duplicates = cross_split_duplicates(np.where(data.excluded == "", data.split, ""), file_digests, pixel_digests)
    drop = filters.drop_duplicates
    counts = duplicates.groupby("kind").size().to_dict()
    data.duplicates = {
        "exact": int(counts.get("exact", 0)),
        "pixel": int(counts.get("pixel", 0)),
        "dropped": len(duplicates) if drop else 0,
    }
    if len(duplicates):
        log.warning(
            "%d val/test images have a copy in an earlier split (%d same bytes, %d same pixels)%s",
            len(duplicates),
            counts.get("exact", 0),
            counts.get("pixel", 0),
            "; dropped <dataset.drop_cross_split_duplicates=true>"
            if drop
            else "; set dataset.drop_cross_split_duplicates=true to drop them",
        )
        if drop:
            data.excluded[duplicates["row"].to_numpy()] = "duplicate"
            removed += [
                (data.ids[r], data.split[r], "duplicate", f"{kind} copy in {other}")
                for r, kind, other in duplicates.itertuples(index=False)
            ]

    fraction = filters.fraction
    if fraction < 1.0:
        rows = data.index("train")
        keep = train_subset(data.labels, data.groups, rows, fraction, seed)
        data.excluded[rows[~keep]] = "fraction"
        log.info("dataset.fraction=%g: training on %d of %d train images", fraction, keep.sum(), len(rows))
    quality["fraction"] = fraction
    quality["excluded"] = {
        reason: int((data.excluded == reason).sum()) for reason in np.unique(data.excluded) if reason
    }
    data.removed = pd.DataFrame(removed, columns=["id", "split", "reason", "detail"])
    data.quality = quality


MIN_VAL_IMAGES, MIN_VAL_PER_CLASS = 50, 10


def val_size_warnings(data: Dataset, given_val: bool) -> list[dict]:
    """Warn (and log) when the split that selects checkpoints and stops training is tiny:
    fewer than MIN_VAL_IMAGES images, or fewer than MIN_VAL_PER_CLASS of a class.
    ``given_val``: the val items are the source's own (a val/ folder, an npz's val arrays)."""
    labels = data.labels[data.index("val")]
    counts = np.bincount(labels, minlength=len(data.class_names))
    if len(labels) >= MIN_VAL_IMAGES and counts.min() >= MIN_VAL_PER_CLASS:
        return []
    smallest = data.class_names[int(counts.argmin())]
    how = (
        (
            "the split is the dataset's own: keep it to compare with published numbers; for a choice of your own "
            "only, dataset.val_from_train=true carves a larger val out of train, which is no longer the published "
            "protocol"
        )
        if given_val
        else "raise dataset.split.val"
    )
    text = (
        f"the val split has only {len(labels)} images ({counts.min()} of class {smallest}); checkpoint "
        f"selection and early stopping use it, so they will be noisy: {how}"
    )
    log.warning("%s", text)
    return [{"kind": "small_val", "message": text}]


@dataclass
class Listing:
    """The items of a dataset and their split, before decoding.

    Attributes:
        samples: what the source yielded (capped per class per split when asked).
        split: (N,) "train" / "val" / "test" per item.
        given_val: whether the val items are the source's own (a val/ folder, an npz's val).
        capped: trainer.max_per_class (or trainer=smoke) capped the items.
    """

    samples: Samples
    split: np.ndarray
    given_val: bool
    capped: bool


def list_items(dataset, seed: int, cache_dir: str) -> Listing:
    """Read the source of DatasetSettings ``dataset`` and split it (stratified, grouped);
    cap the items per class per split when ``dataset.max_per_class`` is set."""
    samples = load_samples(dataset, cache_dir)
    split = assign_splits(samples.labels, samples.groups, dataset.split, seed, samples.given_split)
    check_no_group_leak(split, samples.groups, samples.given_split)
    given_val = samples.given_split is not None and bool((samples.given_split == "val").any())
    if dataset.max_per_class:
        chosen = cap_per_class(samples.labels, split, dataset.max_per_class, seed)
        samples, split = samples.subset(chosen), split[chosen]
    return Listing(samples, split, given_val, bool(dataset.max_per_class))


def load_pixels(listing: Listing, preprocess, filters: Filters, seed: int, cache_dir: str) -> Dataset:
    """Decode once (or load the cache entry) with PreprocessSettings ``preprocess``, then mark
    the exclusions of ``filters``. Logs the counts per split."""
    started = time.perf_counter()
    samples, split = listing.samples, listing.split
    prepared = prepare(samples, preprocess.pixels, cache_dir if preprocess.cache else None)
    kept = prepared.kept
    data = Dataset(
        images=prepared.images,
        labels=samples.labels[kept],
        ids=[samples.ids[i] for i in kept],
        groups=samples.groups[kept],
        split=split[kept],
        class_names=samples.class_names,
        skipped=[*samples.skipped, *prepared.skipped],
        fingerprint=prepared.key,
        grouped=samples.grouped,
        from_cache=prepared.from_cache,
        file_digests=prepared.file_digests,
    )
    data.warnings += bit_depth_warnings(prepared.sixteen_bit, preprocess.pixels.bit_depth)
    exclude(data, filters, seed, prepared.file_digests, prepared.pixel_digests)
    for s in SPLITS:
        if len(data.index(s)) == 0:
            raise DataError(
                f"the {s} split is empty after splitting and filtering (dataset.split, "
                f"dataset.fraction, preprocess.low_variance)"
            )
    if not listing.capped:  # a capped (smoke) run is small on purpose
        data.warnings += val_size_warnings(data, listing.given_val)
    log.info("Data: %s in %.1fs", ", ".join(f"{s} {len(data.index(s))}" for s in SPLITS), time.perf_counter() - started)
    return data
