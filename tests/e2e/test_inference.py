"""fungiclf-predict and fungiclf-explain on finished runs."""

import json
import shutil
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
import pytest

from fungiclf.cli.explain import main as explain_main
from fungiclf.cli.predict import main as predict_main
from fungiclf.data.synthetic import ensure_synthetic
from fungiclf.inference.gradcam import cam_model, grad_cam
from fungiclf.inference.images import load_images
from fungiclf.data.views import TTA_VIEWS
from fungiclf.inference.run import load_run, predict_views
from fungiclf.models import network_of
from fungiclf.models.blocks import CLASSIFIER
from fungiclf.train import train
from tests.conftest import write_image_folder, write_npz


def exit_code(main, argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def synthetic_root(cfg) -> Path:
    s = cfg.dataset.synthetic
    return Path(ensure_synthetic(str(cfg.paths.cache_dir), s.n_per_class, s.patches_per_photo, s.size, s.seed))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, cache_dir):
    """A Keras smoke run on the synthetic set, evaluated with four test-time views and its
    probabilities temperature-scaled on val."""
    from hydra import compose, initialize_config_module

    folder = tmp_path_factory.mktemp("smoke")
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.cache_dir={cache_dir}",
                "trainer=smoke",
                "trainer.verbose=0",
                "trainer.tta=flips",
                "evaluation.calibration=temperature",
            ],
        )
        train(cfg, folder / "run")
    return folder / "run", synthetic_root(cfg)


