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
SCHEDULE_KEYS = {"name", "lr", "schedule", "plateau_factor", "plateau_patience", "min_lr", "warmup_epochs", "ema"}


def build_optimizer(cfg: DictConfig, steps_per_epoch: int, epochs: int,
                    lr_scale: float = 1.0) -> keras.optimizers.Optimizer:
    """The optimizer of ``optimizer.name`` with ``optimizer.lr * lr_scale`` (constant or cosine-decayed).

    ``optimizer.warmup_epochs`` (cosine only) raises the rate linearly from 0 over that many
    epochs before the decay; ``optimizer.ema`` (a momentum such as 0.999) keeps an
    exponential moving average of the weights, which validation and the checkpoint use.
    reduce_on_plateau is a callback (see callbacks.py); here it leaves the rate constant.
    """
    name = check_choice(cfg.name, sorted(OPTIMIZERS), "name", "optimizer")
    lr = check_number(cfg.lr, "lr", "optimizer", 0.0, low_open=True) * lr_scale
    schedule = check_choice(cfg.get("schedule", "none"), SCHEDULES, "schedule", "optimizer")
    kwargs = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items()
              if k not in SCHEDULE_KEYS and v is not None}
    warmup = float(check_number(cfg.get("warmup_epochs") or 0, "warmup_epochs", "optimizer", 0.0))
    if warmup and schedule != "cosine":
        raise ConfigError(f"optimizer.warmup_epochs={warmup:g} needs optimizer.schedule=cosine")
    rate: float | keras.optimizers.schedules.LearningRateSchedule = float(lr)
    if schedule == "cosine":
        warmup_steps = int(round(min(warmup, epochs) * steps_per_epoch))
        decay_steps = max(1, steps_per_epoch * epochs - warmup_steps)
        rate = keras.optimizers.schedules.CosineDecay(0.0, decay_steps, warmup_target=float(lr),
                                                      warmup_steps=warmup_steps) if warmup_steps else \
            keras.optimizers.schedules.CosineDecay(float(lr), decay_steps=decay_steps)
    ema = cfg.get("ema")
    if ema is not None:
        kwargs.update(use_ema=True, ema_momentum=float(check_number(ema, "ema", "optimizer", 0.0, 1.0, low_open=True)))
    try:
        return OPTIMIZERS[name](learning_rate=rate, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer {name!r}: {str(exc).splitlines()[0]}") from None
