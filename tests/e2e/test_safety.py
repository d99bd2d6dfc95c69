"""Nothing a user owns is overwritten, nothing is answered from stale data, and no code from a
folder someone else made runs (fungiclf/runs.py and the commands that go through it)."""

import json
import logging
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fungiclf import runs
from fungiclf.cli.data import main as data_main
from fungiclf.cli.explain import output_names
from fungiclf.cli.predict import main as predict_main
from fungiclf.cli.report import main as report_main
from fungiclf.data.enhance import PixelSettings
from fungiclf.data.prepare import prepare
from fungiclf.data.sources import load_image_folder
from fungiclf.errors import FungiclfError
from fungiclf.train import run_job
from tests.conftest import write_image_folder


def exit_code(main, argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


@pytest.fixture(scope="module")
def logreg_run(tmp_path_factory, cache_dir):
    """A completed scikit-learn run on a small image folder (seconds), and that folder."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    root = tmp_path_factory.mktemp("safety")
    images = write_image_folder(root / "images", per_class=12)
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.cache_dir={cache_dir}",
                "dataset=image_folder",
                f"dataset.path={images}",
                "model=logreg",
                "preprocess.size=16",
            ],
        )
    GlobalHydra.instance().clear()
    assert run_job(cfg, root / "run") is not None
    return root / "run", images


# --- outputs: written atomically onto a regular file or a new path, through onto a pipe or a
# --- device, through a symbolic link; never onto an input or a run's own file


def test_a_named_pipe_is_written_through_and_stays_a_pipe(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    runs.write_output(fifo, lambda p: Path(p).write_text("hello\n"))
    reader.join(timeout=10)
    assert received == ["hello\n"] and stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_device_is_written_through_never_replaced():
    runs.write_output(Path("/dev/null"), lambda p: Path(p).write_text("x"))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_symlink_is_followed_to_its_target(tmp_path):
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    target.write_text("old")
    link.symlink_to(target)
    runs.write_output(link, lambda p: Path(p).write_text("new"))
    assert link.is_symlink() and target.read_text() == "new"


def test_a_full_disk_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    file = tmp_path / "model.keras"
    file.write_text("previous best")

    def full(path):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match=f"no space left on {file}"):
        runs.replace_atomically(file, full)
    assert file.read_text() == "previous best" and sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_predict_refuses_to_write_over_its_input_or_a_runs_own_file(logreg_run, tmp_path, capsys):
    run, images = logreg_run
    image = next(images.rglob("*.png"))
    before = image.read_bytes(), (run / "metrics.json").read_bytes()
    assert exit_code(predict_main, [str(run), str(image), "--out", str(image)]) == 1
    assert "is one of the inputs" in capsys.readouterr().err
    assert exit_code(predict_main, [str(run), str(image), "--out", str(run / "metrics.json")]) == 1
    assert "is a file of the run folder" in capsys.readouterr().err
    assert (image.read_bytes(), (run / "metrics.json").read_bytes()) == before


def test_predict_lists_a_glob_that_matches_nothing(logreg_run, tmp_path, capsys):
    run, images = logreg_run
    out = tmp_path / "p.csv"
    assert exit_code(predict_main, [str(run), str(images / "a"), str(tmp_path / "none_*.png"), "--out", str(out)]) == 3
    assert "none_*.png: the glob matches no file" in capsys.readouterr().err
    assert len(pd.read_csv(out)) == 12


def test_explain_names_each_picture_after_a_unique_path():
    names = output_names([Path("a/x.jpg"), Path("b/x.jpg"), Path("b/y.png"), Path("b/x.png")])
    assert names == ["a__x_jpg", "b__x_jpg", "y", "b__x_png"] and len(set(names)) == 4


def test_report_outputs_never_replace_a_runs_files(logreg_run, capsys):
    run, _ = logreg_run
    before = (run / "metrics.json").read_bytes()
    assert exit_code(report_main, ["--compare", str(run), str(run), "--out", str(run / ".hydra")]) == 1
    assert "is a file of the run folder" in capsys.readouterr().err
    assert (run / "metrics.json").read_bytes() == before and not (run / ".hydra" / "compare.json").exists()


# --- the run folder is the job's alone


def test_a_folder_of_someone_elses_files_is_refused_before_anything_is_written(make_cfg, tmp_path):
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "history.csv").write_text("my own history\n")
    (folder / "thesis.tex").write_text("\\section{}")
    assert run_job(make_cfg("trainer=smoke"), folder) is None
    assert (folder / "history.csv").read_text() == "my own history\n"
    assert sorted(p.name for p in folder.iterdir()) == ["history.csv", "thesis.tex"]


def test_a_refused_folder_gets_no_log_and_its_own_logs_are_not_taken_for_ours(make_cfg, tmp_path):
    """Hydra opens the job log (train.log, delay: true in conf/train.yaml) at its first record;
    a refused folder's handler is closed before the refusal is logged, so a user's own
    train.log is not appended to, and a *.log that is not the job log is the user's."""
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "train.log").write_text("my notes\n")
    (folder / "experiment.log").write_text("my log\n")
    handler = logging.FileHandler(folder / "train.log", delay=True)
    logging.getLogger().addHandler(handler)
    try:
        assert run_job(make_cfg("trainer=smoke"), folder) is None
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert handler not in logging.getLogger().handlers or handler.stream is None
    assert (folder / "train.log").read_text() == "my notes\n"
    assert sorted(p.name for p in folder.iterdir()) == ["experiment.log", "train.log"]


