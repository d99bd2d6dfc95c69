"""The run folder (DESIGN.md's contract): its file names, spelled once; how its files and a
user's outputs are written; the one validated reader of what it records; discovery of the
runs under a sweep; the lock a job holds on it; and loading its model without running
anyone's code. The ground floor: every module that reads or writes a run folder comes here.
"""

import errno
import fcntl
import glob
import json
import math
import os
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import numpy as np
import pandas as pd
import yaml

from fungiclf.errors import FungiclfError
from fungiclf.scratch import scratch_path

if TYPE_CHECKING:
    import keras

# The files of a run folder (DESIGN.md). Nothing else spells these names.
METRICS = "metrics.json"
CONFIG = "config_resolved.yaml"
HYDRA_DIR = ".hydra"
OVERRIDES = f"{HYDRA_DIR}/overrides.yaml"
SPLIT = "split.csv"
PREDICTIONS = "predictions.csv"
HISTORY = "history.csv"
CURVES = "curves.png"
CLASS_REPORT = "classification_report.csv"
CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
RELIABILITY_PNG = "reliability.png"
REMOVED = "removed.csv"
KERAS_MODEL = "model.keras"
SKOPS_MODEL = "model.skops"
PICKLE_MODEL = "model.joblib"  # written by fungiclf before 0.2; loaded only with --trust-pickle
STATE_DIR = ".fit"  # the fit state of a job that has not finished (training/resume.py)
CV_DIR = "cv"  # cv/fold_<k>/: one folder per cross-validation fold
LOCK = ".lock"  # held by the job that writes the folder
JOB_LOG = "train.log"  # Hydra's job log (hydra.job.name of fungiclf-train)
RUN_FILES = frozenset(
    {
        METRICS,
        CONFIG,
        HYDRA_DIR,
        SPLIT,
        PREDICTIONS,
        HISTORY,
        CURVES,
        CLASS_REPORT,
        CONFUSION_CSV,
        CONFUSION_PNG,
        RELIABILITY_PNG,
        REMOVED,
        KERAS_MODEL,
        SKOPS_MODEL,
        PICKLE_MODEL,
        STATE_DIR,
        CV_DIR,
        LOCK,
        JOB_LOG,
    }
)


class RunFolderError(FungiclfError):
    """A run folder that is not what it claims: a file missing, malformed, or of another run."""


# ---------------------------------------------------------------------------------------------
# Writing


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary_path)`` then rename onto ``path``: a reader never sees half a file,
    and a kill or a full disk leaves the previous file whole. An OSError names ``path``, not
    the temporary file the user never asked for; ENOSPC says so in those words."""
    path = Path(path)
    temporary = scratch_path(path, "tmp", hidden=True, keep_suffix=True)  # concurrent writers never share it
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as exc:
        if temporary.parent.is_dir():
            temporary.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise OSError(exc.errno, f"no space left on {path}") from exc
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc


def _json_safe(value):
    """numpy scalars to Python, NaN and infinity to None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(payload: dict) -> str:
    return json.dumps(_json_safe(payload), indent=2) + "\n"


def write_json(path: Path, payload: dict) -> None:
    replace_atomically(path, lambda tmp: Path(tmp).write_text(json_text(payload)))


def write_text(path: Path, text: str) -> None:
    replace_atomically(path, lambda tmp: Path(tmp).write_text(text))


def write_yaml(path: Path, content: dict | list) -> None:
    replace_atomically(path, lambda tmp: Path(tmp).write_text(yaml.safe_dump(content, sort_keys=False)))


def write_csv(path: Path, table: pd.DataFrame) -> None:
    replace_atomically(path, lambda tmp: table.to_csv(tmp, index=False))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    replace_atomically(path, lambda tmp: np.savez(tmp, **arrays))  # the temporary name ends in .npz: savez keeps it


def is_run_folder(folder: Path) -> bool:
    """A folder fungiclf-train wrote: it holds metrics.json or .hydra/ and config_resolved.yaml."""
    folder = Path(folder)
    return (folder / METRICS).is_file() or ((folder / HYDRA_DIR).is_dir() and (folder / CONFIG).is_file())


