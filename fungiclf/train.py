"""One job of fungiclf-train: resolve the composed config, load the data, train and evaluate
one model, write the run folder; a failure is one line in the folder, never a lost run.
The console script (Hydra's entry, the exit codes) is fungiclf/cli/train.py.

    from fungiclf.train import train
    metrics = train(cfg, Path("runs/try1"))   # cfg: a config composed from fungiclf.conf
"""

import logging
import math
import os
import shutil
import sys
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
from fungiclf import runs
from fungiclf.data.dataset import list_items, load_pixels
from fungiclf.data.prepare import cache_key
from fungiclf.data.views import views_warning
from fungiclf.errors import FAILURES_FILE_ENV, FungiclfError, RunPruned
from fungiclf.evaluation.run_folder import write_run_folder
from fungiclf.evaluation.summary import print_summary
from fungiclf.experiments import expand_row
from fungiclf.runs import STATE_DIR, write_json, write_yaml
from fungiclf.seeding import seed_everything
from fungiclf.settings import Settings, fingerprint, to_config
from fungiclf.settings.resolve import check_task, resolve
from fungiclf.tracking import log_finished_run
from fungiclf.training.callbacks import clock, duration
from fungiclf.training.job import train_job
from fungiclf.training.session import fresh_session
from fungiclf.validation import check_bool

log = logging.getLogger("fungiclf.train")


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Run one job from its composed config; returns metrics.json's content. Raises on failure."""
    return run(resolve(cfg), Path(run_dir))


