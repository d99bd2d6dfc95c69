"""fungiclf-report on sweeps over every key a user sweeps, seeds aggregated, two runs compared."""

import json
from pathlib import Path
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import numpy as np
import yaml
from scipy.stats import binomtest

from fungiclf.cli.report import main as report_main
from fungiclf.evaluation.report_figures import comparison_bars, curve_points
from fungiclf.evaluation.report import collect, format_comparison, run_labels
from fungiclf.runs import dig, find_runs
from fungiclf.train import train
from tests.conftest import write_npz

SWEEPS = {
    "model": ["logreg", "linear_svm", "random_forest"],
    "dataset": ["medmnist", "pneumoniamnist"],
    "optimizer": ["adam", "sgd", "adamw"],
    "seed": ["0", "1", "2"],
    "preprocess.size": ["28", "32"],
    "row": ["logreg", "linear_svm"],
}
METRIC_KEYS = [
    "test.accuracy",
    "test.false_negative_rate",
    "test.recall_pos",
    "test.sensitivity",
    "val.f1_macro",
    "test.roc_auc",
    "timings.train_seconds",
    "n_test",
    "test.per_class.1.recall",
]


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory, cache_dir):
    """One real run (logreg on a tiny binary npz) whose folder the sweeps below copy."""
    from hydra import compose, initialize_config_module

    root = tmp_path_factory.mktemp("binary")
    path = write_npz(root / "tiny.npz", n=(40, 20, 30))
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"paths.cache_dir={cache_dir}",
                "dataset=medmnist",
                f"dataset.path={path}",
                "model=logreg",
                "preprocess.color=gray",
                "preprocess.size=28",
            ],
        )
        train(cfg, root / "run")
    return root / "run"


def fake_sweep(source, folder, key: str, values: list[str]) -> list[dict]:
    """A sweep folder of copies of ``source``, job i overriding ``key=values[i]``, with
    metrics that differ per job (and name the model / dataset as a real sweep would)."""
    written = []
    for i, value in enumerate(values):
        job = folder / str(i)
        shutil.copytree(source, job)
        (job / ".hydra").mkdir()
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"{key}={value}", "trainer=smoke"]))
        metrics = json.loads((job / "metrics.json").read_text())
        metrics["test"]["accuracy"] -= 0.01 * i
        metrics["test"]["false_negative_rate"] = 0.1 * i
        if key in ("model", "dataset"):
            metrics[key] = value
        (job / "metrics.json").write_text(json.dumps(metrics))
        written.append(metrics)
    return written


@pytest.mark.parametrize("key", sorted(SWEEPS))
def test_report_on_a_sweep_over_each_key_with_any_metric(binary_run, tmp_path, key, capsys):
    written = fake_sweep(binary_run, tmp_path / "sweep", key, SWEEPS[key])
    for metric in METRIC_KEYS:
        out = tmp_path / metric
        report_main([str(tmp_path / "sweep"), "--metric", metric, "--out", str(out)])
        table = pd.read_csv(out / "summary.csv", dtype={key: str})
        expected = sorted((dig(m, metric) for m in written), reverse=True)
        assert list(table[metric]) == pytest.approx(expected), metric  # every job, sorted by the metric
        if key in ("model", "dataset"):
            assert key in table and f"{key} (override)" not in table  # the override agrees with the column
        else:
            assert sorted(table[key]) == sorted(SWEEPS[key])
    assert "sensitivity" in capsys.readouterr().out or key == "seed"  # by-seed prints the aggregate