def check_output(path: Path, inputs: Iterable[Path] = ()) -> Path:
    """Where a user's output named ``path`` goes: a symbolic link's target. Refused in one
    line: one of ``inputs`` (a prediction table over its own image), a file of a run folder
    (``--out RUN/metrics.json``) or an existing folder."""
    target = Path(os.path.realpath(Path(path).expanduser()))
    if target.is_dir():
        raise FungiclfError(f"{path} is a folder; name a file to write")
    for source in inputs:
        if target.exists() and Path(source).exists() and os.path.samefile(target, source):
            raise FungiclfError(f"{path} is one of the inputs; it is never overwritten: choose another output name")
    inside = [parent for parent in (target.parent, target.parent.parent) if is_run_folder(parent)]
    if inside and target.relative_to(inside[0]).parts[0] in RUN_FILES:
        raise FungiclfError(
            f"{path} is a file of the run folder {inside[0]}: a run's own files are never "
            f"overwritten; choose another output name"
        )
    return target


def write_output(path: Path, write: Callable[[Path], object], inputs: Iterable[Path] = ()) -> Path:
    """Write a user's output (predict --out, report's files, data info --json) by ``write(p)``.

    A regular file or a new path is replaced atomically; a named pipe or a device
    (/dev/null, /dev/stdout) is written through, never replaced by a file; a symbolic link is
    followed to its target. Refused (check_output): an input, a run folder's own file, a
    folder. Returns the path written."""
    target = check_output(path, inputs)
    mode = target.stat().st_mode if target.exists() else None
    if mode is not None and not stat.S_ISREG(mode):  # a FIFO, a character or block device
        try:
            write(target)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(target, write)
    return target


# ---------------------------------------------------------------------------------------------
# Reading

# What metrics.json must hold for its readers (predict, report, warm starts, resume) to use it.
# Keys may be added to a run's record, never renamed (DESIGN.md).
METRICS_SCHEMA = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": ["completed", "failed", "pruned"]},  # pruned: an Optuna trial stopped early
        "error": {"type": ["string", "null"]},
        "model": {"type": ["string", "null"]},
        "dataset": {"type": ["string", "null"]},
        "classes": {"type": "array", "minItems": 2, "items": {"type": ["string", "integer"]}},
        "threshold": {"type": ["object", "null"], "properties": {"value": {"type": ["number", "null"]}}},
        "calibration": {
            "type": ["object", "null"],
            "properties": {"temperature": {"type": ["number", "null"], "exclusiveMinimum": 0}},
        },
        "best_epoch": {"type": ["integer", "null"]},
        "test": {"type": "object"},
        "val": {"type": ["object", "null"]},
        "cv": {"type": ["object", "null"]},
        "published": {"type": ["object", "null"], "additionalProperties": {"type": ["number", "null"]}},
        "baselines": {"type": ["object", "null"]},
        "warnings": {"type": ["array", "null"], "items": {"type": "object"}},
        "config_fingerprint": {"type": ["string", "null"]},
        "data_content": {"type": ["string", "null"]},
    },
    "if": {"properties": {"status": {"const": "completed"}}},
    "then": {"required": ["classes", "model", "test"]},
}
_VALIDATOR = jsonschema.Draft202012Validator(METRICS_SCHEMA)


def read_metrics(run: Path) -> dict:
    """metrics.json of ``run``, validated against METRICS_SCHEMA.

    Raises:
        RunFolderError: missing, half-written, not JSON, or not of the schema (says which key).
    """
    file = Path(run) / METRICS
    try:
        record = json.loads(file.read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{run} holds no {METRICS}") from None
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{file} cannot be read as JSON ({type(exc).__name__})") from None
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(record))
    if error is not None:
        where = ".".join(map(str, error.absolute_path)) or "the file"
        raise RunFolderError(f"{file}: {where}: {error.message[:200]}")
    return record


def read_run(run: Path) -> dict:
    """metrics.json of a run for a table of runs: the record, or a stand-in whose status says
    why there is none: "incomplete" (no file yet: killed, or still running) or "unreadable"
    (with the reason as its error), so one broken folder costs one row."""
    try:
        return read_metrics(run)
    except RunFolderError as exc:
        if not (Path(run) / METRICS).exists():
            return {"status": "incomplete", "error": "no metrics.json (killed, or still running)"}
        return {"status": "unreadable", "error": str(exc)}


def completed_metrics(run: Path) -> dict | None:
    """metrics.json of a completed run in ``run``, or None (none yet, failed, or unreadable)."""
    record = read_run(run)
    return record if record["status"] == "completed" else None


