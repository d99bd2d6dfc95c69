"""Collect run folders into one table: overrides that vary, main metrics with their
intervals, per-class recall, published numbers; seeds aggregated; two runs compared."""

import os
from pathlib import Path

import numpy as np
import pandas as pd

from fungiclf.errors import FungiclfError
from fungiclf.evaluation import HEADLINE_METRICS
from fungiclf.runs import PREDICTIONS, RunFolderError, dig, read_overrides, read_run
from fungiclf.evaluation.uncertainty import mcnemar_exact, paired_bootstrap

CI_METRICS = ["accuracy", "f1_macro", "roc_auc", "ece"]  # the metrics with bootstrap intervals (test.ci95)
BUILT_IN = ["run", "status", "model", "dataset"]
NEAR = 0.005  # a published accuracy within this of the majority rate counts as "at" it


def common_folder(runs: list[Path]) -> Path:
    """The deepest folder that holds every run: the sweep folder for the jobs of one sweep, the
    run itself for one run. Where a report is written unless told."""
    common = os.path.commonpath([os.path.abspath(run) for run in runs])
    relative = os.path.relpath(common)
    if any(run.is_absolute() for run in runs) or relative.startswith(".."):
        return Path(common)
    return Path(relative)  # as the user wrote the runs: relative to the current folder


def _overrides(run: Path) -> dict[str, str]:
    return dict(item.lstrip("+~").split("=", 1) for item in read_overrides(run) if "=" in item)


def class_columns(metrics: dict) -> dict[str, float | None]:
    """Per-class test recall: sensitivity / specificity and the false-negative rate for two
    classes, ``recall <class>`` otherwise."""
    test, classes = metrics.get("test") or {}, metrics.get("classes") or []
    if len(classes) == 2:
        return {
            "test.sensitivity": dig(test, "sensitivity") if "sensitivity" in test else dig(test, "recall_pos"),
            "test.specificity": dig(test, "specificity"),
            "test.false_negative_rate": dig(test, "false_negative_rate"),
        }
    return {f"recall {name}": dig(test, f"per_class.{name}.recall") for name in classes}


def _flags(metrics: dict) -> list[str]:
    """Published accuracies at the majority rate or below chance; a model no better than the
    majority; a tiny val split; a solver stopped at max_iter; a run off the published protocol."""
    flags = []
    majority, chance = dig(metrics, "baselines.majority_rate"), dig(metrics, "baselines.chance_rate")
    published = (metrics.get("published") or {}).get("test.accuracy")
    if published is not None:
        if chance is not None and published < chance:
            flags.append("published below chance")
        elif majority is not None and published <= majority + NEAR:
            flags.append("published at majority rate")
    accuracy = dig(metrics, "test.accuracy")
    if accuracy is not None and majority is not None and accuracy <= majority:
        flags.append("no better than majority")
    kinds = {w.get("kind") for w in metrics.get("warnings") or [] if isinstance(w, dict)}
    flags += [
        flag
        for kind, flag in (
            ("small_val", "small val"),
            ("convergence", "not converged"),
            ("protocol", "not the published protocol"),
        )
        if kind in kinds
    ]
    return flags


def run_row(run: Path, metrics: dict, sort_by: str) -> dict:
    """One row of the table: status, model, test metrics (+ intervals), majority rate,
    per-class recall, the ``sort_by`` key and its val / CV counterparts, published numbers."""
    row = {
        "run": str(run),
        "status": metrics.get("status"),
        "model": metrics.get("model"),
        "dataset": metrics.get("dataset"),
    }
    for name in HEADLINE_METRICS:
        row[f"test.{name}"] = dig(metrics, f"test.{name}")
        if name == "accuracy":
            row["majority_rate"] = dig(metrics, "baselines.majority_rate")
    for name in CI_METRICS:
        interval = ((metrics.get("test") or {}).get("ci95") or {}).get(name)
        row[f"test.{name} ci_low"], row[f"test.{name} ci_high"] = interval if interval else (None, None)
    row.update(class_columns(metrics))
    row[sort_by] = dig(metrics, sort_by)
    part, _, name = sort_by.partition(".")
    if part == "test" and name:
        row[f"val.{name}"] = dig(metrics, f"val.{name}")
    if part in ("test", "val") and name:
        row[f"cv {sort_by} mean"] = dig(metrics.get("cv") or {}, f"{part}_mean.{name}")
        row[f"cv {sort_by} sd"] = dig(metrics.get("cv") or {}, f"{part}_sd.{name}")
    row["train_seconds"] = dig(metrics, "timings.train_seconds")
    row["params"] = metrics.get("params")
    for key, published in (metrics.get("published") or {}).items():
        reproduced = dig(metrics, key)
        row[f"published {key}"] = published
        row[f"reproduced {key}"] = reproduced
        row[f"diff {key}"] = None if reproduced is None else reproduced - published
    row["flag"] = ", ".join(_flags(metrics))
    row["warnings"] = " | ".join(w["message"] if isinstance(w, dict) else str(w) for w in metrics.get("warnings") or [])
    row["error"] = metrics.get("error", "")
    return row


