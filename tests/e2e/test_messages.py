"""What a user reads: the run summary, warnings about the data, hints that work as written,
a quiet start-up, and a saved model that loads in plain Keras."""

import json
import os
import re
import shlex
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from fungiclf.cli.data import main as data_main
from fungiclf.evaluation.summary import summary_lines
from fungiclf.quiet import quiet_native_startup
from fungiclf.train import run_job, train
from tests.conftest import write_chest_xrays, write_image_folder, write_npz


def test_quiet_startup_drops_native_noise_and_keeps_real_errors(capfd):
    with quiet_native_startup():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1 port.cc:153] oneDNN custom operations are on. You may see slightly different\n")
        os.write(2, b"E0000 00:00:1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\n")
        os.write(2, b"E0000 00:00:1 something.cc:1] a real error\n")
    err = capfd.readouterr().err
    assert err == "E0000 00:00:1 something.cc:1] a real error\n"


def test_import_is_quiet_and_a_saved_model_loads_in_plain_keras(make_cfg, tmp_path):
    train(make_cfg("trainer=smoke", "model=cnn", "augment=basic"), tmp_path / "run")  # has a RandomTranspose layer
    code = (
        "import fungiclf.layers, keras, sys\n"
        f"model = keras.models.load_model({str(tmp_path / 'run' / 'model.keras')!r})\n"
        "print(type(model.get_layer('aug_transpose')).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "RandomTranspose"
    for noise in ("absl::InitializeLog", "oneDNN", "cuda drivers", "cuInit"):
        assert noise not in out.stderr, out.stderr


def test_binary_summary_shows_sensitivity_specificity_and_the_majority_rate(make_cfg, tmp_path):
    path = write_npz(tmp_path / "tiny.npz", n=(40, 20, 30))
    metrics = train(
        make_cfg(
            "dataset=medmnist",
            f"dataset.path={path}",
            "model=logreg",
            "preprocess.color=gray",
            "preprocess.size=28",
            "dataset.class_names=[normal,pneumonia]",
        ),
        tmp_path / "run",
    )
    text = "\n".join(summary_lines(metrics))
    test = metrics["test"]
    assert f"| sensitivity (recall of pneumonia) | {test['recall_pos']:.4f} |" in text
    cm = np.array(test["confusion_matrix"])
    assert test["specificity"] == pytest.approx(cm[0, 0] / cm[0].sum())
    assert f"| specificity (recall of normal) | {test['specificity']:.4f} |" in text
    assert "| majority-class rate (" in text and "false-negative rate" in text
    low, high = test["ci95"]["accuracy"]
    assert low <= test["accuracy"] <= high and f"{low:.4f}-{high:.4f}" in text


def test_a_model_no_better_than_the_majority_class_is_warned_about(make_cfg, tmp_path, capsys):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=("big",), per_class=40)
    write_image_folder(root, classes=("small",), per_class=6, seed=1)
    run_job(
        make_cfg(
            "dataset=image_folder",
            f"dataset.path={root}",
            "trainer=smoke",
            "model=ann",
            "trainer.epochs=1",
            "optimizer.lr=1e-9",
            "trainer.max_per_class=100",
        ),
        tmp_path / "run",
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    if metrics["test"]["accuracy"] <= metrics["baselines"]["majority_rate"]:
        assert any(w["kind"] == "majority" for w in metrics["warnings"])
        assert "WARNING: test accuracy" in capsys.readouterr().out
    else:  # the untrained net happened to beat the majority rate: then there is nothing to warn about
        assert not any(w["kind"] == "majority" for w in metrics["warnings"])


def test_a_tiny_val_folder_is_warned_about_and_the_hint_works(make_cfg, tmp_path):
    root = tmp_path / "xray"
    write_image_folder(root / "train", classes=("NORMAL", "PNEUMONIA"), per_class=100)
    write_image_folder(root / "val", classes=("NORMAL", "PNEUMONIA"), per_class=8, seed=1)
    write_image_folder(root / "test", classes=("NORMAL", "PNEUMONIA"), per_class=10, seed=2)
    args = ["dataset=image_folder", f"dataset.path={root}", "model=logreg", "preprocess.size=12"]
    metrics = train(make_cfg(*args), tmp_path / "run")
    (warning,) = metrics["warnings"]
    assert warning["kind"] == "small_val" and "16 images (8 of class NORMAL)" in warning["message"]
    assert "keep it to compare with published numbers" in warning["message"]
    hint = re.search(r"(dataset\.val_from_train=true)", warning["message"]).group(1)
    metrics = train(make_cfg(*args, hint), tmp_path / "run2")
    assert metrics["n_val"] == 54 and not metrics["warnings"]  # 25% of the 216 train+val images, by class
    assert metrics["n_test"] == 20


def test_the_chest_xray_hint_works_as_written(make_cfg, tmp_path):
    """The missing-data message names a command; run it (with the file a user downloads by
    hand) and the same training command then works."""
    missing = tmp_path / "data" / "chest_xray"
    failed = tmp_path / "failed"
    assert run_job(make_cfg("dataset=chest_xray", f"dataset.path={missing}", "model=logreg"), failed) is None
    error = json.loads((failed / "metrics.json").read_text())["error"]
    command = re.search(r"'(fungiclf-data fetch [^']+)'", error).group(1)
    assert "--url /path/to/ChestXRay2017.zip" in command and "--dest" in command
    tree = tmp_path / "unpacked" / "chest_xray"
    write_chest_xrays(tree, {"train": 30, "test": 10})
    archive = tmp_path / "ChestXRay2017.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in tree.rglob("*.jpeg"):
            zf.write(file, file.relative_to(tree.parent))
    data_main(shlex.split(command.replace("/path/to/ChestXRay2017.zip", str(archive)))[1:])
    metrics = train(
        make_cfg("dataset=chest_xray", f"dataset.path={missing}", "model=logreg", "preprocess.size=12"),
        tmp_path / "run",
    )
    assert metrics["status"] == "completed" and metrics["n_test"] == 20


def test_a_folder_given_to_url_says_how_to_use_it(make_cfg, tmp_path, capsys):
    folder = write_image_folder(tmp_path / "my_copy")
    with pytest.raises(SystemExit):
        data_main(["fetch", "chest_xray", "--url", str(folder), "--dest", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert "Errno" not in err and len(err.strip().splitlines()) == 1
    hint = re.search(r"(dataset\.path=\S+)", err).group(1)
    assert (
        train(make_cfg("dataset=image_folder", hint, "model=logreg", "preprocess.size=12"), tmp_path / "run")["status"]
        == "completed"
    )


def test_a_run_off_the_published_protocol_is_marked_in_metrics_and_report(make_cfg, tmp_path):
    """An npz ships its official split: class weights change what a comparison with published
    numbers measures, so the run says so and the report flags it."""
    from fungiclf.evaluation.report import run_row

    npz = write_npz(tmp_path / "set.npz")
    args = ["dataset=medmnist", f"dataset.path={npz}", "model=logreg"]
    plain = train(make_cfg(*args), tmp_path / "plain")
    weighted = train(make_cfg(*args, "trainer.balance=class_weight"), tmp_path / "weighted")
    assert not any(w["kind"] == "protocol" for w in plain["warnings"])
    (warning,) = [w for w in weighted["warnings"] if w["kind"] == "protocol"]
    assert "trainer.balance=class_weight" in warning["message"]
    assert "not the published protocol" in run_row(tmp_path / "weighted", weighted, "test.accuracy")["flag"]
