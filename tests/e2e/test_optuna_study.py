"""hparams_search=optuna end to end: a study in an SQLite file continues across invocations
(new trials, new settings, new folders; the second one in parallel through joblib), a pruner
stops a trial held at chance, and fungiclf-report reads the study's runs."""

import json
import os
import subprocess
import sys

import optuna
import pandas as pd
import pytest
import yaml

from fungiclf.cli.report import main as report_main


def study_command(sweep, cache_dir, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fungiclf.cli.train",
        "-m",
        "hparams_search=optuna",
        "trainer=smoke",
        "model=linear",
        "hydra.sweeper.n_trials=2",
        f"paths.cache_dir={cache_dir}",
        f"hydra.sweep.dir={sweep}",
        *extra,
    ]


def run(command: list[str], cwd) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, env=os.environ)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_sqlite_study_continues_with_new_trials_in_new_folders(cache_dir, tmp_path):
    sweep = tmp_path / "study"
    storage = "hydra.sweeper.storage=sqlite:///study.db"  # relative: to the folder it was launched from
    run(study_command(sweep, cache_dir, storage), cwd=tmp_path)
    run(
        study_command(
            sweep, cache_dir, storage, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"
        ),
        cwd=tmp_path,
    )
    study = optuna.load_study(study_name="fungiclf", storage=f"sqlite:///{tmp_path / 'study.db'}")
    trials = study.trials
    assert [t.number for t in trials] == list(range(4))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    settings = {tuple(sorted(t.params.items())) for t in trials}
    assert len(settings) == 4  # the second invocation drew new settings, not the first's again
    for trial in trials:  # each trial in its own folder, run with its own values, told its own result
        folder = sweep / str(trial.number)
        overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        assert f"optimizer.lr={trial.params['optimizer.lr']!r}" in overrides
        assert json.loads((folder / "metrics.json").read_text())["val"]["f1_macro"] == pytest.approx(trial.value)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t.value for t in trials)) and best["trials"] == {"complete": 4}
    report_main([str(sweep), "--metric", "test.accuracy"])
    table = pd.read_csv(sweep / "summary.csv")
    assert len(table) == 4 and (table["status"] == "completed").all()
    assert {"optimizer.lr", "trainer.batch_size"} <= set(table.columns)


@pytest.mark.slow  # the pruning itself, on a real study, is tested in tests/unit/test_study.py
def test_a_pruner_stops_a_trial_held_at_chance_and_it_is_recorded_as_pruned(cache_dir, tmp_path, capsys):
    sweep = tmp_path / "study"
    result = run(
        study_command(
            sweep,
            cache_dir,
            "model=cnn",
            "optimizer.lr=1e-9",  # no learning: validation accuracy stays at chance (0.2 on 5 classes)
            "optimized_metric=val.accuracy",
            "trainer.monitor=val_accuracy",
            "hydra.sweeper.pruner={_target_: optuna.pruners.ThresholdPruner, lower: 0.5}",
        ),
        cwd=tmp_path,
    )
    study = optuna.load_study(study_name="fungiclf", storage=f"sqlite:///{sweep / 'study.db'}")
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    for trial in study.trials:
        record = json.loads((sweep / str(trial.number) / "metrics.json").read_text())
        assert record["status"] == "pruned" and "ThresholdPruner after epoch 1" in record["error"]
        assert trial.intermediate_values == {0: pytest.approx(0.2, abs=0.1)}
        assert not (sweep / str(trial.number) / ".fit").exists()
    assert "failed" not in result.stderr  # pruned is not failed: exit 0
    report_main([str(sweep)])
    table = pd.read_csv(sweep / "summary.csv")
    assert list(table["status"]) == ["pruned", "pruned"]
    assert "2 pruned" in capsys.readouterr().err


@pytest.mark.parametrize(
    "override, message",
    [
        ("hydra.sweeper.pruner={_target_: os.system}", "'os.system' is not one of Optuna's pruners"),
        ("hydra.sweeper.storage=sqlite:////nonexistent/folder/study.db", "hydra.sweeper.storage: cannot open"),
    ],
)
def test_a_bad_study_setting_is_one_line_before_any_trial(cache_dir, tmp_path, override, message):
    sweep = tmp_path / "study"
    result = subprocess.run(
        study_command(sweep, cache_dir, override), capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("fungiclf-train: error: ")
    assert message in result.stderr and not (sweep / "0").exists()