def collect(runs: list[Path], sort_by: str = "test.f1_macro") -> pd.DataFrame:
    """One row per run, with the overrides that vary between runs as columns.

    An override named like a built-in column (``model=cnn``, ``dataset=defungi``) is left
    out when it says the same as that column, and kept as ``<key> (override)`` otherwise.
    Completed runs come first, sorted by ``sort_by`` (any numeric metrics.json key);
    failed and incomplete runs last.
    """
    rows, overrides = [], []
    for run in runs:
        metrics = read_run(run)
        try:
            overrides.append(_overrides(run))
        except RunFolderError as exc:  # one unreadable folder costs its row, not the table
            overrides.append({})
            metrics = {"status": "unreadable", "error": str(exc)}
        rows.append(run_row(run, metrics, sort_by))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    keys = sorted({k for o in overrides for k in o})
    varying = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    position = 1
    for key in varying:
        values = [o.get(key, "") for o in overrides]
        if key in table.columns:
            if all(v == "" or str(v) == str(t) for v, t in zip(values, table[key])):
                continue  # model=cnn and the model column agree
            key = f"{key} (override)"
        table.insert(position, key, values)
        position += 1
    table["_failed"] = table["status"] != "completed"
    table = table.sort_values(["_failed", sort_by], ascending=[True, False], na_position="last").drop(columns="_failed")
    keep = [
        c
        for c in table.columns
        if c in BUILT_IN or c == sort_by or table[c].notna().any() and not (table[c].astype(str) == "").all()
    ]
    return table[keep].reset_index(drop=True)


def override_columns(table: pd.DataFrame) -> list[str]:
    """The columns collect() made from overrides (between the built-ins and the metrics)."""
    return [c for c in table.columns[: table.columns.get_loc("status")] if c != "run"]


def setting_labels(table: pd.DataFrame) -> list[str]:
    """What varies between the rows, per row (``model=cnn seed=1``, ``row=vgg16 seed=0``; a
    path by its last part, a key a run does not set left out); "" where nothing does."""
    overrides = override_columns(table)
    built_in = [] if "row" in overrides else ["model", "dataset"]  # a row names its model
    varying = [c for c in built_in + overrides if c in table and table[c].astype(str).nunique() > 1]
    return [
        " ".join(
            f"{c.removesuffix(' (override)')}={_short(row[c])}" for c in varying if not pd.isna(row[c]) and row[c] != ""
        )
        for _, row in table.iterrows()
    ]


def run_labels(table: pd.DataFrame) -> list[str]:
    """A short name per row for figure legends and axes: its setting_labels(), else the run
    folder's name; the folder name is added where two rows would read the same."""
    labels = [label or Path(run).name for label, run in zip(setting_labels(table), table["run"])]
    counts = pd.Series(labels).value_counts()
    return [
        f"{label} ({Path(run).name})" if counts[label] > 1 and label != Path(run).name else label
        for label, run in zip(labels, table["run"])
    ]


def _short(value) -> str:
    """A value as a figure label shows it: a path by its last part."""
    text = str(value)
    return Path(text).name if "/" in text else text


def aggregate_seeds(table: pd.DataFrame, sort_by: str = "test.f1_macro") -> pd.DataFrame:
    """Runs that differ only in ``seed`` as one row: mean and sd (sample) of every numeric
    column, and ``n``, best mean of ``sort_by`` first. Only completed runs are aggregated;
    others are dropped."""
    done = table[table["status"] == "completed"].fillna({"model": "", "dataset": ""})
    keys = [c for c in override_columns(table) if c not in ("seed", "seed (override)")] + ["model", "dataset"]
    numeric = [
        c
        for c in done.columns
        if c not in keys and pd.api.types.is_numeric_dtype(done[c]) and not c.endswith(("ci_low", "ci_high"))
    ]  # an interval of one run is not one of the mean
    rows = []
    for values, part in done.groupby(keys, dropna=False, sort=False):
        row = dict(zip(keys, values))
        row["n"] = len(part)
        for column in numeric:
            row[f"{column} mean"] = part[column].mean()
            row[f"{column} sd"] = part[column].std(ddof=1) if len(part) > 1 else None
        rows.append(row)
    grouped = pd.DataFrame(rows)
    if f"{sort_by} mean" in grouped:  # one lucky seed must not put a setting first
        grouped = grouped.sort_values(f"{sort_by} mean", ascending=False, na_position="last", kind="stable")
    return grouped.reset_index(drop=True)


