"""An Optuna study's trial, handed from the sweeper that asked for it to the job that runs it.

hparams_search=optuna runs fungiclf's own Hydra sweeper (fungiclf/study_sweeper.py) on Optuna's
ask-and-tell API. For each trial it sets three environment variables in the job (through
``hydra.job.env_set``, so they never enter the job's config or its fingerprint); the job's
pruning callback (training/pruning.py) opens the trial from them, reports each epoch's
validation metric and asks the study's pruner whether to go on. The pruner's settings are kept
in the study itself (a user attribute), so every job of the study prunes alike.

Optuna is imported only here and only when a study is opened.
"""

import os
from dataclasses import dataclass
from typing import Any, Mapping

STORAGE_ENV = "FUNGICLF_STUDY_STORAGE"
STUDY_ENV = "FUNGICLF_STUDY_NAME"
TRIAL_ENV = "FUNGICLF_STUDY_TRIAL_ID"
PRUNER_ATTR = "fungiclf_pruner"  # the study's user attribute holding the pruner's config (or None)


@dataclass(frozen=True)
class TrialAddress:
    """Where a job finds its trial.

    Attributes:
        storage: the study's RDB URL (absolute paths for SQLite).
        study_name: the study's name in that storage.
        trial_id: Optuna's id of the trial (unique in the storage; not the trial's number).
    """

    storage: str
    study_name: str
    trial_id: int

    def env(self) -> dict[str, str]:
        """The job's environment variables."""
        return {STORAGE_ENV: self.storage, STUDY_ENV: self.study_name, TRIAL_ENV: str(self.trial_id)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "TrialAddress | None":
        """The address set by the sweeper, or None for a job that is no study's trial."""
        if not all(environ.get(key) for key in (STORAGE_ENV, STUDY_ENV, TRIAL_ENV)):
            return None
        return cls(environ[STORAGE_ENV], environ[STUDY_ENV], int(environ[TRIAL_ENV]))


def build_optuna(config: Mapping[str, Any] | None, kind: str) -> Any:
    """The Optuna sampler or pruner of ``config`` ({"_target_": "optuna.pruners.MedianPruner",
    ...}); None for a config of None. ``kind``: "samplers" or "pruners". Only classes of that
    Optuna module are built: a pruner's config is read back from the study's storage, which is
    no place to name code to run. Raises ValueError (one line) for anything else, or options the
    class refuses."""
    import optuna

    if not config:
        return None
    options = dict(config)
    target = str(options.pop("_target_", ""))
    module, prefix = getattr(optuna, kind), f"optuna.{kind}."
    name = target[len(prefix) :] if target.startswith(prefix) else ""
    if name not in module.__all__ or not isinstance(getattr(module, name), type):
        raise ValueError(f"hydra.sweeper.{kind[:-1]}: {target!r} is not one of Optuna's {kind} ({prefix}*)")
    try:
        return getattr(module, name)(**options)
    except (TypeError, ValueError) as exc:  # an option it does not take, or a value it refuses
        raise ValueError(f"hydra.sweeper.{kind[:-1]}: {name}: {exc}") from None


def open_trial(address: TrialAddress) -> Any:
    """The optuna.trial.Trial at ``address``, in its study with the study's own pruner."""
    import optuna

    study = optuna.load_study(study_name=address.study_name, storage=address.storage)
    study.pruner = build_optuna(study.user_attrs.get(PRUNER_ATTR), "pruners") or optuna.pruners.NopPruner()
    return optuna.trial.Trial(study, address.trial_id)
