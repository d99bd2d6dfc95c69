"""Optimizers by name (each with the arguments of its own that a config may set), the
learning-rate schedule, and weight averaging."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from fungiclf.errors import ConfigError
from fungiclf.validation import check_bool, check_number

SCHEDULES = ["none", "cosine", "reduce_on_plateau"]
# Keys of the optimizer group that are the runner's, not the optimizer class's.
RUNNER_KEYS = {"name", "lr", "schedule", "plateau_factor", "plateau_patience", "min_lr", "warmup_epochs", "ema"}


def _unit(value: Any, key: str) -> float:
    return float(check_number(value, key, "optimizer", 0.0, 1.0))


def _decay(value: Any, key: str) -> float | None:
    return None if value is None else float(check_number(value, key, "optimizer", 0.0))


@dataclass(frozen=True)
class OptimizerSpec:
    """A Keras optimizer class and the checks of the arguments a config may give it."""

    cls: type[keras.optimizers.Optimizer]
    arguments: dict[str, Callable[[Any, str], Any]]

    def check_kwargs(self, group: dict) -> dict:
        """The class's own arguments from the optimizer group, checked; other keys refused."""
        unknown = sorted(set(group) - RUNNER_KEYS - set(self.arguments))
        if unknown:
            raise ConfigError(
                f"optimizer.{unknown[0]} does not apply to {self.cls.__name__}; its arguments are "
                f"{sorted(self.arguments)}"
            )
        return {
            key: check(group[key], key)
            for key, check in self.arguments.items()
            if key in group and group[key] is not None
        }


ADAM_ARGUMENTS = {"beta_1": _unit, "beta_2": _unit, "weight_decay": _decay}
OPTIMIZERS: dict[str, OptimizerSpec] = {
    "adam": OptimizerSpec(keras.optimizers.Adam, ADAM_ARGUMENTS),
    "adamw": OptimizerSpec(keras.optimizers.AdamW, ADAM_ARGUMENTS),
    "rmsprop": OptimizerSpec(keras.optimizers.RMSprop, {"rho": _unit, "momentum": _unit, "weight_decay": _decay}),
    "sgd": OptimizerSpec(
        keras.optimizers.SGD,
        {"momentum": _unit, "weight_decay": _decay, "nesterov": lambda v, k: check_bool(v, k, "optimizer")},
    ),
}


def build_optimizer(settings, steps_per_epoch: int, epochs: int, lr_scale: float = 1.0) -> keras.optimizers.Optimizer:
    """The optimizer of OptimizerSettings ``settings`` with rate ``lr * lr_scale``: constant, or
    cosine-decayed over ``epochs`` after a linear warm-up of ``warmup_epochs`` from 0.

    ``ema`` keeps an exponential moving average of the weights, which validation and the
    checkpoint use (callbacks.py). reduce_on_plateau is a callback; here it leaves the
    rate constant.
    """
    lr = settings.lr * lr_scale
    rate: float | keras.optimizers.schedules.LearningRateSchedule = float(lr)
    if settings.schedule == "cosine":
        warmup_steps = int(round(min(settings.warmup_epochs, epochs) * steps_per_epoch))
        decay_steps = max(1, steps_per_epoch * epochs - warmup_steps)
        rate = (
            keras.optimizers.schedules.CosineDecay(0.0, decay_steps, warmup_target=float(lr), warmup_steps=warmup_steps)
            if warmup_steps
            else keras.optimizers.schedules.CosineDecay(float(lr), decay_steps=decay_steps)
        )
    kwargs = dict(settings.kwargs)
    if settings.ema is not None:
        kwargs.update(use_ema=True, ema_momentum=settings.ema)
    try:
        return OPTIMIZERS[settings.name].cls(learning_rate=rate, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer {settings.name!r}: {str(exc).splitlines()[0]}") from None
