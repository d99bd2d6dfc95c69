"""Launcher configs: a sweep moves to a cluster with one override."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from fungiclf.cli.report import main as report_main


def test_slurm_launcher_config_composes():
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose(
            "train", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert launcher.gpus_per_node == 1 and launcher.timeout_min == 240
    assert launcher.max_num_timeout > 0  # a job that reaches its time limit is requeued


@pytest.mark.parametrize("name", ["ray_cluster", "ray"])
def test_both_ray_launcher_names_give_fungiclfs_launcher_sized_by_the_cluster(name):
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.fungiclf_ray_launcher.RayLauncher"
    assert launcher.ray.remote.num_cpus is None and "object_store_memory" not in launcher.ray.init


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
    failing = [*command[:5], "model=cnn", "optimizer.lr=1e6", *command[6:-2], f"hydra.sweep.dir={tmp_path / 'f'}"]
    result = subprocess.run([*failing, "hydra.launcher.timeout_min=10"], capture_output=True, text=True, check=False)
    assert result.returncode == 1  # noted by the job and by the launcher's driver: listed once
    assert result.stderr.count("loss became") == 1 and "fungiclf-train: 1 job(s) failed:" in result.stderr


@pytest.mark.slow
def test_a_submitit_job_sent_sigusr2_is_requeued_and_finishes_the_epochs_of_an_uninterrupted_run(cache_dir, tmp_path):
    """SIGUSR2 (SLURM's warning before a time limit) mid-training: Submitit requeues the job,
    which continues from its last completed epoch by itself and ends as an uninterrupted run."""
    import csv
    import signal
    import time

    def command(sweep):
        return [
            sys.executable,
            "-m",
            "fungiclf.cli.train",
            "-m",
            "hydra/launcher=submitit_local",
            "model=cnn",
            "dataset.synthetic.n_per_class=40",
            "preprocess.size=32",
            "trainer.epochs=12",
            "trainer.batch_size=8",
            "trainer.patience=100",
            f"paths.cache_dir={cache_dir}",
            f"hydra.sweep.dir={sweep}",
            "hydra.launcher.timeout_min=10",
        ]

    def val_losses(run):
        with open(run / "history.csv") as f:
            return [float(row["val_loss"]) for row in csv.DictReader(f)]

    reference = tmp_path / "reference"
    assert subprocess.run(command(reference), capture_output=True, timeout=600, check=False).returncode == 0
    sweep = tmp_path / "interrupted"
    driver = subprocess.Popen(command(sweep), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    history = sweep / "0" / ".fit" / "phase1" / "history.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (not history.is_file() or len(history.read_text().splitlines()) < 4):
        time.sleep(0.2)  # three epochs logged (and a header)
    (task,) = [
        int(pid)
        for pid in subprocess.run(
            ["pgrep", "-f", "submitit.core._submit"], capture_output=True, text=True
        ).stdout.split()
        if str(sweep) in open(f"/proc/{pid}/cmdline").read()
    ]
    os.kill(task, signal.SIGUSR2)
    _, stderr = driver.communicate(timeout=600)
    assert driver.returncode == 0, stderr[-3000:]
    log = (sweep / "0" / "train.log").read_text()
    assert "Submitit requeued this job" in log and "phase 1 continues after epoch" in log
    assert json.loads((sweep / "0" / "metrics.json").read_text())["status"] == "completed"
    assert val_losses(sweep / "0") == pytest.approx(val_losses(reference / "0"), abs=1e-3)


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head on 127.0.0.1 with 2 CPUs, started from its own folder (as an admin would),
    stopped at the end even when the test fails. Needs fungiclf[ray]."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    head = tmp_path / "head"
    head.mkdir()
    start = [*ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2"]
    subprocess.run([*start, "--include-dashboard=false"], check=True, capture_output=True, timeout=120, cwd=head)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*ray, "stop", "--force"], capture_output=True, timeout=120, check=False)


@pytest.mark.slow
def test_the_readmes_ray_command_on_a_2_cpu_head_fills_the_sweep_folder(cache_dir, tmp_path, ray_head):
    """The README's command as written (4 jobs; no num_cpus, no sweep folder given) on a head
    with fewer CPUs than the old default asked; then a failing job (exit 1), and SIGTERM (143)
    followed by resume=true, which redoes only the jobs that had not completed."""
    import signal
    import time

    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "RAY_ADDRESS": ray_head}  # FUNGICLF_CACHE (the cache fixture) travels to the jobs
    readme = [sys.executable, "-m", "fungiclf.cli.train", "-m", "hydra/launcher=ray_cluster"]
    sweep_args = ["model=linear,cnn", "seed=0,1", "trainer=smoke"]

    def fungiclf_train(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*readme, *args], capture_output=True, text=True, timeout=600, cwd=work, env=env)

    done = fungiclf_train(*sweep_args)
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (work / "outputs" / "multirun").glob("*/*")  # in the folder it was launched from
    assert sorted(p.parent.name for p in sweep.glob("*/metrics.json")) == ["0", "1", "2", "3"]
    report_main([str(sweep)])
    table = pd.read_csv(sweep / "summary.csv")
    assert len(table) == 4 and (table["status"] == "completed").all()

    failing = fungiclf_train("model=cnn", "trainer=smoke", "optimizer.lr=1e6", "hydra.sweep.dir=failing")
    assert failing.returncode == 1, failing.stderr[-3000:]
    assert "fungiclf-train: 1 job(s) failed:" in failing.stderr and "loss became" in failing.stderr

    resumed = work / "resumed"
    driver = subprocess.Popen(
        [*readme, *sweep_args, "hydra.sweep.dir=resumed"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 400
    while not list(resumed.glob("*/metrics.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 143 and "terminated (SIGTERM)" in stderr
    finished = {p.parent.name for p in resumed.glob("*/metrics.json")}
    assert 1 <= len(finished) < 4
    again = fungiclf_train(*sweep_args, "hydra.sweep.dir=resumed", "resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    skipped = {job for job in "0123" if f"{resumed / job} already holds a completed run" in again.stdout + again.stderr}
    assert skipped == finished
    assert sorted(p.parent.name for p in resumed.glob("*/metrics.json")) == ["0", "1", "2", "3"]


@pytest.mark.slow
def test_a_ray_job_asking_more_than_any_node_has_is_refused_at_once(tmp_path, ray_head):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fungiclf.cli.train",
            "-m",
            "hydra/launcher=ray_cluster",
            "hydra.launcher.ray.remote.num_cpus=8",
            "trainer=smoke",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "RAY_ADDRESS": ray_head},
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"fungiclf-train: error: hydra.launcher.ray.remote.num_cpus=8: no node of the Ray cluster at "
        f"{ray_head} has that many CPUs (the largest has 2); ask at most 2"
    )
