"""Surviving a kill: a job killed mid-training continues from its last completed epoch."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest

from fungiclf.training.resume import AtomicCheckpoint, ReplayingEarlyStopping
from tests.conftest import write_image_folder


def logged_rows(path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines()[1:] if line.strip())
    except OSError:
        return 0


@pytest.mark.slow  # 70 s; the fast suite keeps test_cli's resume of a sweep and the epoch backup's unit tests
def test_a_killed_job_continues_from_its_last_epoch(cache_dir, tmp_path):
    """SIGKILL during cross-validation fold 1 (after its second epoch); the same command started
    again as SLURM requeues a job (acting as resume=true) keeps the finished main model,
    continues fold 1 after its last completed epoch, runs fold 2, and ends as an
    uninterrupted run would: every epoch once, completed."""
    write_image_folder(tmp_path / "imgs", per_class=60, size=40)
    epochs = 5
    args = [
        "dataset=image_folder",
        f"dataset.path={tmp_path / 'imgs'}",
        "preprocess.size=40",
        "model=cnn",
        f"trainer.epochs={epochs}",
        f"trainer.patience={epochs}",
        "cv.folds=2",
        "trainer.verbose=2",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.cache_dir={cache_dir}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    command = [sys.executable, "-m", "fungiclf.cli.train", *args]
    fold_history = tmp_path / "run" / "cv" / "fold_1" / ".fit" / "phase1" / "history.csv"
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 300
    while logged_rows(fold_history) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = logged_rows(fold_history)
    assert 2 <= killed_at < epochs, "the kill must land inside fold 1"
    assert not (tmp_path / "run" / "metrics.json").exists()
    main_history = pd.read_csv(tmp_path / "run" / ".fit" / "phase1" / "history.csv")
    before = pd.read_csv(fold_history)

    # as SLURM starts a requeued job: the same command, SLURM_RESTART_COUNT set, no resume=true
    second = subprocess.run(
        command, capture_output=True, text=True, env={**env, "SLURM_RESTART_COUNT": "1"}, timeout=600
    )
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "SLURM requeued this job (SLURM_RESTART_COUNT=1)" in log
    assert "phase 1 finished before; not run again" in log  # the main model is kept
    assert "continues after epoch" in log or killed_at == 2  # fold 1 resumes from its backup
    first_epoch = int(next(line for line in log.splitlines() if line.startswith("Epoch ")).split()[1].split("/")[0])
    assert first_epoch >= 2  # not from epoch 1 again
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == epochs
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))
    assert np.allclose(history["loss"], main_history["loss"])  # the main model as trained before
    assert len(metrics["cv"]["per_fold"]) == 2 and all(f["best_epoch"] <= epochs for f in metrics["cv"]["per_fold"])
    fold = json.loads((tmp_path / "run" / "cv" / "fold_1" / "fold.json").read_text())
    assert fold["best_epoch"] is not None and len(before) >= 2
    assert not (tmp_path / "run" / ".fit").exists()  # the state is gone once completed


@pytest.mark.slow  # resume after a kill stays in the default suite (test_a_killed_job_...)
def test_ctrl_c_stops_in_one_line_and_resume_finishes_the_run(cache_dir, tmp_path):
    """A sweep whose first job fails (epochs=0) and whose second gets SIGINT after its first
    epoch: exit 130, no traceback, the failed job still listed, a line that names the run
    folder and resume=true, the epoch state kept; resume=true then completes that job."""
    write_image_folder(tmp_path / "imgs", per_class=60, size=40)
    epochs = 12  # long enough that the interrupt after epoch 1 lands well before the end
    args = [
        "-m",
        "dataset=image_folder",
        f"dataset.path={tmp_path / 'imgs'}",
        "preprocess.size=40",
        "model=cnn",
        f"trainer.epochs=0,{epochs}",
        f"trainer.patience={epochs}",
        "trainer.verbose=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.cache_dir={cache_dir}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    command = [sys.executable, "-m", "fungiclf.cli.train", *args]
    run = tmp_path / "sweep" / "1"
    history = run / ".fit" / "phase1" / "history.csv"
    first = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # as from a terminal,
    deadline = time.monotonic() + 300  # also when pytest runs in the background
    while logged_rows(history) < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if first.poll() is not None:
        pytest.skip("the sweep ended before the interrupt could be sent")
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 130, err[-3000:]
    assert err.strip().endswith("fungiclf-train: interrupted")
    # No traceback of fungiclf's; TensorFlow prints one itself when the interrupt lands inside a tf.py_function
    assert "Traceback" not in err or "KeyboardInterrupt" in err
    assert "1 job(s) failed" in err and "epochs" in err  # the job that failed before
    assert f"Interrupted: {run} keeps what it finished" in out + err and "resume=true" in out + err
    assert not (run / "metrics.json").exists()
    second = subprocess.run(command + ["resume=true"], capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 1, second.stderr[-3000:]  # job 0 fails again, and says so
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == epochs


def test_a_failed_checkpoint_save_keeps_the_previous_best(tmp_path, monkeypatch):
    """The checkpoint is written to a temporary name and renamed: a save that breaks halfway
    (a kill, a full disk) leaves the last good model.keras in place."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    checkpoint = AtomicCheckpoint(str(tmp_path / "model.keras"), monitor="loss", save_best_only=True)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.0})
    good = (tmp_path / "model.keras").read_bytes()

    def broken_save(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError):
        checkpoint.on_epoch_end(1, {"loss": 0.5})
    assert (tmp_path / "model.keras").read_bytes() == good


