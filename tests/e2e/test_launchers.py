"""Launcher configs: a sweep moves to a cluster with one override."""

import json
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module


def test_slurm_launcher_config_composes():
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert launcher.gpus_per_node == 1 and launcher.timeout_min == 240


@pytest.mark.slow
def test_submitit_local_runs_a_sweep_in_separate_processes(cache_dir, tmp_path):
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "fungiclf.train", "-m", "hydra/launcher=submitit_local", "model=logreg,linear",
               "trainer=smoke", f"paths.cache_dir={cache_dir}", f"hydra.sweep.dir={sweep}", "hydra.launcher.timeout_min=10"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    models = {json.loads((sweep / job / "metrics.json").read_text())["model"] for job in ("0", "1")}
    assert models == {"logreg", "linear"}
