"""Class balancing of the training split: class weights or oversampling."""

import numpy as np
from sklearn.utils.class_weight import compute_class_weight


def class_weights(trainer, labels: np.ndarray, class_names: list[str]) -> dict[int, float] | None:
    """Per-class loss weights of TrainerSettings ``trainer``: "balanced" (n / (k * count)) or
    its {name: weight} mapping (unnamed classes 1.0); None unless balance=class_weight."""
    if trainer.balance != "class_weight":
        return None
    spec = trainer.class_weight or "balanced"
    if spec == "balanced":
        present = np.unique(labels)
        weights = compute_class_weight("balanced", classes=present, y=labels)
        return {int(c): float(w) for c, w in zip(present, weights)}
    return {i: float(spec.get(name, 1.0)) for i, name in enumerate(class_names)}


def oversample(index: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """Repeat minority-class rows (drawn at random) until every class has the majority count."""
    rng = np.random.default_rng(seed)
    counts = {c: np.flatnonzero(labels[index] == c) for c in np.unique(labels[index])}
    target = max(len(v) for v in counts.values())
    parts = [index]
    for rows in counts.values():
        if len(rows) < target:
            parts.append(index[rng.choice(rows, target - len(rows), replace=True)])
    return np.concatenate(parts)