def test_a_second_job_on_a_held_folder_is_refused_naming_the_holder(make_cfg, tmp_path, caplog):
    folder = tmp_path / "run"
    with runs.locked(folder):
        assert run_job(make_cfg("trainer=smoke"), folder) is None
    assert f"in use by another fungiclf-train job (PID {os.getpid()})" in caplog.text
    assert not (folder / "metrics.json").exists()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from fungiclf.runs import locked\n"
            f"with locked({str(folder)!r}):\n print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FungiclfError, match=f"PID {holder.pid}"), runs.locked(folder):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with runs.locked(folder):  # the kernel dropped the dead process's lock
            pass
    finally:
        holder.kill()
        holder.wait()


# --- no stale data


def test_a_damaged_cache_entry_is_rebuilt_not_trained_on(tmp_path, caplog):
    images = write_image_folder(tmp_path / "images", per_class=4)
    samples, settings = load_image_folder(str(images)), PixelSettings("rgb", (16, 16))
    first = prepare(samples, settings, str(tmp_path / "cache"))
    pixels = np.array(first.images)
    entry = tmp_path / "cache" / "prepared" / first.key / "images.npy"
    size = entry.stat().st_size
    with open(entry, "r+b") as f:  # zero the pixels, keep the header: shapes and counts still match
        f.seek(128)
        f.write(bytes(size - 128))
    again = prepare(samples, settings, str(tmp_path / "cache"))
    assert "do not match their checksum" in caplog.text and not again.from_cache
    assert np.array_equal(np.asarray(again.images), pixels)


def test_an_image_changed_with_its_size_and_mtime_restored_is_decoded_again(tmp_path):
    images = write_image_folder(tmp_path / "images", per_class=4)
    settings = PixelSettings("rgb", (16, 16))
    first = prepare(load_image_folder(str(images)), settings, str(tmp_path / "cache"))
    a, b = sorted((images / "a").glob("*.png"))[0], sorted((images / "b").glob("*.png"))[0]
    times = [(os.stat(p).st_atime_ns, os.stat(p).st_mtime_ns) for p in (a, b)]
    content_a, content_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(content_b)  # what rsync or cp -p does: new bytes, old timestamps
    b.write_bytes(content_a)
    for path, (atime, mtime) in zip((a, b), times):
        os.utime(path, ns=(atime, mtime))
    second = prepare(load_image_folder(str(images)), settings, str(tmp_path / "cache"))
    assert second.key != first.key and not second.from_cache


