"""experiment=auto (settings/autoplan.py): a plan from the data and trainer.time_budget, decided
in resolve with each value's source; the user's keys win; the budget is kept by the plan
and, while training, by the Deadline callback."""

import json
import re
import time

import numpy as np
import pytest
from omegaconf import OmegaConf

from fungiclf.errors import ConfigError
from fungiclf.settings import to_config
from fungiclf.settings import autoplan
from fungiclf.settings.resolve import resolve
from fungiclf.train import sweep_size, user_keys
from fungiclf.training import probe
from fungiclf.training.probe import Speed
from fungiclf.validation import check_duration
from tests.conftest import write_image_folder, write_npz

# Seconds a training step of 64 images takes, per model, per 32x32 px (a made-up machine).
COST = {("convmixer", 256): 1.0, ("convmixer", 128): 0.25, ("cnn", None): 0.05, ("cnn_small", None): 0.01}


@pytest.fixture
def machine(monkeypatch):
    """A deterministic machine: step time by model and pixels; records what was measured."""
    measured = []

    def measure(model, augment, input_shape, num_classes, batch_size, jit_compile, cache_dir):
        cost = COST[(model.name, model.params.get("dim"))] * input_shape[0] * input_shape[1] / 32**2
        measured.append((model.name, model.params.get("dim"), input_shape))
        return Speed(compile_seconds=2.0, step_seconds=cost, predict_seconds=cost / 64 / 3, measured_at=0.0)

    monkeypatch.setattr(autoplan, "measure", measure)
    return measured


def plan_of(settings) -> dict:
    return {choice.key: choice for choice in settings.plan}


def auto(make_cfg, *overrides: str):
    return resolve(make_cfg("experiment=auto", *overrides), user_keys(list(overrides)))


def test_durations_read_as_users_write_them():
    assert check_duration("30m", "time_budget", "trainer") == 1800
    assert check_duration("1h30m", "time_budget", "trainer") == 5400
    assert check_duration("90s", "time_budget", "trainer") == 90
    assert check_duration(45, "time_budget", "trainer") == 45
    for bad in ("soon", "0m", "-5", -5, "", True):
        with pytest.raises(ConfigError, match="'time_budget' parameter of trainer must be a duration"):
            check_duration(bad, "time_budget", "trainer")


def test_a_large_budget_takes_the_tuned_micrograph_recipe(make_cfg, machine):
    settings = auto(make_cfg, "trainer.time_budget=10h")
    plan = plan_of(settings)
    assert settings.model.name == "convmixer" and settings.model.params["dim"] == 256
    assert settings.preprocess.pixels.size == (32, 32) and settings.trainer.epochs == 20
    assert settings.augment.values["flip"] == "horizontal_and_vertical" and settings.augment.values["transpose"]
    assert settings.trainer.tta == "dihedral" and settings.trainer.monitor == "val_f1_macro"
    assert settings.optimizer.name == "adamw" and settings.optimizer.schedule == "cosine"
    assert plan["model.name"].source.startswith("auto (micrograph")
    assert plan["augment.flip"].source == "the modality (micrograph)"
    assert plan["trainer.epochs"].source == "the budget (10.0 h)"
    assert machine == [("convmixer", 256, (32, 32, 3))]  # the first rung fit: nothing else measured


def test_a_short_budget_climbs_down_to_what_fits_and_says_why(make_cfg, machine):
    # ConvMixer-8 is taken only with its recipe's 20 epochs: 10-19 of them scored below the CNN
    settings = auto(make_cfg, "trainer.time_budget=10m")
    assert settings.model.name == "cnn" and settings.trainer.epochs == 60
    why = plan_of(settings)["model.name"].why
    assert re.search(r"^convmixer at 32 px fits 1\d epochs \(< 20\); cnn \(padding=same\) at 32 px", why), why
    assert "training and evaluation about" in plan_of(settings)["trainer.epochs"].why  # what the plan promised
    short = auto(make_cfg, "trainer.time_budget=45s")  # the last rung takes what fits
    assert short.model.name == "cnn" and 1 <= short.trainer.epochs < 60
    assert plan_of(short)["model.name"].why.startswith("convmixer at 32 px fits 0 epochs (< 20); cnn")


