"""Surviving a kill: state written atomically every epoch, and callbacks that continue from it.

A Keras fit phase keeps its state in ``<run>/.fit/phase<N>/`` (cv folds: in their own fold
folder): the weights and optimizer state of the last completed epoch (EpochBackup, Keras'
BackupAndRestore writing each file to a temporary name first, off the training loop), and
``done.json`` once the phase has finished. ``resume=true`` on a killed job continues each
unfinished phase from its last completed epoch; finished phases are not run again. The
early-stopping and reduce-on-plateau counters are rebuilt by replaying the epochs the
phase's history.csv already holds, and the checkpoint keeps the best value seen, so the
resumed phase stops when the uninterrupted one would have.
"""

import json
import os
import shutil
import threading
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from fungiclf.errors import FungiclfError
from fungiclf.runs import STATE_DIR, replace_atomically


class AtomicCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that writes to a temporary file and renames it onto ``filepath``, so a
    kill during the save leaves the previous best checkpoint intact."""

    def _save_model(self, epoch, batch, logs):
        final = self.filepath
        temporary = str(Path(final).with_name(f".{Path(final).stem}.tmp.keras"))
        self.filepath = temporary
        try:
            super()._save_model(epoch, batch, logs)
        finally:
            self.filepath = final
        if os.path.exists(temporary):
            os.replace(temporary, final)


class EpochBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore whose state is written atomically and off the training loop.

    At the end of epoch e the model's and the optimizer's variables (weights, optimizer
    slots, random-seed states) are copied to host memory, and one background thread writes
    them to ``epoch-<e>.npz`` (a temporary name renamed), then ``state.json`` naming that
    file (likewise), and removes older backups last. Training goes on meanwhile: on a GPU an
    epoch can take less time than writing its backup. A kill at any point leaves a
    state.json that names a complete file; a write still going at the next epoch's end, or
    at the end of training, is waited for, so backups land in order and none is left behind.
    """

    def __init__(self, backup_dir: Path) -> None:
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.folder = Path(backup_dir)
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None

    @staticmethod
    def saved_epoch(backup_dir: Path) -> int:
        """Epochs completed according to the backup in ``backup_dir`` (0 when none)."""
        try:
            return int(json.loads((Path(backup_dir) / "state.json").read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            return 0

    def _state_variables(self) -> list:
        """Every variable a continued run needs, in a fixed order (the optimizer's built)."""
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        unique = {id(v): v for v in [*self.model.variables, *optimizer.variables]}
        return list(unique.values())

    def on_train_begin(self, logs=None):
        self._load_model()

    def _load_model(self):
        try:
            state = json.loads((self.folder / "state.json").read_text())
        except (OSError, ValueError):
            return
        variables = self._state_variables()
        with np.load(self.folder / state["weights"]) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        if len(values) != len(variables):
            raise ValueError(
                f"{self.folder / state['weights']} holds {len(values)} variables, the model has "
                f"{len(variables)}: not this run's backup"
            )
        for variable, value in zip(variables, values):
            variable.assign(value)
        self.model._initial_epoch = int(state["epoch"])

    def _save_model(self):
        self._wait()
        values = [keras.ops.convert_to_numpy(v.value) for v in self._state_variables()]
        self._writer = threading.Thread(
            target=self._write, args=(self._current_epoch, values), name="fungiclf-epoch-backup"
        )
        self._writer.start()

    def _write(self, epoch: int, values: list[np.ndarray]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"epoch-{epoch:04d}.npz"
            replace_atomically(self.folder / name, lambda tmp: _save_arrays(tmp, values))
            state = json.dumps({"epoch": epoch, "weights": name})
            replace_atomically(self.folder / "state.json", lambda tmp: Path(tmp).write_text(state))
            for old in self.folder.glob("epoch-*.npz"):
                if old.name != name:
                    old.unlink(missing_ok=True)
        except BaseException as exc:  # raised in the training thread by _wait
            self._error = exc

    def _wait(self) -> None:
        """Let the write in flight finish; raise what it raised (a full disk, say)."""
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def on_train_end(self, logs=None):
        self._wait()  # the phase's done.json, written after this, replaces the backup


def _save_arrays(path: Path, values: list[np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, *values)


class EpochSync(keras.callbacks.Callback):
    """Tells the training batches which epoch begins, so a resumed epoch draws the same
    shuffle and mixing as the uninterrupted run's (see ArrayBatches.set_epoch)."""

    def __init__(self, batches) -> None:
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


def _replaying(base: type) -> type:
    """A subclass of ``base`` that, at the start of training, feeds the logs of the epochs
    run before a kill through its own on_epoch_end, rebuilding its counters."""

    class Replaying(base):
        def __init__(self, past_logs: list[dict], **kwargs) -> None:
            super().__init__(**kwargs)
            self.past_logs = past_logs

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for epoch, past in enumerate(self.past_logs):
                super().on_epoch_end(epoch, dict(past))

    Replaying.__name__ = Replaying.__qualname__ = f"Replaying{base.__name__}"
    return Replaying


ReplayingEarlyStopping = _replaying(keras.callbacks.EarlyStopping)
ReplayingReduceLROnPlateau = _replaying(keras.callbacks.ReduceLROnPlateau)


def phase_dir(run_dir: Path, phase: int) -> Path:
    return Path(run_dir) / STATE_DIR / f"phase{phase}"


def finished_phase(run_dir: Path, phase: int) -> dict | None:
    """done.json of a finished phase ({"best_value": ...}), or None."""
    try:
        return json.loads((phase_dir(run_dir, phase) / "done.json").read_text())
    except (OSError, ValueError):
        return None


def mark_finished(run_dir: Path, phase: int, record: dict) -> None:
    """Write the phase's done.json and drop its weights backup."""
    folder = phase_dir(run_dir, phase)
    folder.mkdir(parents=True, exist_ok=True)
    replace_atomically(folder / "done.json", lambda tmp: Path(tmp).write_text(json.dumps(record)))
    for old in folder.glob("epoch-*.weights.h5"):
        old.unlink(missing_ok=True)
    (folder / "state.json").unlink(missing_ok=True)


def logged_epochs(history_file: Path) -> pd.DataFrame:
    """A phase's CSVLogger file, one row per epoch (a row written again after a resume wins;
    columns that are empty in every row, CSVLogger's val_* of a fit without val, dropped)."""
    if not Path(history_file).is_file() or Path(history_file).stat().st_size == 0:
        return pd.DataFrame()
    history = pd.read_csv(history_file).dropna(axis=1, how="all")  # CSVLogger adds empty val_* columns without val
    return history.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


def prepare_state(run_dir: Path, fingerprint: str, resume: bool, data_fingerprint: str) -> None:
    """Keep the saved fit state only when resuming the same config; otherwise start clean.

    Raises:
        FungiclfError: resuming the same config on data whose content changed since the saved
            epochs were trained (they would be scored on another split)."""
    folder = Path(run_dir) / STATE_DIR
    stamp, data_stamp = folder / "config_fingerprint", folder / "data_fingerprint"
    same = stamp.is_file() and stamp.read_text().strip() == fingerprint
    saved_data = data_stamp.read_text().strip() if data_stamp.is_file() else data_fingerprint
    if resume and same and saved_data != data_fingerprint:
        raise FungiclfError(
            f"resume=true: the images changed since {run_dir}'s saved epochs were trained (data "
            f"fingerprint {saved_data}, now {data_fingerprint}); continuing would score that model "
            f"on other images: start over with resume=false, or give another hydra.run.dir"
        )
    if not (resume and same):
        shutil.rmtree(folder, ignore_errors=True)
        for stale in Path(run_dir).glob("history_phase*.csv"):
            stale.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    data_stamp.write_text(data_fingerprint)