def test_cache_clear_removes_only_entries_fungiclf_made(tmp_path, capsys):
    images = write_image_folder(tmp_path / "images", per_class=4)
    entry = prepare(load_image_folder(str(images)), PixelSettings("rgb", (16, 16)), str(tmp_path / "cache"))
    theirs = tmp_path / "cache" / "prepared" / "my_notes"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    data_main(["cache", "clear", "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert "Removed 1 prepared-array entries" in out and "Left 1 entries" in out and "my_notes" in out
    assert (theirs / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "cache" / "prepared" / entry.key).exists()


def test_resume_refuses_a_completed_run_whose_images_changed(make_cfg, tmp_path, caplog):
    images = write_image_folder(tmp_path / "images", per_class=8)
    overrides = ("dataset=image_folder", f"dataset.path={images}", "model=logreg", "preprocess.size=16")
    assert run_job(make_cfg(*overrides), tmp_path / "run") is not None
    before = (tmp_path / "run" / "metrics.json").read_bytes()
    assert run_job(make_cfg(*overrides, "resume=true"), tmp_path / "run") is not None  # unchanged: skipped
    image = sorted((images / "a").glob("*.png"))[0]
    image.write_bytes(sorted((images / "b").glob("*.png"))[0].read_bytes())
    assert run_job(make_cfg(*overrides, "resume=true"), tmp_path / "run") is None
    assert "the images changed since" in caplog.text
    assert (tmp_path / "run" / "metrics.json").read_bytes() == before


# --- no stranger's code


class Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Foreign:
    """A type no fungiclf model is made of."""

    def __init__(self):
        self.x = 1


def forged_folder(root: Path, logreg_run) -> Path:
    run, _ = logreg_run
    forged = root / "forged"
    shutil.copytree(run, forged)
    (forged / runs.SKOPS_MODEL).unlink()
    return forged


def test_a_forged_folders_pickle_never_runs(logreg_run, tmp_path, capsys):
    forged, marker = forged_folder(tmp_path, logreg_run), tmp_path / "ran"
    (forged / runs.PICKLE_MODEL).write_bytes(pickle.dumps(Payload(marker)))
    image = next(logreg_run[1].rglob("*.png"))
    assert exit_code(predict_main, [str(forged), str(image), "--out", str(tmp_path / "p.csv")]) == 1
    assert "--trust-pickle" in capsys.readouterr().err and not marker.exists()


def test_a_skops_file_naming_a_foreign_type_is_refused_before_it_is_built(logreg_run, tmp_path, capsys):
    import skops.io

    forged = forged_folder(tmp_path, logreg_run)
    skops.io.dump({"model": Foreign()}, forged / runs.SKOPS_MODEL)
    image = next(logreg_run[1].rglob("*.png"))
    assert exit_code(predict_main, [str(forged), str(image), "--out", str(tmp_path / "p.csv")]) == 1
    assert "names types fungiclf does not load" in capsys.readouterr().err


# --- a malformed run folder costs one row


@pytest.mark.parametrize(
    "metrics, why",
    [
        ([1, 2], "is not of type 'object'"),
        ({"status": "completed", "model": "cnn", "test": {}}, "'classes' is a required property"),
        (
            {"status": "completed", "model": "cnn", "classes": ["a", "b"], "test": {}, "threshold": {"value": "high"}},
            "threshold.value",
        ),
        ({"status": "finished"}, "status"),
    ],
)
def test_a_malformed_metrics_json_is_one_unreadable_row(logreg_run, tmp_path, capsys, metrics, why):
    sweep = tmp_path / "sweep"
    shutil.copytree(logreg_run[0], sweep / "0")
    (sweep / "1").mkdir()
    (sweep / "1" / "metrics.json").write_text(json.dumps(metrics))
    report_main([str(sweep), "--metric", "test.accuracy"])
    table = pd.read_csv(sweep / "summary.csv")
    assert list(table["status"]) == ["completed", "unreadable"]
    assert why in runs.read_run(sweep / "1")["error"]
    with pytest.raises(FungiclfError, match="metrics.json"):
        from fungiclf.inference.run import load_run

        load_run(sweep / "1")


def test_a_model_of_another_class_count_is_refused(logreg_run, tmp_path):
    from fungiclf.inference.run import load_run

    forged = tmp_path / "forged"
    shutil.copytree(logreg_run[0], forged)
    record = json.loads((forged / "metrics.json").read_text())
    record["classes"] = ["x", "y"]
    (forged / "metrics.json").write_text(json.dumps(record))
    with pytest.raises(FungiclfError, match="not a fitted estimator of the run's 2 classes"):
        load_run(forged)


def test_a_loss_that_becomes_nan_fails_the_job_in_one_line(make_cfg, tmp_path):
    run = tmp_path / "run"
    assert run_job(make_cfg("trainer=smoke", "optimizer.lr=1e30"), run) is None
    record = json.loads((run / "metrics.json").read_text())
    assert record["status"] == "failed"
    assert record["error"].startswith("loss became") and "lower optimizer.lr" in record["error"], record["error"]