def read_yaml_mapping(file: Path) -> dict:
    """A YAML file that must hold a mapping (config_resolved.yaml); one-line RunFolderError otherwise."""
    try:
        content = yaml.safe_load(Path(file).read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{file} is missing") from None
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise RunFolderError(f"{file} cannot be read as YAML ({type(exc).__name__})") from None
    if not isinstance(content, dict):
        raise RunFolderError(f"{file} does not hold a mapping of config keys")
    return content


def read_config(run: Path) -> dict:
    """config_resolved.yaml of ``run``: exactly what it ran with."""
    return read_yaml_mapping(Path(run) / CONFIG)


def read_overrides(run: Path) -> list[str]:
    """The command-line overrides of ``run`` (.hydra/overrides.yaml; none when absent)."""
    file = Path(run) / OVERRIDES
    if not file.is_file():
        return []
    try:
        content = yaml.safe_load(file.read_text()) or []
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise RunFolderError(f"{file} cannot be read as YAML ({type(exc).__name__})") from None
    if not isinstance(content, list) or not all(isinstance(item, str) for item in content):
        raise RunFolderError(f"{file} does not hold a list of overrides")
    return content


def dig(record: dict, key: str) -> float | None:
    """record["test"]["f1_macro"] for the dotted key "test.f1_macro"; None when absent or not a number."""
    value = record
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def find_runs(paths: list[str]) -> list[Path]:
    """Run folders under each path or glob: folders holding metrics.json, and job folders of a
    sweep (holding .hydra/) that have none yet (incomplete). CV fold folders are excluded."""
    runs: set[Path] = set()
    for pattern in paths:
        pattern = os.path.expanduser(pattern)
        matches = sorted(map(Path, glob.glob(pattern))) if any(c in pattern for c in "*?[") else [Path(pattern)]
        for root in matches:
            if (root / METRICS).is_file():
                runs.add(root)
                continue
            found = [f.parent for f in root.rglob(METRICS)]
            found += [h.parent for h in root.rglob(HYDRA_DIR) if h.is_dir()]
            runs |= {run for run in found if CV_DIR not in run.relative_to(root).parts[:-1]}
    return sorted(runs)


# ---------------------------------------------------------------------------------------------
# The job's lock


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for one job: an OS lock (flock) that the kernel drops when the
    process ends, so a SIGKILL never leaves it stuck.

    Raises:
        RunFolderError: another live process holds it (names the folder and its PID).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunFolderError(
                f"{run_dir} is in use by another fungiclf-train job (PID {holder}); wait for it, "
                f"or give this job another hydra.run.dir"
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(handle)  # releases the lock


# ---------------------------------------------------------------------------------------------
# Models, loaded without running a stranger's code


def load_keras_model(file: Path) -> "keras.Model":
    """A model.keras loaded with safe_mode on; a file that needs unsafe deserialisation
    (a Lambda layer with code) or is not a Keras model is a one-line RunFolderError."""
    from fungiclf import layers  # noqa: F401  (Keras, and the package's own layers registered for loading)
    import keras

    try:
        return keras.models.load_model(file, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise RunFolderError(
                f"{file} needs unsafe deserialisation (a Lambda layer with Python code); "
                f"fungiclf never writes one, so it is refused"
            ) from None
        raise RunFolderError(
            f"{file} is not a Keras model this version can load: {str(exc).splitlines()[0][:200]}"
        ) from None
    except (OSError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise RunFolderError(f"{file} is not a Keras model file ({type(exc).__name__})") from None


def save_estimator(file: Path, estimator: object) -> None:
    """A fitted scikit-learn estimator as a skops file: loading it builds objects of listed
    types only, it never runs code from the file."""
    import skops.io  # imported here: only scikit-learn runs need it

    replace_atomically(file, lambda tmp: skops.io.dump(estimator, tmp))


def load_estimator(file: Path, trusted: Iterable[type]) -> object:
    """The estimator of a model.skops, built only from types skops itself trusts (numpy and
    scikit-learn's own), the ``trusted`` estimator types and the fitted trees of a forest; a
    file naming any other type is refused before anything in it is built."""
    import skops.io

    allowed = {f"{t.__module__}.{t.__qualname__}" for t in trusted} | {"sklearn.tree._tree.Tree"}
    try:
        untrusted = skops.io.get_untrusted_types(file=file)
        if unknown := sorted(set(untrusted) - allowed):
            raise RunFolderError(f"{file} names types fungiclf does not load: {', '.join(unknown[:5])}")
        return skops.io.load(file, trusted=untrusted)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, zipfile.BadZipFile) as exc:
        raise RunFolderError(
            f"{file} is not a scikit-learn model file fungiclf can load ({type(exc).__name__})"
        ) from None
