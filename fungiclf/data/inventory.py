"""What ``fungiclf-data info`` reports: per-class counts, sizes, modes and groups, plus
unreadable files and duplicates (same bytes, or same pixels after decoding)."""

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fungiclf.data.decode import DecodeError, decode_array, decode_file, follows_bit_depth, sixteen_bit_summary
from fungiclf.data.samples import Samples
from fungiclf.progress import progress_bar


@dataclass
class Inventory:
    """Facts about every item of a Samples, one row each.

    Attributes:
        items: DataFrame with id, label (class name), group, split (given or ""), height,
            width, mode, peak (largest stored value), file_digest, pixel_digest, error ("" when
            readable).
    """

    items: pd.DataFrame

    def per_class(self) -> pd.DataFrame:
        """One row per class: images, unreadable, groups, sizes and modes seen (most common first)."""
        rows = []
        for label, part in self.items.groupby("label", sort=False):
            ok = part[part["error"] == ""]
            sizes = Counter(f"{w}x{h}" for h, w in zip(ok["height"], ok["width"]))
            rows.append(
                {
                    "class": label,
                    "images": len(part),
                    "unreadable": int((part["error"] != "").sum()),
                    "groups": part["group"].nunique(),
                    "sizes": ", ".join(f"{s} ({n})" for s, n in sizes.most_common(3))
                    + (" ..." if len(sizes) > 3 else ""),
                    "modes": ", ".join(f"{m} ({n})" for m, n in Counter(ok["mode"]).most_common()),
                }
            )
        return pd.DataFrame(rows)

    def sixteen_bit(self) -> dict | None:
        """decode.sixteen_bit_summary of the 16-bit files (at the default bit depth, 16)."""
        return sixteen_bit_summary(self.items.loc[self.items["mode"].map(follows_bit_depth), "peak"].to_numpy())

    def unreadable(self) -> pd.DataFrame:
        return self.items.loc[self.items["error"] != "", ["id", "error"]].reset_index(drop=True)

    def duplicate_sets(self, kind: str) -> list[list[str]]:
        """Sets of ids sharing file bytes (kind "exact") or decoded pixels ("pixel").

        Pixel sets leave out those that are already exact sets.
        """
        ok = self.items[self.items["error"] == ""]
        column = "file_digest" if kind == "exact" else "pixel_digest"
        sets = [sorted(part["id"]) for _, part in ok.groupby(column) if len(part) > 1]
        if kind == "pixel":
            exact = {tuple(s) for s in self.duplicate_sets("exact")}
            sets = [s for s in sets if tuple(s) not in exact]
        return sorted(sets)


def _facts(samples: Samples, i: int) -> tuple:
    """(height, width, mode, peak, file_digest, pixel_digest, error) of item ``i``."""
    try:
        item = decode_array(samples.images[i]) if samples.paths is None else decode_file(samples.paths[i])
        return item.image.shape[0], item.image.shape[1], item.mode, item.peak, item.file_digest, item.pixel_digest, ""
    except DecodeError as exc:
        return 0, 0, "", 0, "", "", str(exc)


def take_inventory(samples: Samples, workers: int | None = None) -> Inventory:
    """Decode every item once (all cores) and record what it is."""
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        facts = list(
            progress_bar(
                pool.map(lambda i: _facts(samples, i), range(len(samples))),
                total=len(samples),
                at_least=500,
                desc="scan",
                unit="img",
                leave=False,
            )
        )
    table = pd.DataFrame(facts, columns=["height", "width", "mode", "peak", "file_digest", "pixel_digest", "error"])
    table.insert(0, "id", samples.ids)
    table.insert(1, "label", np.array(samples.class_names)[samples.labels])
    table.insert(2, "group", samples.groups)
    table.insert(3, "split", samples.given_split if samples.given_split is not None else "")
    return Inventory(table)
