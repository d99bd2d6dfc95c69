"""Batch-level label mixing for training: mixup (Zhang et al. 2018, arXiv 1710.09412) and
CutMix (Yun et al. 2019, arXiv 1905.04899). They need the labels, so they run where
batches are made (numpy), not as layers inside the model."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mixing:
    """How training batches are mixed.

    Attributes:
        mixup: Beta(alpha, alpha) parameter of mixup; 0 = off.
        cutmix: Beta(alpha, alpha) parameter of CutMix; 0 = off.
        prob: probability that a batch is mixed at all.
    With both on, each mixed batch uses one of them, chosen at random.
    """

    mixup: float = 0.0
    cutmix: float = 0.0
    prob: float = 1.0

    @property
    def active(self) -> bool:
        return self.prob > 0 and (self.mixup > 0 or self.cutmix > 0)


def mix_batch(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, mixing: Mixing, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mix a batch with a shuffled copy of itself.

    Args:
        x: (B, H, W, C) pixels 0-255 (uint8 or float).
        y: (B, K) one-hot (or soft) labels, or (B,) binary targets in [0, 1].
        weight: (B,) sample weights or None (mixed like the labels).
    Returns:
        (x as float32, mixed y, mixed weight); the batch unchanged when it is not mixed.
    """
    if not mixing.active or rng.random() >= mixing.prob or len(x) < 2:
        return x, y, weight
    use_cutmix = mixing.cutmix > 0 and (mixing.mixup <= 0 or rng.random() < 0.5)
    alpha = mixing.cutmix if use_cutmix else mixing.mixup
    lam = float(rng.beta(alpha, alpha))
    partner = rng.permutation(len(x))
    x = x.astype(np.float32)
    if use_cutmix:
        height, width = x.shape[1:3]
        cut_h, cut_w = int(round(height * np.sqrt(1 - lam))), int(round(width * np.sqrt(1 - lam)))
        top, left = rng.integers(0, height - cut_h + 1), rng.integers(0, width - cut_w + 1)
        x[:, top : top + cut_h, left : left + cut_w] = x[partner, top : top + cut_h, left : left + cut_w]
        lam = 1.0 - cut_h * cut_w / (height * width)  # the share of pixels actually kept
    else:
        x = lam * x + (1 - lam) * x[partner]
    y = lam * y + (1 - lam) * y[partner]
    if weight is not None:
        weight = lam * weight + (1 - lam) * weight[partner]
    return x, y.astype(np.float32), weight
