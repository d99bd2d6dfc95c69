"""Exceptions a user can cause. The CLI turns them into one line and a non-zero exit."""

# fungiclf-train names a file here; every failed job, in its process or in a launcher's
# worker process (hydra/launcher=joblib), appends its one-line error to it.
FAILURES_FILE_ENV = "FUNGICLF_FAILED_JOBS_FILE"
# Set in a job that a Submitit launcher resubmitted after SIGUSR2 (a time limit, preemption):
# the job continues its run as with resume=true (hydra_plugins/fungiclf_submitit_launcher).
REQUEUED_ENV = "FUNGICLF_REQUEUED"


class FungiclfError(Exception):
    """An error caused by user input (config, data, paths), not by a bug."""


class ConfigError(FungiclfError, ValueError):
    """A config value is missing, of the wrong type, or out of range."""


class DataError(FungiclfError):
    """A dataset is missing, empty or malformed."""


class DecodeError(Exception):
    """One file is not an image that can be read (the caller skips it and says why)."""


class RunPruned(Exception):
    """An Optuna study's pruner stopped this trial's job early (hparams_search=optuna): the job
    is recorded as "pruned", which is neither a result nor a failure."""