def _present(value) -> bool:
    """A value to print: neither None nor NaN (pandas' and the csv's missing value)."""
    return value is not None and value == value


def _number(value) -> str:
    return f"{value:.4f}" if _present(value) else ""


def format_table(table: pd.DataFrame, fmt: str = "markdown") -> str:
    """The per-run table (display_table()) as Markdown (GitHub) or LaTeX (booktabs)."""
    return as_text(display_table(table), fmt)


def as_text(shown: pd.DataFrame, fmt: str = "markdown") -> str:
    """A shown table as Markdown (GitHub) or LaTeX (booktabs), each cell as written (the
    table's 4 decimals are kept: 1.0000 does not become 1)."""
    return shown.to_markdown(
        index=False, tablefmt="github" if fmt == "markdown" else "latex_booktabs", disable_numparse=True
    )


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The per-run table as it is shown (printed, Markdown, LaTeX, HTML): numbers to 4
    decimals, bootstrap intervals beside their metric as ``0.8120 (0.7900-0.8300)``, CV as
    ``mean ± sd`` and each published key as one ``0.8620 vs 0.8700 (-0.0080)`` column."""
    shown = table.drop(columns=[c for c in ("warnings",) if c in table])  # in summary.csv; "flag" names them
    for name in CI_METRICS:
        column, low, high = f"test.{name}", f"test.{name} ci_low", f"test.{name} ci_high"
        if column in shown and low in shown:
            shown[column] = [
                _number(v) + (f" ({lo:.4f}-{hi:.4f})" if _present(lo) else "")
                for v, lo, hi in zip(shown[column], shown[low], shown[high])
            ]
        shown = shown.drop(columns=[c for c in (low, high) if c in shown])
    for column in [c for c in shown.columns if c.startswith("cv ") and c.endswith(" mean")]:
        base, sd = column.removesuffix(" mean"), column.removesuffix(" mean") + " sd"
        shown[column] = [_mean_sd(base, m, s) for m, s in zip(shown[column], shown.get(sd, [None] * len(shown)))]
        shown = shown.drop(columns=[sd] if sd in shown else []).rename(columns={column: base})
    for key in published_keys(shown):
        shown = merge_published(
            shown,
            key,
            [_number(v) for v in shown[f"reproduced {key}"]],
            shown[f"published {key}"],
            shown[f"diff {key}"],
        )
    shown = _without_model_named_by_row(shown)
    if "params" in shown:
        shown["params"] = shown["params"].astype("Int64")
    if "train_seconds" in shown:
        shown["train_seconds"] = shown["train_seconds"].round(1)
    for column in shown.columns:
        if shown[column].dtype.kind == "f" and column != "train_seconds":
            shown[column] = [_number(value) for value in shown[column]]
    return shown


CLASS_COLUMNS = ("test.sensitivity", "test.specificity", "test.false_negative_rate")
ERROR_WIDTH = 100  # characters of a failed run's error in the compact table (summary.* keep it whole)


def compact(shown: pd.DataFrame, metric: str, per_class: bool = False) -> pd.DataFrame:
    """The columns of a shown table (display_table() or display_seed_table()) that fit a
    terminal: what varies, status / n, ``metric`` and accuracy with their intervals (or
    mean ± sd), the CV and published comparisons of ``metric``, flags and errors; with
    ``per_class`` the per-class recall too."""
    headline = {metric, "test.accuracy", f"cv {metric}"}
    first = list(shown.columns[: shown.columns.get_loc("status")]) if "status" in shown else []
    keep = [
        c
        for c in shown.columns
        if c in first
        or c in ("status", "model", "dataset", "n", "flag", "error")
        or c in headline
        or c.endswith(" vs published")
        or per_class
        and (c.startswith("recall ") or c in CLASS_COLUMNS)
    ]
    kept = shown[keep].copy()
    if "error" in kept:
        kept["error"] = [
            text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"
            for text in kept["error"].fillna("").astype(str)
        ]
    return kept


def runs_relative(table: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The run column as paths below ``folder`` (the report's), where they lie below it."""

    def shorter(run: str) -> str:
        relative = os.path.relpath(os.path.abspath(run), os.path.abspath(folder))
        return run if relative.startswith("..") else relative

    return table.assign(run=[shorter(run) for run in table["run"]])


