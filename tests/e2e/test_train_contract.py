"""End-to-end runs of the composed train function on tiny data, checking the run-folder contract."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from fungiclf.cli.report import main as report_main
from fungiclf.data.batches import flat_pixels
from fungiclf.errors import ConfigError
from fungiclf.evaluation.calibration import calibration_metrics
from fungiclf.evaluation.summary import summary_lines
from fungiclf.train import run_job, train
from fungiclf.runs import load_estimator
from tests.conftest import dataset_of, write_image_folder, write_npz

CONTRACT = [
    "metrics.json",
    "confusion_matrix.csv",
    "confusion_matrix.png",
    "classification_report.csv",
    "history.csv",
    "curves.png",
    "reliability.png",
    "predictions.csv",
    "split.csv",
    "model.keras",
    "config_resolved.yaml",
]


def assert_contract(run_dir, metrics: dict) -> None:
    """metrics.json agrees with predictions.csv and split.csv; every file is there."""
    for name in CONTRACT:
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"
    test = metrics["test"]
    predictions = pd.read_csv(run_dir / "predictions.csv")
    split = pd.read_csv(run_dir / "split.csv", keep_default_na=False)
    in_test = (split["split"] == "test") & (split["excluded"] == "")
    assert len(predictions) == metrics["n_test"] == int(in_test.sum())
    assert set(predictions["id"]) == set(split.loc[in_test, "id"])
    assert np.array(test["confusion_matrix"]).sum() == metrics["n_test"]
    assert (predictions["true"] == predictions["predicted"]).mean() == pytest.approx(test["accuracy"])
    p_cols = [f"p_{c}" for c in metrics["classes"]]
    assert np.allclose(predictions[p_cols].sum(1), 1.0, atol=1e-4)
    assert (
        predictions[p_cols].to_numpy().argmax(1)
        == predictions["predicted"].map({c: i for i, c in enumerate(metrics["classes"])})
    ).all() or len(metrics["classes"]) == 2
    for key in (
        "accuracy",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "per_class",
        "confusion_matrix",
        "ece",
        "brier",
        "nll",
    ):
        assert key in test and key in metrics["val"]
    low, high = test["ci95"]["ece"]
    index = {str(c): i for i, c in enumerate(metrics["classes"])}  # class names may read back as numbers
    assert 0 <= low <= high <= 1 and test["ece"] == pytest.approx(
        calibration_metrics(
            predictions["true"].astype(str).map(index).to_numpy(),
            predictions["predicted"].astype(str).map(index).to_numpy(),
            predictions[p_cols].to_numpy(),
        )["ece"],
        abs=1e-4,
    )  # of the probabilities in predictions.csv
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == metrics["epochs_run"] and {"loss", "val_loss", "accuracy"} <= set(history.columns)
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"]
    report = pd.read_csv(run_dir / "classification_report.csv")
    assert set(metrics["classes"]) <= set(report["class"])
    for key in ("data_seconds", "train_seconds", "eval_seconds"):
        assert metrics["timings"][key] >= 0
    assert metrics["provenance"]["backend"] == keras.backend.backend()


def test_smoke_on_synthetic_writes_the_contract(make_cfg, tmp_path):
    cfg = make_cfg("trainer=smoke")
    metrics = train(cfg, tmp_path)
    assert_contract(tmp_path, metrics)
    assert metrics["dataset"] == "synthetic" and metrics["model"] == "cnn"
    assert len(metrics["classes"]) == 5
    # smoke caps: <= 16 per class per split, <= 2 epochs, 32 px
    assert metrics["n_train"] <= 5 * 16 and metrics["epochs_run"] <= 2
    import yaml

    assert yaml.safe_load((tmp_path / "config_resolved.yaml").read_text())["preprocess"]["size"] == [32, 32]
    split = pd.read_csv(tmp_path / "split.csv")
    assert split.groupby("group")["split"].nunique().max() == 1  # grouped by photograph


def test_image_folder_with_grouping_and_a_corrupt_file(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=15, photos=3)
    (root / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "b" / "notes.txt").write_text("hello")
    cfg = make_cfg(
        "dataset=image_folder",
        f"dataset.path={root}",
        "dataset.group_pattern='^(.+)_\\d+\\.\\w+$'",
        "trainer=smoke",
        "model=ann",
    )
    metrics = train(cfg, tmp_path / "run")
    assert_contract(tmp_path / "run", metrics)
    assert metrics["skipped_files"] == 2
    assert {s[0] for s in metrics["skipped"]} == {"a/broken.jpg", "b/notes.txt"}
    split = pd.read_csv(tmp_path / "run" / "split.csv")
    assert split.groupby("group")["split"].nunique().max() == 1
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert "group" in predictions
    # per photograph: the mean of its patches' probabilities, scored against its class
    columns = [f"p_{c}" for c in metrics["classes"]]
    by_group = predictions.groupby("group")
    voted = np.array(metrics["classes"])[by_group[columns].mean().to_numpy().argmax(1)]
    per_group = metrics["test"]["per_group"]
    assert per_group["n"] == predictions["group"].nunique() < len(predictions)
    assert per_group["accuracy"] == pytest.approx((voted == by_group["true"].first().to_numpy()).mean())
    ungrouped = train(
        make_cfg("dataset=image_folder", f"dataset.path={root}", "trainer=smoke", "model=ann"), tmp_path / "ungrouped"
    )
    assert "per_group" not in ungrouped["test"]


@pytest.mark.slow  # a folder's own train/val/test split; folders with grouping run in the default suite
def test_image_folder_with_train_val_test_folders(make_cfg, tmp_path):
    for part, n in (("train", 10), ("val", 4), ("test", 5)):
        write_image_folder(tmp_path / "d" / part, per_class=n, seed=len(part))
    cfg = make_cfg("dataset=image_folder", f"dataset.path={tmp_path / 'd'}", "trainer=smoke", "model=ann")
    metrics = train(cfg, tmp_path / "run")
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (30, 12, 15)
    split = pd.read_csv(tmp_path / "run" / "split.csv")
    assert split.loc[split["split"] == "test", "id"].str.startswith("test/").all()


@pytest.mark.parametrize("rgb", [False, True])
def test_npz_gray_and_rgb(make_cfg, tmp_path, rgb):
    path = write_npz(tmp_path / "tiny.npz", rgb=rgb)
    cfg = make_cfg(
        "dataset=medmnist",
        f"dataset.path={path}",
        "trainer=smoke",
        "model=ann",
        "preprocess.color=gray",
        "dataset.class_names=[normal,pneumonia]",
    )
    metrics = train(cfg, tmp_path / "run")
    assert_contract(tmp_path / "run", metrics)
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (16 * 2, 12, 12)
    for key in ("roc_auc", "false_negative_rate", "precision_pos", "recall_pos", "f1_pos"):
        assert key in metrics["test"]
    assert metrics["classes"] == ["normal", "pneumonia"]


def test_sigmoid_head_with_pos_weight(make_cfg, tmp_path):
    path = write_npz(tmp_path / "tiny.npz")
    cfg = make_cfg(
        "dataset=medmnist",
        f"dataset.path={path}",
        "trainer=smoke",
        "model=ann",
        "model.head=sigmoid",
        "trainer.pos_weight=0.37",
        "model.threshold=0.5",
    )
    metrics = train(cfg, tmp_path / "run")
    assert_contract(tmp_path / "run", metrics)
    assert metrics["balance"]["class_weight"] == {"0": 1.0, "1": pytest.approx(0.37)}


@pytest.mark.parametrize("balance", ["class_weight", "oversample"])
def test_balancing_is_recorded(make_cfg, tmp_path, balance):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=("big",), per_class=30)
    write_image_folder(root, classes=("small",), per_class=10, seed=1)
    cfg = make_cfg(
        "dataset=image_folder",
        f"dataset.path={root}",
        "trainer=smoke",
        "model=ann",
        f"trainer.balance={balance}",
        "trainer.max_per_class=100",
    )
    metrics = train(cfg, tmp_path / "run")
    if balance == "class_weight":
        weights = metrics["balance"]["class_weight"]
        assert weights["small"] == pytest.approx(3 * weights["big"], rel=0.2)
    else:
        counts = metrics["balance"]["counts_after"]
        split = pd.read_csv(tmp_path / "run" / "split.csv", dtype=str, keep_default_na=False)
        in_train = split[(split["split"] == "train") & (split["excluded"] == "")]["label"].value_counts()
        assert in_train["small"] < in_train["big"]  # imbalanced before
        assert counts["small"] == counts["big"] == in_train["big"]  # the small class drawn up to the big one


def test_overfits_a_tiny_set(make_cfg, tmp_path):
    """The loop really learns: a tiny set is fitted to >= 0.95 training accuracy."""
    root = write_image_folder(tmp_path / "imgs", per_class=10, size=16)
    cfg = make_cfg(
        "dataset=image_folder",
        f"dataset.path={root}",
        "model=ann",
        "augment=none",
        "preprocess.size=16",
        "trainer.epochs=40",
        "trainer.patience=40",
        "trainer.batch_size=8",
        "trainer.monitor=val_accuracy",
    )
    train(cfg, tmp_path / "run")
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["accuracy"].max() >= 0.95


def test_failed_job_writes_failed_metrics(make_cfg, tmp_path, monkeypatch):
    from fungiclf.train import FAILURES_FILE_ENV

    monkeypatch.setenv(FAILURES_FILE_ENV, str(tmp_path / "failed.txt"))
    cfg = make_cfg("dataset=image_folder", f"dataset.path={tmp_path / 'missing'}", "trainer=smoke")
    assert run_job(cfg, tmp_path / "run") is None
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "failed"
    assert "missing" in metrics["error"] and "\n" not in metrics["error"]
    assert (tmp_path / "failed.txt").read_text() == f"{tmp_path / 'run'}: {metrics['error']}\n"


@pytest.mark.parametrize("name", ["logreg", "linear_svm", "random_forest"])
def test_classical_baselines_through_the_same_entrypoint(make_cfg, tmp_path, name):
    path = write_npz(tmp_path / "tiny.npz", n=(60, 20, 30))
    cfg = make_cfg(
        "dataset=medmnist",
        f"dataset.path={path}",
        f"model={name}",
        "trainer.balance=class_weight",
        "preprocess.color=gray",
        "preprocess.size=28",
    )
    metrics = train(cfg, tmp_path / "run")
    run = tmp_path / "run"
    assert (run / "model.skops").is_file() and not (run / "history.csv").exists()
    assert metrics["balance"]["estimator_class_weight"] == "balanced"
    assert metrics["epochs_run"] is None and metrics["params"] > 0
    assert metrics["test"]["accuracy"] >= 0.9  # the classes differ by brightness
    assert metrics["test"]["roc_auc"] is not None
    predictions = pd.read_csv(run / "predictions.csv")
    assert (predictions["true"] == predictions["predicted"]).mean() == pytest.approx(metrics["test"]["accuracy"])


def test_a_solver_stopped_at_max_iter_is_one_warning_in_metrics(make_cfg, tmp_path, caplog, capfd):
    """scikit-learn's ConvergenceWarning is ten lines on stderr, printed or not depending on the
    launcher's thread count; fungiclf says it once, in the log and metrics.json."""
    path = write_npz(tmp_path / "tiny.npz", n=(60, 20, 30))
    args = ("dataset=medmnist", f"dataset.path={path}", "model=logreg", "preprocess.color=gray", "preprocess.size=28")
    metrics = train(make_cfg(*args, "model.max_iter=1"), tmp_path / "stopped")
    warned = [w for w in metrics["warnings"] if w["kind"] == "convergence"]
    assert metrics["status"] == "completed" and len(warned) == 1
    assert "LogisticRegression stopped at model.max_iter=1" in warned[0]["message"]
    assert caplog.text.count("stopped at model.max_iter=1") == 1
    assert "ConvergenceWarning" not in capfd.readouterr().err
    assert any("stopped at model.max_iter=1" in line for line in summary_lines(metrics))
    converged = train(make_cfg(*args), tmp_path / "converged")
    assert not [w for w in converged["warnings"] if w["kind"] == "convergence"]
    report_main([str(tmp_path / "stopped"), str(tmp_path / "converged"), "--out", str(tmp_path / "report")])
    flags = pd.read_csv(tmp_path / "report" / "summary.csv", keep_default_na=False).set_index("run")["flag"]
    assert (
        "not converged" in flags[str(tmp_path / "stopped")]
        and "not converged" not in flags[str(tmp_path / "converged")]
    )
    caplog.clear()
    refit = train(make_cfg(*args, "model.max_iter=1", "cv.folds=2", "cv.refit=true"), tmp_path / "refit")
    assert [f["warnings"] for f in refit["cv"]["per_fold"]] == [["convergence"], ["convergence"]]
    assert [w["kind"] for w in refit["warnings"]].count("convergence") == 1  # the refit, whose scores these are
    assert caplog.text.count("stopped at model.max_iter=1 before") == 1  # the refit's, not each fold's
    assert "2 of 2 CV fold models stopped at model.max_iter" in caplog.text