def test_replayed_early_stopping_counts_like_an_uninterrupted_run():
    losses = [1.0, 0.8, 0.9, 0.95, 0.7, 0.75, 0.76]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    straight = keras.callbacks.EarlyStopping(monitor="loss", patience=3)
    straight.set_model(model)
    straight.on_train_begin()
    for epoch, loss in enumerate(losses):
        straight.on_epoch_end(epoch, {"loss": loss})
    resumed = ReplayingEarlyStopping([{"loss": v} for v in losses[:4]], monitor="loss", patience=3)
    resumed.set_model(model)
    resumed.on_train_begin()  # replays epochs 0-3, as after a kill there
    for epoch, loss in enumerate(losses[4:], start=4):
        resumed.on_epoch_end(epoch, {"loss": loss})
    assert (resumed.wait, resumed.best, resumed.best_epoch) == (straight.wait, straight.best, straight.best_epoch)


def kill_and_resume(command: list[str], run, env: dict, moment, seed: int) -> None:
    """Start ``command``, SIGKILL it at ``moment(process, rng)``, then finish it with resume=true."""
    rng = np.random.default_rng(seed)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        moment(run, rng, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = subprocess.run(command + ["resume=true"], capture_output=True, text=True, env=env, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]


def inside_training(run, rng, process, deadline: float = 300) -> None:
    """Some moment inside epochs 2-4: after the first epoch's history row, then a random wait."""
    until = time.monotonic() + deadline
    while (
        logged_rows(run / ".fit" / "phase1" / "history.csv") < 1 and process.poll() is None and time.monotonic() < until
    ):
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 1.5))


def anywhere(run, rng, process, span: float = 30) -> None:
    """Any moment of the job: start-up, decoding, an epoch, a checkpoint, evaluation, writing."""
    time.sleep(rng.uniform(0, span))


@pytest.mark.parametrize(
    "moment, seeds",
    [
        pytest.param(inside_training, [11], marks=pytest.mark.slow),  # test_a_killed_job_... in the default suite
        pytest.param(inside_training, [12, 13, 14], marks=pytest.mark.slow),
        pytest.param(anywhere, [21, 22, 23, 24, 25], marks=pytest.mark.slow),
    ],
)
def test_a_job_killed_at_any_moment_resumes_to_the_uninterrupted_result(cache_dir, tmp_path, moment, seeds):
    """Fault injection: SIGKILL, then resume=true; predictions.csv and history.csv equal the
    uninterrupted run's byte for byte (the random state lives in the backup: shuffle and
    mixing from (seed, epoch), augmentation and dropout seeds in the model's variables)."""
    write_image_folder(tmp_path / "imgs", per_class=40, size=24)
    args = [
        "dataset=image_folder",
        f"dataset.path={tmp_path / 'imgs'}",
        "preprocess.size=24",
        "model=cnn",
        "trainer.epochs=5",
        "trainer.patience=5",
        "trainer.mixup=0.2",
        "model.dropout=0.3",
        "trainer.verbose=0",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    command = [sys.executable, "-m", "fungiclf.cli.train", *args]
    reference = subprocess.run(
        command + [f"hydra.run.dir={tmp_path / 'reference'}"], capture_output=True, text=True, env=env, timeout=600
    )
    assert reference.returncode == 0, reference.stderr[-3000:]
    for seed in seeds:
        run = tmp_path / f"killed_{seed}"
        kill_and_resume(command + [f"hydra.run.dir={run}"], run, env, moment, seed)
        for name in ("predictions.csv", "history.csv"):
            assert (run / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), (seed, name)
