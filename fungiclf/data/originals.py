"""The original image behind an item id of a finished run, found from the run's resolved
dataset config alone: what the report's gallery of errors shows. Nothing is decoded
through the training pipeline, and nothing is written."""

from pathlib import Path

import cv2
import numpy as np

from fungiclf.data.sources import npz_pixels
from fungiclf.data.synthetic import synthetic_root
from fungiclf.errors import DataError


class Originals:
    """Looks up items by id (predictions.csv's ``id``) in one run's data source.

    Args:
        dataset: the run's ``dataset`` config (config_resolved.yaml), a plain dict.
        cache_dir: the run's ``paths.cache_dir`` (where the synthetic set lives).

    Ids of an image folder (and the synthetic set) are paths under its root, a CSV's are its
    image column (relative to the CSV's folder); ids of an npz are ``<split>/<index>``.
    Other sources (URLs) give no image.
    """

    def __init__(self, dataset: dict, cache_dir: str | None) -> None:
        self.source = dataset.get("source")
        self.path = dataset.get("path")
        self.root: Path | None = None
        self._arrays: dict[str, np.ndarray] = {}
        if self.source == "image_folder" and self.path:
            self.root = Path(str(self.path)).expanduser()
        elif self.source == "csv" and self.path:  # its image column: paths relative to the CSV's folder
            self.root = Path(str(self.path)).expanduser().parent
        elif self.source == "synthetic" and cache_dir:
            self.root = synthetic_root(cache_dir, **(dataset.get("synthetic") or {}))

    @classmethod
    def of_config(cls, config: dict) -> "Originals":
        """From a run's whole resolved config (config_resolved.yaml as a dict)."""
        return cls(config.get("dataset") or {}, (config.get("paths") or {}).get("cache_dir"))

    def file(self, item_id: str) -> Path | None:
        """The item's image file, where the source is a folder of files and it is there."""
        file = self.root / item_id if self.root is not None else None
        return file if file is not None and file.is_file() else None

    def image(self, item_id: str) -> np.ndarray | None:
        """The item's pixels as RGB uint8 (H, W, 3), or None when the source cannot be read
        here (moved, remote, not an image source)."""
        try:
            if self.root is not None:
                file = self.file(item_id)
                pixels = cv2.imread(str(file), cv2.IMREAD_COLOR) if file is not None else None
                return None if pixels is None else cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
            if self.source == "npz" and self.path and "/" in item_id:
                return self._npz_item(*item_id.split("/", 1))
        except (OSError, ValueError, KeyError, IndexError, DataError):  # a moved or changed file
            return None
        return None

    def _npz_item(self, split: str, index: str) -> np.ndarray | None:
        if split not in self._arrays:
            file = Path(str(self.path)).expanduser()
            with np.load(file, allow_pickle=False) as archive:
                self._arrays[split] = npz_pixels(archive[f"{split}_images"], file, f"{split}_images")
        pixels = self._arrays[split][int(index)]
        if pixels.ndim == 3 and pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB) if pixels.ndim == 2 else pixels
