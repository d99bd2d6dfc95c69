"""Launcher configs: a sweep moves to a cluster with one override."""

import json
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module


def test_slurm_launcher_config_composes():
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose(
            "train", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert launcher.gpus_per_node == 1 and launcher.timeout_min == 240
    assert launcher.max_num_timeout > 0  # a job that reaches its time limit is requeued


STAND_INS = {  # SLURM's commands as submitit calls them: sbatch keeps the script; the job never runs
    "sbatch": 'cat "${@: -1}" > "$CAPTURE"; echo "Submitted batch job 4242"',
    "srun": "exit 0",
    "sacct": 'echo "JobID|State|NodeList"; echo "4242_0|NODE_FAIL|node1"; echo "4242|NODE_FAIL|node1"',
    "scancel": "exit 0",
}


def test_the_sbatch_script_asks_for_what_the_config_says_and_a_lost_job_is_one_line(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STAND_INS.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "job.sbatch"
    command = [
        sys.executable,
        "-m",
        "fungiclf.cli.train",
        "-m",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=90",
        "trainer=smoke",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CAPTURE": str(script)}
    env.pop("HYDRA_FULL_ERROR", None)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    asked = {line.split()[1] for line in script.read_text().splitlines() if line.startswith("#SBATCH")}
    assert {"--partition=gpu", "--gpus-per-node=1", "--time=90", "--signal=USR2@120", "--cpus-per-task=8"} <= asked
    # the job ended without a result (the node failed): one line, exit 1, no traceback
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("fungiclf-train: error: a job did not finish on the cluster: Job 4242 (task: 0)")
    )


@pytest.mark.slow
def test_submitit_local_runs_a_sweep_in_separate_processes(cache_dir, tmp_path):
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "fungiclf.cli.train",
        "-m",
        "hydra/launcher=submitit_local",
        "model=logreg,linear",
        "trainer=smoke",
        f"paths.cache_dir={cache_dir}",
        f"hydra.sweep.dir={sweep}",
        "hydra.launcher.timeout_min=10",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    models = {json.loads((sweep / job / "metrics.json").read_text())["model"] for job in ("0", "1")}
    assert models == {"logreg", "linear"}


@pytest.mark.slow
def test_ray_launcher_against_a_local_head(cache_dir, tmp_path):
    """hydra/launcher=ray_cluster joining a Ray head started on 127.0.0.1 (needs fungiclf[ray])."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    import os
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    subprocess.run(
        [
            *ray,
            "start",
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        sweep = tmp_path / "sweep"
        command = [
            sys.executable,
            "-m",
            "fungiclf.cli.train",
            "-m",
            "hydra/launcher=ray_cluster",
            "hydra.launcher.ray.remote.num_cpus=1",
            "model=logreg,random_forest",
            "trainer=smoke",
            f"paths.cache_dir={cache_dir}",
            f"hydra.sweep.dir={sweep}",
        ]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=400,
            env={**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}"},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        models = {json.loads((sweep / job / "metrics.json").read_text())["model"] for job in ("0", "1")}
        assert models == {"logreg", "random_forest"}
    finally:
        subprocess.run([*ray, "stop", "--force"], capture_output=True, timeout=120, check=False)