def run(settings: Settings, run_dir: Path) -> dict:
    """resolve (done) -> data -> model, fit, evaluate -> run folder. Raises on failure."""
    stamp = fingerprint(settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    job_started, started_at = time.perf_counter(), time.time()
    fresh_session()
    seed_everything(settings.seed)
    for choice in settings.plan:  # what resolve decided from the data, before any work
        log.log(logging.WARNING if choice.warning else logging.INFO, "%s", choice.line())
    started = time.perf_counter()
    listing = list_items(settings.dataset, settings.seed, settings.paths.cache_dir)
    samples = listing.samples
    check_task(settings, samples.class_names, samples.labels, samples.groups, listing.split)  # before decoding
    write_yaml(run_dir / runs.CONFIG, to_config(settings))  # exactly what runs
    data = load_pixels(listing, settings.preprocess, settings.filters, settings.seed, settings.paths.cache_dir)
    if warning := views_warning(settings, data.images.shape[1:3]):  # before training; metrics.json keeps it too
        log.warning("%s", warning["message"])
    timings: dict = {"data_seconds": time.perf_counter() - started, "data_from_cache": data.from_cache}
    trained = train_job(settings, data, run_dir, stamp)
    timings.update(train_seconds=trained.outcome.train_seconds, eval_seconds=trained.outcome.eval_seconds)
    if trained.cv_seconds is not None:
        timings["cv_seconds"] = trained.cv_seconds
    timings.update(job_seconds=time.perf_counter() - job_started, started_at=started_at, finished_at=time.time())
    metrics = write_run_folder(run_dir, settings, data, trained, timings, stamp)
    shutil.rmtree(run_dir / STATE_DIR, ignore_errors=True)  # the fit state has served its purpose
    log_finished_run(settings.logger, to_config(settings), run_dir, metrics, trained.outcome.history)
    return metrics


def run_job(cfg: DictConfig, run_dir: Path, task_overrides: list[str] | None = None) -> float | None:
    """Train one job; a failure is recorded in its run folder as metrics.json with status
    "failed" and the one-line error (never over a completed run's metrics.json).

    ``task_overrides`` (the job's command-line overrides) pick an experiment row and are
    written to .hydra/overrides.yaml. A folder that holds a completed run is left untouched
    unless ``resume=true`` (which skips it, or replaces it when the config changed); a folder
    of someone else's files, or one another live job holds (runs.locked), is refused before
    anything in it is written. With ``dry_run=true`` it prints what it would do
    (dry_run_outcome()) and writes nothing. Returns ``optimized_metric``'s value (for
    sweepers), or None for a failed job or a dry run.
    """
    run_dir = Path(run_dir)
    try:
        dry_run = check_bool(cfg.get("dry_run", False), "dry_run", "fungiclf-train")
    except FungiclfError as exc:
        stop_logging_into(run_dir)
        return _record_failure(run_dir, cfg, str(exc), keep=True)
    if dry_run:
        stop_logging_into(run_dir)  # a dry run writes nothing into the job's folder
        shown = [item for item in task_overrides or [] if not item.lstrip("+~").startswith("dry_run=")]
        print(
            f"dry run: {' '.join(shown) or '(no overrides)'} -> {run_dir}: "
            f"{dry_run_outcome(cfg, run_dir, task_overrides)}",
            flush=True,
        )
        if run_dir.is_dir() and not any(run_dir.iterdir()):  # the empty folder Hydra made for the job
            run_dir.rmdir()
        return None
    try:
        refuse_foreign_folder(run_dir)
    except FungiclfError as exc:
        stop_logging_into(run_dir)
        return _record_failure(run_dir, cfg, str(exc), keep=True)
    try:
        with runs.locked(run_dir):
            return _run_locked_job(cfg, run_dir, task_overrides)
    except FungiclfError as exc:  # raised before the job began (it records its own): nothing was touched
        return _record_failure(run_dir, cfg, str(exc), keep=True)


def _run_locked_job(cfg: DictConfig, run_dir: Path, task_overrides: list[str] | None) -> float | None:
    previous = runs.completed_metrics(run_dir)
    completed = previous is not None
    if not completed:  # a completed run's folder is only written once the job is known to replace it
        write_hydra_files(run_dir, cfg, task_overrides)
    try:
        cfg = expand_row(cfg, list(task_overrides or []))
        settings = resolve(cfg, user_keys(task_overrides or []))
        stamp = fingerprint(settings)
        if completed and previous.get("config_fingerprint") == stamp and settings.resume:
            check_same_data(run_dir, previous, settings)
            log.info("resume=true: %s already holds a completed run of this config; skipping it", run_dir)
            return runs.dig(previous, settings.optimized_metric)
        if completed and not settings.resume:  # a finished run is a user's result: never trained over unasked
            if previous.get("config_fingerprint") == stamp:
                raise FungiclfError(
                    f"{run_dir} holds a completed run of this config; resume=true keeps it (the job "
                    f"is skipped), another hydra.run.dir trains it again"
                )
            raise FungiclfError(
                f"{run_dir} holds a completed run of another config; choose another hydra.run.dir, "
                f"or pass resume=true to replace it"
            )
        write_hydra_files(run_dir, cfg, task_overrides)  # the row's config, once expanded
        metrics = run(settings, run_dir)
    except KeyboardInterrupt:  # Ctrl-C: the sweep stops; main() exits 130 without a traceback
        _log_interrupt(run_dir)
        raise
    except RunPruned as exc:  # an Optuna study's pruner stopped it: no result, and no failure either
        return _record_pruned(run_dir, cfg, str(exc))
    except FungiclfError as exc:
        return _record_failure(run_dir, cfg, str(exc), keep=completed)
    except Exception as exc:  # a bug or a resource problem: keep the traceback in the run log
        if "KeyboardInterrupt" in str(exc):  # Ctrl-C inside a tf.py_function: TensorFlow's UnknownError
            _log_interrupt(run_dir)
            raise KeyboardInterrupt from None
        log.exception("Job failed")
        first = str(exc).splitlines()[0] if str(exc) else ""
        return _record_failure(run_dir, cfg, f"{type(exc).__name__}: {first}", keep=completed)
    print_summary(metrics, run_dir)
    log_sweep_estimate(metrics)
    return runs.dig(metrics, settings.optimized_metric)


def dry_run_outcome(cfg: DictConfig, run_dir: Path, task_overrides: list[str] | None) -> str:
    """What run_job would do with this job, in words, found by the same checks and nothing
    written: train, resume, skip as completed, replace, or be refused (and why)."""
    try:
        refuse_foreign_folder(run_dir)
        settings = resolve(expand_row(cfg, list(task_overrides or [])), user_keys(task_overrides or []))
    except FungiclfError as exc:
        return f"refused: {exc}"
    previous, stamp = runs.completed_metrics(run_dir), fingerprint(settings)
    what = f"{settings.model.name} on {settings.dataset.name}"
    if previous is not None:
        same = previous.get("config_fingerprint") == stamp
        if not settings.resume:
            return (
                f"refused: holds a completed run of {'this' if same else 'another'} config "
                f"({'resume=true skips it' if same else 'resume=true replaces it'})"
            )
        return (
            "skipped: holds a completed run of this config"
            if same
            else f"would replace its completed run (the config changed) and train {what}"
        )
    if (run_dir / STATE_DIR).is_dir() and settings.resume:
        return f"would resume {what} from its last completed epoch"
    return f"would train {what}"


def user_keys(overrides: list[str]) -> frozenset[str]:
    """The keys a command line sets ("model=cnn" -> model, "+trainer.x=1" -> trainer.x), which
    auto=true leaves as they are."""
    return frozenset(item.split("=", 1)[0].lstrip("+~").split("@", 1)[0] for item in overrides if "=" in item)


def log_sweep_estimate(metrics: dict) -> None:
    """After the first job of a sweep that runs its jobs one after another (Hydra's basic
    launcher), the estimated time of the others at the first one's pace."""
    if not HydraConfig.initialized():
        return
    hydra_config = HydraConfig.get()
    if (
        hydra_config.mode != RunMode.MULTIRUN
        or hydra_config.job.get("num") != 0
        or not hydra_config.launcher._target_.endswith("BasicLauncher")
    ):
        return
    jobs = sweep_size(sys.argv[1:], dict(hydra_config.sweeper.get("params") or {}))
    seconds = (metrics.get("timings") or {}).get("job_seconds")
    if jobs is None or jobs < 2 or seconds is None:
        return
    rest = (jobs - 1) * seconds
    log.info(
        "Sweep: the first of %d jobs took %s; the other %d take about %s at its pace, done near %s",
        jobs,
        duration(seconds),
        jobs - 1,
        duration(rest),
        clock(rest),
    )


def sweep_size(arguments: list[str], sweeper_params: dict) -> int | None:
    """The number of jobs of a sweep: the product of each swept key's values, from the
    command line and hydra.sweeper.params (the command line wins); None when a sweep's
    values cannot be counted without composing (glob)."""
    swept = {key: str(value) for key, value in sweeper_params.items()}
    swept.update(item.split("=", 1) for item in arguments if "=" in item and not item.startswith("-"))
    try:
        overrides = OverridesParser.create().parse_overrides([f"{key}={value}" for key, value in swept.items()])
        return math.prod(len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1 for o in overrides)
    except HydraException:
        return None


def check_same_data(run_dir: Path, previous: dict, settings: Settings) -> None:
    """Skip a completed run only when its images are the ones listed now (the cache key:
    paths, sizes, mtimes, inodes and ctimes, so content changes count): a result is never
    answered from data that has changed since."""
    listing = list_items(settings.dataset, settings.seed, settings.paths.cache_dir)
    now = cache_key(listing.samples, settings.preprocess.pixels)
    if previous.get("data_fingerprint") != now:
        raise FungiclfError(
            f"resume=true: the images changed since {run_dir} completed (data fingerprint "
            f"{previous.get('data_fingerprint')}, now {now}); its results are of the old images: "
            f"train on the new ones in another hydra.run.dir (a completed run is never replaced)"
        )


def refuse_foreign_folder(run_dir: Path) -> None:
    """A run folder is fungiclf's alone: one that holds files but is no run folder of ours
    (hydra.run.dir=~/Documents) is refused before anything in it is written or removed."""
    if not run_dir.is_dir() or runs.is_run_folder(run_dir):
        return
    foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in runs.RUN_FILES)
    if foreign:
        raise FungiclfError(
            f"{run_dir} holds files that are not a fungiclf run's ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); point hydra.run.dir at a new or empty folder"
        )


