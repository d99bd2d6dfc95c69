"""hparams_search=optuna: a Hydra sweeper on Optuna's ask-and-tell API.

Each trial is asked from the study, launched as an ordinary job by whichever Hydra launcher is
configured (basic, joblib, Ray, submitit), and told its result from the job's run folder:
completed (optimized_metric's value), pruned (the study's pruner stopped it from its per-epoch
validation metric) or failed. The study lives in an RDB storage (``hydra.sweeper.storage``, by
default ``study.db`` in the sweep folder), so a second invocation continues it: new trials,
drawn by a sampler seeded past the trials already there, in new folders named by trial number.

Hydra finds the class through hydra_plugins/fungiclf_study_sweeper; this module imports nothing
heavy until a sweep starts (Hydra imports every plugin at each start, --help included).
"""

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, RangeSweep, ValueType
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("fungiclf.study")

STUDY_FILE = "study.db"  # the default storage, in the sweep folder
RESULTS_FILE = "optimization_results.yaml"  # the study's best trial, in the sweep folder


@dataclass(frozen=True)
class SearchSpace:
    """What the trials vary and what they share.

    Attributes:
        distributions: key -> optuna distribution, from hydra.sweeper.params and the command
            line's sweeps (``choice``, ``interval``, ``range``, ``a,b,c``; ``tag(log, ...)``).
        fixed: the command line's other overrides, passed to every trial as typed.
    """

    distributions: dict[str, Any]
    fixed: list[str]


