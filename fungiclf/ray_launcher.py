"""hydra/launcher=ray_cluster (and =ray): each sweep job a Ray task, on the cluster it finds.

Hydra's Ray launcher (hydra-ray-launcher) sends each job as it is and waits in Ray's C++ code.
This launcher, built on its pieces, adds what a sweep on a shared cluster needs:

- the CPUs and GPUs a job asks fit the cluster: unset, a job asks for min(4, the largest
  node's CPUs); asked for more than any node has, the sweep stops at once in one line
  (Ray would wait for such a node forever);
- a job runs in the folder fungiclf-train was started from (the nodes share it), with the
  launching side's FUNGICLF_* variables, so every relative path (sweep folder, run folder,
  cache, data, warm-start weights) means there what it meant here, not the raylet's folder;
- a job that failed is listed by fungiclf-train at the end (exit 1), read from its run folder;
- Ctrl-C or SIGTERM cancels the jobs still running (exit 130 / 143; resume=true continues).

Ray is imported only when a sweep is launched.
"""

import logging
import os
import signal
from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from fungiclf.errors import FAILURES_FILE_ENV
from fungiclf.job_outcomes import checked

log = logging.getLogger("fungiclf.ray")

DEFAULT_CPUS = 4  # per job, when hydra.launcher.ray.remote.num_cpus is unset (and a node has them)


class RayLauncher(Launcher):
    """Runs each job of a sweep as a Ray task.

    Args:
        ray: {init: ray.init's options (address: "auto", "ray://head:10001", or null for a
            local Ray), remote: ray.remote's options for each job (num_cpus, num_gpus, ...)}.
    """

    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        try:
            import hydra_plugins.hydra_ray_launcher._launcher_util  # noqa: F401  (the job runner, in the task)
            import ray
        except ImportError:
            raise HydraException(
                "hydra/launcher=ray_cluster needs Ray and Hydra's Ray launcher: pip install 'fungiclf[ray]'"
            ) from None
        assert self.config is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        init = {key: value for key, value in plain(self.ray_cfg.get("init")).items() if value is not None}
        connect(ray, init)
        remote = fit_to_cluster(plain(self.ray_cfg.get("remote")), cluster_nodes(ray), init.get("address"))
        here = os.getcwd()
        remote["runtime_env"] = {"env_vars": job_environment(os.environ)}
        task = ray.remote(**remote)(run_in_folder)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("Ray: %d jobs, each asking %s, sweep folder %s", len(job_overrides), asks(remote), sweep_dir)
        pending, folders = [], []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"job_id_for_{idx}"
                sweep_config.hydra.job.num = idx
            folders.append(Path(here, str(sweep_config.hydra.sweep.dir), str(sweep_config.hydra.sweep.subdir)))
            pending.append(
                task.remote(here, self.hydra_context, sweep_config, self.task_function, Singleton.get_state())
            )
        results = wait_for(ray, pending)
        return [checked(result, folder) for result, folder in zip(results, folders)]


def plain(value: Any) -> dict:
    """A DictConfig section as a plain dict ({} for None)."""
    return dict(OmegaConf.to_container(value, resolve=True)) if OmegaConf.is_config(value) else dict(value or {})


def connect(ray: Any, init: dict) -> None:
    """ray.init with ``init`` (once per process), keeping fungiclf-train's own SIGINT and SIGTERM
    handlers (with Ray's, SIGTERM aborted the driver with 134); one line when the cluster
    cannot be reached."""
    if ray.is_initialized():
        return
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ray.init(**init)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise HydraException(
            f"hydra/launcher=ray_cluster: cannot start or join Ray at {init.get('address') or 'a local instance'}: "
            f"{type(exc).__name__}: {first}"
        ) from None
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


def cluster_nodes(ray: Any) -> list[dict[str, float]]:
    """The live nodes' resources: [{"CPU": 2.0, "GPU": 0.0, ...}, ...]."""
    return [dict(node.get("Resources") or {}) for node in ray.nodes() if node.get("Alive")]


def fit_to_cluster(remote: dict, nodes: list[dict[str, float]], address: str | None) -> dict:
    """ray.remote's options for a job, sized to ``nodes``: num_cpus unset -> min(DEFAULT_CPUS,
    the largest node's CPUs); num_gpus unset -> 0. A job that no node can hold is refused in one
    line (Ray would wait for such a node without end)."""
    remote = dict(remote)
    where = f"the Ray cluster at {address}" if address else "the local Ray instance"
    for key, resource in (("num_cpus", "CPU"), ("num_gpus", "GPU")):
        largest = max((node.get(resource, 0.0) for node in nodes), default=0.0)
        asked = remote.get(key)
        if asked is None:
            remote[key] = min(DEFAULT_CPUS, largest) if resource == "CPU" else 0
            if resource == "CPU" and largest < 1:
                raise HydraException(f"{where} has no node with a CPU")
        elif asked > largest:
            raise HydraException(
                f"hydra.launcher.ray.remote.{key}={asked:g}: no node of {where} has that many {resource}s "
                f"(the largest has {largest:g}); ask at most {largest:g}"
            )
    return remote


def asks(remote: dict) -> str:
    return f"{remote['num_cpus']:g} CPUs, {remote['num_gpus']:g} GPUs"


def job_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The launching side's FUNGICLF_* variables (the cache, the data folder), which a job's
    config reads, for jobs whose worker started elsewhere. The failed-jobs file is the driver's
    alone: it lists failures itself, from the run folders."""
    env = {key: value for key, value in environ.items() if key.startswith("FUNGICLF_")}
    env[FAILURES_FILE_ENV] = ""
    return env


def run_in_folder(folder: str, hydra_context, sweep_config, task_function, singleton_state) -> JobReturn:
    """A Ray task: hydra-ray-launcher's job runner, in the folder the sweep was launched from."""
    try:
        os.chdir(folder)
    except OSError as exc:
        raise RuntimeError(
            f"the folder fungiclf-train ran in ({folder}) is not on this node ({exc.strerror}): launch "
            f"from a folder every node shares"
        ) from None
    from hydra_plugins.hydra_ray_launcher._launcher_util import _run_job

    return _run_job(hydra_context, sweep_config, task_function, singleton_state)


def wait_for(ray: Any, pending: list) -> list:
    """Each task's JobReturn, or the error that ended it, in launch order. Waits in short steps,
    so that Ctrl-C and SIGTERM land; they cancel the tasks still running."""
    remaining = list(pending)
    try:
        while remaining:
            _, remaining = ray.wait(remaining, num_returns=len(remaining), timeout=1.0)
    except KeyboardInterrupt:
        for ref in remaining:
            ray.cancel(ref, force=True)
        raise
    results = []
    for ref in pending:
        try:
            results.append(ray.get(ref))
        except Exception as exc:  # the task itself died: a killed worker, a node lost, no such folder
            results.append(exc)
    return results
