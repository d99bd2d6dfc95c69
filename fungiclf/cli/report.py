"""fungiclf-report: one table from many run folders.

    fungiclf-report outputs/multirun/2026-11-23/10-00-00
    fungiclf-report 'outputs/multirun/*/*' --metric test.accuracy --out results/
    fungiclf-report SWEEP --html            # report.html: one self-contained page of the sweep
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

from fungiclf.cli import stop_on_closed_pipe
from fungiclf.errors import FungiclfError
from fungiclf.reporting import HTML_PAGE, ReportRequest, report


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fungiclf-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="multirun folders, run folders or globs")
    parser.add_argument("--metric", default="test.f1_macro", help="sort and plot by this metrics.json key")
    parser.add_argument("--format", choices=["markdown", "latex"], default="markdown")
    parser.add_argument(
        "--out", help="folder for summary.* and comparison.png (default: the deepest folder that holds every run)"
    )
    parser.add_argument(
        "--by-seed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="group runs that differ only in seed: mean ± sd and n (default: on when seeds vary)",
    )
    parser.add_argument(
        "--best",
        action="store_true",
        help="print the command that retrains the run best on val (--select) with 3-fold CV",
    )
    parser.add_argument("--select", default="val.f1_macro", help="validation metric --best chooses by")
    parser.add_argument(
        "--curve",
        metavar="KEY",
        help="learning curve: --metric against this numeric override (e.g. dataset.fraction), written to curve.png",
    )
    parser.add_argument(
        "--history", action="store_true", help="overlay the runs' per-epoch validation curves in history.png"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        help="paired comparison of two runs on the same test split (with folders and --html: shown on the page)",
    )
    parser.add_argument(
        "--wide",
        action="store_true",
        help="print every column (as summary.md); the default prints what fits a terminal",
    )
    parser.add_argument("--per-class", action="store_true", help="print the per-class recall columns too")
    parser.add_argument(
        "--html",
        action="store_true",
        help=f"also write {HTML_PAGE}: the tables, figures, each run's confusion matrix and curves "
        f"and the best run's worst errors, in one offline page",
    )
    parser.add_argument(
        "--gallery",
        type=int,
        default=12,
        metavar="N",
        help="--html: how many of the best run's most confident errors to show (default: %(default)s)",
    )
    parser.add_argument(
        "--gradcam",
        action="store_true",
        help="--html: lay Grad-CAM over the errors' images (loads the best run's Keras model)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    request = ReportRequest(
        paths=tuple(args.paths),
        metric=args.metric,
        fmt=args.format,
        out=args.out,
        by_seed=args.by_seed,
        best=args.best,
        select=args.select,
        curve=args.curve,
        history=args.history,
        compare=tuple(args.compare) if args.compare else None,
        wide=args.wide,
        per_class=args.per_class,
        html=args.html,
        gallery=args.gallery,
        gradcam=args.gradcam,
    )
    try:
        report(request)
    except BrokenPipeError:
        stop_on_closed_pipe()
    except (OSError, FungiclfError) as exc:  # an --out that cannot be written, or is refused
        print(f"fungiclf-report: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("fungiclf-report: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