# The backbones' smoke epochs (vgg16 with its fine-tuning phase; mobilenetv2; xception, which
# upscales a 32 px input to 71) cost 67-87 s each on 2 cores, so they are `slow`; each still
# builds in the default suite (tests/unit/test_models.py, test_applications.py's upscaling test).
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) for n in ("vgg16", "mobilenetv2", "xception")]
)
def test_transfer_backbones_train_a_smoke_epoch(make_cfg, tmp_path, name):
    extra = ["model.finetune.epochs=1", "model.finetune.unfreeze=4"] if name == "vgg16" else []
    cfg = make_cfg("trainer=smoke", f"model={name}", "preprocess.color=gray", *extra)
    assert cfg.model.weights == "imagenet"  # smoke forces null: no download
    metrics = train(cfg, tmp_path / "run")
    assert_contract(tmp_path / "run", metrics)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert set(history["phase"]) == ({1, 2} if extra else {1})


HEAVY_BACKBONES = ["resnet50", "inceptionv3", "densenet121", "efficientnetb0"]  # 70-140 s each on 2 cores


# Narrow variants keep the default suite fast; the same code at full width is `slow`
# (full-width parameter counts are asserted by build-only tests in tests/unit/test_models.py).
NARROW = {"resnet18": ["model.width=8"], "resnet34": ["model.width=8"], "convmixer": ["model.dim=32"]}