def _without_model_named_by_row(shown: pd.DataFrame) -> pd.DataFrame:
    """A printed table without its model column where every run's ``row`` is named after its
    model (``row=logreg`` beside ``logreg``); summary.csv keeps both."""
    if "row" in shown and "model" in shown and (shown["row"].astype(str) == shown["model"].astype(str)).all():
        return shown.drop(columns="model")
    return shown


def published_keys(table: pd.DataFrame) -> list[str]:
    """The metrics.json keys that have published values (``published <key>`` columns, or their
    ``mean`` in the by-seed table)."""
    return [
        c.removeprefix("published ").removesuffix(" mean")
        for c in table.columns
        if c.startswith("published ") and not c.endswith(" sd")
    ]


def merge_published(shown: pd.DataFrame, key: str, ours: list[str], theirs, diff) -> pd.DataFrame:
    """summary.csv's three columns of a published key (published, reproduced, diff; with
    ``mean`` / ``sd`` in the by-seed table) as one printed ``<key> vs published`` column:
    ``0.8620 vs 0.8700 (-0.0080)``."""
    cells = [
        text + (f" vs {_number(p)} ({d:+.4f})" if text and _present(p) and _present(d) else "")
        for text, p, d in zip(ours, theirs, diff)
    ]
    dropped = [
        c
        for c in shown.columns
        if c.removesuffix(" mean").removesuffix(" sd") in (f"published {key}", f"reproduced {key}", f"diff {key}")
    ]
    at = shown.columns.get_loc(dropped[0])
    shown = shown.drop(columns=dropped)
    shown.insert(at, f"{key} vs published", cells)
    return shown


def _mean_sd(column: str, mean: float | None, sd: float | None) -> str:
    """One ``mean ± sd`` cell, to the precision format_table gives the column: a parameter
    count is one integer (it is the same for every seed), seconds have one decimal."""
    if column == "params":
        return f"{mean:.0f}" if _present(mean) else ""
    digits = 1 if column == "train_seconds" else 4
    if not _present(mean):
        return ""
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if _present(sd) else "")


def format_seed_table(table: pd.DataFrame, fmt: str = "markdown") -> str:
    """The by-seed table (display_seed_table()) as Markdown (GitHub) or LaTeX (booktabs)."""
    return as_text(display_seed_table(table), fmt)


def display_seed_table(table: pd.DataFrame) -> pd.DataFrame:
    """aggregate_seeds() output as shown, with ``mean ± sd`` cells. A CV metric shows the
    mean over seeds of its fold mean as ``cv <key>``; the mean of its fold sds stays in the csv."""
    shown = pd.DataFrame()
    for column in table.columns:
        base = column.removesuffix(" mean")
        if column.endswith(" sd") or (base.startswith("cv ") and base.endswith(" sd")):
            continue
        if column.endswith(" mean"):
            sd = table.get(f"{base} sd")
            cells = [_mean_sd(base, m, s) for m, s in zip(table[column], sd if sd is not None else [None] * len(table))]
            shown[base.removesuffix(" mean") if base.startswith("cv ") else base] = cells
        else:
            shown[column] = table[column]
    for key in published_keys(table):
        shown = merge_published(
            shown, key, list(shown[f"reproduced {key}"]), table[f"published {key} mean"], table[f"diff {key} mean"]
        )
    return _without_model_named_by_row(shown)


