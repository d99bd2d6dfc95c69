"""From the dataset/preprocess config to split, decoded arrays: the data half of a run."""

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from fungiclf.data.enhance import pixel_settings
from fungiclf.data.fetch import fetch_hint
from fungiclf.data.prepare import prepare
from fungiclf.data.quality import (
    cross_split_duplicates,
    low_variance_rows,
    pixel_variance,
)
from fungiclf.data.samples import SPLITS, Samples
from fungiclf.data.sources import SOURCES
from fungiclf.data.split import assign_splits, check_no_group_leak
from fungiclf.data.synthetic import ensure_synthetic
from fungiclf.errors import ConfigError, DataError
from fungiclf.validation import check_choice, check_number

log = logging.getLogger(__name__)


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

    def __post_init__(self) -> None:
        if self.excluded is None:
            self.excluded = np.full(len(self.labels), "", dtype=object)

    def index(self, split: str) -> np.ndarray:
        """Row indices of one split's items in use, in file order."""
        return np.flatnonzero((self.split == split) & (self.excluded == ""))

    def split_table(self) -> pd.DataFrame:
        """split.csv: id, label (class name), group, split, excluded (reason or empty)."""
        return pd.DataFrame({"id": self.ids, "label": np.array(self.class_names)[self.labels],
                             "group": self.groups, "split": self.split, "excluded": self.excluded})

    @property
    def split_fingerprint(self) -> str:
        return hashlib.sha256(self.split_table().to_csv(index=False).encode()).hexdigest()[:20]


def group_pattern(dataset: DictConfig) -> str | None:
    """The grouping regex: ``dataset.group_pattern``, or the preset named by ``dataset.group_by``."""
    by, explicit = dataset.get("group_by"), dataset.get("group_pattern")
    if by is None:
        return explicit
    presets = dataset.get("group_presets")
    if not presets:
        raise ConfigError(f"dataset.group_by={by!r} needs a dataset with group presets (dataset=defungi); "
                          f"set dataset.group_pattern to a regex instead")
    check_choice(by, list(presets), "group_by", "dataset")
    if explicit:
        log.info("dataset.group_pattern=%r overrides dataset.group_by=%r", explicit, by)
        return explicit
    return presets[by]


def load_samples(cfg: DictConfig, cache_dir: str) -> Samples:
    """Read the source named by ``dataset.source`` (file list or arrays; nothing decoded)."""
    source = check_choice(cfg.dataset.source, sorted(SOURCES) + ["synthetic"], "source", "dataset")
    if source == "synthetic":
        s = cfg.dataset.synthetic
        path = ensure_synthetic(cache_dir, s.n_per_class, s.patches_per_photo, s.size, s.seed)
        return SOURCES["image_folder"](str(path), group_pattern(cfg.dataset))
    if not cfg.dataset.get("path"):
        raise ConfigError(f"dataset.path is required for dataset {cfg.dataset.name!r} (e.g. dataset.path=/data/{cfg.dataset.name})")
    path = Path(str(cfg.dataset.path)).expanduser()
    if not path.exists() and cfg.dataset.get("fetch"):
        raise DataError(f"dataset.path {str(path)!r} does not exist: {fetch_hint(cfg.dataset.fetch, path)}")
    samples = SOURCES[source](str(path), group_pattern=group_pattern(cfg.dataset),
                              class_names=cfg.dataset.get("class_names"))
    if cfg.dataset.get("val_from_train") and samples.given_split is not None:
        # the source's own val joins train; val is then carved out of both by dataset.split
        pooled = np.isin(samples.given_split, ["train", "val", ""])
        samples.given_split = np.where(pooled, "", samples.given_split).astype(object)
        log.info("dataset.val_from_train=true: val is carved out of the source's train and val items")
    return samples


def _fractions(cfg: DictConfig) -> dict[str, float]:
    raw = cfg.dataset.split
    fractions = {s: check_number(raw.get(s, 0.0), f"split.{s}", "dataset", 0.0, 1.0) for s in SPLITS}
    if fractions["train"] <= 0 or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ConfigError(f"dataset.split fractions must be positive for train and sum to 1. Got {dict(fractions)} instead.")
    return fractions


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


@dataclass(frozen=True)
class Filters:
    """What ``exclude`` leaves out, validated before any decoding.

    Attributes:
        threshold / percentile: the low-variance cut-off (at most one set; both None: off).
        splits: the splits the low-variance filter applies to.
        drop_duplicates: drop val/test items with a copy in an earlier split.
        fraction: share of the training split to train on, in (0, 1].
    """

    threshold: float | None
    percentile: float | None
    splits: tuple[str, ...]
    drop_duplicates: bool
    fraction: float