def stop_logging_into(folder: Path) -> None:
    """Close the log handlers that write into ``folder`` (Hydra's job log opens at its first
    record), so that a refused folder is left as it was found."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        target = getattr(handler, "baseFilename", None)
        if target and Path(target).parent.resolve() == folder.resolve():
            root.removeHandler(handler)
            handler.close()


def _log_interrupt(run_dir: Path) -> None:
    log.warning(
        "Interrupted: %s keeps what it finished (its last completed epoch); the same command with "
        "resume=true continues it",
        run_dir,
    )


def write_hydra_files(run_dir: Path, cfg: DictConfig, task_overrides: list[str] | None) -> None:
    """.hydra/config.yaml, overrides.yaml (and hydra.yaml inside Hydra), written by the job
    itself (hydra.output_subdir is null) so that a refused job changes nothing."""
    folder = run_dir / runs.HYDRA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, folder / "config.yaml")
    write_yaml(run_dir / runs.OVERRIDES, list(task_overrides or []))
    if HydraConfig.initialized():
        OmegaConf.save(OmegaConf.create({"hydra": OmegaConf.to_container(HydraConfig.get())}), folder / "hydra.yaml")


def _record_pruned(run_dir: Path, cfg: DictConfig, message: str) -> None:
    """metrics.json with status "pruned" and why (the study sweeper tells Optuna the trial was
    pruned); the unfinished fit's state is left for nobody, so it goes."""
    log.info("%s", message)
    shutil.rmtree(run_dir / STATE_DIR, ignore_errors=True)
    write_json(
        run_dir / runs.METRICS,
        {
            "status": "pruned",
            "error": message,
            "dataset": OmegaConf.select(cfg, "dataset.name"),
            "model": OmegaConf.select(cfg, "model.name"),
        },
    )


def _record_failure(run_dir: Path, cfg: DictConfig, message: str, keep: bool = False) -> None:
    """Log the one-line error, write it to metrics.json (unless ``keep``: a completed run's
    metrics.json is never replaced by a failure) and to the failures file."""
    message = " ".join(message.split())
    log.error("%s", message)
    if not keep:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(
            run_dir / runs.METRICS,
            {
                "status": "failed",
                "error": message,
                "dataset": OmegaConf.select(cfg, "dataset.name"),
                "model": OmegaConf.select(cfg, "model.name"),
            },
        )
    if failures_file := os.environ.get(FAILURES_FILE_ENV):
        with open(failures_file, "a") as f:  # one short append per failed job
            f.write(f"{run_dir}: {message}\n")
