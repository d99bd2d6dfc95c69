"""The report's figures, drawn from its table and the run folders: the comparison bars,
a learning curve over a numeric override, the runs' validation curves (matplotlib, Agg)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fungiclf.errors import FungiclfError  # noqa: E402
from fungiclf.evaluation.report import run_labels, setting_labels  # noqa: E402
from fungiclf.runs import HISTORY, read_run  # noqa: E402


def comparison_bars(table: pd.DataFrame, metric: str, by_seed: bool) -> pd.DataFrame:
    """comparison.png's bars, best first: columns label, value, sd, low and high (the error
    bar), published and majority. One bar per completed run (low-high: its bootstrap 95% CI
    where the metric has one; sd: its CV sd), or with ``by_seed`` one per setting, runs that
    differ only in seed averaged (sd over the seeds; n in the label)."""
    done = table[table["status"] == "completed"]
    missing = pd.Series(np.nan, index=done.index)  # a column no run has (no CV, nothing published)
    bars = pd.DataFrame(
        {
            "value": done[metric],
            "sd": done.get(f"cv {metric} sd", missing),
            "low": done.get(f"{metric} ci_low", missing),
            "high": done.get(f"{metric} ci_high", missing),
            "published": done.get(f"published {metric}", missing),
            "majority": done.get("majority_rate", missing),
        }
    )
    if not by_seed:
        return bars.assign(label=run_labels(done)).sort_values("value", ascending=False, kind="stable")
    seeds = [c for c in ("seed", "seed (override)") if c in done]
    bars["setting"] = setting_labels(done.drop(columns=seeds))
    grouped = bars.groupby("setting", sort=False)
    per_setting = pd.DataFrame(
        {
            "value": grouped["value"].mean(),
            "sd": grouped["value"].std(ddof=1),
            "published": grouped["published"].mean(),
            "majority": grouped["majority"].max(),
            "n": grouped.size(),
        }
    )
    per_setting["label"] = [
        f"{setting} (n={n})" if setting else f"all {n} runs" for setting, n in zip(per_setting.index, per_setting["n"])
    ]
    return per_setting.reset_index(drop=True).sort_values("value", ascending=False, kind="stable")


def plot_comparison(table: pd.DataFrame, metric: str, path: Path, by_seed: bool = False) -> None:
    """Horizontal bars of ``metric`` (comparison_bars(): per run or per setting), error bars
    (a run's 95% CI, else its CV sd; the sd over seeds per setting), published values as
    marks, the majority-class rate for an accuracy."""
    bars = comparison_bars(table, metric, by_seed).iloc[::-1]  # barh draws bottom up: best on top
    labels = list(bars["label"])
    width = max(7.0, 4.0 + 0.08 * max(map(len, labels), default=0))  # ~0.08 inch a character of a label
    figure, axes = plt.subplots(figsize=(width, 0.4 * len(bars) + 1.8), layout="constrained")
    published = bars["published"].notna().any()
    with_ci = not by_seed and bars["low"].notna().any()
    error = (  # a point estimate may lie outside its percentile interval (an ECE's often does): no bar below 0
        np.vstack([(bars["value"] - bars["low"]).fillna(0), (bars["high"] - bars["value"]).fillna(0)]).clip(0)
        if with_ci
        else bars["sd"].fillna(0)
    )
    axes.barh(labels, bars["value"], xerr=error, capsize=3, color="tab:blue", label="reproduced" if published else None)
    if published:
        axes.scatter(bars["published"], labels, color="tab:red", marker="D", zorder=3, label="published")
    if metric.endswith("accuracy") and bars["majority"].notna().any():
        axes.axvline(bars["majority"].max(), color="gray", linestyle="--", label="majority rate")
    axes.set_xlabel(
        f"{metric}, mean ± sd over seeds" if by_seed else f"{metric} with its 95% CI" if with_ci else metric
    )
    axes.set_xlim(0, 1)
    if axes.get_legend_handles_labels()[0]:  # below the axes: inside, it hid the last bar's mark
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
        raise FungiclfError(f"--curve {key}: values are not all numbers")
    done["train accuracy"] = [best_epoch_value(Path(run), "accuracy") for run in done["run"]]
    others = done.drop(columns=[key]).drop(columns=[c for c in ("seed", "seed (override)") if c in done])
    done["setting"] = setting_labels(others)
    cv_mean, cv_sd = f"cv {metric} mean", f"cv {metric} sd"
    with_cv = cv_mean in done and done[cv_mean].notna().any()
    series = [
        (f"{metric} (CV mean ± sd)", done[cv_mean].fillna(done[metric]), done[cv_sd])
        if with_cv
        else (metric, done[metric], None),
        ("train accuracy", done["train accuracy"], None),
    ]
    parts = []
    for setting, rows in done.groupby("setting", sort=False):
        for name, values, fold_sd in series:
            values = values[rows.index]
            if values.isna().all():
                continue
            grouped = values.groupby(rows["x"])
            sd = fold_sd[rows.index].groupby(rows["x"]).mean() if fold_sd is not None else grouped.std()
            parts.append(
                pd.DataFrame(
                    {
                        "setting": setting,
                        "series": name,
                        "x": grouped.mean().index,
                        "mean": grouped.mean().to_numpy(),
                        "sd": sd.fillna(0).to_numpy(),
                    }
                )
            )
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
            axes.errorbar(
                curve["x"],
                curve["mean"],
                yerr=curve["sd"],
                marker="o",
                capsize=3,
                color=colours[index % len(colours)],
                linestyle="--" if train else "-",
                label=label,
            )
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
    if losses.min() > 0 and losses.max() > 10 * losses.min():  # one diverged run would flatten the rest
        loss.set_yscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