# resnet34 (resnet18's builder with more blocks) and convmixer train their narrow smoke
# epoch in the slow tier too, to keep the default suite under 10 minutes; every model still
# builds in the default suite (tests/unit/test_models.py).
@pytest.mark.parametrize(
    "name, extra",
    [(n, []) for n in ("linear", "linear_relu")]
    + [
        pytest.param(n, NARROW.get(n, []), marks=pytest.mark.slow)  # each shares its builder with cnn or ann
        for n in ("resnet18", "cnn_deep", "cnn4", "vgg_mini", "cnn_small", "ann_dense")
    ]
    + [pytest.param(n, [], marks=pytest.mark.slow) for n in HEAVY_BACKBONES + sorted(NARROW)]
    + [pytest.param(n, NARROW[n], marks=pytest.mark.slow, id=f"{n}-narrow") for n in ("resnet34", "convmixer")],
)
def test_every_other_model_trains_a_smoke_epoch(make_cfg, tmp_path, name, extra):
    metrics = train(make_cfg("trainer=smoke", f"model={name}", *extra), tmp_path / "run")
    assert_contract(tmp_path / "run", metrics)


def test_cv_three_folds_on_a_tiny_set(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=15, photos=3)
    cfg = make_cfg(
        "dataset=image_folder",
        f"dataset.path={root}",
        "dataset.group_pattern='^(.+)_\\d+\\.\\w+$'",
        "model=ann",
        "trainer.epochs=2",
        "trainer.max_per_class=16",
        "preprocess.size=16",
        "cv.folds=3",
    )
    metrics = train(cfg, tmp_path / "run")
    cv = metrics["cv"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3
    # the held-out folds partition train+val; every fold reports the same fixed test split
    assert sum(f["n_holdout"] for f in cv["per_fold"]) == metrics["n_train"] + metrics["n_val"]
    accuracies = [f["val"]["accuracy"] for f in cv["per_fold"]]
    assert cv["val_mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert cv["val_sd"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert all((tmp_path / "run" / "cv" / f"fold_{k}" / "model.keras").is_file() for k in (1, 2, 3))
    assert_contract(tmp_path / "run", metrics)  # the final model's files are unchanged by CV
    printed = "\n".join(summary_lines(metrics))  # what the user reads after the run says what CV measured
    assert (
        f"mean ± sd over 3 folds: held-out folds accuracy {cv['val_mean']['accuracy']:.4f} ± "
        f"{cv['val_sd']['accuracy']:.4f}"
    ) in printed
    assert f"the fold models on the test split: accuracy {cv['test_mean']['accuracy']:.4f}" in printed


def test_cv_on_a_classical_model(make_cfg, tmp_path):
    path = write_npz(tmp_path / "tiny.npz", n=(60, 20, 30))
    cfg = make_cfg(
        "dataset=medmnist",
        f"dataset.path={path}",
        "model=logreg",
        "cv.folds=5",
        "preprocess.color=gray",
        "preprocess.size=28",
    )
    cv = train(cfg, tmp_path / "run")["cv"]
    assert len(cv["per_fold"]) == 5 and cv["test_mean"]["accuracy"] >= 0.9


@pytest.mark.slow  # CV itself runs in the default suite (three folds on a tiny set)
def test_cv_refit_trains_the_final_model_on_train_and_val(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=15, photos=3)
    cfg = make_cfg(
        "dataset=image_folder",
        f"dataset.path={root}",
        "dataset.group_pattern='^(.+)_\\d+\\.\\w+$'",
        "model=ann",
        "trainer.epochs=3",
        "trainer.patience=1",
        "trainer.max_per_class=16",
        "preprocess.size=16",
        "cv.folds=2",
        "cv.refit=true",
    )
    run_dir = tmp_path / "run"
    metrics = train(cfg, run_dir)
    cv = metrics["cv"]
    # the refit runs the median over folds of each fold's epochs up to its best epoch
    fold_epochs = [f["epochs_to_best"] for f in cv["per_fold"]]
    assert all(f["epochs_to_best"] == [f["best_epoch"]] for f in cv["per_fold"])
    assert cv["refit"] == {
        "epochs_per_phase": [int(round(float(np.median(fold_epochs))))],
        "n_fit": metrics["n_train"] + metrics["n_val"],
    }
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == metrics["epochs_run"] == cv["refit"]["epochs_per_phase"][0]
    assert "val_loss" not in history  # no held-out split: nothing to select on
    assert metrics["val"] is None and metrics["monitor"] == "loss"
    assert f"refit on train+val for {metrics['epochs_run']} epochs;" in summary_lines(metrics)[0]  # no "best" epoch
    # model.keras is the refit model: it reproduces predictions.csv on the test split
    data = dataset_of(cfg)
    test_rows = data.index("test")
    proba = keras.models.load_model(run_dir / "model.keras").predict(data.images[test_rows], verbose=0)
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert np.allclose(predictions[[f"p_{c}" for c in metrics["classes"]]].to_numpy(), proba, atol=1e-5)
    # the report reads a run without val metrics or a val history
    report_main([str(run_dir), "--history", "--out", str(tmp_path / "report")])
    assert (tmp_path / "report" / "summary.md").read_text().count("| completed |") == 1


@pytest.mark.slow
def test_cv_refit_of_a_fine_tuned_backbone_repeats_both_phases(make_cfg, tmp_path):
    cfg = make_cfg(
        "trainer=smoke",
        "model=vgg16",
        "preprocess.color=gray",
        "model.finetune.epochs=2",
        "model.finetune.unfreeze=4",
        "cv.folds=2",
        "cv.refit=true",
    )
    metrics = train(cfg, tmp_path / "run")
    epochs = metrics["cv"]["refit"]["epochs_per_phase"]
    assert len(epochs) == 2 and all(len(f["epochs_to_best"]) == 2 for f in metrics["cv"]["per_fold"])
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert [int((history["phase"] == p).sum()) for p in (1, 2)] == epochs


def test_cv_refit_of_a_classical_model_fits_train_and_val(make_cfg, tmp_path):
    path = write_npz(tmp_path / "tiny.npz", n=(40, 20, 20))
    cfg = make_cfg(
        "dataset=medmnist",
        f"dataset.path={path}",
        "model=logreg",
        "cv.folds=2",
        "cv.refit=true",
        "preprocess.color=gray",
        "preprocess.size=28",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["val"] is None and metrics["cv"]["refit"] == {"epochs_per_phase": None, "n_fit": 60}
    data = dataset_of(cfg)
    pool = np.concatenate([data.index("train"), data.index("val")])
    saved = load_estimator(tmp_path / "run" / "model.skops", [LogisticRegression])
    expected = LogisticRegression(**saved.get_params()).fit(flat_pixels(data.images, pool), data.labels[pool])
    assert np.allclose(saved.coef_, expected.coef_, atol=1e-6)


def test_cv_refit_without_folds_is_a_config_error(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match=r"cv.refit=true needs cv.folds=K"):
        train(make_cfg("trainer=smoke", "cv.refit=true"), tmp_path / "run")
    assert not (tmp_path / "run" / "split.csv").exists()  # refused before any data work


@pytest.mark.slow  # a training with three knobs (the F1 monitor, a plateau schedule, affine views)
def test_f1_monitor_plateau_schedule_and_affine_augmentation(make_cfg, tmp_path):
    cfg = make_cfg(
        "trainer=smoke",
        "model=ann",
        "augment=affine",
        "trainer.monitor=val_f1_macro",
        "optimizer.schedule=reduce_on_plateau",
        "optimizer.plateau_patience=0",
        "optimizer.plateau_factor=0.5",
    )
    metrics = train(cfg, tmp_path / "run")
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert "val_f1_macro" in history and metrics["monitor"] == "val_f1_macro"
    best = int(history["val_f1_macro"].to_numpy().argmax()) + 1
    assert metrics["best_epoch"] == best
    # the checkpoint the test metrics come from is the best-F1 epoch: its val F1 is reproduced
    assert metrics["val"]["f1_macro"] == pytest.approx(history["val_f1_macro"].max(), abs=1e-6)
    assert "learning_rate" in history


def test_threshold_chosen_on_val_and_test_time_views(make_cfg, tmp_path):
    """model.threshold=val_youden is chosen on the val outputs (averaged over the TTA views)
    and applied to test; predictions.csv follows that threshold."""
    from fungiclf.data.views import dihedral
    from fungiclf.evaluation.metrics import choose_threshold

    path = write_npz(tmp_path / "tiny.npz", n=(40, 20, 20))
    cfg = make_cfg(
        "dataset=medmnist",
        f"dataset.path={path}",
        "trainer=smoke",
        "model=ann",
        "model.head=sigmoid",
        "model.threshold=val_youden",
        "trainer.tta=flips",
        "trainer.label_smoothing=0.1",
        "trainer.mixup=0.2",
    )
    metrics = train(cfg, tmp_path / "run")
    assert_contract(tmp_path / "run", metrics)
    data = dataset_of(cfg)
    model = keras.models.load_model(tmp_path / "run" / "model.keras")

    def averaged(split):
        images = np.asarray(data.images[data.index(split)], dtype=np.float32)
        return np.mean([model.predict(dihedral(images, v), verbose=0)[:, 0] for v in (0, 2, 4, 6)], axis=0)

    threshold = choose_threshold(data.labels[data.index("val")], averaged("val"), "val_youden")
    assert metrics["threshold"] == {"setting": "val_youden", "value": pytest.approx(threshold)}
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert np.allclose(predictions["p_1"], averaged("test"), atol=1e-5)
    assert ((predictions["p_1"] >= threshold) == (predictions["predicted"].astype(str) == "1")).all()


@pytest.mark.slow  # a training in mixed precision
def test_mixed_precision_runs_and_the_policy_is_restored(make_cfg, tmp_path):
    metrics = train(make_cfg("trainer=smoke", "model=ann", "trainer.precision=mixed_bfloat16"), tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["compute"]["precision"] == "mixed_bfloat16"
    # no GPU here: told once before training (log) and kept with the run (metrics.json, summary)
    assert metrics["compute"]["accelerators"] == 0
    assert [w["kind"] for w in metrics["warnings"]].count("precision") == 1
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.get_layer("ann").get_layer("predictions").dtype_policy.compute_dtype == "float32"
    assert keras.mixed_precision.dtype_policy().name == "float32"  # global state restored after the job
    with pytest.raises(ConfigError, match="needs KERAS_BACKEND=jax"):
        from fungiclf.settings.resolve import resolve

        resolve(make_cfg("trainer.devices=2"))


@pytest.mark.slow  # XLA compiles the network on the CPU: minutes
def test_xla_on_a_cpu_warns_before_training_a_convolutional_network(make_cfg, tmp_path, caplog):
    """XLA's convolutions trained 2-8x slower on a CPU (benchmarks/xla_cpu.py): a user who
    forces it (or runs JAX on a laptop) is told, once per job however many models it trains;
    dense networks and the CPU default are not."""
    from fungiclf.models import build_model
    from fungiclf.settings.resolve import resolve
    from fungiclf.training.compute import xla_cpu_warning

    metrics = train(
        make_cfg("trainer=smoke", "trainer.jit_compile=true", "cv.folds=2", "cv.refit=true"), tmp_path / "run"
    )
    kinds = [w["kind"] for w in metrics["warnings"]]
    assert metrics["status"] == "completed" and kinds.count("xla_cpu") == 1
    assert caplog.text.count("XLA compiles this network") == 1  # three models: two folds and the refit
    assert "trainer.jit_compile=true" in next(w["message"] for w in metrics["warnings"] if w["kind"] == "xla_cpu")
    assert any(line.startswith("WARNING: XLA compiles") for line in summary_lines(metrics))
    for model, jit, warned in [("convmixer", True, True), ("ann", True, False), ("cnn", "auto", False)]:
        settings = resolve(make_cfg(f"model={model}", "augment=none"))
        network = build_model(settings.model, settings.augment, (32, 32, 3), 5, 0)
        assert (xla_cpu_warning(network, jit) is not None) == warned, (model, jit)
