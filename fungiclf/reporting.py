"""What fungiclf-report does, from a request to the files it writes and the text it prints:
the summary tables, the figures, the HTML page and the paired comparison."""

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fungiclf.errors import FungiclfError
from fungiclf.evaluation.html_page import GalleryItem, render_page, worst_errors
from fungiclf.evaluation.report import (
    BUILT_IN,
    aggregate_seeds,
    as_text,
    best_command,
    collect,
    common_folder,
    compact,
    compare_runs,
    display_seed_table,
    display_table,
    format_comparison,
    format_seed_table,
    format_table,
    override_columns,
    runs_relative,
)
from fungiclf.evaluation.report_figures import plot_comparison, plot_histories, plot_learning_curve
from fungiclf.runs import METRICS, PREDICTIONS, find_runs, json_text, write_output, write_text

HTML_PAGE = "report.html"
METRIC_EXAMPLES = "e.g. test.accuracy, test.f1_macro, test.roc_auc, val.f1_macro, cv.val_mean.f1_macro"


@dataclass(frozen=True)
class ReportRequest:
    """fungiclf-report's options (its --help says what each does)."""

    paths: tuple[str, ...] = ()
    metric: str = "test.f1_macro"
    fmt: str = "markdown"
    out: str | None = None
    by_seed: bool | None = None
    best: bool = False
    select: str = "val.f1_macro"
    curve: str | None = None
    history: bool = False
    compare: tuple[str, str] | None = None
    wide: bool = False
    per_class: bool = False
    html: bool = False
    gallery: int = 12
    gradcam: bool = False


def report(request: ReportRequest) -> None:
    """Write the report's files and print its table (stdout) and where it went (stderr).

    Raises FungiclfError for a request that cannot be answered (no runs, a metric no run
    has, runs that cannot be paired) and OSError for an --out that cannot be written.
    """
    if request.compare and not request.paths:
        print_comparison(request)
        return
    if not request.paths:
        raise FungiclfError("give run or sweep folders (or --compare RUN_A RUN_B)")
    if request.metric in BUILT_IN:
        raise FungiclfError(
            f"--metric {request.metric}: a column of the table, not a numeric metrics.json key (e.g. test.accuracy)"
        )
    runs = find_runs(list(request.paths))
    if not runs:
        raise FungiclfError(f"no metrics.json under {' '.join(request.paths)}")
    table = collect(runs, request.metric)
    completed = table[table["status"] == "completed"]
    if len(completed) and completed[request.metric].isna().all():  # a misspelt key would sort by nothing
        raise FungiclfError(
            f"--metric {request.metric}: no completed run has this numeric metrics.json key ({METRIC_EXAMPLES})"
        )
    if request.curve and request.curve not in table:
        raise FungiclfError(f"--curve {request.curve}: no run varies it")
    comparisons = [compare_runs(Path(request.compare[0]), Path(request.compare[1]))] if request.compare else []
    out = Path(request.out) if request.out else common_folder(runs)
    write_output(out / "summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    text = format_table(table, request.fmt)
    write_output(
        out / ("summary.md" if request.fmt == "markdown" else "summary.tex"),
        lambda tmp: Path(tmp).write_text(text + "\n"),
    )
    seeds = [c for c in override_columns(table) if c in ("seed", "seed (override)")]
    by_seed = bool(seeds) if request.by_seed is None else request.by_seed
    grouped = aggregate_seeds(table, request.metric) if by_seed else None
    if grouped is not None:
        write_output(out / "summary_by_seed.csv", lambda tmp: grouped.to_csv(tmp, index=False))
        seed_text = format_seed_table(grouped, request.fmt)
        name = "summary_by_seed.md" if request.fmt == "markdown" else "summary_by_seed.tex"
        write_output(out / name, lambda tmp: Path(tmp).write_text(seed_text + "\n"))
    comparison = None
    if request.metric in table and table[request.metric].notna().any():
        comparison = write_output(
            out / "comparison.png", lambda tmp: plot_comparison(table, request.metric, tmp, by_seed)
        )
    if request.curve:
        write_output(out / "curve.png", lambda tmp: plot_learning_curve(table, request.curve, request.metric, tmp))
    if request.history:
        write_output(out / "history.png", lambda tmp: plot_histories(table, tmp))
    if request.html:
        page = html_report(request, table, grouped, comparison, comparisons, out)
        write_output(out / HTML_PAGE, lambda tmp: write_text(Path(tmp), page))
    shown = display_seed_table(grouped) if by_seed else display_table(runs_relative(table, out))
    if not request.wide:
        shown = compact(shown, request.metric, request.per_class)
    print(as_text(shown, request.fmt))
    others = table.loc[table["status"] != "completed", "status"].value_counts()
    print(
        f"\n{len(table)} runs, {len(table) - int(others.sum())} completed"
        + "".join(f", {count} {status}" for status, count in others.items())
        + f"; written to {out}"
        + (" (mean ± sd over seeds: summary_by_seed.*; per run: summary.*)" if by_seed else "")
        + ("" if request.wide else "; every column: --wide or summary.*")
        + (f"; the page: {out / HTML_PAGE}" if request.html else ""),
        file=sys.stderr,
    )
    for result in comparisons:
        print("\n" + format_comparison(result))
    if request.best:
        print(best_command(table, request.select))


def print_comparison(request: ReportRequest) -> None:
    """--compare RUN_A RUN_B alone: the paired comparison, printed (and compare.json with --out)."""
    result = compare_runs(Path(request.compare[0]), Path(request.compare[1]))
    if request.out:
        inputs = [Path(run) / name for run in request.compare for name in (METRICS, PREDICTIONS)]
        write_output(Path(request.out) / "compare.json", lambda tmp: Path(tmp).write_text(json_text(result)), inputs)
    print(format_comparison(result))


def html_report(
    request: ReportRequest,
    table: pd.DataFrame,
    grouped: pd.DataFrame | None,
    comparison: Path | None,
    comparisons: list[dict],
    out: Path,
) -> str:
    """report.html's text: the tables, figures, the --compare pair and the best run's errors
    (with Grad-CAM overlays when asked: the only part that loads Keras)."""
    done = table[table["status"] == "completed"]
    best = Path(done["run"].iloc[0]) if len(done) else None
    gallery = worst_errors(best, request.gallery) if best is not None else []
    note = ""
    if request.gradcam and gallery:
        note = add_gradcam(best, gallery)
    return render_page(
        str(out),
        out,
        table,
        request.metric,
        grouped,
        comparison.read_bytes() if comparison is not None else None,
        comparisons,
        best,
        gallery,
        note,
    )


def add_gradcam(run: Path, gallery: list[GalleryItem]) -> str:
    """Give each gallery item its Grad-CAM overlay; the sentence the page says about them."""
    from fungiclf.inference.error_maps import error_overlays  # Keras: only on request

    try:
        overlays = error_overlays(run, [item.file for item in gallery], [item.predicted for item in gallery])
    except FungiclfError as exc:
        return f"No Grad-CAM: {exc}."
    for item, picture in zip(gallery, overlays):
        item.overlay = picture
    shown = sum(picture is not None for picture in overlays)
    return (
        f"Right of each image: Grad-CAM of the predicted class (where the model saw it); "
        f"{shown} of {len(gallery)} images have one (only image files can be explained)."
    )
