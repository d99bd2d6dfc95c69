"""fungiclf-report: one table from many run folders.

    fungiclf-report outputs/multirun/2026-11-23/10-00-00
    fungiclf-report 'outputs/multirun/*/*' --metric test.accuracy --out results/
    fungiclf-report SWEEP --format latex
    fungiclf-report SWEEP --best            # the command that retrains the best setting with 3-fold CV
    fungiclf-report SWEEP --curve dataset.fraction --metric val.accuracy   # learning curve (curve.png)
    fungiclf-report SWEEP --history         # per-epoch validation curves of the runs (history.png)
    fungiclf-report --compare RUN_A RUN_B   # paired bootstrap CI of the difference, McNemar's test

Writes summary.csv, summary.md (or summary.tex) and comparison.png into --out (default:
the folder that holds every run) and prints the table. Failed runs stay in the table with
their error; job folders without metrics.json are listed as incomplete. When runs differ in ``seed``,
summary_by_seed.csv/.md hold mean ± sd and n of the runs that differ only in it.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fungiclf.cli import stop_on_closed_pipe  # noqa: E402
from fungiclf.errors import FungiclfError  # noqa: E402
from fungiclf.evaluation.report import (BUILT_IN, aggregate_seeds, collect, common_folder, compare_runs,  # noqa: E402
                                        format_comparison, format_seed_table, format_table, override_columns,
                                        run_labels, setting_labels)
from fungiclf.runs import (HISTORY, METRICS, PREDICTIONS, dig, find_runs, json_text, read_overrides,  # noqa: E402
                           read_run, write_output)


def comparison_bars(table: pd.DataFrame, metric: str, by_seed: bool) -> pd.DataFrame:
    """comparison.png's bars, best first: columns label, value, sd (the error bar), published
    and majority. One bar per completed run (sd: its CV sd), or with ``by_seed`` one per
    setting, runs that differ only in seed averaged (sd over the seeds; n in the label)."""
    done = table[table["status"] == "completed"]
    missing = pd.Series(np.nan, index=done.index)   # a column no run has (no CV, nothing published)
    bars = pd.DataFrame({"value": done[metric], "sd": done.get(f"cv {metric} sd", missing),
                         "published": done.get(f"published {metric}", missing),
                         "majority": done.get("majority_rate", missing)})
    if not by_seed:
        return bars.assign(label=run_labels(done)).sort_values("value", ascending=False, kind="stable")
    seeds = [c for c in ("seed", "seed (override)") if c in done]
    bars["setting"] = setting_labels(done.drop(columns=seeds))
    grouped = bars.groupby("setting", sort=False)
    per_setting = pd.DataFrame({"value": grouped["value"].mean(), "sd": grouped["value"].std(ddof=1),
                                "published": grouped["published"].mean(), "majority": grouped["majority"].max(),
                                "n": grouped.size()})
    per_setting["label"] = [f"{setting} (n={n})" if setting else f"all {n} runs"
                            for setting, n in zip(per_setting.index, per_setting["n"])]
    return per_setting.reset_index(drop=True).sort_values("value", ascending=False, kind="stable")


def plot_comparison(table: pd.DataFrame, metric: str, path: Path, by_seed: bool = False) -> None:
    """Horizontal bars of ``metric`` (comparison_bars(): per run or per setting), error bars,
    published values as marks, the majority-class rate for an accuracy."""
    bars = comparison_bars(table, metric, by_seed).iloc[::-1]   # barh draws bottom up: best on top
    labels = list(bars["label"])
    width = max(7.0, 4.0 + 0.08 * max(map(len, labels), default=0))   # ~0.08 inch a character of a label
    figure, axes = plt.subplots(figsize=(width, 0.4 * len(bars) + 1.8), layout="constrained")
    published = bars["published"].notna().any()
    axes.barh(labels, bars["value"], xerr=bars["sd"].fillna(0), color="tab:blue",
              label="reproduced" if published else None)
    if published:
        axes.scatter(bars["published"], labels, color="tab:red", marker="D", zorder=3, label="published")
    if metric.endswith("accuracy") and bars["majority"].notna().any():
        axes.axvline(bars["majority"].max(), color="gray", linestyle="--", label="majority rate")
    axes.set_xlabel(f"{metric}, mean ± sd over seeds" if by_seed else metric)
    axes.set_xlim(0, 1)
    if axes.get_legend_handles_labels()[0]:   # below the axes: inside, it hid the last bar's mark
        figure.legend(loc="outside lower center", ncols=3, fontsize="small")
    figure.savefig(path, dpi=120)
    plt.close(figure)


def curve_points(table: pd.DataFrame, key: str, metric: str) -> pd.DataFrame:
    """The learning curve as rows (setting, series, x, mean, sd): ``metric`` (a val/test key)
    and the training accuracy at the best epoch against a numeric override ``key`` (e.g.
    dataset.fraction), one curve per setting (what else varies besides the seed: model=cnn,
    model=logreg; "" when nothing does), runs of a setting sharing a value averaged. Runs with
    CV give their CV mean and CV sd (the point and its bar describe the same folds);
    otherwise sd is over the runs."""
    done = table[(table["status"] == "completed") & table[key].astype(str).ne("")].copy()
    done["x"] = pd.to_numeric(done[key], errors="coerce")
    if done["x"].isna().any():
        raise SystemExit(f"fungiclf-report: error: --curve {key}: values are not all numbers")
    done["train accuracy"] = [best_epoch_value(Path(run), "accuracy") for run in done["run"]]
    others = done.drop(columns=[key]).drop(columns=[c for c in ("seed", "seed (override)") if c in done])
    done["setting"] = setting_labels(others)
    cv_mean, cv_sd = f"cv {metric} mean", f"cv {metric} sd"
    with_cv = cv_mean in done and done[cv_mean].notna().any()
    series = [(f"{metric} (CV mean ± sd)", done[cv_mean].fillna(done[metric]), done[cv_sd]) if with_cv
              else (metric, done[metric], None), ("train accuracy", done["train accuracy"], None)]
    parts = []
    for setting, rows in done.groupby("setting", sort=False):
        for name, values, fold_sd in series:
            values = values[rows.index]
            if values.isna().all():
                continue
            grouped = values.groupby(rows["x"])
            sd = fold_sd[rows.index].groupby(rows["x"]).mean() if fold_sd is not None else grouped.std()
            parts.append(pd.DataFrame({"setting": setting, "series": name, "x": grouped.mean().index,
                                       "mean": grouped.mean().to_numpy(), "sd": sd.fillna(0).to_numpy()}))
    columns = ["setting", "series", "x", "mean", "sd"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def plot_learning_curve(table: pd.DataFrame, key: str, metric: str, path: Path) -> None:
    """curve_points() drawn with error bars into ``path``: a colour per setting, the metric
    solid and the training accuracy dashed."""
    points = curve_points(table, key, metric)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (setting, curves) in enumerate(points.groupby("setting", sort=False)):
        for name, curve in curves.groupby("series", sort=False):
            train = name == "train accuracy"
            label = f"{setting}: {name}" if setting else name
            axes.errorbar(curve["x"], curve["mean"], yerr=curve["sd"], marker="o", capsize=3,
                          color=colours[index % len(colours)], linestyle="--" if train else "-", label=label)
    axes.set_xlabel(key)
    axes.set_ylabel("score")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def best_epoch_value(run: Path, column: str) -> float | None:
    """history.csv's ``column`` at the run's best epoch (None for sklearn runs)."""
    history_file, metrics = run / HISTORY, read_run(run)
    if not history_file.is_file() or not metrics.get("best_epoch"):
        return None
    history = pd.read_csv(history_file)
    return float(history[column].iloc[metrics["best_epoch"] - 1]) if column in history else None


def plot_histories(table: pd.DataFrame, path: Path) -> None:
    """Per-epoch validation loss and accuracy of every completed Keras run, overlaid (a
    refit run has no validation split and is left out); the loss on a log axis when it spans
    more than a factor of ten."""
    figure, (loss, accuracy) = plt.subplots(1, 2, figsize=(11, 4))
    done = table[table["status"] == "completed"]
    for (_, row), label in zip(done.iterrows(), run_labels(done)):
        history_file = Path(row["run"]) / HISTORY
        history = pd.read_csv(history_file) if history_file.is_file() else None
        if history is not None and {"val_loss", "val_accuracy"} <= set(history.columns):
            loss.plot(range(1, len(history) + 1), history["val_loss"], label=label)
            accuracy.plot(range(1, len(history) + 1), history["val_accuracy"], label=label)
    for axes, name in ((loss, "val_loss"), (accuracy, "val_accuracy")):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
    if accuracy.lines:
        accuracy.legend(fontsize="small")
    losses = np.concatenate([line.get_ydata() for line in loss.lines] or [np.ones(1)]).astype(float)
    if losses.min() > 0 and losses.max() > 10 * losses.min():   # one diverged run would flatten the rest
        loss.set_yscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def best_command(table: pd.DataFrame, select_by: str) -> str:
    """fungiclf-train command for the setting best on ``select_by`` (a val metric): its run's
    own overrides, then the full training set and 3-fold CV. Runs that differ only in
    ``seed`` are one setting, chosen by their mean, and the command leaves the seed out, as it
    leaves out ``hparams_search`` (a search's trials are retrained as one run)."""
    done = table[table["status"] == "completed"].copy()
    done["_value"] = [dig(read_run(Path(run)), select_by) for run in done["run"]]
    done["_value"] = done["_value"].astype(float)
    if done["_value"].isna().all():
        raise SystemExit(f"fungiclf-report: error: no completed run has {select_by}")
    seeds = [c for c in override_columns(table) if c in ("seed", "seed (override)")]
    setting = [c for c in override_columns(table) if c not in seeds] + ["model", "dataset"]
    done["_mean"] = done.fillna({c: "" for c in setting}).groupby(setting, dropna=False)["_value"].transform("mean")
    best = done.loc[done["_mean"].idxmax()]
    dropped = ("dataset.fraction=", "cv.folds=", "hparams_search=") + (("seed=", "+seed=", "++seed=") if seeds else ())
    overrides = [o for o in read_overrides(Path(best["run"])) if not o.startswith(dropped)]
    return " ".join(["fungiclf-train", *overrides, "dataset.fraction=1.0", "cv.folds=3"])


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fungiclf-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="multirun folders, run folders or globs")
    parser.add_argument("--metric", default="test.f1_macro", help="sort and plot by this metrics.json key")
    parser.add_argument("--format", choices=["markdown", "latex"], default="markdown")
    parser.add_argument("--out", help="folder for summary.* and comparison.png (default: the deepest folder that holds every run)")
    parser.add_argument("--by-seed", action=argparse.BooleanOptionalAction, default=None,
                        help="group runs that differ only in seed: mean ± sd and n (default: on when seeds vary)")
    parser.add_argument("--best", action="store_true",
                        help="print the command that retrains the run best on val (--select) with 3-fold CV")
    parser.add_argument("--select", default="val.f1_macro", help="validation metric --best chooses by")
    parser.add_argument("--curve", metavar="KEY", help="learning curve: --metric against this numeric override "
                                                       "(e.g. dataset.fraction), written to curve.png")
    parser.add_argument("--history", action="store_true", help="overlay the runs' per-epoch validation curves "
                                                               "in history.png")
    parser.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                        help="paired comparison of two runs on the same test split")
    return parser


