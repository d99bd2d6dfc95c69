"""The Optuna study sweeper's pieces (hparams_search=optuna): the search space from Hydra's sweep
syntax, the storage and seed of a continued study, a job's trial address and its pruning."""

import math

import optuna
import pytest
from hydra.errors import HydraException

from fungiclf.errors import RunPruned
from fungiclf.study import PRUNER_ATTR, TrialAddress, build_optuna, open_trial
from fungiclf.study_sweeper import absolute_storage, offset_seed, quoted, search_space, trial_outcome
from fungiclf.training.pruning import ReportToTrial

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_search_space_reads_hydras_sweep_syntax_and_the_command_line_wins():
    space = search_space(
        {"optimizer.lr": "tag(log, interval(0.0001, 0.01))", "trainer.batch_size": "choice(16, 32, 64)"},
        ["model=cnn,resnet18", "trainer.epochs=range(2, 11, 4)", "trainer.batch_size=8", "seed=3"],
    )
    lr = space.distributions["optimizer.lr"]
    assert isinstance(lr, optuna.distributions.FloatDistribution) and lr.log and (lr.low, lr.high) == (1e-4, 1e-2)
    assert space.distributions["model"].choices == ("cnn", "resnet18")
    epochs = space.distributions["trainer.epochs"]
    assert (epochs.low, epochs.high, epochs.step) == (2, 10, 4)  # range(2, 11, 4): 2, 6, 10
    assert "trainer.batch_size" not in space.distributions  # fixed on the command line
    assert space.fixed == ["trainer.batch_size=8", "seed=3"]
    ints = search_space({"trainer.patience": "tag(int, interval(1, 5))"}, []).distributions["trainer.patience"]
    assert isinstance(ints, optuna.distributions.IntDistribution) and (ints.low, ints.high) == (1, 5)


def test_hydras_own_keys_and_globs_are_refused_in_one_line():
    with pytest.raises(HydraException, match="cannot be searched"):
        search_space({}, ["hydra.job.name=a,b"])
    with pytest.raises(HydraException, match="cannot be searched"):
        search_space({}, ["model=glob(*)"])


def test_a_relative_sqlite_study_is_made_absolute_before_jobs_leave(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_storage("sqlite:///study.db", tmp_path / "s") == f"sqlite:///{tmp_path}/study.db"
    assert absolute_storage(None, tmp_path / "s") == f"sqlite:///{tmp_path}/s/study.db"
    for url in ("sqlite:////abs/study.db", "postgresql://u:p@db:5432/optuna"):
        assert absolute_storage(url, tmp_path) == url


def test_a_continued_study_seeds_its_sampler_past_the_trials_it_holds():
    sampler = {"_target_": "optuna.samplers.TPESampler", "seed": 3}
    assert offset_seed(sampler, 0)["seed"] == 3 and offset_seed(sampler, 6)["seed"] == 9
    assert offset_seed({"_target_": "optuna.samplers.RandomSampler"}, 6) == {
        "_target_": "optuna.samplers.RandomSampler"
    }


def test_only_optunas_own_samplers_and_pruners_are_built():
    assert isinstance(build_optuna({"_target_": "optuna.pruners.MedianPruner"}, "pruners"), optuna.pruners.MedianPruner)
    assert build_optuna(None, "pruners") is None
    for target in ("os.system", "optuna.pruners.__class__", "optuna.samplers.TPESampler"):
        with pytest.raises(ValueError, match="not one of Optuna's pruners"):
            build_optuna({"_target_": target}, "pruners")


def test_quoted_storage_urls_survive_hydras_override_grammar():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    url = "postgresql://user:p'w\\d@db:5432/optuna?sslmode=require"
    (override,) = OverridesParser.create().parse_overrides([f"++hydra.job.env_set.X={quoted(url)}"])
    assert override.value() == url


def stored_study(tmp_path, pruner: dict | None):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.set_user_attr(PRUNER_ATTR, pruner)
    return storage, study


def test_a_job_opens_its_trial_from_the_environment_with_the_studys_pruner(tmp_path):
    storage, study = stored_study(tmp_path, {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.5})
    asked = study.ask()
    address = TrialAddress.from_env(TrialAddress(storage, "s", asked._trial_id).env())
    trial = open_trial(address)
    assert trial.number == asked.number and isinstance(trial.study.pruner, optuna.pruners.ThresholdPruner)
    assert TrialAddress.from_env({}) is None  # an ordinary job


def test_a_trial_held_at_chance_is_pruned_and_a_learning_one_is_not(tmp_path):
    storage, study = stored_study(tmp_path, {"_target_": "optuna.pruners.ThresholdPruner", "lower": 0.5})
    learning = ReportToTrial(
        open_trial(TrialAddress(storage, "s", study.ask()._trial_id)), "val.accuracy", "val_loss", "maximize"
    )
    for epoch, accuracy in enumerate((0.6, 0.8, 0.9)):
        learning.on_epoch_end(epoch, {"val_accuracy": accuracy, "val_loss": 1.0})
    chance = ReportToTrial(
        open_trial(TrialAddress(storage, "s", study.ask()._trial_id)), "val.accuracy", "val_loss", "maximize"
    )
    with pytest.raises(RunPruned, match="ThresholdPruner after epoch 1: val_accuracy = 0.2000"):
        chance.on_epoch_end(0, {"val_accuracy": 0.2, "val_loss": 1.6})
    assert study.trials[0].intermediate_values == {0: 0.6, 1: 0.8, 2: 0.9}


def test_a_loss_is_reported_in_the_studys_direction():
    report = ReportToTrial(None, "val.f1_macro", "val_loss", "maximize")  # f1 not logged per epoch: the monitor
    assert report.signal({"val_loss": 0.7}) == ("-val_loss", -0.7)
    assert report.signal({"val_loss": 0.7, "val_f1_macro": 0.4}) == ("val_f1_macro", 0.4)
    assert ReportToTrial(None, "val.loss", "val_loss", "minimize").signal({"val_loss": 0.7}) == ("val_loss", 0.7)


def test_a_finished_job_is_told_as_complete_pruned_or_failed(tmp_path):
    import json

    from hydra.core.utils import JobReturn, JobStatus

    states = optuna.trial.TrialState
    done = JobReturn(status=JobStatus.COMPLETED, _return_value=0.75)
    assert trial_outcome(done, tmp_path / "0") == (states.COMPLETE, 0.75)
    for status, state in (("pruned", states.PRUNED), ("failed", states.FAIL)):
        run = tmp_path / status
        run.mkdir()
        (run / "metrics.json").write_text(json.dumps({"status": status, "error": "why"}))
        assert trial_outcome(JobReturn(status=JobStatus.COMPLETED, _return_value=None), run) == (state, None)
    nan = JobReturn(status=JobStatus.COMPLETED, _return_value=math.nan)
    assert trial_outcome(nan, tmp_path / "missing") == (states.FAIL, None)
    crashed = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("boom"))
    assert trial_outcome(crashed, tmp_path / "missing") == (states.FAIL, None)