def test_a_budget_too_short_for_one_epoch_is_refused_with_what_it_needs(make_cfg, machine):
    with pytest.raises(ConfigError, match=r"trainer.time_budget=3s is too short: .* take about \d+ s"):
        auto(make_cfg, "trainer.time_budget=3s")


def test_the_users_keys_win_and_are_listed_as_theirs(make_cfg, machine):
    settings = auto(
        make_cfg, "trainer.time_budget=10h", "model=cnn_small", "trainer.epochs=3", "augment=none", "optimizer=sgd"
    )
    plan = plan_of(settings)
    assert settings.model.name == "cnn_small" and settings.trainer.epochs == 3
    assert settings.augment.values["flip"] is None and settings.optimizer.name == "sgd"
    assert plan["trainer.epochs"].source == "the user" and plan["augment.flip"].source == "the user"
    assert settings.trainer.tta == "none"  # only the views the model trained on
    assert {m[0] for m in machine} == {"cnn_small"}  # the user's model is the one measured


def test_the_users_size_is_the_size_measured_and_planned(make_cfg, machine):
    settings = auto(make_cfg, "trainer.time_budget=10h", "model=cnn", "preprocess.size=48")
    assert settings.preprocess.pixels.size == (48, 48)
    assert machine == [("cnn", None, (48, 48, 3))]  # timed at 48 px, not the ladder's 32
    assert "cnn at 48 px" in plan_of(settings)["model.name"].why


def test_xrays_get_horizontal_flips_a_threshold_on_val_and_class_weights(make_cfg, machine, tmp_path):
    root = write_image_folder(tmp_path / "xr", classes=("normal", "pneumonia"), per_class=30, size=40)
    for file in sorted((root / "normal").iterdir())[:18]:  # 12 normal vs 30 pneumonia
        file.unlink()
    settings = auto(
        make_cfg, "dataset=image_folder", f"dataset.path={root}", "dataset.modality=xray", "trainer.time_budget=10h"
    )
    plan = plan_of(settings)
    assert settings.augment.values["flip"] == "horizontal" and not settings.augment.values["transpose"]
    assert settings.trainer.tta == "hflip" and settings.model.threshold == "val_youden"
    assert settings.trainer.balance == "class_weight" and "not the published protocol" in plan["trainer.balance"].why
    assert settings.model.name == "cnn" and settings.preprocess.pixels.size == (32, 32)  # never above 40 px


def test_an_unknown_modality_is_treated_as_oriented_and_the_plan_says_how_to_tell_it(make_cfg, machine, tmp_path):
    root = write_image_folder(tmp_path / "mine", size=40)
    settings = auto(make_cfg, "dataset=image_folder", f"dataset.path={root}", "trainer.time_budget=10h")
    assert settings.augment.values["flip"] == "horizontal"
    assert "set dataset.modality" in plan_of(settings)["augment.flip"].source


def test_a_small_npz_trains_at_its_own_side(make_cfg, machine, tmp_path):
    npz = write_npz(tmp_path / "mine.npz", rgb=True, classes=3)
    settings = auto(make_cfg, "dataset=medmnist", f"dataset.path={npz}", "trainer.time_budget=10h")
    assert settings.preprocess.pixels.size == (28, 28) and settings.preprocess.pixels.color == "rgb"
    assert settings.model.name == "cnn" and settings.model.params["padding"] == "same"


def test_the_planned_config_resolves_to_the_same_settings_without_planning_again(make_cfg, machine):
    settings = auto(make_cfg, "trainer.time_budget=10h")
    measured = len(machine)
    again = resolve(OmegaConf.create(to_config(settings)))
    assert again == settings and len(machine) == measured  # config_resolved.yaml is the plan, concrete