def test_a_misspelt_metric_is_refused_before_anything_is_written(binary_run, tmp_path, capsys):
    fake_sweep(binary_run, tmp_path / "sweep", "seed", ["0", "1"])
    with pytest.raises(SystemExit) as exit_info:
        report_main([str(tmp_path / "sweep"), "--metric", "test.acuracy"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("fungiclf-report: error: --metric test.acuracy: no completed run has") and "\n" not in error
    assert not (tmp_path / "sweep" / "summary.csv").exists()


@pytest.mark.slow  # trains before piping; the closed-pipe path of training stays in the default suite
def test_a_reader_that_stops_early_gets_no_traceback_and_the_files_are_written(binary_run, tmp_path):
    """`fungiclf-report SWEEP | head -1`, `fungiclf-data info ... | head`: the pipe closes first."""
    fake_sweep(binary_run, tmp_path / "sweep", "seed", ["0", "1"])
    for command in (
        ["fungiclf.cli.report", str(tmp_path / "sweep")],
        ["fungiclf.cli.data", "info", str(binary_run.parent / "tiny.npz"), "--json", str(tmp_path / "i.json")],
    ):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader has gone before anything is printed
        done = subprocess.run([sys.executable, "-m", *command], stdout=write_end, stderr=subprocess.PIPE, text=True)
        os.close(write_end)
        assert done.returncode == 141 and "Traceback" not in done.stderr, done.stderr
    assert (tmp_path / "sweep" / "summary.csv").exists() and (tmp_path / "i.json").exists()


def test_an_override_that_disagrees_with_a_column_is_kept_apart(binary_run, tmp_path):
    fake_sweep(binary_run, tmp_path / "sweep", "model", ["cnn", "ann"])  # metrics say model=cnn / ann ...
    metrics = json.loads((tmp_path / "sweep" / "1" / "metrics.json").read_text())
    metrics["model"] = "resnet18"  # ... but this job ran another model
    (tmp_path / "sweep" / "1" / "metrics.json").write_text(json.dumps(metrics))
    report_main([str(tmp_path / "sweep")])
    table = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert set(table["model (override)"]) == {"cnn", "ann"} and set(table["model"]) == {"cnn", "resnet18"}


def test_seeds_are_aggregated_as_mean_sd_and_n(binary_run, tmp_path, capsys):
    for model in ("logreg", "linear_svm"):
        for seed in range(3):
            job = tmp_path / "sweep" / f"{model}-{seed}"
            shutil.copytree(binary_run, job)
            (job / ".hydra").mkdir()
            (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"model={model}", f"seed={seed}"]))
            metrics = json.loads((job / "metrics.json").read_text())
            metrics.update(
                model=model, test={**metrics["test"], "accuracy": 0.8 + 0.01 * seed + (model == "logreg") * 0.1}
            )
            (job / "metrics.json").write_text(json.dumps(metrics))
    report_main([str(tmp_path / "sweep"), "--metric", "test.accuracy"])
    grouped = pd.read_csv(tmp_path / "sweep" / "summary_by_seed.csv").set_index("model")
    assert list(grouped["n"]) == [3, 3]
    assert grouped.loc["logreg", "test.accuracy mean"] == pytest.approx(0.91)
    assert grouped.loc["logreg", "test.accuracy sd"] == pytest.approx(0.01)
    out = capsys.readouterr().out
    assert "0.9100 ± 0.0100" in out
    header, _, row = out.splitlines()[:3]
    assert [c.strip() for c in header.split("|")][1:-1] == ["model", "dataset", "n", "test.accuracy"]  # compact
    report_main([str(tmp_path / "sweep"), "--metric", "test.accuracy", "--wide"])
    wide = capsys.readouterr().out
    assert wide.splitlines()[:3] == (tmp_path / "sweep" / "summary_by_seed.md").read_text().splitlines()[:3]
    header, _, row = wide.splitlines()[:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d", cells["train_seconds"])  # seconds to 0.1 s, as in summary.md
    assert re.fullmatch(r"\d+", cells["params"])  # one count, the same for every seed
    report_main([str(tmp_path / "sweep"), "--no-by-seed", "--out", str(tmp_path / "plain")])
    assert not (tmp_path / "plain" / "summary_by_seed.csv").exists()


def test_published_values_print_as_one_column_per_key_and_stay_three_in_the_csv(binary_run, tmp_path, capsys):
    """An experiment sweep's table fits a terminal: "ours vs published (diff)" per published
    key and CV as mean ± sd, where summary.csv keeps published / reproduced / diff apart."""
    for seed in range(2):
        job = tmp_path / "sweep" / str(seed)
        shutil.copytree(binary_run, job)
        (job / ".hydra").mkdir()
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["row=logreg", f"seed={seed}"]))
        metrics = json.loads((job / "metrics.json").read_text())
        metrics.update(
            test={**metrics["test"], "accuracy": 0.80 + 0.02 * seed},
            published={"test.accuracy": 0.87},
            cv={"test_mean": {"accuracy": 0.70 + 0.02 * seed}, "test_sd": {"accuracy": 0.01}},
        )
        (job / "metrics.json").write_text(json.dumps(metrics))
    report_main([str(tmp_path / "sweep"), "--metric", "test.accuracy", "--no-by-seed"])
    out = capsys.readouterr().out
    header, _, first = out.splitlines()[:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in first.split("|")]))
    assert cells["test.accuracy vs published"] == "0.8200 vs 0.8700 (-0.0500)"
    assert cells["cv test.accuracy"] == "0.7200 ± 0.0100"
    assert not any(c.startswith(("reproduced ", "diff ", "published ", "cv test.accuracy ")) for c in cells)
    csv = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert list(csv["diff test.accuracy"]) == pytest.approx([-0.05, -0.07])
    report_main([str(tmp_path / "sweep"), "--metric", "test.accuracy", "--out", str(tmp_path / "by_seed")])
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["test.accuracy vs published"] == "0.8100 ± 0.0141 vs 0.8700 (-0.0600)"
    assert cells["cv test.accuracy"] == "0.7100 ± 0.0141"  # over seeds; the folds' sd is in the csv
    assert not any(c.startswith("cv test.accuracy ") for c in cells)
    assert pd.read_csv(tmp_path / "by_seed" / "summary_by_seed.csv")["cv test.accuracy sd mean"][0] == pytest.approx(
        0.01
    )


