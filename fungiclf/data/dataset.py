"""From the dataset/preprocess config to split, decoded arrays: the data half of a run."""

import hashlib
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from fungiclf.data.prepare import prepare
from fungiclf.data.samples import SPLITS, Samples
from fungiclf.data.sources import SOURCES
from fungiclf.data.split import assign_splits, check_no_group_leak
from fungiclf.data.synthetic import ensure_synthetic
from fungiclf.errors import ConfigError
from fungiclf.validation import check_choice, check_number, check_size

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
        fingerprint: cache key of the pixels; split_fingerprint: hash of split.csv.
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

    def index(self, split: str) -> np.ndarray:
        """Row indices of one split, in file order."""
        return np.flatnonzero(self.split == split)

    def split_table(self) -> pd.DataFrame:
        """split.csv: id, label (class name), group, split."""
        return pd.DataFrame({"id": self.ids, "label": np.array(self.class_names)[self.labels],
                             "group": self.groups, "split": self.split})

    @property
    def split_fingerprint(self) -> str:
        return hashlib.sha256(self.split_table().to_csv(index=False).encode()).hexdigest()[:20]


def load_samples(cfg: DictConfig, cache_dir: str) -> Samples:
    """Read the source named by ``dataset.source`` (file list or arrays; nothing decoded)."""
    source = check_choice(cfg.dataset.source, sorted(SOURCES) + ["synthetic"], "source", "dataset")
    if source == "synthetic":
        s = cfg.dataset.synthetic
        path = ensure_synthetic(cache_dir, s.n_per_class, s.patches_per_photo, s.size, s.seed)
        return SOURCES["image_folder"](str(path), cfg.dataset.get("group_pattern"))
    if not cfg.dataset.get("path"):
        raise ConfigError(f"dataset.path is required for dataset {cfg.dataset.name!r} (e.g. dataset.path=/data/{cfg.dataset.name})")
    return SOURCES[source](str(cfg.dataset.path), group_pattern=cfg.dataset.get("group_pattern"),
                           class_names=cfg.dataset.get("class_names"))


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


def build_dataset(cfg: DictConfig, cache_dir: str) -> Dataset:
    """load -> split -> (smoke cap) -> decode once. Logs counts per split."""
    started = time.perf_counter()
    samples = load_samples(cfg, cache_dir)
    split = assign_splits(samples.labels, samples.groups, _fractions(cfg), int(cfg.seed), samples.given_split)
    check_no_group_leak(split, samples.groups)
    limit = cfg.trainer.get("max_per_class")
    if limit:
        chosen = cap_per_class(samples.labels, split, int(limit), int(cfg.seed))
        samples, split = samples.subset(chosen), split[chosen]
    color = check_choice(cfg.preprocess.color, ["gray", "rgb"], "color", "preprocess")
    size = check_size(cfg.preprocess.size)
    prepared = prepare(samples, color, size, cache_dir if cfg.preprocess.cache else None)
    kept = prepared.kept
    data = Dataset(
        images=prepared.images, labels=samples.labels[kept], ids=[samples.ids[i] for i in kept],
        groups=samples.groups[kept], split=split[kept], class_names=samples.class_names,
        skipped=prepared.skipped, fingerprint=prepared.key, grouped=bool(cfg.dataset.get("group_pattern")),
    )
    for s in SPLITS:
        if len(data.index(s)) == 0:
            raise ConfigError(f"the {s} split is empty: dataset.split={dict(_fractions(cfg))} leaves no item for it")
    log.info("Data <dataset.name=%s>: %s in %.1fs", cfg.dataset.name,
             ", ".join(f"{s} {len(data.index(s))}" for s in SPLITS), time.perf_counter() - started)
    return data
