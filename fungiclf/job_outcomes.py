"""What a launcher's driver learns from its finished jobs: which of them failed, read from
their run folders on the shared file system, for fungiclf-train's list of failed jobs.

A job on the driver's machine appends its own line to that list (FAILURES_FILE_ENV); a job on
another node (Ray, SLURM) cannot reach the driver's file, so the launchers of those clusters
(fungiclf/ray_launcher.py, hydra_plugins/fungiclf_submitit_launcher) note each failed job
here once it returns. fungiclf-train drops lines noted twice.
"""

import os
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus

from fungiclf import runs
from fungiclf.errors import FAILURES_FILE_ENV


def job_folder(result: JobReturn) -> Path | None:
    """The run folder of a job that ran (Hydra's output_dir), or None."""
    hydra_cfg = result.hydra_cfg
    try:
        return Path(str(hydra_cfg.hydra.runtime.output_dir)) if hydra_cfg is not None else None
    except AttributeError:
        return None


def checked(result: JobReturn | BaseException, folder: Path | None) -> JobReturn:
    """The JobReturn for the sweeper: a job whose run folder says "failed" is noted; a job
    that ended without a result (its task died: ``result`` is the error) is noted with how it
    ended and returned as a job without a value, so the sweep's other jobs still count."""
    if isinstance(result, JobReturn) and result.status == JobStatus.COMPLETED:
        folder = folder or job_folder(result)
        if folder is not None:
            record = runs.read_run(folder)
            if record["status"] == "failed":
                note_failure(folder, record.get("error") or "failed")
        return result
    error = result._return_value if isinstance(result, JobReturn) else result
    cause = getattr(error, "cause", None) or error
    note_failure(folder, " ".join(f"{type(cause).__name__}: {cause}".split())[:300])
    return JobReturn(status=JobStatus.COMPLETED, _return_value=None, working_dir=str(folder))


def note_failure(folder: Path | None, message: str) -> None:
    """One line in fungiclf-train's list of failed jobs (when it keeps one)."""
    if failures := os.environ.get(FAILURES_FILE_ENV):
        with open(failures, "a") as f:
            f.write(f"{folder or 'a job'}: {message}\n")
