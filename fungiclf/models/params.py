"""What each model family's builder keys may hold, checked by resolve() before any work.

A family's spec maps a config key to a check ``(value, key) -> cleaned value`` that raises
ConfigError in the one message template. scikit-learn models are checked by the
estimator's own parameter validation instead (same template).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from fungiclf.errors import ConfigError
from fungiclf.validation import (
    check_bool,
    check_choice,
    check_fraction,
    check_int_list,
    check_number,
    did_you_mean,
    invalid,
)

Check = Callable[[Any, str], Any]
OWNER = "model"
BLOCK_KEYS = ("filters", "kernel", "convs", "batch_norm", "pool", "dropout")


def positive(value: Any, key: str) -> int:
    return int(check_number(value, key, OWNER, 1, integer=True))


def widths(value: Any, key: str) -> list[int]:
    return list(check_int_list(value, key, OWNER))


def rate(value: Any, key: str) -> float:
    return check_fraction(value, key, OWNER)


def flag(value: Any, key: str) -> bool:
    return check_bool(value, key, OWNER)


def choice(*options: Any) -> Check:
    return lambda value, key: check_choice(value, list(options), key, OWNER)


def optional_pool(value: Any, key: str) -> int | None:
    return None if value is None else positive(value, key)


def activation(value: Any, key: str) -> str | None:
    """A Keras activation name, or null for none (linear)."""
    if value is None:
        return None
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise invalid(key, OWNER, "a Keras activation name (relu, tanh, gelu, ...) or null", value) from None
    return value


def blocks(value: Any, key: str) -> list[dict]:
    """Conv blocks: a list of mappings of BLOCK_KEYS (each key optional)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise invalid(key, OWNER, f"a list of mappings with keys from {list(BLOCK_KEYS)}", value)
    checks = {
        "filters": positive,
        "kernel": positive,
        "convs": positive,
        "batch_norm": flag,
        "pool": optional_pool,
        "dropout": rate,
    }
    cleaned = []
    for i, block in enumerate(value):
        if not hasattr(block, "items"):
            raise invalid(f"{key}[{i}]", OWNER, f"a mapping with keys from {list(BLOCK_KEYS)}", block)
        unknown = set(block) - set(BLOCK_KEYS)
        if unknown:
            raise invalid(f"{key}[{i}]", OWNER, f"a mapping with keys from {list(BLOCK_KEYS)}", dict(block))
        cleaned.append({k: checks[k](v, f"{key}[{i}].{k}") for k, v in block.items()})
    if not cleaned:
        raise invalid(key, OWNER, "a non-empty list of conv blocks", list(value))
    return cleaned


def backbone_weights(value: Any, key: str) -> str | None:
    """imagenet, null (random initialisation) or a path to an existing weights file."""
    if value in (None, "imagenet"):
        return value
    if not isinstance(value, str) or not Path(value).expanduser().is_file():
        raise invalid(key, OWNER, "imagenet, null or the path of an existing .weights.h5 file", value)
    return str(Path(value).expanduser())


def finetune(value: Any, key: str) -> dict | None:
    """model.finetune: {epochs >= 0, unfreeze: int >= 0 or all, lr_factor > 0}, or null."""
    if value is None:
        return None
    if not hasattr(value, "get"):
        raise invalid(key, OWNER, "a mapping {epochs, unfreeze, lr_factor} or null", value)
    unfreeze = value.get("unfreeze", 20)
    if unfreeze != "all":
        unfreeze = int(check_number(unfreeze, f"{key}.unfreeze", OWNER, 0, integer=True))
    return {
        "epochs": int(check_number(value.get("epochs", 0), f"{key}.epochs", OWNER, 0, integer=True)),
        "unfreeze": unfreeze,
        "lr_factor": float(check_number(value.get("lr_factor", 0.1), f"{key}.lr_factor", OWNER, 0.0, low_open=True)),
    }


CNN: dict[str, Check] = {
    "blocks": blocks,
    "filters": positive,
    "kernel": positive,
    "convs": positive,
    "padding": choice("valid", "same"),
    "batch_norm": flag,
    "pool": optional_pool,
    "block_dropout": rate,
    "pooling": choice("flatten", "gap"),
    "dense": widths,
    "dropout": rate,
}
DENSE: dict[str, Check] = {"units": widths, "hidden_activation": activation, "dropout": rate}
LINEAR: dict[str, Check] = {"layers": positive, "units": positive, "hidden_activation": activation}
RESNET: dict[str, Check] = {
    "small_stem": choice("auto", True, False),
    "width": positive,
    "dense": widths,
    "dropout": rate,
}
CONVMIXER: dict[str, Check] = {"dim": positive, "depth": positive, "kernel": positive, "patch": positive}


def application(backbones: list[str]) -> dict[str, Check]:
    return {"backbone": choice(*backbones), "weights": backbone_weights, "dense": widths, "dropout": rate}


def check_params(spec: dict[str, Check], params: dict, model: str) -> dict:
    """Every key of ``params`` checked against the family ``spec`` (unknown keys refused)."""
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ConfigError(
            did_you_mean(
                unknown[0],
                sorted(spec),
                f"model {model!r} has no parameter {unknown[0]!r}; its parameters are {sorted(spec)}",
                "model.",
            )
        )
    return {key: spec[key](value, key) for key, value in params.items()}