@pytest.mark.parametrize("models, shown", [(["logreg", "random_forest"], False), (["logreg", "logreg"], True)])
def test_the_model_column_is_printed_only_where_the_rows_do_not_name_it(binary_run, tmp_path, capsys, models, shown):
    fake_sweep(binary_run, tmp_path / "sweep", "row", ["logreg", "random_forest"])
    for job, model in zip(("0", "1"), models):
        metrics = json.loads((tmp_path / "sweep" / job / "metrics.json").read_text())
        (tmp_path / "sweep" / job / "metrics.json").write_text(json.dumps({**metrics, "model": model}))
    report_main([str(tmp_path / "sweep")])
    header = [c.strip() for c in capsys.readouterr().out.splitlines()[0].split("|")]
    assert "row" in header and ("model" in header) == shown
    assert sorted(pd.read_csv(tmp_path / "sweep" / "summary.csv")["model"]) == sorted(models)


def test_seed_table_ranks_settings_by_their_mean_not_their_best_seed(binary_run, tmp_path, capsys):
    accuracies = {"cnn": [0.95, 0.70, 0.70], "ann": [0.85, 0.85, 0.85]}  # cnn has the best run, ann the best mean
    for model, values in accuracies.items():
        for seed, accuracy in enumerate(values):
            job = tmp_path / "sweep" / f"{model}-{seed}"
            shutil.copytree(binary_run, job)
            (job / ".hydra").mkdir()
            (job / ".hydra" / "overrides.yaml").write_text(
                yaml.safe_dump([f"model={model}", f"seed={seed}", "hparams_search=optuna"])
            )
            metrics = json.loads((job / "metrics.json").read_text())
            metrics.update(
                model=model,
                test={**metrics["test"], "accuracy": accuracy},
                val={**metrics["val"], "accuracy": accuracy},
            )
            (job / "metrics.json").write_text(json.dumps(metrics))
    report_main([str(tmp_path / "sweep"), "--metric", "test.accuracy"])
    assert list(pd.read_csv(tmp_path / "sweep" / "summary.csv")["model"])[0] == "cnn"
    assert list(pd.read_csv(tmp_path / "sweep" / "summary_by_seed.csv")["model"]) == ["ann", "cnn"]
    printed = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines()[2:4]]
    assert printed == ["ann", "cnn"]
    report_main([str(tmp_path / "sweep"), "--best", "--select", "val.accuracy"])  # the setting, not its lucky seed
    command = capsys.readouterr().out.strip().splitlines()[-1]
    assert command.startswith("fungiclf-train model=ann") and "seed=" not in command
    assert "hparams_search" not in command  # a search's trial is retrained as one run


