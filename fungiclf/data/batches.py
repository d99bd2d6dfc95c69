"""Batches for Keras fit/predict from (memory-mapped) uint8 arrays, on every backend."""

import math
import weakref

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
import keras
import numpy as np

from fungiclf.data.mixing import Mixing, mix_batch
from fungiclf.data.views import dihedral


def flat_pixels(images: np.ndarray, index: np.ndarray, view: int = 0) -> np.ndarray:
    """Rows ``index`` (in dihedral ``view``) as (len(index), H*W*C) float32 in [0, 1]: the
    scikit-learn models' input."""
    rows = dihedral(np.asarray(images[index]), view)
    return rows.reshape(len(index), -1).astype(np.float32) / 255.0


class ArrayBatches(keras.utils.PyDataset):
    """Yields (x, y) or (x, y, sample_weight) batches of ``images[index]``.

    Args:
        images: (N, H, W, C) uint8, may be a memmap larger than RAM.
        targets: (N,) int class indices or binary targets, or (N, K) one-hot rows.
        index: rows of ``images`` to use, in order (repeats allowed: oversampling).
        batch_size: images per batch.
        shuffle: reshuffle ``index`` every epoch (training only).
        sample_weight: (N,) per-row weight or None.
        seed: shuffling and mixing seed.
        mixing: mixup / CutMix of training batches (None: off).
        view: dihedral view of every batch (test-time augmentation; 0 = as stored).
        multiple_of: batch sizes are padded to a multiple of this (data-parallel replicas
            each take an equal share); padding rows repeat the batch's last row with sample
            weight 0, so they change no loss or metric, and predictions are trimmed by the caller.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        index: np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        sample_weight: np.ndarray | None = None,
        seed: int = 0,
        mixing: Mixing | None = None,
        view: int = 0,
        multiple_of: int = 1,
    ) -> None:
        super().__init__()
        # A weak reference: TensorFlow's generator registry keeps every PyDataset it has
        # served alive for the life of the process, and with it whatever it holds. The
        # Dataset owns the pixels; a sweep then frees each job's memmap when the job ends.
        self.images = weakref.proxy(images)
        self.targets, self.batch_size = targets, batch_size
        self.index = np.asarray(index, dtype=np.int64)
        self.shuffle, self.sample_weight = shuffle, sample_weight
        self.mixing, self.view, self.seed, self.multiple_of = mixing, view, seed, multiple_of
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s shuffle and mixing from (seed, epoch): a resumed run sees
        the batches the uninterrupted one would have."""
        self.epoch = epoch
        self.rng = np.random.default_rng([self.seed, epoch])
        self.order = self.rng.permutation(self.index) if self.shuffle else self.index

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __getitem__(self, i: int):
        rows = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        if self.shuffle:  # sorted rows read a memmap sequentially; which rows share a batch is random anyway
            rows = np.sort(rows)
        x = dihedral(np.asarray(self.images[rows]), self.view)
        y = self.targets[rows]
        weight = None if self.sample_weight is None else self.sample_weight[rows].astype("float32")
        if self.mixing is not None:
            x, y, weight = mix_batch(x, y, weight, self.mixing, self.rng)
        if self.multiple_of > 1:
            x, y, weight = pad_batch(x, y, weight, self.multiple_of)
        return (x, y) if weight is None else (x, y, weight)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)  # EpochSync sets it again at the next epoch's start

    def close(self) -> None:
        """Drop the arrays (the batches are done with): TensorFlow may keep this object
        alive for the rest of the process, but then it holds next to nothing."""
        self.targets = self.sample_weight = self.index = self.order = None


def pad_batch(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, multiple_of: int):
    """Pad a batch to a multiple of ``multiple_of`` rows with copies of its last row, weighted 0."""
    weight = np.ones(len(x), np.float32) if weight is None else weight
    missing = -len(x) % multiple_of
    if missing:
        x = np.concatenate([x, np.repeat(x[-1:], missing, axis=0)])
        y = np.concatenate([y, np.repeat(y[-1:], missing, axis=0)])
        weight = np.concatenate([weight, np.zeros(missing, np.float32)])
    return x, y, weight
