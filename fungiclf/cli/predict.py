"""fungiclf-predict: apply a finished run's model to new images.

    fungiclf-predict outputs/2026-11-24/10-00-00 slide1.jpg more/ 'batch_*/*.png'
    fungiclf-predict outputs/multirun/2026-11-24/10-00-00 --best val.f1_macro new/ --top-k 2
    fungiclf-predict RUN new/ --tta --out results.csv      # average over the eight dihedral views
    fungiclf-predict RUN other_hospital/ --labels           # class folders: metrics of the run on them
    fungiclf-predict RUN images/ --features features.npz    # also what the classifier reads, per image
    fungiclf-predict RUN breastmnist.npz --split test --labels   # an npz's arrays, with their own labels

The run's own preprocessing (size, colour, denoising, CLAHE), decision threshold and
test-time views are read from its folder. Writes predictions.csv (path, predicted, p_<class>
per class, and with --top-k the k most likely classes) and prints the first rows. With
--labels, each image's class is the nearest folder above it named after a class of the run
(an npz row's: its own label, by the name its MedMNIST set gives it):
the table gains a "true" column, and <out>_metrics.json (metrics.json's test block, with
bootstrap intervals) and <out>_confusion.png are written and the metrics printed. With
--features FILE, FILE.npz holds ``paths`` (N,), ``features`` (N, D) float32: the classifier's
input (the penultimate layer), averaged over the same views, and ``predicted`` (N,) class
names (and ``true`` with --labels), for embedding plots or another model on top.
Exit status: 0 when every image was predicted, 3 when some could not be read (they are
listed and skipped), 1 on an error (nothing written).
"""

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fungiclf.cli import SOME_SKIPPED, run_image_command
from fungiclf.data.views import TTA_VIEWS, usable_views
from fungiclf.errors import FungiclfError
from fungiclf.evaluation.metrics import as_two_columns, predict_labels
from fungiclf.evaluation.plots import plot_confusion
from fungiclf.evaluation.summary import summary_lines
from fungiclf.inference.external import external_record, folder_labels, seen_by_run, seen_warning
from fungiclf.inference.images import ImageBatch, load_inputs
from fungiclf.inference.run import load_run, pick_run, predict_views
from fungiclf.progress import progress_bar
from fungiclf.runs import check_output, json_text, write_output

log = logging.getLogger("fungiclf.predict")


def prediction_table(
    paths: list[Path], proba: np.ndarray, predicted: np.ndarray, classes: list[str], top_k: int
) -> pd.DataFrame:
    """predictions.csv: path, predicted, p_<class> per class, then top<i> / p_top<i> for i <= top_k."""
    table = pd.DataFrame({"path": [str(p) for p in paths], "predicted": np.array(classes)[predicted]})
    for k, name in enumerate(classes):
        table[f"p_{name}"] = proba[:, k]
    order = np.argsort(-proba, axis=1, kind="stable")
    for i in range(min(top_k, len(classes))):
        table[f"top{i + 1}"] = np.array(classes)[order[:, i]]
        table[f"p_top{i + 1}"] = proba[np.arange(len(proba)), order[:, i]]
    return table