def test_figures_name_runs_by_what_varies_between_them():
    def table(rows: list[dict]) -> pd.DataFrame:  # collect()'s layout: run, overrides, status, model, dataset
        return pd.DataFrame(
            [
                {
                    "run": f"sweep/{i}",
                    **{k: v for k, v in r.items() if k != "model"},
                    "status": "completed",
                    "model": r["model"],
                    "dataset": "pneumoniamnist",
                }
                for i, r in enumerate(rows)
            ]
        )

    sweep = table([{"seed": s, "model": m} for m in ("cnn", "logreg") for s in ("0", "1")])
    assert run_labels(sweep) == ["model=cnn seed=0", "model=cnn seed=1", "model=logreg seed=0", "model=logreg seed=1"]
    experiment = table([{"row": r, "seed": s, "model": r} for r in ("vgg16", "ann") for s in ("0", "1")])
    assert run_labels(experiment)[:2] == ["row=vgg16 seed=0", "row=vgg16 seed=1"]  # the row names its model
    same = table([{"model": "cnn"}, {"model": "cnn"}, {"model": "ann"}])  # two runs of one setting
    assert run_labels(same) == ["model=cnn (0)", "model=cnn (1)", "model=ann"]
    assert run_labels(table([{"model": "cnn"}])) == ["0"]  # nothing varies
    mixed = table(
        [
            {"model": "cnn", "dataset.path": "/data/chest_xray", "trainer.epochs": "3"},
            {"model": "cnn", "dataset.path": "/data/defungi", "trainer.epochs": ""},
        ]
    )  # a key one run sets
    assert run_labels(mixed) == ["dataset.path=chest_xray trainer.epochs=3", "dataset.path=defungi"]


def test_runs_of_several_folders_are_found_by_an_absolute_glob_and_reported_in_their_common_folder(
    binary_run, tmp_path, monkeypatch
):
    """'fungiclf-report "/abs/sweeps/*"' crashed in pathlib, and a glob's summary went to a new
    folder named after the pattern; it belongs in the folder that holds every run."""
    fake_sweep(binary_run, tmp_path / "sweeps" / "a", "seed", ["0", "1"])
    fake_sweep(binary_run, tmp_path / "sweeps" / "b", "seed", ["0"])
    report_main([str(tmp_path / "sweeps" / "*")])
    assert len(pd.read_csv(tmp_path / "sweeps" / "summary.csv")) == 3
    assert not (tmp_path / "sweeps" / "*").exists()
    monkeypatch.chdir(tmp_path / "sweeps")
    report_main(["a", "--metric", "test.accuracy"])  # one sweep: its own folder, as before
    assert len(pd.read_csv(tmp_path / "sweeps" / "a" / "summary.csv")) == 2


def test_a_learning_curve_of_cv_runs_draws_the_cv_mean_with_its_sd(binary_run, tmp_path):
    """The point and its error bar describe the same folds, not the regular split's val and the folds' sd."""
    written = fake_sweep(binary_run, tmp_path / "sweep", "dataset.fraction", ["0.5", "0.5", "1.0"])
    for i, metrics in enumerate(written):
        metrics["val"]["accuracy"] = 0.9  # the regular split's val: not the curve
        metrics["cv"] = {"folds": 3, "val_mean": {"accuracy": 0.6 + 0.1 * i}, "val_sd": {"accuracy": 0.01 * (i + 1)}}
        (tmp_path / "sweep" / str(i) / "metrics.json").write_text(json.dumps(metrics))
    table = collect(find_runs([str(tmp_path / "sweep")]), "val.accuracy")
    points = curve_points(table, "dataset.fraction", "val.accuracy").set_index("x")
    assert list(points["series"]) == ["val.accuracy (CV mean ± sd)"] * 2  # a logreg run has no train curve
    assert points.loc[0.5, "mean"] == pytest.approx(0.65) and points.loc[0.5, "sd"] == pytest.approx(0.015)
    assert points.loc[1.0, "mean"] == pytest.approx(0.8) and points.loc[1.0, "sd"] == pytest.approx(0.03)


