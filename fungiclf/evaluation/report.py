"""Collect run folders into one table: overrides that vary, main metrics, published numbers."""

import json
import math
from pathlib import Path

import pandas as pd
import yaml

METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted", "roc_auc"]
NEAR = 0.005  # a published accuracy within this of the majority rate counts as "at" it


def find_runs(paths: list[str]) -> list[Path]:
    """Run folders (holding metrics.json) under each path or glob; CV fold folders excluded."""
    runs: set[Path] = set()
    for pattern in paths:
        matches = sorted(Path().glob(pattern)) if any(c in pattern for c in "*?[") else [Path(pattern)]
        for root in matches:
            found = [root / "metrics.json"] if (root / "metrics.json").is_file() else root.rglob("metrics.json")
            runs |= {f.parent for f in found if "cv" not in f.parent.relative_to(root).parts[:-1]}
    return sorted(runs)


def run_overrides(run: Path) -> list[str]:
    """The command-line overrides of a run (``.hydra/overrides.yaml``), as given."""
    file = run / ".hydra" / "overrides.yaml"
    return list(yaml.safe_load(file.read_text()) or []) if file.is_file() else []


def _overrides(run: Path) -> dict[str, str]:
    return dict(item.lstrip("+~").split("=", 1) for item in run_overrides(run) if "=" in item)


def dig(metrics: dict, key: str) -> float | None:
    """metrics["test"]["f1_macro"] for key "test.f1_macro"; None when absent."""
    value = metrics
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def collect(runs: list[Path], sort_by: str = "test.f1_macro") -> pd.DataFrame:
    """One row per run: run, varying overrides, status, metrics, CV sd, published vs reproduced.

    Published rows also get ``flag``: "at majority rate" or "below chance" when the
    published accuracy is no better than always answering the largest test class, or
    worse than 1 / classes.
    """
    rows, overrides = [], []
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        overrides.append(_overrides(run))
        row = {"run": str(run), "status": metrics.get("status"),
               "model": metrics.get("model"), "dataset": metrics.get("dataset")}
        for name in METRICS:
            row[f"test.{name}"] = dig(metrics, f"test.{name}")
        row[f"val.{sort_by.split('.', 1)[-1]}"] = dig(metrics, f"val.{sort_by.split('.', 1)[-1]}")
        cv = metrics.get("cv") or {}
        part, name = sort_by.split(".", 1)
        row[f"cv {sort_by} mean"] = dig(cv, f"{part}_mean.{name}")
        row[f"cv {sort_by} sd"] = dig(cv, f"{part}_sd.{name}")
        row["train_seconds"] = dig(metrics, "timings.train_seconds")
        row["params"] = metrics.get("params")
        row["majority_rate"] = dig(metrics, "baselines.majority_rate")
        flags = []
        for key, published in (metrics.get("published") or {}).items():
            reproduced = dig(metrics, key)
            row[f"published {key}"] = published
            row[f"reproduced {key}"] = reproduced
            row[f"diff {key}"] = None if reproduced is None else reproduced - published
            if key == "test.accuracy":
                majority, chance = dig(metrics, "baselines.majority_rate"), dig(metrics, "baselines.chance_rate")
                if chance is not None and published < chance:
                    flags.append("below chance")
                elif majority is not None and published <= majority + NEAR:
                    flags.append("at majority rate")
        row["flag"] = ", ".join(flags)
        row["error"] = metrics.get("error", "")
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    keys = sorted({k for o in overrides for k in o})
    varying = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    for position, key in enumerate(varying):
        table.insert(1 + position, key, [o.get(key, "") for o in overrides])
    table["_failed"] = table["status"] != "completed"
    order = sort_by if sort_by in table else f"test.{sort_by}"
    table = table.sort_values(["_failed", order], ascending=[True, False], na_position="last").drop(columns="_failed")
    return table.dropna(axis=1, how="all").reset_index(drop=True)


def format_table(table: pd.DataFrame, fmt: str = "markdown") -> str:
    """The table as Markdown (GitHub) or LaTeX (booktabs), numbers to 4 decimals."""
    shown = table.copy()
    if "params" in shown:
        shown["params"] = shown["params"].astype("Int64")
    if "train_seconds" in shown:
        shown["train_seconds"] = shown["train_seconds"].round(1)
    for column in shown.columns:
        if shown[column].dtype.kind == "f" and column != "train_seconds":
            shown[column] = [("" if value is None or (isinstance(value, float) and math.isnan(value))
                              else f"{value:.4f}") for value in shown[column]]
    return shown.to_markdown(index=False, tablefmt="github" if fmt == "markdown" else "latex_booktabs")
