"""Which items a run leaves out of their split: low-variance images, cross-split duplicates,
the unused share of the training split."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Filters:
    """What ``dataset.exclude`` leaves out (checked by resolve before any decoding).

    Attributes:
        threshold / percentile: the low-variance cut-off (at most one set; both None: off).
        splits: the splits the low-variance filter applies to.
        drop_duplicates: drop val/test items with a copy in an earlier split.
        fraction: share of the training split to train on, in (0, 1].
    """

    threshold: float | None = None
    percentile: float | None = None
    splits: tuple[str, ...] = ("train",)
    drop_duplicates: bool = False
    fraction: float = 1.0