def test_a_learning_curve_over_several_models_draws_one_curve_per_model(binary_run, tmp_path):
    """'-m model=logreg,random_forest dataset.fraction=0.1,0.3,1.0 seed=0,1' averaged the two
    models into one curve, their difference drawn as error bars."""
    fractions = ["0.5", "1.0", "0.5", "1.0", "1.0"]
    written = fake_sweep(binary_run, tmp_path / "sweep", "dataset.fraction", fractions)
    for i, metrics in enumerate(written):
        model = "cnn" if i < 2 else "ann"
        metrics["model"], metrics["val"]["accuracy"] = model, {0: 0.7, 1: 0.8, 2: 0.5, 3: 0.6, 4: 0.64}[i]
        job = tmp_path / "sweep" / str(i)
        (job / "metrics.json").write_text(json.dumps(metrics))
        (job / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([f"model={model}", f"dataset.fraction={fractions[i]}", f"seed={i // 4}"])
        )
    table = collect(find_runs([str(tmp_path / "sweep")]), "val.accuracy")
    points = curve_points(table, "dataset.fraction", "val.accuracy")
    points = points[points["series"] == "val.accuracy"].set_index(["setting", "x"])
    assert sorted(points.index.get_level_values("setting").unique()) == ["model=ann", "model=cnn"]
    assert points.loc[("model=cnn", 0.5), "mean"] == pytest.approx(0.7)
    assert points.loc[("model=ann", 1.0), "mean"] == pytest.approx(0.62)  # seeds 0 and 1 averaged
    assert points.loc[("model=ann", 1.0), "sd"] == pytest.approx(np.std([0.6, 0.64], ddof=1))
    report_main([str(tmp_path / "sweep"), "--curve", "dataset.fraction", "--metric", "val.accuracy"])
    assert (tmp_path / "sweep" / "curve.png").is_file()


def test_the_comparison_of_a_sweep_over_seeds_has_a_bar_per_setting_with_its_seed_sd(binary_run, tmp_path):
    """'-m model=cnn,ann seed=0,1,2' drew six bars, one per run; a bar per model with the sd
    over its seeds is what the by-seed table says too."""
    written = fake_sweep(binary_run, tmp_path / "sweep", "seed", ["0", "1", "2", "0", "1", "2"])
    for i, metrics in enumerate(written):
        model = "cnn" if i < 3 else "ann"
        metrics["model"], metrics["test"]["accuracy"] = model, [0.8, 0.7, 0.9, 0.5, 0.6, 0.55][i]
        job = tmp_path / "sweep" / str(i)
        (job / "metrics.json").write_text(json.dumps(metrics))
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"model={model}", f"seed={i % 3}"]))
    table = collect(find_runs([str(tmp_path / "sweep")]), "test.accuracy")
    bars = comparison_bars(table, "test.accuracy", by_seed=True)
    assert list(bars["label"]) == ["model=cnn (n=3)", "model=ann (n=3)"]  # best first
    assert list(bars["value"]) == pytest.approx([0.8, 0.55])
    assert list(bars["sd"]) == pytest.approx([np.std([0.8, 0.7, 0.9], ddof=1), np.std([0.5, 0.6, 0.55], ddof=1)])
    per_run = comparison_bars(table, "test.accuracy", by_seed=False)
    assert len(per_run) == 6
    best = per_run.iloc[0]  # each run's bar carries its own 95% CI (the run's test.ci95.accuracy)
    interval = json.loads((Path(table.loc[best.name, "run"]) / "metrics.json").read_text())["test"]["ci95"]
    assert [best["low"], best["high"]] == pytest.approx(interval["accuracy"])
    report_main([str(tmp_path / "sweep"), "--metric", "test.accuracy"])
    assert (tmp_path / "sweep" / "comparison.png").is_file()


def test_incomplete_job_folders_are_listed(binary_run, tmp_path):
    fake_sweep(binary_run, tmp_path / "sweep", "seed", ["0", "1"])
    (tmp_path / "sweep" / "1" / "metrics.json").unlink()  # killed before it finished
    report_main([str(tmp_path / "sweep"), "--no-by-seed"])
    table = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    assert list(table["status"]) == ["completed", "incomplete"]


