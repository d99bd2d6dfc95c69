"""Experiments (conf/experiment/) and fungiclf-report; the multirun test of the console script."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from fungiclf.cli.report import main as report_main
from fungiclf.experiments import expand_row
from fungiclf.settings.resolve import resolve
from fungiclf.train import run_job

EXPERIMENTS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "conf" / "experiment").glob("*.yaml"))


def sweep_params(name: str) -> dict:
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        params = compose("train", overrides=[f"experiment={name}"], return_hydra_config=True).hydra.sweeper.params
    return dict(params or {})  # a single-job experiment (defungi_best) sweeps nothing


def sweep_rows(name: str) -> list[str | None]:
    params = sweep_params(name)
    return str(params["row"]).split(",") if "row" in params else [None]


def check_rows_compose(name: str, rows: list[str | None]) -> None:
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        for row in rows:
            overrides = [f"experiment={name}", *([f"row={row}"] if row else []), "trainer=smoke"]
            cfg = expand_row(compose("train", overrides=overrides), overrides)
            assert cfg.experiment_name == name and cfg.trainer.smoke
            assert isinstance(resolve(cfg).experiment.published, dict)  # {} for rows without numbers (m0, convmixer_16)
            if row:
                for key in cfg.rows[row].published:
                    assert key.split(".")[0] == "test" and key.split(".")[1] in {
                        "accuracy",
                        "precision_macro",
                        "recall_macro",
                        "f1_macro",
                        "precision_weighted",
                        "recall_weighted",
                        "f1_weighted",
                        "precision_pos",
                        "recall_pos",
                        "f1_pos",
                    }


# auto times a few training steps on the machine while it resolves: `slow` (~60 s).
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "auto" else n for n in EXPERIMENTS])
def test_first_and_last_row_of_every_experiment_compose(name):
    rows = sweep_rows(name)
    check_rows_compose(name, sorted({rows[0], rows[-1]}, key=rows.index))


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_row_of_every_experiment_composes(name):
    check_rows_compose(name, sweep_rows(name))


def test_an_unknown_row_is_a_failed_job(make_cfg, tmp_path):
    overrides = ["experiment=pneumoniamnist_classical", "row=nosuch"]
    assert run_job(make_cfg(*overrides), tmp_path, overrides) is None
    assert (
        "rows are ['logreg', 'linear_svm', 'random_forest']"
        in json.loads((tmp_path / "metrics.json").read_text())["error"]
    )


def test_an_experiment_of_rows_run_without_a_row_is_refused_not_run_as_the_default_model(make_cfg, tmp_path):
    """'fungiclf-train experiment=pneumoniamnist_classical' (no -m) trained the default CNN
    under the table's name."""
    assert (
        run_job(make_cfg("experiment=pneumoniamnist_classical"), tmp_path, ["experiment=pneumoniamnist_classical"])
        is None
    )
    error = json.loads((tmp_path / "metrics.json").read_text())["error"]
    assert error == (
        "experiment=pneumoniamnist_classical is a table of rows (logreg, linear_svm, random_forest): run "
        "them all with 'fungiclf-train -m experiment=pneumoniamnist_classical', or one with row=NAME"
    )


def test_a_row_without_an_experiment_with_rows_says_one_is_needed(make_cfg, tmp_path):
    assert run_job(make_cfg("row=cnn"), tmp_path, ["row=cnn"]) is None
    error = json.loads((tmp_path / "metrics.json").read_text())["error"]
    assert "needs an experiment that lists rows (such as experiment=defungi_models" in error
    assert error.endswith("no experiment was chosen")


@pytest.mark.slow  # a sweep then its report: test_html_report.py in the default suite
def test_experiment_sweep_on_synthetic_then_report(cache_dir, tmp_path, capsys):
    """One experiment as one command (smoke, synthetic data) in parallel worker processes
    (hydra/launcher=joblib), with one failing row, then the report."""
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "fungiclf.cli.train",
        "-m",
        "experiment=pneumoniamnist_classical",
        "dataset=synthetic",
        "trainer=smoke",
        "row=logreg,random_forest,nosuch",
        "cv.folds=2",
        f"paths.cache_dir={cache_dir}",
        f"hydra.sweep.dir={sweep}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "1 job(s) failed" in result.stderr and "nosuch" in result.stderr
    for job in ("0", "1", "2"):
        assert (sweep / job / ".hydra" / "overrides.yaml").is_file() and (sweep / job / "metrics.json").is_file()
    report_main([str(sweep), "--metric", "test.accuracy"])
    out = capsys.readouterr().out
    table = pd.read_csv(sweep / "summary.csv").fillna({"error": "", "row": ""})
    assert list(table["status"]) == ["completed", "completed", "failed"]  # failed last, never dropped
    assert set(table["row"]) == {"logreg", "random_forest", "nosuch"} and "nosuch" in table.loc[2, "error"]
    assert table.loc[0, "test.accuracy"] >= table.loc[1, "test.accuracy"]  # sorted by the metric
    for _, run in table[table["status"] == "completed"].iterrows():
        metrics = json.loads((Path(run["run"]) / "metrics.json").read_text())
        assert run["test.accuracy"] == pytest.approx(metrics["test"]["accuracy"])
        assert run["published test.accuracy"] == metrics["published"]["test.accuracy"]
        assert run["diff test.accuracy"] == pytest.approx(
            metrics["test"]["accuracy"] - metrics["published"]["test.accuracy"]
        )
        assert run["cv test.accuracy sd"] == pytest.approx(metrics["cv"]["test_sd"]["accuracy"])
    assert (sweep / "comparison.png").stat().st_size > 0 and (sweep / "summary.md").read_text().startswith("| run")
    assert "| logreg" in out or "logreg " in out
    report_main(
        [
            str(sweep),
            "--format",
            "latex",
            "--out",
            str(tmp_path / "tex"),
            "--metric",
            "test.accuracy",
            "--best",
            "--select",
            "val.accuracy",
        ]
    )
    best = table[table["status"] == "completed"].sort_values("val.accuracy", ascending=False).iloc[0]["row"]
    assert (
        capsys.readouterr()
        .out.strip()
        .splitlines()[-1]
        .startswith(f"fungiclf-train row={best} experiment=pneumoniamnist_classical dataset=synthetic")
    )
    assert "\\toprule" in (tmp_path / "tex" / "summary.tex").read_text()


