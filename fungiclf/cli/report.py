"""fungiclf-report: one table from many run folders.

    fungiclf-report outputs/multirun/2026-11-23/10-00-00
    fungiclf-report 'outputs/multirun/*/*' --metric test.accuracy --out results/
    fungiclf-report SWEEP --format latex
    fungiclf-report SWEEP --best            # the command that retrains the best setting with 3-fold CV

Writes summary.csv, summary.md (or summary.tex) and comparison.png into --out (default:
the first PATH) and prints the table. Failed runs stay in the table with their error.
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)
import pandas as pd  # noqa: E402

from fungiclf.evaluation.report import collect, find_runs, format_table, run_overrides  # noqa: E402


def plot_comparison(table: pd.DataFrame, metric: str, path: Path) -> None:
    """Horizontal bars of ``metric`` per run, CV sd as error bars, published values as marks."""
    done = table[table["status"] == "completed"].iloc[::-1]
    labels = [str(r) if isinstance(r, str) and r else Path(run).name for r, run in
              zip(done.get("row", pd.Series([None] * len(done))), done["run"])]
    figure, axes = plt.subplots(figsize=(7, 0.4 * len(done) + 1.5))
    sd = done.get(f"cv {metric} sd")
    axes.barh(labels, done[metric], xerr=None if sd is None else sd.fillna(0), color="tab:blue", label="reproduced")
    if f"published {metric}" in done:
        axes.scatter(done[f"published {metric}"], labels, color="tab:red", marker="D", zorder=3, label="published")
    if "majority_rate" in done and metric.endswith("accuracy"):
        axes.axvline(done["majority_rate"].max(), color="gray", linestyle="--", label="majority rate")
    axes.set_xlabel(metric)
    axes.set_xlim(0, 1)
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def best_command(table: pd.DataFrame, select_by: str) -> str:
    """fungiclf-train command for the completed run best on ``select_by`` (a val metric):
    that run's own overrides, then the full training set and 3-fold CV."""
    done = table[table["status"] == "completed"]
    if select_by not in done or done[select_by].isna().all():
        raise SystemExit(f"fungiclf-report: error: no completed run has {select_by}")
    best = done.loc[done[select_by].idxmax()]
    overrides = [o for o in run_overrides(Path(best["run"])) if not o.startswith(("dataset.fraction=", "cv.folds="))]
    return " ".join(["fungiclf-train", *overrides, "dataset.fraction=1.0", "cv.folds=3"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fungiclf-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="multirun folders, run folders or globs")
    parser.add_argument("--metric", default="test.f1_macro", help="sort and plot by this metrics.json key")
    parser.add_argument("--format", choices=["markdown", "latex"], default="markdown")
    parser.add_argument("--out", help="folder for summary.* and comparison.png (default: the first path)")
    parser.add_argument("--best", action="store_true",
                        help="print the command that retrains the run best on val (--select) with 3-fold CV")
    parser.add_argument("--select", default="val.f1_macro", help="validation metric --best chooses by")
    args = parser.parse_args(argv)
    runs = find_runs(args.paths)
    if not runs:
        print(f"fungiclf-report: error: no metrics.json under {' '.join(args.paths)}", file=sys.stderr)
        sys.exit(1)
    table = collect(runs, args.metric)
    out = Path(args.out or args.paths[0])
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "summary.csv", index=False)
    text = format_table(table, args.format)
    (out / ("summary.md" if args.format == "markdown" else "summary.tex")).write_text(text + "\n")
    if args.metric in table and table[args.metric].notna().any():
        plot_comparison(table, args.metric, out / "comparison.png")
    print(text)
    failed = int((table["status"] != "completed").sum())
    print(f"\n{len(table)} runs, {failed} failed; written to {out}", file=sys.stderr)
    if args.best:
        print(best_command(table, args.select))


if __name__ == "__main__":
    main()
