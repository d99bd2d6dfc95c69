"""fungiclf-train's console script: Hydra composes the config (and answers --help, --cfg and
every composition error) before the job's code, and with it Keras, is imported; then each
job runs through fungiclf.train.run_job. Exit 1 with one line per failed job, 130 after
Ctrl-C, 143 after SIGTERM."""

import os
import signal
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra_plugins.fungiclf_ray_launcher import RayLauncher
from hydra_plugins.fungiclf_study_sweeper import StudySweeper
from omegaconf import DictConfig, OmegaConf

from fungiclf.cli import ctrl_c_that_lands, outlive_closed_stdout
from fungiclf.errors import FAILURES_FILE_ENV
from fungiclf.settings.compose_errors import composition_error_line


def user_options() -> str:
    """--help's list of config groups, each with the options a user can pick: the YAML files
    of the package's conf/ (the base_* schemas they build on, and Hydra's own groups, left
    out). One line per group, ``group: a, b, c``."""
    root = files("fungiclf.conf")
    lines = []
    for group in sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_dir() and entry.name != "hydra" and not entry.name.startswith(("_", "."))
    ):
        options = sorted(Path(entry.name).stem for entry in (root / group).iterdir() if entry.name.endswith(".yaml"))
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)


OmegaConf.register_new_resolver("fungiclf_user_options", user_options, replace=True)  # used by hydra.help.template
# Hydra's plugin scan walks hydra_plugins with pkgutil, which cannot see into an editable install:
# registered by hand, hparams_search=optuna and hydra/launcher=ray_cluster find their plugins
# however fungiclf was installed.
Plugins.instance().register(StudySweeper)
Plugins.instance().register(RayLauncher)
try:  # fungiclf[slurm]
    from hydra_plugins.fungiclf_submitit_launcher import LocalLauncher, SlurmLauncher

    Plugins.instance().register(LocalLauncher)
    Plugins.instance().register(SlurmLauncher)
except ImportError:
    pass


@hydra.main(version_base="1.3", config_path="pkg://fungiclf.conf", config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    from fungiclf.train import run_job  # Keras and the training code: only once a job runs

    outlive_closed_stdout()  # again in a launcher's worker process, whose stdout is its own
    hydra_config = HydraConfig.get()
    # The overrides as typed: resolving them would run their interpolations (${oc.env:UNSET})
    # outside the job's checks.
    overrides = OmegaConf.to_container(hydra_config.overrides.task, resolve=False)
    return run_job(cfg, Path(hydra_config.runtime.output_dir), overrides)


def launcher_errors() -> tuple[type[BaseException], ...]:
    """The errors a cluster launcher raises for a job that ended without a result (those of
    the launchers installed here)."""
    errors: list[type[BaseException]] = []
    try:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        errors += [FailedJobError, UncompletedJobError]
    except ImportError:
        pass
    return tuple(errors)


def main() -> None:
    """Console script: run the job(s); exit 1 with one line per failed job (130 after Ctrl-C,
    143 after SIGTERM, with the jobs that failed before it listed)."""
    traceback_asked = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its composition errors instead of printing them
    outlive_closed_stdout()  # before Hydra points its log handler at it
    interrupted = False
    with tempfile.NamedTemporaryFile("r", prefix="fungiclf-failed-", suffix=".txt") as failures:
        os.environ[FAILURES_FILE_ENV] = failures.name
        try:
            with ctrl_c_that_lands() as stop:
                hydra_main()
        except HydraException as exc:  # before any job: nothing was written
            if traceback_asked:
                raise
            sys.exit(f"fungiclf-train: error: {composition_error_line(exc)}")
        except ValueError as exc:  # Hydra's own check of its flags (e.g. -m with --cfg), before any job
            if not str(exc).startswith("Only one of"):
                raise
            sys.exit(
                f"fungiclf-train: error: {exc} (--cfg prints one job's config: drop -m and give each key one value)"
            )
        except (
            OSError
        ) as exc:  # Hydra's own files (the run or sweep folder, its log), never a job's: run_job keeps those
            if traceback_asked:
                raise
            sys.exit(
                f"fungiclf-train: error: cannot write the run folder: {exc} (point hydra.run.dir, or "
                f"hydra.sweep.dir with -m, at a folder you can write)"
            )
        except launcher_errors() as exc:  # a cluster job that ended without a result (killed node, no output)
            if traceback_asked:
                raise
            sys.exit(
                f"fungiclf-train: error: a job did not finish on the cluster: "
                f"{'; '.join(line.strip() for line in str(exc).splitlines() if line.strip())} "
                f"(fungiclf-report on the sweep folder lists the runs that did)"
            )
        except KeyboardInterrupt:
            interrupted = True
        failed = list(dict.fromkeys(failures.read().splitlines()))  # a job and its launcher may both note it
    if failed:
        print(f"fungiclf-train: {len(failed)} job(s) failed:", *failed, sep="\n  ", file=sys.stderr)
    if interrupted and stop.signum == signal.SIGTERM:
        print("fungiclf-train: terminated (SIGTERM)", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    if interrupted:
        print("fungiclf-train: interrupted", file=sys.stderr)
        sys.exit(130)  # the shell's code for a run stopped by SIGINT
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