def true_labels(images: ImageBatch, classes: list[str]) -> np.ndarray:
    """(N,) class index of each image: an npz row's own label (by name), a file's class folder."""
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({name for name in images.labels if name is not None and name not in index})
    if unknown:
        raise FungiclfError(f"--labels: the npz labels {unknown} are not classes of the run ({', '.join(classes)})")
    files = [path for path, name in zip(images.paths, images.labels) if name is None]
    from_folders = iter(folder_labels(files, classes) if files else [])
    return np.array([index[name] if name is not None else next(from_folders) for name in images.labels], np.int64)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fungiclf-predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder, or a sweep folder with --best")
    parser.add_argument(
        "images",
        nargs="+",
        help="image files, folders (searched recursively), quoted globs or .npz files (MedMNIST layout)",
    )
    parser.add_argument(
        "--split",
        choices=["train", "val", "test"],
        help="of an .npz, only these arrays (default: all; rows are named FILE.npz:test/17)",
    )
    parser.add_argument(
        "--best",
        metavar="METRIC",
        help="in a sweep folder, use the completed run with the highest "
        "value of this metrics.json key (e.g. val.f1_macro)",
    )
    parser.add_argument(
        "--tta",
        nargs="?",
        const="dihedral",
        choices=sorted(TTA_VIEWS),
        help="average over test-time views (alone: the eight dihedral views; default: the run's own)",
    )
    parser.add_argument("--top-k", type=int, default=0, help="also list the k most likely classes per image")
    parser.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    parser.add_argument("--out", default="predictions.csv", help="where to write the table (default: %(default)s)")
    parser.add_argument(
        "--labels",
        action="store_true",
        help="the images sit in folders named after the run's classes: also measure the run on them",
    )
    parser.add_argument(
        "--features", metavar="FILE", help="also write each image's features (the classifier's input) to this .npz file"
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load a scikit-learn run's model.joblib (a pickle: it runs code as it loads; only for "
        "folders you made or trust)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    folder = pick_run(Path(args.run), args.best)
    loaded = load_run(folder, trust_pickle=args.trust_pickle)
    images, paths = load_inputs(args.images, loaded.pixels, args.split)
    for path, reason in images.skipped:
        print(f"fungiclf-predict: skipped {path}: {reason}", file=sys.stderr)
    if not images.paths:
        raise FungiclfError(f"none of {' '.join(args.images)} could be read as an image")
    y_true = true_labels(images, loaded.classes) if args.labels else None
    seen = seen_by_run(images.paths, images.file_digests, folder)
    if seen and y_true is None:  # with --labels the summary's warnings say it
        print(f"fungiclf-predict: warning: {seen_warning(seen, len(images.paths))['message']}", file=sys.stderr)
    height, width = loaded.pixels.size
    views = usable_views(args.tta or loaded.tta, height, width)
    with progress_bar(
        total=len(images.paths) * len(views), at_least=500, desc="predict", unit="img", leave=False
    ) as bar:
        raw = loaded.calibrated(
            predict_views(loaded.outputs, images.pixels, views, max(1, args.batch_size), bar.update)
        )
    features = predict_views(loaded.features, images.pixels, views, max(1, args.batch_size)) if args.features else None
    proba = as_two_columns(raw)
    table = prediction_table(images.paths, proba, predict_labels(raw, loaded.threshold), loaded.classes, args.top_k)
    out = Path(args.out)
    inputs = [*images.paths, *paths]
    outputs = (
        [out]
        + (
            [out.with_name(f"{out.stem}_metrics.json"), out.with_name(f"{out.stem}_confusion.png")]
            if y_true is not None
            else []
        )
        + ([Path(args.features)] if args.features else [])
    )
    for output in outputs:  # every refusal before any file is written
        check_output(output, inputs)
    if y_true is not None:
        table.insert(1, "true", np.array(loaded.classes)[y_true])
        record = external_record(y_true, raw, loaded.threshold, loaded.classes, loaded.name, seen=seen)
        text = json_text({"run": str(folder), **record})
        write_output(outputs[1], lambda tmp: Path(tmp).write_text(text), inputs)
        write_output(
            outputs[2],
            lambda tmp: plot_confusion(
                np.array(record["test"]["confusion_matrix"]), loaded.classes, tmp, title="labelled images"
            ),
            inputs,
        )
    if features is not None:
        arrays = {
            "paths": table["path"].to_numpy(str),
            "features": features.astype(np.float32),
            "predicted": table["predicted"].to_numpy(str),
        }
        if y_true is not None:
            arrays["true"] = table["true"].to_numpy(str)
        write_output(Path(args.features), lambda tmp: _save_npz(tmp, arrays), inputs)
    write_output(out, lambda tmp: table.to_csv(tmp, index=False), inputs)
    top = [column for column in table.columns if column.startswith(("top", "p_top"))]
    shown = table[["path", "predicted"]].assign(probability=proba.max(1).round(4), **table[top].round(4))
    print(shown.head(20).to_markdown(index=False))
    more = f" (first 20 of {len(table)})" if len(table) > 20 else ""
    features_note = f" and {args.features}" if args.features else ""
    print(
        f"{len(table)} images predicted by {folder}{more}; {len(images.skipped)} skipped; views: {len(views)}; "
        f"written to {out}{features_note}"
    )
    if y_true is not None:
        print("\n".join(summary_lines(record, "labels from class folders or the npz")))
    return SOME_SKIPPED if images.skipped else 0


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez through an open file, so that its name is kept as given (savez appends .npz
    to a name) and a named pipe can take it."""
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def main(argv: list[str] | None = None) -> None:
    """Console script: one-line errors, exit status 0 / 3 (some images skipped) / 1."""
    run_image_command("fungiclf-predict", parser(), run, argv)


if __name__ == "__main__":
    main()
