"""Data-quality checks run on prepared pixels: low-variance outliers, duplicates across splits."""

import numpy as np
import pandas as pd

SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}


def pixel_variance(images: np.ndarray, rows: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Variance of each image's pixels (all channels pooled), in squared 0-255 units.

    Args:
        images: (N, H, W, C) uint8, possibly a memmap.
        rows: int indices of the images to measure.
    Returns:
        (len(rows),) float64.
    """
    out = np.empty(len(rows))
    for start in range(0, len(rows), chunk):
        block = np.asarray(images[rows[start : start + chunk]], dtype=np.float32)
        out[start : start + chunk] = block.reshape(len(block), -1).var(axis=1)
    return out


def low_variance_rows(
    variances: np.ndarray, threshold: float | None, percentile: float | None
) -> tuple[np.ndarray, float]:
    """Which of ``variances`` fall below the cut-off: a fixed value, or a percentile of them.

    Returns:
        (boolean mask over ``variances``, the cut-off used).
    """
    cut = float(threshold) if threshold is not None else float(np.percentile(variances, percentile))
    return variances < cut, cut


def cross_split_duplicates(split: np.ndarray, file_digests: np.ndarray, pixel_digests: np.ndarray) -> pd.DataFrame:
    """Items whose exact copy (same bytes) or pixel copy sits in an earlier split.

    "Earlier" orders train < val < test, so each duplicate pair is reported once, on the
    side that is evaluated (a val or test item that also appears in train, or a test item
    that also appears in val).

    Returns:
        DataFrame with columns row (int index), kind ("exact" or "pixel"), other_split.
    """
    rows = []
    order = np.array([SPLIT_ORDER.get(s, -1) for s in split])
    visit = [i for i in np.argsort(order, kind="stable") if order[i] >= 0]
    for kind, digests in (("exact", file_digests), ("pixel", pixel_digests)):
        first_split: dict[str, str] = {}  # digest -> split of its first (earliest) item
        for i in visit:
            earliest = first_split.setdefault(digests[i], split[i])
            if SPLIT_ORDER[earliest] < order[i]:
                rows.append((int(i), kind, earliest))
    table = pd.DataFrame(rows, columns=["row", "kind", "other_split"])
    # an exact copy is also a pixel copy: keep one line per item, the stronger kind
    return table.drop_duplicates("row", keep="first").reset_index(drop=True)
