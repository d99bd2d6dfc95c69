"""fungiclf-explain: Grad-CAM heat maps of a finished run's Keras model on images.

    fungiclf-explain outputs/2026-11-24/10-00-00 slide1.jpg more/ --out gradcam/
    fungiclf-explain RUN image.png --layer block2_conv1      # another layer than the last convolution

For each image, a PNG with the input and the heat map of the predicted class side by side,
the class and its probability in the title. The last convolutional layer is found
automatically (for a Keras Applications model: the backbone's output); --layer overrides
it. Works on every Keras backend. Models without convolutions (ann, linear, scikit-learn
runs) are refused in one line. Exit status as fungiclf-predict: 0, 3 (some images
skipped), 1 (error).
"""

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from fungiclf.cli import SOME_SKIPPED, run_image_command
from fungiclf.errors import FungiclfError
from fungiclf.evaluation.metrics import as_two_columns, predict_labels
from fungiclf.evaluation.plots import plot_gradcam
from fungiclf.inference.gradcam import cam_model, grad_cam
from fungiclf.inference.images import load_inputs
from fungiclf.inference.run import load_run, pick_run
from fungiclf.runs import check_output, write_output


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fungiclf-explain", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder, or a sweep folder with --best")
    parser.add_argument(
        "images",
        nargs="+",
        help="image files, folders (searched recursively), quoted globs or .npz files (MedMNIST layout)",
    )
    parser.add_argument("--split", choices=["train", "val", "test"], help="of an .npz, only these arrays")
    parser.add_argument("--best", metavar="METRIC", help="in a sweep folder, the completed run best on this key")
    parser.add_argument("--layer", help="the layer to explain (default: the last convolution)")
    parser.add_argument("--out", default="gradcam", help="folder for the PNGs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per pass")
    return parser


def run(args: argparse.Namespace) -> int:
    folder = pick_run(Path(args.run), args.best)
    loaded = load_run(folder)
    if loaded.model is None:
        raise FungiclfError(f"{folder} holds a scikit-learn model: Grad-CAM needs a Keras network with convolutions")
    cam = cam_model(loaded.model, args.layer)
    images, _ = load_inputs(args.images, loaded.pixels, args.split, keep_originals=True)
    for path, reason in images.skipped:
        print(f"fungiclf-explain: skipped {path}: {reason}", file=sys.stderr)
    if not images.paths:
        raise FungiclfError(f"none of {' '.join(args.images)} could be read as an image")
    out = Path(args.out)
    targets = [out / f"{name}_gradcam.png" for name in output_names(images.paths)]
    for target in targets:  # every refusal before any file is written
        check_output(target, images.paths)
    written = 0
    for start in range(0, len(images.paths), max(1, args.batch_size)):
        batch = images.pixels[start : start + args.batch_size]
        raw = loaded.calibrated(loaded.outputs(batch))
        predicted, proba = predict_labels(raw, loaded.threshold), as_two_columns(raw)
        heat = grad_cam(cam, batch, predicted)
        for i, path in enumerate(images.paths[start : start + args.batch_size]):
            name, p = loaded.classes[predicted[i]], proba[i, predicted[i]]
            title = f"{path.name}: predicted {name} (p={p:.3f})"
            write_output(
                targets[start + i],
                lambda tmp: plot_gradcam(images.originals[start + i], heat[i], title, tmp),
                images.paths,
            )
            written += 1
    plural = "s" if written != 1 else ""
    print(f"{written} Grad-CAM image{plural} of layer {cam.layer!r} written to {out}; {len(images.skipped)} skipped")
    return SOME_SKIPPED if images.skipped else 0


def output_names(paths: list[Path]) -> list[str]:
    """One name per image, unique: its stem, or where two images share a stem (a/x.jpg and
    b/x.jpg, x.jpg and x.png) its path below their common folder ("a__x_jpg")."""
    counts = Counter(path.stem for path in paths)
    root = os.path.commonpath([os.path.abspath(path.parent) for path in paths]) if paths else ""
    names = []
    for path in paths:
        if counts[path.stem] == 1:
            names.append(path.stem)
        else:
            relative = Path(os.path.relpath(os.path.abspath(path), root))
            names.append("__".join([*relative.parent.parts, relative.name.replace(".", "_")]))
    seen: Counter = Counter()
    for i, name in enumerate(names):  # the same file named twice (a.png and ./a.png)
        seen[name] += 1
        if seen[name] > 1:
            names[i] = f"{name}_{seen[name]}"
    return names


def main(argv: list[str] | None = None) -> None:
    """Console script: one-line errors, exit status 0 / 3 (some images skipped) / 1."""
    run_image_command("fungiclf-explain", parser(), run, argv)


if __name__ == "__main__":
    main()