def fail(message: str) -> None:
    print(f"fungiclf-report: error: {message}", file=sys.stderr)
    sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        report(args)
    except BrokenPipeError:
        stop_on_closed_pipe()
    except (OSError, FungiclfError) as exc:   # an --out that cannot be written, or is refused
        fail(str(exc))
    except KeyboardInterrupt:
        print("fungiclf-report: interrupted", file=sys.stderr)
        sys.exit(130)


def report(args: argparse.Namespace) -> None:
    """Write the summary files of the runs, then print the table."""
    if args.compare:
        try:
            result = compare_runs(Path(args.compare[0]), Path(args.compare[1]))
        except FungiclfError as exc:
            fail(str(exc))
        if args.out:
            inputs = [Path(run) / name for run in args.compare for name in (METRICS, PREDICTIONS)]
            write_output(Path(args.out) / "compare.json", lambda tmp: Path(tmp).write_text(json_text(result)), inputs)
        print(format_comparison(result))
        return
    if not args.paths:
        fail("give run or sweep folders (or --compare RUN_A RUN_B)")
    if args.metric in BUILT_IN:
        fail(f"--metric {args.metric}: a column of the table, not a numeric metrics.json key (e.g. test.accuracy)")
    runs = find_runs(args.paths)
    if not runs:
        fail(f"no metrics.json under {' '.join(args.paths)}")
    table = collect(runs, args.metric)
    completed = table[table["status"] == "completed"]
    if len(completed) and completed[args.metric].isna().all():   # a misspelt key would sort by nothing
        fail(f"--metric {args.metric}: no completed run has this numeric metrics.json key "
             f"(e.g. test.accuracy, test.f1_macro, test.roc_auc, val.f1_macro, cv.val_mean.f1_macro)")
    out = Path(args.out) if args.out else common_folder(runs)
    write_output(out / "summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    text = format_table(table, args.format)
    write_output(out / ("summary.md" if args.format == "markdown" else "summary.tex"),
                 lambda tmp: Path(tmp).write_text(text + "\n"))
    seeds = [c for c in override_columns(table) if c in ("seed", "seed (override)")]
    by_seed = bool(seeds) if args.by_seed is None else args.by_seed
    if by_seed:
        grouped = aggregate_seeds(table, args.metric)
        write_output(out / "summary_by_seed.csv", lambda tmp: grouped.to_csv(tmp, index=False))
        seed_text = format_seed_table(grouped, args.format)
        name = "summary_by_seed.md" if args.format == "markdown" else "summary_by_seed.tex"
        write_output(out / name, lambda tmp: Path(tmp).write_text(seed_text + "\n"))
    if args.metric in table and table[args.metric].notna().any():
        write_output(out / "comparison.png", lambda tmp: plot_comparison(table, args.metric, tmp, by_seed))
    if args.curve:
        if args.curve not in table:
            fail(f"--curve {args.curve}: no run varies it")
        write_output(out / "curve.png", lambda tmp: plot_learning_curve(table, args.curve, args.metric, tmp))
    if args.history:
        write_output(out / "history.png", lambda tmp: plot_histories(table, tmp))
    print(seed_text if by_seed else text)
    failed = int((table["status"] != "completed").sum())
    print(f"\n{len(table)} runs, {failed} failed or incomplete; written to {out}"
          + (" (mean ± sd over seeds: summary_by_seed.*; per run: summary.*)" if by_seed else ""), file=sys.stderr)
    if args.best:
        print(best_command(table, args.select))


if __name__ == "__main__":
    main()