def compare_runs(run_a: Path, run_b: Path, seed: int = 0) -> dict:
    """Paired comparison of two runs on the same test split: B - A in accuracy and macro-F1
    with a paired bootstrap 95% interval (whole groups resampled when the split is grouped),
    and McNemar's exact test on per-image correctness.

    Raises FungiclfError when the runs' test splits differ (split_fingerprint or test ids).
    """
    metrics = []
    for run in (run_a, run_b):
        content = read_run(run)
        if content["status"] != "completed":
            reason = f": {content['error']}" if content["status"] == "unreadable" else ""
            raise FungiclfError(f"{run} is not a completed run (status {content['status']!r}){reason}")
        metrics.append(content)
    fingerprints = [m.get("split_fingerprint") for m in metrics]
    if fingerprints[0] != fingerprints[1]:
        raise FungiclfError(
            f"the runs were tested on different splits (split_fingerprint {fingerprints[0]} vs "
            f"{fingerprints[1]}): a paired comparison needs the same test images; use the same "
            f"dataset, seed and split settings"
        )
    if metrics[0]["classes"] != metrics[1]["classes"]:
        raise FungiclfError(f"the runs have different classes: {metrics[0]['classes']} vs {metrics[1]['classes']}")
    a, b = (
        pd.read_csv(run / PREDICTIONS, dtype={"id": str, "true": str, "predicted": str, "group": str})
        for run in (run_a, run_b)
    )
    joined = a.merge(b, on="id", suffixes=("_a", "_b"), validate="one_to_one")
    if len(joined) != len(a) or len(joined) != len(b) or (joined["true_a"] != joined["true_b"]).any():
        raise FungiclfError("the runs' predictions.csv hold different test images or labels; cannot pair them")
    classes = [str(c) for c in metrics[0]["classes"]]
    index = {name: i for i, name in enumerate(classes)}
    y_true = joined["true_a"].map(index).to_numpy()
    pred_a, pred_b = joined["predicted_a"].map(index).to_numpy(), joined["predicted_b"].map(index).to_numpy()
    groups = joined["group_a"].to_numpy() if "group_a" in joined else None
    result = paired_bootstrap(y_true, pred_a, pred_b, len(classes), groups, seed)
    result["mcnemar"] = mcnemar_exact(pred_a == y_true, pred_b == y_true)
    result.update(
        n_test=int(len(joined)),
        split_fingerprint=fingerprints[0],
        run_a=str(run_a),
        run_b=str(run_b),
        n_groups=None if groups is None else int(len(set(groups))),
        model_a=metrics[0].get("model"),
        model_b=metrics[1].get("model"),
        accuracy_a=float(np.mean(pred_a == y_true)),
        accuracy_b=float(np.mean(pred_b == y_true)),
        f1_macro_a=dig(metrics[0], "test.f1_macro"),
        f1_macro_b=dig(metrics[1], "test.f1_macro"),
    )
    return result


def format_comparison(result: dict) -> str:
    """compare_runs() as a short Markdown table and the McNemar line."""
    unit = f"its {result['n_groups']} groups" if result["unit"] == "group" else "images"  # photographs, patients
    lines = [
        f"A: {result['run_a']} ({result['model_a']})",
        f"B: {result['run_b']} ({result['model_b']})",
        f"same test split: {result['n_test']} images (split_fingerprint {result['split_fingerprint']}); "
        f"paired bootstrap over {unit}, {result['resamples']} resamples, stratified by class",
        "",
        "| metric | A | B | B - A | 95% CI of B - A |",
        "|---|---|---|---|---|",
    ]
    for key, name in (("accuracy", "accuracy"), ("f1_macro", "macro-F1")):
        low, high = result[key]["ci95"]
        lines.append(
            f"| {name} | {result[f'{key}_a']:.4f} | {result[f'{key}_b']:.4f} | "
            f"{result[key]['difference']:+.4f} | {low:+.4f} to {high:+.4f} |"
        )
    m = result["mcnemar"]
    lines += [
        "",
        f"McNemar's exact test: A right and B wrong on {m['a_only']} images, A wrong and B right on "
        f"{m['b_only']}; p = {m['p_value']:.4g}",
    ]
    return "\n".join(lines)


def best_command(table: pd.DataFrame, select_by: str) -> str:
    """fungiclf-train command for the setting best on ``select_by`` (a val metric): its run's
    own overrides, then the full training set and 3-fold CV. Runs that differ only in
    ``seed`` are one setting, chosen by their mean, and the command leaves the seed out, as it
    leaves out ``hparams_search`` (a search's trials are retrained as one run)."""
    done = table[table["status"] == "completed"].copy()
    done["_value"] = [dig(read_run(Path(run)), select_by) for run in done["run"]]
    done["_value"] = done["_value"].astype(float)
    if done["_value"].isna().all():
        raise FungiclfError(f"no completed run has {select_by}")
    seeds = [c for c in override_columns(table) if c in ("seed", "seed (override)")]
    setting = [c for c in override_columns(table) if c not in seeds] + ["model", "dataset"]
    done["_mean"] = done.fillna({c: "" for c in setting}).groupby(setting, dropna=False)["_value"].transform("mean")
    best = done.loc[done["_mean"].idxmax()]
    dropped = ("dataset.fraction=", "cv.folds=", "hparams_search=") + (("seed=", "+seed=", "++seed=") if seeds else ())
    overrides = [o for o in read_overrides(Path(best["run"])) if not o.startswith(dropped)]
    return " ".join(["fungiclf-train", *overrides, "dataset.fraction=1.0", "cv.folds=3"])