class StudySweeper(Sweeper):
    """Runs ``n_trials`` trials of an Optuna study, ``n_jobs`` at a time.

    Args:
        direction: "maximize" or "minimize" (the job's optimized_metric).
        study_name: the study's name in ``storage``.
        storage: an RDB URL (sqlite:///study.db, postgresql://...); relative SQLite paths are
            made absolute here, before any job leaves; None: sqlite in the sweep folder.
        n_trials: trials this invocation adds.
        n_jobs: trials launched together (parallel with hydra/launcher=joblib, ray, slurm).
        sampler: {_target_: optuna.samplers.X, ...}; its ``seed`` is offset by the trials
            already in the study, so that a continued study draws new settings.
        pruner: {_target_: optuna.pruners.X, ...} or None (no pruning); kept in the study.
        params: key -> Hydra sweep expression, the search space.
    """

    def __init__(
        self,
        direction: str = "maximize",
        study_name: str = "fungiclf",
        storage: str | None = None,
        n_trials: int = 20,
        n_jobs: int = 1,
        sampler: Any = None,
        pruner: Any = None,
        params: Any = None,
    ) -> None:
        if direction not in ("maximize", "minimize"):
            raise HydraException(f"hydra.sweeper.direction must be maximize or minimize, not {direction!r}")
        for key, value in (("n_trials", n_trials), ("n_jobs", n_jobs)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise HydraException(f"hydra.sweeper.{key} must be a whole number >= 1, not {value!r}")
        self.direction, self.study_name, self.storage = direction, study_name, storage
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.sampler, self.pruner = plain(sampler), plain(pruner)
        self.params = {str(key): str(value) for key, value in (plain(params) or {}).items()}
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        import optuna

        from fungiclf.study import PRUNER_ATTR

        assert self.config is not None
        space = search_space(self.params, arguments)
        sweep_dir = Path(self.config.hydra.sweep.dir).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        storage = absolute_storage(self.storage, sweep_dir)
        pruner = optuna_part(self.pruner, "pruners")
        try:
            study = optuna.create_study(
                study_name=self.study_name,
                storage=storage,
                direction=self.direction,
                load_if_exists=True,
                pruner=pruner,
            )
        except Exception as exc:  # no database there, no driver for it, no access: before any trial
            first = (str(exc).splitlines() or [""])[0]
            raise HydraException(
                f"hydra.sweeper.storage: cannot open {storage}: {type(exc).__name__}: {first}"
            ) from None
        earlier = len(study.trials)
        sampler = optuna_part(offset_seed(self.sampler, earlier), "samplers")
        study.sampler = sampler or optuna.samplers.TPESampler(seed=earlier)
        if study.direction.name.lower() != self.direction:
            raise HydraException(
                f"hydra.sweeper.direction={self.direction}, but study {self.study_name!r} in {storage} "
                f"{study.direction.name.lower()}s; give another hydra.sweeper.study_name"
            )
        study.set_user_attr(PRUNER_ATTR, self.pruner)
        log.info(
            "Study %r in %s: %d trials before this sweep, %d more, %d at a time",
            self.study_name,
            storage,
            earlier,
            self.n_trials,
            self.n_jobs,
        )
        returns: list[list[JobReturn]] = []
        asked = 0
        while asked < self.n_trials:
            trials = [study.ask(space.distributions) for _ in range(min(self.n_jobs, self.n_trials - asked))]
            asked += len(trials)
            batch = [trial_overrides(space, trial, storage, self.study_name) for trial in trials]
            told: set[int] = set()
            try:
                self.validate_batch_is_legal(batch)
                results = list(self.launcher.launch(batch, initial_job_idx=trials[0].number))
                for trial, result in zip(trials, results):
                    state, value = trial_outcome(result, sweep_dir / str(trial.number))
                    study.tell(trial, value, state=state)
                    told.add(trial.number)
            finally:  # Ctrl-C, a composition error: the trials asked but not told are failed, not left running
                for trial in trials:
                    if trial.number not in told:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
            returns.append(results)
        write_results(study, sweep_dir)
        return returns


def optuna_part(config: dict | None, kind: str) -> Any:
    """build_optuna (fungiclf/study.py), its refusal as Hydra's one-line error."""
    from fungiclf.study import build_optuna

    try:
        return build_optuna(config, kind)
    except ValueError as exc:
        raise HydraException(str(exc)) from None


def plain(value: Any) -> Any:
    """A DictConfig / ListConfig as plain Python (what Optuna and a study's attributes take)."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def absolute_storage(storage: str | None, sweep_dir: Path) -> str:
    """The study's RDB URL with a relative SQLite path made absolute (jobs may run in another
    folder, or on another host); None -> sqlite in the sweep folder."""
    if storage is None:
        return f"sqlite:///{sweep_dir / STUDY_FILE}"
    prefix = "sqlite:///"
    if storage.startswith(prefix) and not storage.startswith(prefix + "/") and storage != prefix + ":memory:":
        return prefix + str(Path(storage[len(prefix) :]).expanduser().absolute())
    return storage


def offset_seed(sampler: dict | None, earlier: int) -> dict | None:
    """The sampler's config with its seed moved past the study's ``earlier`` trials (a
    continued study would otherwise draw its first settings again)."""
    if not sampler or sampler.get("seed") is None:
        return sampler
    return {**sampler, "seed": int(sampler["seed"]) + earlier}


def search_space(params: dict[str, str], arguments: list[str]) -> SearchSpace:
    """The distributions of hydra.sweeper.params and of the command line's sweeps (the command
    line wins), and the command line's fixed overrides."""
    import optuna

    parser = OverridesParser.create()
    overrides = parser.parse_overrides([f"{key}={value}" for key, value in params.items()] + list(arguments))
    distributions: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for override in overrides:
        key = override.get_key_element()
        distributions.pop(key, None)
        fixed.pop(key, None)
        if not override.is_sweep_override():
            fixed[key] = override.input_line or f"{key}={override.get_value_element_as_str()}"
            continue
        value = override.value()
        if key.startswith("hydra.") or override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            raise HydraException(
                f"{override.input_line} cannot be searched: give choice(...), "
                f"interval(a, b), range(a, b) or a,b,c on a key of the job's config"
            )
        if isinstance(value, IntervalSweep):
            log_scale = "log" in value.tags
            if "int" in value.tags:  # tag(int, interval(1, 8)): Hydra's intervals are floats otherwise
                distributions[key] = optuna.distributions.IntDistribution(
                    math.ceil(value.start), math.floor(value.end), log=log_scale
                )
            else:
                distributions[key] = optuna.distributions.FloatDistribution(
                    float(value.start), float(value.end), log=log_scale
                )
        elif isinstance(value, RangeSweep) and all(isinstance(x, int) for x in (value.start, value.stop, value.step)):
            values = list(range(value.start, value.stop, value.step))
            if not values:
                raise HydraException(f"{override.input_line}: the range holds no value")
            distributions[key] = optuna.distributions.IntDistribution(min(values), max(values), step=abs(value.step))
        else:  # choice(...), a,b,c, a range of floats: the values as override text
            distributions[key] = optuna.distributions.CategoricalDistribution(list(override.sweep_string_iterator()))
    return SearchSpace(distributions, list(fixed.values()))


