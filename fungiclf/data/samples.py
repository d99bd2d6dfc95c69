"""The record every data source yields, before any splitting or decoding."""

from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass
class Samples:
    """One dataset as the sources see it: items, labels, groups and an optional own split.

    Attributes:
        class_names: names in label order; ``labels`` index into it.
        ids: one identifier per item (a path relative to the dataset root, or "train/17").
        labels: (N,) int64 class indices.
        groups: (N,) str group keys; items of one group never straddle two splits.
            Ungrouped datasets use each item's id as its group.
        paths: (N,) absolute file paths for file sources, else None.
        images: (N, H, W) or (N, H, W, C) uint8 for array sources, else None.
        given_split: (N,) "train"/"val"/"test"/"" when the source ships its own split
            ("" = to be assigned, as val carved out of a train/ folder), else None.
        skipped: entries left out while listing (symbolic link loops, links to nothing), as (id, reason).
        grouped: whether ``groups`` come from a grouping pattern (else each item is its own group).
    """

    class_names: list[str]
    ids: list[str]
    labels: np.ndarray
    groups: np.ndarray
    paths: list[str] | None = None
    images: np.ndarray | None = None
    given_split: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    grouped: bool = False

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> "Samples":
        """The items at ``index`` (int array), in that order."""
        return Samples(
            class_names=self.class_names,
            ids=[self.ids[i] for i in index],
            labels=self.labels[index],
            groups=self.groups[index],
            paths=None if self.paths is None else [self.paths[i] for i in index],
            images=None if self.images is None else self.images[index],
            given_split=None if self.given_split is None else self.given_split[index],
            skipped=list(self.skipped),
            grouped=self.grouped,
        )


def own_split(given: list[str] | np.ndarray) -> np.ndarray:
    """A source's own split as Samples.given_split: (N,) "train" / "val" / "test", with the
    train items marked "" (val to be carved out of them) when the source has no val items."""
    split = np.array(given, dtype=object)
    if not (split == "val").any():
        split[split == "train"] = ""
    return split
