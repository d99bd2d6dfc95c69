"""Every bad config value and bad dataset is refused in one line before any image is decoded:
no cache entry, nothing in the run folder beyond the failure record."""

import json
import logging

import numpy as np
import pytest
import yaml

from fungiclf.train import run_job, train
from tests.conftest import write_image_folder, write_npz

TEMPLATE = r"The '{key}' parameter of {owner} must be "

REFUSALS = [  # (overrides, the message, as a regex)
    (["trainer.epochs=ten"], TEMPLATE.format(key="epochs", owner="trainer") + r"an int in \[1, inf\)\. Got 'ten'"),
    (["trainer=smoke", "trainer.epochs=ten"], TEMPLATE.format(key="epochs", owner="trainer") + r".*Got 'ten'"),
    (["seed=abc"], TEMPLATE.format(key="seed", owner="fungiclf-train") + r".*Got 'abc'"),
    (["optimizer.lr=0"], TEMPLATE.format(key="lr", owner="optimizer") + r"a float in \(0.0, inf\)\. Got 0 "),
    (["optimizer.lr=-1"], TEMPLATE.format(key="lr", owner="optimizer") + r".*Got -1 "),
    (["trainer.batch_size=0"], TEMPLATE.format(key="batch_size", owner="trainer") + r".*Got 0 "),
    (["trainer.patience=-1"], TEMPLATE.format(key="patience", owner="trainer") + r"an int in \[0, inf\)\. Got -1"),
    (
        ["dataset.split={train: 0.5, val: 0.2, test: 0.2}"],
        r"The 'split' parameter of dataset must be fractions .* sum to 1",
    ),
    (["preprocess.size=0"], TEMPLATE.format(key="size", owner="preprocess") + r"a positive int .*Got 0 "),
    (["preprocess.size=-8"], TEMPLATE.format(key="size", owner="preprocess") + r".*Got -8 "),
    (
        ["preprocess.color=cmyk"],
        TEMPLATE.format(key="color", owner="preprocess") + r"one of \['gray', 'rgb', 'auto'\]\. Got 'cmyk'",
    ),
    (["model.name=nosuch"], TEMPLATE.format(key="name", owner="model") + r"one of \[.*'cnn'.*\]\. Got 'nosuch'"),
    (["model=vgg16", "model.backbone=vgg99"], TEMPLATE.format(key="backbone", owner="model") + r".*Got 'vgg99'"),
    (["model.dropout=1.0"], TEMPLATE.format(key="dropout", owner="model") + r"a float in \[0, 1\)\. Got 1.0"),
    (["model=ann", "model.dropout=-0.1"], TEMPLATE.format(key="dropout", owner="model") + r".*Got -0.1"),
    (
        ["trainer.monitor=val_acc"],
        TEMPLATE.format(key="monitor", owner="trainer")
        + r"one of \['val_loss', 'val_accuracy', 'val_f1_macro'\]\. Got 'val_acc'",
    ),
    (["cv.folds=1"], r"The 'folds' parameter of cv must be 0 \(off\) or an int >= 2\. Got 1"),
    (
        ["cv.folds=1000"],
        r"The 'folds' parameter of cv must be an int in \[2, \d+\] \(the smallest class .*\)\. Got 1000",
    ),
    (["dataset.fraction=0"], TEMPLATE.format(key="fraction", owner="dataset") + r"a float in \(0.0, 1.0\]\. Got 0"),
    (["dataset.fraction=1.5"], TEMPLATE.format(key="fraction", owner="dataset") + r".*Got 1.5"),
    (
        ["trainer.balance=smote"],
        TEMPLATE.format(key="balance", owner="trainer")
        + r"one of \['none', 'class_weight', 'oversample'\]\. Got 'smote'",
    ),
    (["augment.rotation=5"], TEMPLATE.format(key="rotation", owner="augment") + r"a float in \[0.0, 1.0\]\. Got 5"),
    (["trainer.tta=all"], TEMPLATE.format(key="tta", owner="trainer") + r".*Got 'all'"),
    (
        ["model=logreg", "model.C=-1"],
        r"The 'C' parameter of LogisticRegression must be a float in the range \(0.0, inf\]\. Got -1",
    ),
    (["model.threshold=nan"], TEMPLATE.format(key="threshold", owner="model") + r"a finite number\. Got nan"),
    (["dataset.fraction=nan"], TEMPLATE.format(key="fraction", owner="dataset") + r"a finite number\. Got nan"),
    (["trainer.mixup=nan"], TEMPLATE.format(key="mixup", owner="trainer") + r"a finite number\. Got nan"),
    (["optimizer.lr=inf"], TEMPLATE.format(key="lr", owner="optimizer") + r"a finite number\. Got inf"),
    (["model.threshold=0.3"], r"model.threshold=0.3 is a cut on p\(class 1\) of a two-class task; the dataset has 3"),
    (
        ["model.threshold=val_youden"],
        r"model.threshold=val_youden needs a two-class task; the dataset has 3: add "
        r"model.threshold=0.5$",
    ),
    (["model.head=sigmoid"], r"model.head=sigmoid needs exactly 2 classes; the dataset has 3: add model.head=softmax$"),
    (
        ["evaluation.calibration=platt"],
        TEMPLATE.format(key="calibration", owner="evaluation") + r"one of \['none', 'temperature'\]\. Got 'platt'",
    ),
    (
        ["evaluation.calibration=temperature"],
        r"evaluation.calibration=temperature fits on val, which holds \d images of \w+ \(5 of each class at least\)",
    ),
    (
        ["dataset.path=${oc.env:FUNGICLF_TEST_UNSET}"],
        r"^dataset.path: the environment variable FUNGICLF_TEST_UNSET is not set$",
    ),
]