def filter_settings(cfg: DictConfig) -> Filters:
    """Validate preprocess.low_variance, dataset.drop_cross_split_duplicates and dataset.fraction."""
    low = cfg.preprocess.get("low_variance") or {}
    threshold, percentile = low.get("threshold"), low.get("percentile")
    if threshold is not None and percentile is not None:
        raise ConfigError("preprocess.low_variance: set threshold or percentile, not both")
    if threshold is not None:
        check_number(threshold, "threshold", "preprocess.low_variance", 0)
    if percentile is not None:
        check_number(percentile, "percentile", "preprocess.low_variance", 0, 100)
    return Filters(
        threshold=threshold, percentile=percentile,
        splits=tuple(check_choice(s, list(SPLITS), "splits", "preprocess.low_variance")
                     for s in low.get("splits") or ["train"]),
        drop_duplicates=bool(cfg.dataset.get("drop_cross_split_duplicates", False)),
        fraction=float(check_number(cfg.dataset.get("fraction", 1.0), "fraction", "dataset", 0, 1, low_open=True)),
    )


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
        removed += [(data.ids[r], data.split[r], "low_variance", round(float(v), 3)) for r, v in zip(rows[below], variances[below])]
        quality["low_variance"] = {"threshold": cut, "percentile": filters.percentile, "splits": splits,
                                   "removed": int(below.sum()),
                                   "removed_per_split": {s: int((data.split[rows[below]] == s).sum()) for s in splits}}
        log.info("Low-variance filter removed %d of %d images (variance < %.1f) <preprocess.low_variance>",
                 below.sum(), len(rows), cut)

    duplicates = cross_split_duplicates(np.where(data.excluded == "", data.split, ""), file_digests, pixel_digests)
    drop = filters.drop_duplicates
    counts = duplicates.groupby("kind").size().to_dict()
    data.duplicates = {"exact": int(counts.get("exact", 0)), "pixel": int(counts.get("pixel", 0)),
                                           "dropped": len(duplicates) if drop else 0}
    if len(duplicates):
        log.warning("%d val/test images have a copy in an earlier split (%d same bytes, %d same pixels)%s",
                    len(duplicates), counts.get("exact", 0), counts.get("pixel", 0),
                    "; dropped <dataset.drop_cross_split_duplicates=true>" if drop else
                    "; set dataset.drop_cross_split_duplicates=true to drop them")
        if drop:
            data.excluded[duplicates["row"].to_numpy()] = "duplicate"
            removed += [(data.ids[r], data.split[r], "duplicate", f"{kind} copy in {other}")
                        for r, kind, other in duplicates.itertuples(index=False)]

    fraction = filters.fraction
    if fraction < 1.0:
        rows = data.index("train")
        keep = train_subset(data.labels, data.groups, rows, fraction, seed)
        data.excluded[rows[~keep]] = "fraction"
        log.info("dataset.fraction=%g: training on %d of %d train images", fraction, keep.sum(), len(rows))
    quality["fraction"] = fraction
    quality["excluded"] = {reason: int((data.excluded == reason).sum()) for reason in np.unique(data.excluded) if reason}
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
    how = ("dataset.val_from_train=true carves val out of the training images instead (dataset.split.val "
           "sets its share)") if given_val else "raise dataset.split.val"
    text = (f"the val split has only {len(labels)} images ({counts.min()} of class {smallest}); checkpoint "
            f"selection and early stopping use it, so they will be noisy: {how}")
    log.warning("%s", text)
    return [{"kind": "small_val", "message": text}]


def build_dataset(cfg: DictConfig, cache_dir: str) -> Dataset:
    """load -> split -> (smoke cap) -> decode once -> exclusions. Logs counts per split."""
    started = time.perf_counter()
    settings, filters = pixel_settings(cfg.preprocess), filter_settings(cfg)  # bad values fail before any work
    samples = load_samples(cfg, cache_dir)
    split = assign_splits(samples.labels, samples.groups, _fractions(cfg), int(cfg.seed), samples.given_split)
    check_no_group_leak(split, samples.groups, samples.given_split)
    limit = cfg.trainer.get("max_per_class")
    if limit:
        chosen = cap_per_class(samples.labels, split, int(limit), int(cfg.seed))
        samples, split = samples.subset(chosen), split[chosen]
    prepared = prepare(samples, settings, cache_dir if cfg.preprocess.cache else None)
    kept = prepared.kept
    data = Dataset(
        images=prepared.images, labels=samples.labels[kept], ids=[samples.ids[i] for i in kept],
        groups=samples.groups[kept], split=split[kept], class_names=samples.class_names,
        skipped=prepared.skipped, fingerprint=prepared.key, grouped=bool(group_pattern(cfg.dataset)),
        from_cache=prepared.from_cache,
    )
    exclude(data, filters, int(cfg.seed), prepared.file_digests, prepared.pixel_digests)
    for s in SPLITS:
        if len(data.index(s)) == 0:
            raise DataError(f"the {s} split is empty after splitting and filtering (dataset.split="
                            f"{dict(_fractions(cfg))}, dataset.fraction, preprocess.low_variance)")
    if not limit:  # a capped (smoke) run is small on purpose
        data.warnings += val_size_warnings(data, samples.given_split is not None and bool((samples.given_split == "val").any()))
    log.info("Data <dataset.name=%s>: %s in %.1fs", cfg.dataset.name,
             ", ".join(f"{s} {len(data.index(s))}" for s in SPLITS), time.perf_counter() - started)
    return data
