"""Class balancing of the training split: class weights or oversampling."""

import numpy as np
from omegaconf import DictConfig, OmegaConf
from sklearn.utils.class_weight import compute_class_weight

from fungiclf.errors import ConfigError
from fungiclf.validation import check_choice

BALANCE_MODES = ["none", "class_weight", "oversample"]


def balance_mode(trainer: DictConfig) -> str:
    """Reconcile ``trainer.balance`` with the older ``trainer.class_weight`` spelling."""
    mode = check_choice(trainer.get("balance", "none"), BALANCE_MODES, "balance", "trainer")
    legacy = trainer.get("class_weight")
    if legacy is None:
        return mode
    if mode not in ("none", "class_weight"):
        raise ConfigError(f"trainer.class_weight={legacy!r} conflicts with trainer.balance={mode!r}; set one of them")
    return "class_weight"


def class_weights(trainer: DictConfig, labels: np.ndarray, class_names: list[str]) -> dict[int, float] | None:
    """Per-class loss weights: "balanced" (n / (k * count)) or an explicit {name: weight} mapping."""
    if balance_mode(trainer) != "class_weight":
        return None
    spec = trainer.get("class_weight") or "balanced"
    if spec == "balanced":
        present = np.unique(labels)
        weights = compute_class_weight("balanced", classes=present, y=labels)
        return {int(c): float(w) for c, w in zip(present, weights)}
    if isinstance(spec, str):
        raise ConfigError(f"The 'class_weight' parameter of trainer must be 'balanced' or a mapping of class name to "
                          f"weight. Got {spec!r} instead.")
    mapping = OmegaConf.to_container(spec) if not isinstance(spec, dict) else spec
    unknown = set(map(str, mapping)) - set(class_names)
    if unknown:
        raise ConfigError(f"trainer.class_weight names unknown classes {sorted(unknown)}; classes are {class_names}")
    return {i: float(mapping.get(name, 1.0)) for i, name in enumerate(class_names)}


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