def test_report_flags_published_rows_at_the_majority_rate_or_below_chance(tmp_path):
    from fungiclf.evaluation.report import collect

    for name, published, reproduced in (("a", 0.4833, 0.5), ("b", 0.0834, 0.5), ("c", 0.5661, 0.5), ("d", 0.5, 0.4833)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(
            json.dumps(
                {
                    "status": "completed",
                    "model": "cnn",
                    "classes": list("abcde"),
                    "test": {"accuracy": reproduced},
                    "published": {"test.accuracy": published},
                    "baselines": {"majority_rate": 0.4833, "chance_rate": 0.2},
                }
            )
        )
    table = collect([tmp_path / n for n in "abcd"], "test.accuracy").set_index("run")
    assert table.loc[str(tmp_path / "a"), "flag"] == "published at majority rate"
    assert table.loc[str(tmp_path / "b"), "flag"] == "published below chance"
    assert table.loc[str(tmp_path / "c"), "flag"] == ""
    assert table.loc[str(tmp_path / "d"), "flag"] == "no better than majority"  # the model itself


def test_report_on_nothing_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report_main([str(tmp_path)])
    assert exit_info.value.code == 1 and "no metrics.json" in capsys.readouterr().err


@pytest.mark.slow  # a five-run sweep before the figures; the report's figures run in test_html_report.py
def test_learning_curve_and_history_plots(make_cfg, tmp_path, capsys):
    from fungiclf.train import train

    for k, fraction in enumerate((0.5, 1.0)):
        run = tmp_path / "sweep" / str(k)
        train(make_cfg("trainer=smoke", "model=linear", f"dataset.fraction={fraction}"), run)
        (run / ".hydra").mkdir()
        (run / ".hydra" / "overrides.yaml").write_text(f"- dataset.fraction={fraction}\n- trainer=smoke\n")
    report_main([str(tmp_path / "sweep"), "--metric", "val.accuracy", "--curve", "dataset.fraction", "--history"])
    table = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert sorted(table["dataset.fraction"]) == [0.5, 1.0] and "trainer" not in table  # only what varies
    assert (tmp_path / "sweep" / "curve.png").stat().st_size > 0 and (
        tmp_path / "sweep" / "history.png"
    ).stat().st_size > 0
    with pytest.raises(SystemExit):
        report_main([str(tmp_path / "sweep"), "--curve", "optimizer.lr"])
    assert "no run varies it" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_runs_as_one_smoke_command(cache_dir, tmp_path, name):
    """`fungiclf-train -m experiment=NAME trainer=smoke` on small built-in or written data."""
    from tests.conftest import write_chest_xrays, write_npz

    if name.startswith("chest_xray"):  # binary: two classes with a train/ test/ layout like the real set
        data = [f"dataset.path={write_chest_xrays(tmp_path / 'xray', {'train': 20, 'test': 8}, ext='.png')}"]
    elif name.startswith("pneumoniamnist"):  # binary, for the threshold chosen on val
        data = [f"dataset.path={write_npz(tmp_path / 'pneumonia.npz')}"]
    else:
        data = ["dataset=synthetic"]
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        "-m",
        "fungiclf.cli.train",
        "-m",
        f"experiment={name}",
        "trainer=smoke",
        *data,
        f"paths.cache_dir={cache_dir}",
        f"hydra.sweep.dir={sweep}",
        "trainer.verbose=0",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = 1
    for values in sweep_params(name).values():  # rows, a 3 x 3 grid (defungi_grid) or three seeds
        expected *= len(str(values).split(","))
    jobs = sorted(p for p in sweep.iterdir() if (p / "metrics.json").is_file())
    assert len(jobs) == expected
    assert all(json.loads((job / "metrics.json").read_text())["status"] == "completed" for job in jobs)
