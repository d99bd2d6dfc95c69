"""Surviving a kill: state written atomically every epoch, and callbacks that continue from it.

A Keras fit phase keeps its state in ``<run>/.fit/phase<N>/`` (cv folds: in their own fold
folder): the weights and optimizer state of the last completed epoch (EpochBackup, Keras'
BackupAndRestore writing each file to a temporary name first), and ``done.json`` once the
phase has finished. ``resume=true`` on a killed job continues each unfinished phase from
its last completed epoch; finished phases are not run again. The early-stopping and
reduce-on-plateau counters are rebuilt by replaying the epochs the phase's history.csv
already holds, and the checkpoint keeps the best value seen, so the resumed phase stops
when the uninterrupted one would have.
"""

import json
import os
import shutil
from pathlib import Path

import keras
import pandas as pd

STATE_DIR = ".fit"


def replace_atomically(path: Path, write) -> None:
    """``write(temporary_path)`` then rename onto ``path``: a reader never sees half a file."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}" if path.suffix != ".h5"
                               else f".{path.name[:-len('.weights.h5')]}.tmp.weights.h5")
    write(temporary)
    os.replace(temporary, path)


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
    """BackupAndRestore whose state is written atomically: weights of epoch e go to
    ``epoch-<e>.weights.h5`` (a temporary name renamed), then ``state.json`` naming that file
    (likewise); older weights are removed last. A kill at any point leaves a state.json
    that names a complete file."""

    def __init__(self, backup_dir: Path) -> None:
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.folder = Path(backup_dir)

    @staticmethod
    def saved_epoch(backup_dir: Path) -> int:
        """Epochs completed according to the backup in ``backup_dir`` (0 when none)."""
        try:
            return int(json.loads((Path(backup_dir) / "state.json").read_text())["epoch"])
        except (OSError, ValueError, KeyError):
            return 0

    def on_train_begin(self, logs=None):
        self._load_model()

    def _load_model(self):
        try:
            state = json.loads((self.folder / "state.json").read_text())
        except (OSError, ValueError):
            return
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.folder / state["weights"])
        self.model._initial_epoch = int(state["epoch"])

    def _save_model(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{self._current_epoch:04d}.weights.h5"
        replace_atomically(self.folder / name, lambda tmp: self.model.save_weights(str(tmp), overwrite=True))
        state = json.dumps({"epoch": self._current_epoch, "weights": name})
        replace_atomically(self.folder / "state.json", lambda tmp: Path(tmp).write_text(state))
        for old in self.folder.glob("epoch-*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        pass   # the phase's done.json, written after it, replaces the backup


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
    history = pd.read_csv(history_file).dropna(axis=1, how="all")   # CSVLogger adds empty val_* columns without val
    return history.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)


def prepare_state(run_dir: Path, fingerprint: str, resume: bool) -> None:
    """Keep the saved fit state only when resuming the same config; otherwise start clean."""
    folder = Path(run_dir) / STATE_DIR
    stamp = folder / "config_fingerprint"
    same = stamp.is_file() and stamp.read_text().strip() == fingerprint
    if not (resume and same):
        shutil.rmtree(folder, ignore_errors=True)
        for stale in Path(run_dir).glob("history_phase*.csv"):
            stale.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