def trial_overrides(space: SearchSpace, trial: Any, storage: str, study_name: str) -> list[str]:
    """The job's overrides: the fixed ones, the trial's values, its folder (the trial's number)
    and its address (environment variables, through hydra.job.env_set: not the job's config)."""
    from fungiclf.study import TrialAddress

    values = [f"{key}={override_value(value)}" for key, value in trial.params.items()]
    address = TrialAddress(storage, study_name, trial._trial_id)  # Optuna's own Trial(study, id) needs it
    env = [f"++hydra.job.env_set.{key}={quoted(value)}" for key, value in address.env().items()]
    return [*space.fixed, *values, f"hydra.sweep.subdir={trial.number}", *env]


def override_value(value: Any) -> str:
    """A trial's value as Hydra override text: numbers as Python writes them, the categorical
    choices already as override text (sweep_string_iterator)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def quoted(text: str) -> str:
    """``text`` as a single-quoted Hydra override string (URLs hold ':' '/' '@' '?'). Hydra reads a
    backslash as an escape only in a run before a quote or the closing quote: those runs are
    doubled, and each quote escaped."""
    return "'" + re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), text) + "'"


def trial_outcome(result: JobReturn, run_dir: Path) -> tuple[Any, float | None]:
    """(Optuna state, value) of a finished job: COMPLETE with optimized_metric's value, PRUNED
    when the run folder says so, FAIL otherwise (failed, interrupted, no such metric)."""
    import optuna

    from fungiclf import runs

    states = optuna.trial.TrialState
    value = result._return_value if result.status == JobStatus.COMPLETED else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return states.COMPLETE, float(value)
    status = runs.read_run(run_dir)["status"]
    if status == "pruned":
        return states.PRUNED, None
    if status == "completed":
        log.warning("%s completed, but its metrics.json has no value of optimized_metric: the trial fails", run_dir)
    return states.FAIL, None


def write_results(study: Any, sweep_dir: Path) -> None:
    """optimization_results.yaml: the study's trials by state and its best trial (when one
    completed), and the log line that says the same."""
    from fungiclf.runs import write_yaml

    counts: dict[str, int] = {}
    for trial in study.trials:
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    record: dict[str, Any] = {"name": study.study_name, "direction": study.direction.name.lower(), "trials": counts}
    if any(t.state.name == "COMPLETE" for t in study.trials):
        best = study.best_trial
        record.update(best_trial=best.number, best_value=best.value, best_params=dict(best.params))
        log.info(
            "Study %r: %s; best trial %d (%s): %.4f with %s",
            study.study_name,
            ", ".join(f"{n} {state}" for state, n in counts.items()),
            best.number,
            sweep_dir / str(best.number),
            best.value,
            " ".join(f"{k}={override_value(v)}" for k, v in best.params.items()),
        )
    write_yaml(sweep_dir / RESULTS_FILE, record)