@pytest.fixture
def folder(tmp_path):
    return write_image_folder(tmp_path / "imgs", per_class=12, size=16)


@pytest.mark.parametrize("overrides, message", REFUSALS, ids=[" ".join(o) for o, _ in REFUSALS])
def test_bad_values_are_refused_before_any_decoding(make_cfg, tmp_path, folder, overrides, message):
    cache, run = tmp_path / "cache", tmp_path / "run"
    cfg = make_cfg(
        "dataset=image_folder", f"dataset.path={folder}", f"paths.cache_dir={cache}", "preprocess.size=24", *overrides
    )
    assert run_job(cfg, run) is None
    error = json.loads((run / "metrics.json").read_text())["error"]
    assert "\n" not in error
    assert __import__("re").search(message, error), error
    assert not (cache / "prepared").exists()  # nothing was decoded
    assert {p.name for p in run.iterdir()} == {"metrics.json", ".hydra", ".lock"}  # the failure record only


def npz_with(tmp_path, **changes):
    """A valid binary npz with some arrays replaced."""
    arrays = dict(np.load(write_npz(tmp_path / "ok.npz", n=(40, 20, 20))))
    arrays.update(changes)
    np.savez(tmp_path / "bad.npz", **arrays)
    return tmp_path / "bad.npz"


