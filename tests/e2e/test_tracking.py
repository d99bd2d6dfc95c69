"""logger=tensorboard and logger=mlflow on a smoke run."""

import json
import struct
from collections import defaultdict

import pytest

from fungiclf.train import train


def read_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Scalars of every TensorBoard event file in ``folder``: the TFRecord framing, read by hand."""
    from tensorboardX.proto.event_pb2 import Event

    scalars = defaultdict(list)
    for file in sorted(folder.glob("events.out.tfevents.*")):
        data, offset = file.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars[value.tag].append((event.step, value.simple_value))
    return scalars


def test_tensorboard_gets_every_epoch_and_the_test_metrics(make_cfg, tmp_path, monkeypatch):
    """tensorboardX names event files by the second: with its clock frozen, every writer of
    the run opens within the same second, as they do on a fast smoke run (the epochs' file
    was then overwritten by the test metrics' file)."""
    from types import SimpleNamespace
    from tensorboardX import event_file_writer

    monkeypatch.setattr(event_file_writer, "time", SimpleNamespace(time=lambda: 1_700_000_000.0))
    metrics = train(make_cfg("trainer=smoke", "model=linear", "logger=tensorboard"), tmp_path)
    scalars = read_scalars(tmp_path / "tensorboard")
    assert [step for step, _ in scalars["val_loss"]] == list(range(1, metrics["epochs_run"] + 1))
    assert scalars["test.accuracy"][0][1] == pytest.approx(metrics["test"]["accuracy"])
    assert {"loss", "accuracy", "val_accuracy"} <= set(scalars)


@pytest.mark.slow  # mlflow's store is slow to start; TensorBoard stays in the default suite
def test_mlflow_gets_config_history_metrics_and_artifacts(make_cfg, tmp_path, monkeypatch):
    """The default store (sqlite:///mlflow.db in the current folder) holds the run, and
    MLflow's own reader finds it in a fresh process, as the README says to browse it."""
    import subprocess
    import sys
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    metrics = train(make_cfg("trainer=smoke", "model=linear", "logger=mlflow"), tmp_path / "run")
    assert (tmp_path / "mlflow.db").is_file()
    reader = (
        "import mlflow; mlflow.set_tracking_uri('sqlite:///mlflow.db'); "
        "runs = mlflow.search_runs(experiment_names=['fungiclf']); print(len(runs), runs['metrics.test.accuracy'][0])"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_ALLOW_FILE_STORE"}
    out = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    count, accuracy = out.stdout.split()
    assert count == "1" and float(accuracy) == pytest.approx(metrics["test"]["accuracy"])
    client = MlflowClient(tracking_uri="sqlite:///mlflow.db")
    experiment = client.get_experiment_by_name("fungiclf")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["model.name"] == "linear" and run.data.params["trainer.smoke"] == "True"
    assert run.data.metrics["test.accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    # the synthetic set is grouped by photograph: the per-photograph block is logged beside it
    assert run.data.metrics["test.per_group.accuracy"] == pytest.approx(metrics["test"]["per_group"]["accuracy"])
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == metrics["epochs_run"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "predictions.csv", "model.keras"} <= artifacts
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "completed"


def test_an_unknown_logger_is_a_one_line_error(make_cfg, tmp_path):
    from fungiclf.train import run_job

    assert run_job(make_cfg("trainer=smoke", "logger.name=wandb"), tmp_path) is None
    assert "'name' parameter of logger" in json.loads((tmp_path / "metrics.json").read_text())["error"]