def test_predict_reproduces_the_runs_own_test_predictions(smoke_run, tmp_path, capsys):
    run, root = smoke_run
    expected = pd.read_csv(run / "predictions.csv")
    files = [str(root / i) for i in expected["id"]]
    assert exit_code(predict_main, [str(run), *files, "--out", str(tmp_path / "p.csv"), "--top-k", "2"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "top2" in header and "p_top2" in header  # --top-k shows in the printed table, not only the CSV
    got = pd.read_csv(tmp_path / "p.csv")
    classes = json.loads((run / "metrics.json").read_text())["classes"]
    p_columns = [f"p_{c}" for c in classes]
    assert list(got["predicted"]) == list(expected["predicted"])
    assert np.allclose(
        got[p_columns].to_numpy(), expected[p_columns].to_numpy(), atol=1e-5
    )  # the run's temperature too
    record = json.loads((run / "metrics.json").read_text())
    temperature = record["calibration"]["temperature"]
    assert "calibration" in {w["kind"] for w in record["warnings"]}  # fitted on a smoke run's few val images
    loaded = load_run(run)
    views = predict_views(loaded.outputs, load_images(files, loaded.pixels).pixels, TTA_VIEWS["flips"], 32)
    assert abs(temperature - 1) > 0.01 and not np.allclose(views, expected[p_columns].to_numpy(), atol=1e-3)
    assert (got["top1"] == got["predicted"]).all() and (got["p_top1"] >= got["p_top2"]).all()


def test_an_output_that_cannot_be_written_is_one_line_naming_it(smoke_run, tmp_path, capsys):
    """--out under a file (or in a read-only folder) was a traceback naming a temporary file."""
    from fungiclf.cli.data import main as data_main
    from fungiclf.cli.report import main as report_main

    run, root = smoke_run
    image = str(next(root.rglob("*.png")))
    (tmp_path / "afile").write_text("")
    blocked = tmp_path / "afile"
    calls = [
        ("fungiclf-predict", predict_main, [str(run), image, "--out", str(blocked / "p.csv")]),
        ("fungiclf-explain", explain_main, [str(run), image, "--out", str(blocked / "cam")]),
        ("fungiclf-report", report_main, [str(run), "--out", str(blocked / "rep")]),
        ("fungiclf-data", data_main, ["info", str(root), "--json", str(blocked / "info.json")]),
    ]
    for prog, main, argv in calls:
        capsys.readouterr()
        assert exit_code(main, argv) == 1, prog
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"{prog}: error:") and str(blocked) in last, last


def test_predict_with_labels_measures_the_run_on_class_folders(smoke_run, tmp_path, capsys):
    run, root = smoke_run
    expected = json.loads((run / "metrics.json").read_text())
    files = [str(root / i) for i in pd.read_csv(run / "predictions.csv")["id"]]  # root/<class>/<file>: labelled
    assert exit_code(predict_main, [str(run), *files, "--labels", "--out", str(tmp_path / "ext.csv")]) == 0
    measured = json.loads((tmp_path / "ext_metrics.json").read_text())
    assert measured["test"]["confusion_matrix"] == expected["test"]["confusion_matrix"]  # its test split, again
    for key in ("accuracy", "f1_macro", "roc_auc"):
        assert measured["test"][key] == pytest.approx(expected["test"][key], abs=1e-9), key
    assert measured["run"] == str(run) and measured["test"]["ci95"]["unit"] == "image"
    table = pd.read_csv(tmp_path / "ext.csv")
    assert list(table["true"]) == [Path(f).parent.name for f in files] and (tmp_path / "ext_confusion.png").exists()
    assert "labelled images (labels from class folders or the npz" in capsys.readouterr().out

    stray = tmp_path / "unsorted" / "x.png"
    stray.parent.mkdir()
    shutil.copy(files[0], stray)
    assert exit_code(predict_main, [str(run), files[0], str(stray), "--labels", "--out", str(tmp_path / "no.csv")]) == 1
    assert "--labels: 1 images are not inside a folder named after a class" in capsys.readouterr().err
    assert not list(tmp_path.glob("no*"))  # nothing written


def test_predict_applies_the_eight_dihedral_views(smoke_run, tmp_path):
    run, root = smoke_run
    files = sorted((root / "debris").glob("*.png"))[:6]
    assert exit_code(predict_main, [str(run), *map(str, files), "--tta", "--out", str(tmp_path / "p.csv")]) == 0
    loaded = load_run(run)
    pixels = load_images(files, loaded.pixels).pixels.astype(np.float32)
    views = [np.rot90(pixels, k, axes=(1, 2)) for k in range(4)]
    views += [v[:, :, ::-1] for v in views]
    expected = loaded.calibrated(np.mean([loaded.model.predict(v, verbose=0) for v in views], axis=0))
    got = pd.read_csv(tmp_path / "p.csv")[[f"p_{c}" for c in loaded.classes]].to_numpy()
    assert np.allclose(got, expected, atol=1e-5)


def test_features_are_what_the_classifier_reads(smoke_run, tmp_path):
    """--features: the classifier's own weights applied to the written features give the
    written probabilities (one view), so the features are the model's representation."""
    run, root = smoke_run
    files = sorted((root / "debris").glob("*.png"))[:6] + sorted((root / "spore_chain").glob("*.png"))[:6]
    argv = [
        str(run),
        *map(str, files),
        "--tta",
        "none",
        "--out",
        str(tmp_path / "p.csv"),
        "--features",
        str(tmp_path / "new" / "f.npz"),
    ]  # a folder that does not exist yet
    assert exit_code(predict_main, argv) == 0
    stored = np.load(tmp_path / "new" / "f.npz")
    table = pd.read_csv(tmp_path / "p.csv")
    loaded = load_run(run)
    kernel, bias = network_of(loaded.model).get_layer(CLASSIFIER).get_weights()
    logits = stored["features"] @ kernel + bias
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    assert stored["features"].shape == (12, kernel.shape[0]) and list(stored["paths"]) == list(table["path"])
    assert np.allclose(loaded.calibrated(softmax), table[[f"p_{c}" for c in loaded.classes]].to_numpy(), atol=1e-5)
    assert list(stored["predicted"]) == list(table["predicted"])


def test_a_scikit_learn_run_predicts_too_and_unreadable_images_are_skipped(make_cfg, tmp_path, capsys):
    path = write_npz(tmp_path / "tiny.npz", n=(40, 20, 20))
    train(
        make_cfg(
            "dataset=medmnist", f"dataset.path={path}", "model=logreg", "preprocess.color=gray", "preprocess.size=14"
        ),
        tmp_path / "run",
    )
    images = tmp_path / "new"
    images.mkdir()
    test_images = np.load(path)["test_images"][:4]
    for i, image in enumerate(test_images):
        cv2.imwrite(str(images / f"{i}.png"), image)
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    code = exit_code(
        predict_main, [str(tmp_path / "run"), str(images), str(tmp_path / "gone.png"), "--out", str(tmp_path / "p.csv")]
    )
    err = capsys.readouterr().err
    assert code == 3 and "broken.png" in err and "gone.png" in err  # listed, and the exit status says so
    got = pd.read_csv(tmp_path / "p.csv")
    assert len(got) == 4 and set(got["predicted"].astype(str)) <= {"0", "1"}
    labels = np.load(path)["test_labels"][:4, 0]
    assert (got["predicted"].astype(int).to_numpy() == labels).mean() >= 0.75  # the classes differ by brightness
    code = exit_code(
        predict_main,
        [
            str(tmp_path / "run"),
            str(images / "0.png"),
            "--out",
            str(tmp_path / "q.csv"),
            "--features",
            str(tmp_path / "f.npz"),
        ],
    )
    assert code == 1 and "scikit-learn run (logreg): it has no learned features" in capsys.readouterr().err
    assert not (tmp_path / "q.csv").exists() and not (tmp_path / "f.npz").exists()


def test_predict_says_which_images_the_run_learned_on_and_measures_the_classes_present(make_cfg, tmp_path, capsys):
    """Images of the run's own train/val split (here through a link to its folder) are
    named in a warning; labelled images of some classes only are averaged over those."""
    write_image_folder(tmp_path / "data", classes=("a", "b", "c"), per_class=12)
    run = tmp_path / "run"
    train(
        make_cfg("dataset=image_folder", f"dataset.path={tmp_path / 'data'}", "model=logreg", "preprocess.size=16"), run
    )
    split = pd.read_csv(run / "split.csv")
    (tmp_path / "link").symlink_to(tmp_path / "data")
    shutil.copytree(tmp_path / "data", tmp_path / "copy")
    for reached_by in ("link", "copy"):  # by the file, and by its bytes
        assert exit_code(predict_main, [str(run), str(tmp_path / reached_by), "--out", str(tmp_path / "all.csv")]) == 0
        assert (
            f"{(split['split'] != 'test').sum()} of these {len(split)} images are the run's own"
            in capsys.readouterr().err
        )

    unseen = split[(split["split"] == "test") & (split["label"] != "c")]["id"]
    assert (
        exit_code(
            predict_main,
            [str(run), *[str(tmp_path / "data" / i) for i in unseen], "--labels", "--out", str(tmp_path / "ab.csv")],
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "the run's own" not in captured.out + captured.err
    measured = json.loads((tmp_path / "ab_metrics.json").read_text())["test"]
    assert measured["per_class"]["c"]["recall"] is None and measured["averaged_over"] == ["a", "b"]
    present = [measured["per_class"][name]["recall"] for name in ("a", "b")]
    assert measured["recall_macro"] == pytest.approx(np.mean(present))  # not pulled down by the absent class
    assert "recall c (no images)" in captured.out and "2 of 3 classes present" in captured.out

    only_a = split[(split["split"] == "test") & (split["label"] == "a")]["id"]
    assert (
        exit_code(
            predict_main,
            [str(run), *[str(tmp_path / "data" / i) for i in only_a], "--labels", "--out", str(tmp_path / "a.csv")],
        )
        == 0
    )
    warnings = json.loads((tmp_path / "a_metrics.json").read_text())["warnings"]
    assert not any(w["kind"] == "majority" for w in warnings)  # one class: no baseline to beat


def test_best_run_of_a_sweep_by_a_validation_metric(smoke_run, tmp_path):
    run, root = smoke_run
    for job, value in (("0", 0.2), ("1", 0.9)):
        shutil.copytree(run, tmp_path / "sweep" / job)
        metrics = json.loads((tmp_path / "sweep" / job / "metrics.json").read_text())
        metrics["val"]["f1_macro"] = value
        metrics["classes"] = metrics["classes"] if job == "1" else ["x"] * len(metrics["classes"])
        (tmp_path / "sweep" / job / "metrics.json").write_text(json.dumps(metrics))
    file = str(next((root / "debris").glob("*.png")))
    assert (
        exit_code(
            predict_main, [str(tmp_path / "sweep"), file, "--best", "val.f1_macro", "--out", str(tmp_path / "p.csv")]
        )
        == 0
    )
    assert "x" not in set(pd.read_csv(tmp_path / "p.csv")["predicted"])  # job 1's classes: the best run
    assert exit_code(predict_main, [str(tmp_path / "sweep"), file, "--out", str(tmp_path / "q.csv")]) == 1


@pytest.mark.parametrize("damage", ["garbage", "lambda", "failed_run"])
def test_unsafe_or_damaged_model_files_are_refused_in_one_line(smoke_run, make_cfg, tmp_path, capsys, damage):
    run, root = smoke_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    if damage == "garbage":
        (copy / "model.keras").write_bytes(b"PK\x03\x04 tampered" * 10)
    elif damage == "lambda":
        inputs = keras.Input((32, 32, 3))
        keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs)).save(copy / "model.keras")
    else:
        metrics = json.loads((copy / "metrics.json").read_text())
        (copy / "metrics.json").write_text(json.dumps({**metrics, "status": "failed"}))
    file = str(next((root / "debris").glob("*.png")))
    assert exit_code(predict_main, [str(copy), file, "--out", str(tmp_path / "p.csv")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert {"garbage": "not a Keras model", "lambda": "unsafe deserialisation", "failed_run": "not a completed run"}[
        damage
    ] in err
    assert not (tmp_path / "p.csv").exists()


def object_images(root: Path, size: int = 48, side: int = 8, per_class: int = 150) -> dict[str, tuple[int, int]]:
    """Two classes told apart only by one small object at a random place: a filled square
    or a ring, on noise. Returns each file's object corner (row, column)."""
    rng = np.random.default_rng(0)
    corners = {}
    for cls in ("square", "ring"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 80, (size, size)).astype(np.uint8)
            y, x = (int(v) for v in rng.integers(0, size - side, 2))
            patch = np.full((side, side), 230, np.uint8)
            if cls == "ring":
                patch[2:-2, 2:-2] = 40
            image[y : y + side, x : x + side] = patch
            cv2.imwrite(str(root / cls / f"{cls}_{i:03d}.png"), image)
            corners[f"{cls}/{cls}_{i:03d}.png"] = (y, x)
    return corners


@pytest.mark.slow  # trains a CNN to localise; Grad-CAM itself runs in the default suite (explain, the report gallery)
def test_grad_cam_heat_falls_on_the_object_that_defines_the_class(make_cfg, tmp_path):
    """A small CNN trained to tell a square from a ring (8x8 px, anywhere in 48x48 noise) puts
    most of its Grad-CAM heat on the object: measured here, a median of about 70% of the heat
    inside the object's box widened by 3 px, a box that covers 8.5% of the image."""
    size, side, margin = 48, 8, 3
    corners = object_images(tmp_path / "data", size, side)
    cfg = make_cfg(
        "dataset=image_folder",
        f"dataset.path={tmp_path / 'data'}",
        "preprocess.color=gray",
        f"preprocess.size={size}",
        "augment=none",
        "model=cnn",
        "model.padding=same",
        "model.pooling=gap",
        "model.dense=[]",
        "model.blocks=[{filters: 16}, {filters: 32}, {filters: 32, pool: null}]",
        "trainer.epochs=30",
        "trainer.patience=30",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["test"]["accuracy"] >= 0.9
    loaded = load_run(tmp_path / "run")
    ids = list(pd.read_csv(tmp_path / "run" / "predictions.csv")["id"])
    images = load_images([tmp_path / "data" / i for i in ids], loaded.pixels)
    predicted = loaded.outputs(images.pixels).argmax(1)
    heat = grad_cam(cam_model(loaded.model), images.pixels, predicted)
    assert heat.shape == (len(ids), size, size) and (heat.std(axis=(1, 2)) > 0.05).all()  # input size, not flat
    shares = []
    for h, i in zip(heat, ids):
        y, x = corners[i]
        box = h[max(0, y - margin) : y + side + margin, max(0, x - margin) : x + side + margin]
        shares.append(box.sum() / h.sum())
    box_area = (side + 2 * margin) ** 2 / size**2
    assert np.median(shares) > 0.5 and np.median(shares) > 5 * box_area


def test_explain_writes_one_picture_per_image_and_refuses_dense_models(smoke_run, make_cfg, tmp_path, capsys):
    run, root = smoke_run
    files = sorted((root / "spore_chain").glob("*.png"))[:2]
    assert exit_code(explain_main, [str(run), *map(str, files), "--out", str(tmp_path / "cam")]) == 0
    written = sorted((tmp_path / "cam").glob("*_gradcam.png"))
    assert [p.name for p in written] == [f"{f.stem}_gradcam.png" for f in files]
    assert cv2.imread(str(written[0])).shape[1] > cv2.imread(str(written[0])).shape[0]  # two panels side by side
    assert exit_code(explain_main, [str(run), str(files[0]), "--layer", "nosuch", "--out", str(tmp_path / "c")]) == 1
    assert "choose one of" in capsys.readouterr().err
    train(make_cfg("trainer=smoke", "model=ann"), tmp_path / "ann")
    assert exit_code(explain_main, [str(tmp_path / "ann"), str(files[0]), "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "no convolutional layer" in err and len(err.strip().splitlines()) == 1


def test_predict_and_explain_read_an_npz_with_its_own_labels(make_cfg, tmp_path, capsys):
    """An npz's test arrays, named FILE.npz:test/i, predicted as the run predicted them; with
    --labels each row's own label (by its known set's names: breastmnist's label 0 is
    malignant, which the run made its positive class 1) is the truth."""
    npz = write_npz(tmp_path / "breastmnist.npz", size=16)
    run = tmp_path / "run"
    train(
        make_cfg(
            "dataset=medmnist", f"dataset.path={npz}", "model=cnn_small", "trainer=smoke", "trainer.max_per_class=100"
        ),
        run,
    )
    expected = pd.read_csv(run / "predictions.csv")
    out = tmp_path / "p.csv"
    assert exit_code(predict_main, [str(run), str(npz), "--split", "test", "--labels", "--out", str(out)]) == 0
    got = pd.read_csv(out)
    assert list(got["path"]) == [f"{npz}:{item}" for item in expected["id"]]
    assert list(got["true"]) == list(expected["true"]) and list(got["predicted"]) == list(expected["predicted"])
    assert np.allclose(got["p_malignant"], expected["p_malignant"], atol=1e-5)
    assert "labels from class folders or the npz" in capsys.readouterr().out
    assert exit_code(predict_main, [str(run), str(npz), "--split", "val", "--out", str(tmp_path / "v.csv")]) == 0
    assert "12 of these 12 images are the run's own (12 in its val split)" in capsys.readouterr().err
    assert exit_code(explain_main, [str(run), str(npz), "--split", "val", "--out", str(tmp_path / "cam")]) == 0
    assert len(list((tmp_path / "cam").glob("*_gradcam.png"))) == 12


def test_the_html_gallery_lays_grad_cam_over_the_best_runs_errors(smoke_run, tmp_path):
    """--gradcam: each gallery image of a Keras run gets the heat map of its wrong class,
    computed on the image the model saw (its file under the synthetic set's root)."""
    from fungiclf.cli.report import main as report_main
    from fungiclf.evaluation.html_page import worst_errors
    from fungiclf.inference.error_maps import error_overlays

    run, _ = smoke_run
    gallery = worst_errors(run, 4)
    assert gallery and all(item.image is not None for item in gallery)
    assert all(item.file is not None and item.file.is_file() for item in gallery)
    overlays = error_overlays(run, [item.file for item in gallery], [item.predicted for item in gallery])
    assert all(
        o is not None and o.shape == item.image.shape and o.dtype == np.uint8 for o, item in zip(overlays, gallery)
    )
    assert any(not np.array_equal(o, item.image) for o, item in zip(overlays, gallery))  # a heat map was laid on
    report_main([str(run), "--html", "--gradcam", "--gallery", "4", "--out", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert page.count('alt="Grad-CAM"') == len(gallery) and page.count('alt="image"') == len(gallery)