def test_measurements_are_kept_per_machine_so_the_same_command_plans_the_same_run(make_cfg, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(probe, "time_steps", lambda *a: calls.append(a) or Speed(1.0, 0.1, 0.001, time.time()))
    settings = resolve(make_cfg("trainer=smoke"))
    args = (settings.model, settings.augment, (32, 32, 3), 5, 64, "auto", str(tmp_path))
    first, second = probe.measure(*args), probe.measure(*args)
    assert first == second and len(calls) == 1
    (tmp_path / probe.SPEED_FILE).write_text("{not json")  # damaged: measured again, not trusted
    probe.measure(*args)
    assert len(calls) == 2 and json.loads((tmp_path / probe.SPEED_FILE).read_text())
    kept = json.loads((tmp_path / probe.SPEED_FILE).read_text())
    old = {key: {**value, "measured_at": time.time() - probe.KEPT_SECONDS - 1} for key, value in kept.items()}
    (tmp_path / probe.SPEED_FILE).write_text(json.dumps(old))  # a day old: this machine may have changed
    probe.measure(*args)
    assert len(calls) == 3


def test_a_real_machine_is_measured_in_a_few_steps(make_cfg, tmp_path):
    settings = resolve(make_cfg("trainer=smoke", "model=cnn_small"))
    speed = probe.time_steps(settings.model, settings.augment, (32, 32, 3), 5, 8, "auto")
    assert 0 < speed.step_seconds < 60 and 0 < speed.predict_seconds < speed.step_seconds


def test_a_recipe_states_its_views_and_warns_on_an_oriented_modality(make_cfg, tmp_path):
    npz = write_npz(tmp_path / "breastmnist.npz", n=(546, 78, 156))  # known by name: ultrasound
    cfg = make_cfg("experiment=defungi_best_cpu", "dataset=medmnist", f"dataset.path={npz}")
    plan = plan_of(resolve(cfg, user_keys(["dataset=medmnist"])))
    assert plan["augment.transpose"].source == "the recipe defungi_best_cpu"
    assert plan["trainer.balance"].source == "the recipe defungi_best_cpu"
    warning = plan["augment.flip"]
    assert warning.warning and "ultrasound images no scanner takes" in warning.why
    assert "add augment.flip=horizontal augment.transpose=false trainer.tta=hflip" in warning.why
    asked = resolve(cfg, user_keys(["augment.flip=horizontal_and_vertical"]))
    assert not any(choice.warning for choice in asked.plan if choice.key == "augment.flip")


def test_a_sweep_counts_its_jobs_from_the_command_line_and_the_recipe():
    assert sweep_size(["model=cnn,ann", "seed=range(0,3)", "trainer.epochs=2"], {"seed": "0,1,2,3"}) == 6
    assert sweep_size(["experiment=pneumoniamnist_best"], {"seed": "0,1,2"}) == 3
    assert sweep_size(["dataset.path=glob(*)"], {}) is None


def test_a_time_budget_stops_training_in_time_to_evaluate(make_cfg, tmp_path, caplog):
    from fungiclf.train import train

    metrics = train(make_cfg("trainer=smoke", "model=cnn_small", "trainer.time_budget=1s"), tmp_path)
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 1  # smoke allows 2; the budget 1
    assert "trainer.time_budget: stopping after epoch 1" in caplog.text
    assert (
        "trainer.time_budget ended training after 1 of 2 epochs"
        in [w["message"] for w in metrics["warnings"] if w["kind"] == "time_budget"][0]
    )
    assert np.isfinite(metrics["test"]["accuracy"])


def test_the_plan_is_printed_before_training_and_kept_in_metrics(make_cfg, machine, tmp_path, caplog):
    from fungiclf.train import run_job

    caplog.set_level("INFO")
    overrides = ["experiment=auto", "trainer=smoke", "model=cnn_small"]
    run_job(make_cfg(*overrides), tmp_path, overrides)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    plan = {entry["key"]: entry for entry in metrics["plan"]}
    assert plan["model.name"]["source"] == "the user" and "auto sizes and times it" in plan["model.name"]["why"]
    assert plan["trainer.balance"]["source"] == "the data" and plan["augment.flip"]["source"].startswith("the modality")
    printed = caplog.text
    assert printed.index("trainer.balance=none (the data") < printed.index("Training <model.name=cnn_small>")