@pytest.mark.parametrize(
    "change, message",
    [
        ("nan", "holds NaN or infinite pixels"),
        ("labels_7", r"labels are \[0, 7\], not 0..K-1; set dataset.class_names"),
        ("labels_255", r"labels are \[0, 255\], not 0..K-1"),
        ("empty", "train_images has no rows"),
        ("one_class", r"the train split holds 1 class"),
        ("floats_out_of_range", r"float64 pixels in \[-1, 2\]; expected uint8 0-255 or floats in \[0, 1\]"),
    ],
)
def test_bad_npz_files_are_refused_in_one_line(make_cfg, tmp_path, change, message):
    base = dict(np.load(write_npz(tmp_path / "ok.npz", n=(40, 20, 20))))
    if change == "nan":
        images = base["train_images"].astype(np.float64) / 255
        images[0, 0, 0] = np.nan
        path = npz_with(tmp_path, train_images=images)
    elif change.startswith("labels_"):
        labels = base["train_labels"].copy()
        labels[labels == 1] = int(change.split("_")[1])
        path = npz_with(
            tmp_path,
            train_labels=labels,
            val_labels=np.zeros_like(base["val_labels"]),
            test_labels=np.zeros_like(base["test_labels"]),
        )
    elif change == "empty":
        path = npz_with(tmp_path, train_images=base["train_images"][:0], train_labels=base["train_labels"][:0])
    elif change == "one_class":
        path = npz_with(tmp_path, train_labels=np.zeros_like(base["train_labels"]))
    else:
        path = npz_with(
            tmp_path, train_images=np.linspace(-1, 2, base["train_images"].size).reshape(base["train_images"].shape)
        )
    cache, run = tmp_path / "cache", tmp_path / "run"
    assert (
        run_job(
            make_cfg(
                "dataset=medmnist",
                f"dataset.path={path}",
                f"paths.cache_dir={cache}",
                "model=logreg",
                "preprocess.color=gray",
                "preprocess.size=28",
            ),
            run,
        )
        is None
    )
    error = json.loads((run / "metrics.json").read_text())["error"]
    assert __import__("re").search(message, error), error
    assert "\n" not in error and not (cache / "prepared").exists()


def test_float_images_in_0_1_are_scaled_not_blacked_out(make_cfg, tmp_path, caplog):
    """MedMNIST-style arrays saved as floats in [0, 1] train on the same pixels as uint8 ones."""
    base = dict(np.load(write_npz(tmp_path / "ok.npz", n=(40, 20, 20))))
    path = npz_with(
        tmp_path, **{f"{s}_images": base[f"{s}_images"].astype(np.float64) / 255 for s in ("train", "val", "test")}
    )
    with caplog.at_level(logging.INFO):
        metrics = train(
            make_cfg(
                "dataset=medmnist",
                f"dataset.path={path}",
                "model=logreg",
                "preprocess.color=gray",
                "preprocess.size=28",
            ),
            tmp_path / "run",
        )
    assert "float pixels in [0, 1], scaled to 0-255" in caplog.text
    assert metrics["test"]["accuracy"] >= 0.9  # the classes differ by brightness: black images could not


def test_a_class_with_one_image_completes(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "imgs", classes=("a", "b"), per_class=20)
    write_image_folder(root, classes=("rare",), per_class=1, seed=3)
    metrics = train(
        make_cfg("dataset=image_folder", f"dataset.path={root}", "model=logreg", "preprocess.size=12"), tmp_path / "run"
    )
    assert metrics["status"] == "completed" and metrics["test"]["roc_auc"] is not None


def test_a_completed_run_folder_is_never_trained_over_unasked(make_cfg, tmp_path, folder):
    run = tmp_path / "run"
    base = ["dataset=image_folder", f"dataset.path={folder}", "model=logreg", "preprocess.size=12"]
    train(make_cfg(*base), run)
    before = {name: (run / name).read_bytes() for name in ("metrics.json", "config_resolved.yaml")}
    assert run_job(make_cfg(*base, "optimizer.lr=-1"), run) is None  # a bad value: refused, nothing written
    assert run_job(make_cfg(*base, "model.C=0.5"), run) is None  # another config: refused
    assert run_job(make_cfg(*base), run) is None  # the same config again: refused
    assert {name: (run / name).read_bytes() for name in before} == before
    assert not (run / ".hydra").exists()  # nor its .hydra/ written
    assert run_job(make_cfg(*base, "resume=true"), run) is not None  # resume=true: skipped, kept
    assert {name: (run / name).read_bytes() for name in before} == before
    run_job(make_cfg(*base, "model.C=0.5", "resume=true"), run)  # resume=true replaces it
    assert yaml.safe_load((run / "config_resolved.yaml").read_text())["model"]["C"] == 0.5
