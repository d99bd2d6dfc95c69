"""Batches for Keras fit/predict from (memory-mapped) uint8 arrays, on every backend."""

import math

import keras
import numpy as np


def flat_pixels(images: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rows ``index`` as (len(index), H*W*C) float32 in [0, 1]: the scikit-learn models' input."""
    return np.asarray(images[index]).reshape(len(index), -1).astype(np.float32) / 255.0


class ArrayBatches(keras.utils.PyDataset):
    """Yields (x, y) or (x, y, sample_weight) batches of ``images[index]``.

    Args:
        images: (N, H, W, C) uint8, may be a memmap larger than RAM.
        labels: (N,) int class indices.
        index: rows of ``images`` to use, in order (repeats allowed: oversampling).
        batch_size: images per batch.
        shuffle: reshuffle ``index`` every epoch (training only).
        sample_weight: (N,) per-row weight or None.
        seed: shuffling seed.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, index: np.ndarray, batch_size: int,
                 shuffle: bool = False, sample_weight: np.ndarray | None = None, seed: int = 0) -> None:
        super().__init__()
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.index = np.asarray(index, dtype=np.int64)
        self.order = self.index.copy()
        self.shuffle, self.sample_weight = shuffle, sample_weight
        self.rng = np.random.default_rng(seed)
        if shuffle:
            self.rng.shuffle(self.order)

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, i: int):
        rows = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        x = np.asarray(self.images[np.sort(rows)] if self.shuffle else self.images[rows])
        rows = np.sort(rows) if self.shuffle else rows
        y = self.labels[rows]
        if self.sample_weight is None:
            return x, y
        return x, y, self.sample_weight[rows].astype("float32")

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.rng.shuffle(self.order)
