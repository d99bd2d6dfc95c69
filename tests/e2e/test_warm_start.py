"""model.weights=RUN: fine-tuning from a completed run, and the starts that are refused."""

import json
import shutil

import numpy as np
import pytest

from fungiclf.data.synthetic import ensure_synthetic
from fungiclf.errors import ConfigError
from fungiclf.runs import load_keras_model
from fungiclf.models import build_model
from fungiclf.settings import to_config
from fungiclf.settings.resolve import resolve
from fungiclf.train import run_job, train
from fungiclf.training.warm_start import data_source, warm_start, weighted_layers
from tests.conftest import write_image_folder

SMALL = ["trainer=smoke", "model=cnn_small"]


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, cache_dir):
    """A finished smoke run of cnn_small on the 5-class synthetic set (seed 0)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.cache_dir={cache_dir}", "trainer.verbose=0", *SMALL])
    folder = tmp_path_factory.mktemp("source")
    assert train(cfg, folder)["status"] == "completed"
    return folder


def test_a_new_task_starts_from_the_runs_layers_with_a_fresh_classifier(make_cfg, source_run, tmp_path):
    """Fine-tuning on other data with 3 classes instead of 5: every layer but the classifier
    holds the run's weights before training, and the job completes."""
    write_image_folder(tmp_path / "new", classes=("x", "y", "z"), per_class=12, size=40)
    cfg = make_cfg(
        *SMALL,
        "dataset=image_folder",
        f"dataset.path={tmp_path / 'new'}",
        "preprocess.color=rgb",
        f"model.weights={source_run}",
    )
    settings = resolve(cfg)
    assert settings.model.init == str(source_run.resolve())
    assert to_config(settings)["model"]["weights"] == settings.model.init  # config_resolved.yaml says where from
    size = settings.preprocess.pixels.size
    model = build_model(settings.model, settings.augment, (*size, 3), 3, seed=1)
    line = warm_start(model, settings.model.init)
    source = weighted_layers(load_keras_model(source_run / "model.keras"))
    started = weighted_layers(model)
    for mine, theirs in zip(started[:-1], source[:-1]):
        for a, b in zip(mine.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert started[-1].get_weights()[0].shape[-1] == 3 and "classifier starts fresh" in line
    assert train(cfg, tmp_path / "run")["status"] == "completed"


def test_the_same_data_and_split_may_continue_a_run(make_cfg, source_run, tmp_path):
    metrics = train(make_cfg(*SMALL, f"model.weights={source_run}"), tmp_path / "run")
    assert metrics["status"] == "completed"
    assert metrics["split_fingerprint"] == json.loads((source_run / "metrics.json").read_text())["split_fingerprint"]


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["seed=1"], "of this run's 80 test images"),  # another split of the same data: test leak
        (["model=cnn"], "is a run of model 'cnn_small'; this job builds 'cnn'"),
        (["preprocess.color=gray"], "layer 'block1_conv1' does not fit"),
    ],
)
def test_starts_that_would_leak_or_cannot_fit_are_one_line_errors(make_cfg, source_run, tmp_path, overrides, needle):
    assert run_job(make_cfg(*SMALL, f"model.weights={source_run}", *overrides), tmp_path / "run") is None
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and needle in metrics["error"] and "\n" not in metrics["error"]


def test_a_copy_of_the_data_under_another_path_is_recognised_by_its_bytes(make_cfg, source_run, cache_dir, tmp_path):
    """The synthetic set copied elsewhere and read as an image folder: another seed (another
    split) is refused, the same split is not (the copy's test images are the run's test images)."""
    shutil.copytree(ensure_synthetic(str(cache_dir)), tmp_path / "copy")
    copy = [*SMALL, "dataset.source=image_folder", f"dataset.path={tmp_path / 'copy'}", f"model.weights={source_run}"]
    assert run_job(make_cfg(*copy, "seed=1"), tmp_path / "other_split") is None
    metrics = json.loads((tmp_path / "other_split" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "of this run's 80 test images" in metrics["error"]
    assert train(make_cfg(*copy), tmp_path / "same_split")["status"] == "completed"


def test_a_folder_reached_through_a_link_is_the_same_data(tmp_path):
    """The leak check compares sources: /data/defungi and a link to it are one dataset."""
    (tmp_path / "defungi").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "defungi")
    assert data_source(str(tmp_path / "link"), None) == data_source(str(tmp_path / "defungi"), None)
    assert data_source(str(tmp_path / "other"), None) != data_source(str(tmp_path / "defungi"), None)


def test_weights_that_are_not_a_run_are_refused_before_any_work(make_cfg, tmp_path):
    with pytest.raises(ConfigError, match="not a completed run|holds no metrics.json"):
        resolve(make_cfg(*SMALL, f"model.weights={tmp_path}"))
    with pytest.raises(ConfigError, match="'weights' parameter of model must be null or a completed run folder"):
        resolve(make_cfg(*SMALL, "model.weights=imagenet"))  # only a backbone has ImageNet weights


def test_a_sweep_that_sets_weights_for_every_model_includes_the_scikit_learn_ones(make_cfg, source_run):
    """++model.weights=null over model=cnn,logreg: null means nothing to start from, for an
    estimator too; a run folder is refused there in one line naming the key."""
    assert (
        resolve(make_cfg("model=logreg", "++model.weights=null")).model.params
        == resolve(make_cfg("model=logreg")).model.params
    )
    with pytest.raises(ConfigError, match=r"^model.weights=.*: logreg is a scikit-learn model .* only null"):
        resolve(make_cfg("model=logreg", f"++model.weights={source_run}"))


def test_a_backbone_starts_from_a_run_instead_of_imagenet(make_cfg, tmp_path):
    """model.weights=RUN on a Keras Applications model: no ImageNet weights, the whole network
    trains, and the nested backbone's layers are copied too (a run folder made by hand:
    building and saving is enough, no training)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(
        json.dumps({"status": "completed", "model": "mobilenetv2", "classes": ["a", "b"], "test": {}})
    )
    for name in ("config_resolved.yaml", "split.csv"):
        (run / name).write_text("")
    first = resolve(make_cfg("model=mobilenetv2", "model.weights=null", "augment=none"))
    source = build_model(first.model, first.augment, (32, 32, 3), 5, seed=0)
    source.save(run / "model.keras")
    settings = resolve(make_cfg("model=mobilenetv2", f"model.weights={run}"))
    assert settings.model.init == str(run) and settings.model.params["weights"] is None
    model = build_model(settings.model, settings.augment, (32, 32, 3), 5, seed=1)  # augmented, another seed
    assert model.trainable_weights and len(model.trainable_weights) == len(source.trainable_weights)
    line = warm_start(model, settings.model.init)
    copied = weighted_layers(model)
    assert len(copied) > 50 and line.endswith(f"{len(copied)} of {len(copied)} layers with weights")
    for mine, theirs in zip(copied, weighted_layers(source)):
        for a, b in zip(mine.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)