def test_compare_two_runs_on_the_same_split(make_cfg, tmp_path, capsys):
    path = write_npz(tmp_path / "tiny.npz", n=(60, 20, 60), seed=1)
    runs = {}
    for model in ("logreg", "linear_svm"):
        runs[model] = tmp_path / model
        train(
            make_cfg(
                "dataset=medmnist",
                f"dataset.path={path}",
                f"model={model}",
                "preprocess.color=gray",
                "preprocess.size=8",
            ),
            runs[model],
        )
    report_main(["--compare", str(runs["logreg"]), str(runs["linear_svm"]), "--out", str(tmp_path / "cmp")])
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    a, b = (pd.read_csv(runs[m] / "predictions.csv") for m in ("logreg", "linear_svm"))
    right_a, right_b = (a["true"] == a["predicted"]).to_numpy(), (b["true"] == b["predicted"]).to_numpy()
    only_a, only_b = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    assert (result["mcnemar"]["a_only"], result["mcnemar"]["b_only"]) == (only_a, only_b)
    expected_p = 1.0 if only_a + only_b == 0 else binomtest(only_a, only_a + only_b).pvalue
    assert result["mcnemar"]["p_value"] == pytest.approx(expected_p)
    assert result["accuracy"]["difference"] == pytest.approx(right_b.mean() - right_a.mean())
    low, high = result["accuracy"]["ci95"]
    assert low <= result["accuracy"]["difference"] <= high and "McNemar" in out
    assert "paired bootstrap over images" in out
    grouped = {**result, "unit": "group", "n_groups": 7}  # patients or photographs: said as groups, counted
    assert "paired bootstrap over its 7 groups" in format_comparison(grouped)
    # with the folders too: the table, then the same comparison, printed and on the page
    pair = [str(runs["logreg"]), str(runs["linear_svm"])]
    report_main([*pair, "--html", "--compare", *pair, "--out", str(tmp_path / "page")])
    printed = capsys.readouterr().out
    page = (tmp_path / "page" / "report.html").read_text()
    assert printed.index("| run") < printed.index(f"McNemar's exact test: A right and B wrong on {only_a} images")
    assert "Paired comparison" in page and f"A right and B wrong on {only_a} images" in page


def test_compare_refuses_runs_on_different_splits(binary_run, tmp_path, capsys):
    """Two runs whose split tables differ (another seed, other fractions) have different
    split fingerprints; the comparison is refused in one line."""
    shutil.copytree(binary_run, tmp_path / "a")
    shutil.copytree(binary_run, tmp_path / "b")
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())
    metrics["split_fingerprint"] = "0" * 20
    (tmp_path / "b" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SystemExit) as exit_info:
        report_main(["--compare", str(tmp_path / "a"), str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "different splits" in err and len(err.strip().splitlines()) == 1


def test_the_printed_table_fits_a_terminal_and_the_files_keep_every_column(binary_run, tmp_path, capsys):
    fake_sweep(binary_run, tmp_path / "sweep", "model", ["logreg", "linear_svm", "random_forest"])
    report_main([str(tmp_path / "sweep")])
    compact = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in compact[0].split("|")][1:-1]
    assert header[:6] == ["run", "status", "model", "dataset", "test.accuracy", "test.f1_macro"]
    assert [line.split("|")[1].strip() for line in compact[2:]] == ["0", "1", "2"]  # runs below the sweep folder
    report_main([str(tmp_path / "sweep"), "--per-class"])
    assert {"test.sensitivity", "test.specificity"} <= {
        c.strip() for c in capsys.readouterr().out.splitlines()[0].split("|")
    }
    report_main([str(tmp_path / "sweep"), "--wide"])
    wide = capsys.readouterr().out.splitlines()
    full = (tmp_path / "sweep" / "summary.md").read_text().splitlines()
    assert len(wide[0]) > 2 * len(compact[0]) and len(wide) == len(full)
    assert [c.strip() for c in wide[0].split("|")] == [c.strip() for c in full[0].split("|")]  # every column
