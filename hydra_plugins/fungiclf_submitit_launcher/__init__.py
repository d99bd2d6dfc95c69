"""hydra/launcher=slurm and =submitit_local: Hydra's Submitit launchers, with two additions. The
driver lists the jobs that failed on other nodes (fungiclf/job_outcomes.py), and a job that
Submitit resubmits after SIGUSR2 (a time limit, preemption) is marked so that it continues its
run from its last epoch (REQUEUED_ENV; on SLURM, SLURM_RESTART_COUNT says so too, but not under
submitit_local). Needs hydra-submitit-launcher (fungiclf[slurm]); Hydra loads launchers only
from the hydra_plugins namespace."""

import warnings

from typing import Any, Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher import submitit_launcher

from fungiclf.errors import REQUEUED_ENV
from fungiclf.job_outcomes import checked

# conf/hydra/launcher/submitit_local.yaml takes the place of the launcher config Hydra's own plugin
# registers under that name, whose settings Hydra merges under it ("validated against
# ConfigStore schema"): intended here, so its deprecation warning is not shown.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/submitit_local' is validated against ConfigStore schema")

REQUEUED = f"++hydra.job.env_set.{REQUEUED_ENV}=1"


class Requeuing:
    """What both launchers add to Hydra's (a mixin before Hydra's launcher class)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        return [checked(result, None) for result in super().launch(job_overrides, initial_job_idx)]

    def checkpoint(self, sweep_overrides: list[str], *args: Any, **kwargs: Any) -> Any:
        """Submitit's hook on SIGUSR2: the same job again, marked as requeued."""
        marked = list(sweep_overrides) + ([] if REQUEUED in sweep_overrides else [REQUEUED])
        return super().checkpoint(marked, *args, **kwargs)


class SlurmLauncher(Requeuing, submitit_launcher.SlurmLauncher):
    pass


class LocalLauncher(Requeuing, submitit_launcher.LocalLauncher):
    pass
