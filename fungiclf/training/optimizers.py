"""Optimizers by name, with an optional cosine learning-rate schedule."""

import keras
from omegaconf import DictConfig, OmegaConf

from fungiclf.errors import ConfigError
from fungiclf.validation import check_choice, check_number

OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}
SCHEDULES = ["none", "cosine", "reduce_on_plateau"]
# Keys of the optimizer config that are not constructor arguments.
SCHEDULE_KEYS = {"name", "lr", "schedule", "plateau_factor", "plateau_patience", "min_lr"}


def build_optimizer(cfg: DictConfig, steps_per_epoch: int, epochs: int,
                    lr_scale: float = 1.0) -> keras.optimizers.Optimizer:
    """The optimizer of ``optimizer.name`` with ``optimizer.lr * lr_scale`` (constant or cosine-decayed).

    reduce_on_plateau is a callback (see callbacks.py); here it leaves the rate constant.
    """
    name = check_choice(cfg.name, sorted(OPTIMIZERS), "name", "optimizer")
    lr = check_number(cfg.lr, "lr", "optimizer", 0.0, low_open=True) * lr_scale
    schedule = check_choice(cfg.get("schedule", "none"), SCHEDULES, "schedule", "optimizer")
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items()
              if k not in SCHEDULE_KEYS and v is not None}
    rate: float | keras.optimizers.schedules.LearningRateSchedule = float(lr)
    if schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(float(lr), decay_steps=max(1, steps_per_epoch * epochs))
    try:
        return OPTIMIZERS[name](learning_rate=rate, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer {name!r}: {str(exc).splitlines()[0]}") from None
