"""Experiment trackers (logger=mlflow | tensorboard). Optional: the run folder is the record.

TensorBoard scalars are written live, every epoch, by a Keras callback (tensorboardX, so no
TensorFlow is needed on JAX or torch). MLflow gets one run per completed job, logged at
the end from the run folder: flattened config, per-epoch history, metrics, artifacts.
"""

import logging
import os
import uuid
from pathlib import Path

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
import keras
import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_MLFLOW_URI = "sqlite:///mlflow.db"  # MLflow's recommended local store, in the current folder


def _tensorboard_dir(options: dict, run_dir: Path) -> Path:
    folder = Path(str(options.get("log_dir") or "tensorboard")).expanduser()
    return folder if folder.is_absolute() else run_dir / folder


def _summary_writer(folder: Path):
    """A tensorboardX SummaryWriter with a file of its own. tensorboardX names event files by
    the second and the host only, so a second writer opened within the same second (the test
    metrics after a short fit, the next fine-tuning phase) would overwrite the first's file."""
    from tensorboardX import SummaryWriter  # optional dependency, checked by resolve

    return SummaryWriter(str(folder), filename_suffix=f".{os.getpid()}.{uuid.uuid4().hex[:8]}")


class TensorBoardScalars(keras.callbacks.Callback):
    """Writes every epoch's logs (loss, accuracy, val_*, learning rate) as TensorBoard scalars.

    One instance spans all fine-tuning phases, so the step keeps counting across them.
    """

    def __init__(self, log_dir: Path):
        super().__init__()
        self.log_dir, self.writer, self.step = log_dir, None, 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.writer = _summary_writer(self.log_dir)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.step += 1
        for name, value in (logs or {}).items():
            self.writer.add_scalar(name, float(value), self.step)
        self.writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.writer.close()  # the writer thread has written everything once this returns


def epoch_callbacks(logger, run_dir: Path) -> list[keras.callbacks.Callback]:
    """The live per-epoch callbacks of LoggerSettings ``logger`` (empty for none / mlflow)."""
    if logger.name != "tensorboard":
        return []
    return [TensorBoardScalars(_tensorboard_dir(logger.options, run_dir))]


def scalar_metrics(metrics: dict) -> dict[str, float]:
    """Flat numeric entries of metrics.json's test, val and cv blocks, and of the test and val
    blocks' per-group metrics: {"test.accuracy": ..., "test.per_group.accuracy": ...}."""
    blocks = {key: metrics.get(key) or {} for key in ("test", "val")}
    blocks.update({f"{key}.per_group": blocks[key].get("per_group") or {} for key in ("test", "val")})
    cv = metrics.get("cv") or {}
    blocks.update({f"cv.{key}": value for key, value in cv.items() if key.endswith(("_mean", "_sd"))})
    return {
        f"{block}.{name}": float(value)
        for block, values in blocks.items()
        for name, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def log_finished_run(logger, config: dict, run_dir: Path, metrics: dict, history: pd.DataFrame | None) -> None:
    """After a completed job: test metrics to TensorBoard, or the whole run to MLflow.

    Args:
        logger: LoggerSettings.
        config: the run's settings as a config (settings.to_config), logged as MLflow params.

    A tracker that fails here (a server down) costs a warning, not the job: the run
    folder is already complete.
    """
    try:
        if logger.name == "tensorboard":
            with _summary_writer(_tensorboard_dir(logger.options, run_dir)) as writer:
                for key, value in scalar_metrics(metrics).items():
                    writer.add_scalar(key, value, 0)
        elif logger.name == "mlflow":
            _log_mlflow(config, logger.options, run_dir, metrics, history)
    except Exception as exc:  # the tracker's own errors vary (network, permissions, schema)
        log.warning(
            "logger=%s failed (%s: %s); the run folder %s is complete",
            logger.name,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
            run_dir,
        )


def _log_mlflow(config: dict, options: dict, run_dir: Path, metrics: dict, history: pd.DataFrame | None) -> None:
    import mlflow  # optional dependency, checked by resolve
    from mlflow.entities import Metric, Param

    uri = str(options.get("tracking_uri") or DEFAULT_MLFLOW_URI)
    if "://" not in uri:  # a folder: MLflow's file store, which MLflow 3 keeps in maintenance mode
        log.warning(
            "logger.tracking_uri=%s is a folder (MLflow's file store): MLflow 3's own readers (mlflow ui, "
            "mlflow.search_runs) open it only with MLFLOW_ALLOW_FILE_STORE=true; %s is the default",
            uri,
            DEFAULT_MLFLOW_URI,
        )
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = Path(uri).expanduser().resolve().as_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(str(options.get("experiment") or config.get("experiment_name") or "fungiclf"))
    content = {k: v for k, v in config.items() if k != "rows"}  # the job's own row is in "row"
    params = {k: str(v)[:500] for k, v in pd.json_normalize(content, sep=".").iloc[0].items()}
    with mlflow.start_run(run_name=f"{metrics.get('model')}:{run_dir.name}") as run:
        client, timestamp = mlflow.tracking.MlflowClient(), 0
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in params.items()])
        if history is not None:
            per_epoch = [
                Metric(column, float(value), timestamp, step)
                for step, row in enumerate(history.to_dict("records"), start=1)
                for column, value in row.items()
                if column != "phase" and pd.notna(value)
            ]
            for start in range(0, len(per_epoch), 1000):
                client.log_batch(run.info.run_id, metrics=per_epoch[start : start + 1000])
        mlflow.log_metrics(scalar_metrics(metrics))
        if options.get("log_artifacts", True):
            mlflow.log_artifacts(str(run_dir))
    log.info("Logged to MLflow %s (run %s)", uri, run.info.run_id)
