"""Two checks on the Kermany chest X-ray train/test shift (docs/recipes.md, chest X-ray).

1. A val split nearest the test set's source: the file names number patients in four
   series (IM-, NORMAL2-IM-, personN_bacteria, personN_virus) and the official test/
   holds the earliest patients of each. This writes a CSV table (for `dataset=csv`) whose
   val is the earliest ``--val-share`` of train/'s patients in every series; with
   ``--val normal2`` it is instead the whole NORMAL2-IM series of normal X-rays (a second
   source of normals, so the model trains on the IM series' normals only) and a random
   ``--val-share`` of the pneumonia patients.
2. A whole-image shortcut: how well three sharpness statistics alone (mean absolute
   horizontal and vertical pixel difference, standard deviation of the Laplacian, on the
   stored 224 px copies) separate train/'s classes, in a patient-grouped 5-fold CV of a
   logistic regression. Reads train/'s images only; of test/ it lists the file names.
3. A val that the shortcut fails: with ``--blurred-val RUN DIR`` it writes RUN's val images
   (its split.csv) to DIR/<class>/, each Gaussian-blurred by the sigma (in 224 px pixels)
   that brings train/'s normal X-rays to the mean |dx| of its pneumonias. A model that
   reads sharpness as pneumonia calls these normal X-rays pneumonia; fungiclf-predict
   measures it with the run's own threshold. Reads train/ and the run's val images only.

    python docs/chest_xray_shift.py ../shared/data/chest_xray --csv early_val.csv   # [--val normal2]
    fungiclf-train experiment=chest_xray_best dataset=csv dataset.path=early_val.csv \
        dataset.columns.group=group dataset.columns.split=split \
        augment.flip=horizontal augment.transpose=false
    python docs/chest_xray_shift.py ../shared/data/chest_xray --blurred-val RUN blurred_val/
    fungiclf-predict RUN blurred_val/ --labels --out blurred_val.csv   # accuracy in blurred_val_metrics.json
"""

import argparse
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict

PATIENT = re.compile(r"^(?:(?P<series>NORMAL2-IM|IM)-(?P<id>\d+)|person(?P<pid>\d+)_(?P<kind>bacteria|virus))")


def table(root: Path) -> pd.DataFrame:
    """One row per image of train/ and test/: image, label, series, patient id, group, split."""
    rows = []
    for split in ("train", "test"):
        for path in sorted((root / split).glob("*/*.jpeg")):
            m = PATIENT.match(path.name)
            if m is None:
                raise SystemExit(f"{path}: file name names no patient (expected IM-, NORMAL2-IM- or personN_)")
            series = m["series"] or m["kind"]
            pid = int(m["id"] or m["pid"])
            rows.append(
                {
                    "image": str(path.resolve()),
                    "label": path.parent.name,
                    "series": series,
                    "patient": pid,
                    "group": f"{series}-{pid}",
                    "split": split,
                }
            )
    return pd.DataFrame(rows)


def earliest_as_val(df: pd.DataFrame, share: float) -> pd.DataFrame:
    """Move the earliest ``share`` of train/'s patients of every series to val."""
    df = df.copy()
    for _, rows in df[df.split == "train"].groupby("series"):
        patients = np.sort(rows.patient.unique())
        cut = patients[int(len(patients) * share)]
        df.loc[rows.index[rows.patient < cut], "split"] = "val"
    return df


def normal2_as_val(df: pd.DataFrame, share: float, seed: int = 0) -> pd.DataFrame:
    """Move train/'s NORMAL2-IM series and a random ``share`` of its pneumonia patients to val."""
    df = df.copy()
    train = df.split == "train"
    pneumonia = df[train & (df.label == "PNEUMONIA")].group.unique()
    picked = np.random.default_rng(seed).choice(pneumonia, int(len(pneumonia) * share), replace=False)
    df.loc[train & ((df.series == "NORMAL2-IM") | df.group.isin(picked)), "split"] = "val"
    return df


def mean_dx(image: np.ndarray) -> float:
    """Mean absolute horizontal difference of neighbouring pixels, in grey levels."""
    return float(np.abs(np.diff(image.astype(np.float32), axis=1)).mean())


def sharpness(path: str) -> list[float]:
    """[mean |dx|, mean |dy|, sd of the Laplacian] of a gray image, in 8-bit grey levels."""
    im = cv2.imread(path, cv2.IMREAD_GRAYSCALE).astype(np.float32)
    return [mean_dx(im), mean_dx(im.T), float(cv2.Laplacian(im, cv2.CV_32F).std())]


def matching_sigma(normals: list[str], target_dx: float, sigmas: np.ndarray = np.arange(0.1, 2.01, 0.05)) -> float:
    """The Gaussian sigma (pixels) after which the images' mean |dx| is nearest ``target_dx``."""
    images = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in normals]
    dx = [np.mean([mean_dx(cv2.GaussianBlur(im, (0, 0), s)) for im in images]) for s in sigmas]
    return float(sigmas[int(np.argmin(np.abs(np.array(dx) - target_dx)))])


def write_blurred_val(root: Path, run: Path, out: Path, sigma: float) -> pd.Series:
    """RUN's val images (split.csv; ids relative to ``root`` or absolute) blurred by ``sigma``
    to OUT/<label>/<name>; counts per label."""
    split = pd.read_csv(run / "split.csv")
    val = split[split.split == "val"]
    for image, label in zip(val.id, val.label):
        (out / label).mkdir(parents=True, exist_ok=True)
        pixels = cv2.imread(str(root / image), cv2.IMREAD_GRAYSCALE)  # an absolute id stays itself
        if pixels is None:
            raise SystemExit(f"{root / image}: cannot read this val image of {run / 'split.csv'}")
        cv2.imwrite(str(out / label / Path(image).name), cv2.GaussianBlur(pixels, (0, 0), sigma) if sigma else pixels)
    return val.label.value_counts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the chest_xray folder (train/ and test/)")
    parser.add_argument("--csv", type=Path, help="write the split here")
    parser.add_argument(
        "--val",
        choices=("earliest", "normal2"),
        default="earliest",
        help="val: the earliest patients of every series, or the NORMAL2 series",
    )
    parser.add_argument("--val-share", type=float, default=0.2)
    parser.add_argument(
        "--blurred-val",
        nargs=2,
        type=Path,
        metavar=("RUN", "DIR"),
        help="write RUN's val images, blurred to pneumonia's sharpness, to DIR",
    )
    parser.add_argument("--sigma", type=float, help="with --blurred-val: this sigma instead (0: unblurred copies)")
    args = parser.parse_args()
    df = table(args.root)
    if args.blurred_val:
        train = df[df.split == "train"]
        pneumonia_dx = np.mean(
            [mean_dx(cv2.imread(p, cv2.IMREAD_GRAYSCALE)) for p in train[train.label == "PNEUMONIA"].image]
        )
        sigma = (
            args.sigma
            if args.sigma is not None
            else matching_sigma(train[train.label == "NORMAL"].image.tolist(), pneumonia_dx)
        )
        counts = write_blurred_val(args.root, *args.blurred_val, sigma)
        print(
            f"train/ mean |dx|: PNEUMONIA {pneumonia_dx:.2f}; sigma {sigma:.2f} px "
            f"({'given' if args.sigma is not None else 'brings NORMAL to it'}); wrote "
            f"{', '.join(f'{n} {label}' for label, n in counts.items())} val images to {args.blurred_val[1]}"
        )
        return
    for split in ("train", "test"):
        ids = df[df.split == split].groupby(["label", "series"]).patient.agg(["min", "median", "max", "nunique"])
        print(f"{split}/ patient numbers per series:\n{ids}\n")
    if args.csv:
        carve = earliest_as_val if args.val == "earliest" else normal2_as_val
        split = carve(df, args.val_share)
        split[["image", "label", "group", "split"]].to_csv(args.csv, index=False)
        print(f"wrote {args.csv}:\n{split.groupby(['split', 'label']).size()}\n")

    train = df[df.split == "train"]
    features = np.log(np.array([sharpness(p) for p in train.image]))
    y = (train.label == "PNEUMONIA").to_numpy()
    p = cross_val_predict(
        LogisticRegression(class_weight="balanced", max_iter=1000),
        features,
        y,
        groups=train.group,
        cv=GroupKFold(5),
        method="predict_proba",
    )[:, 1]
    dx = np.exp(features[:, 0])
    print(f"train/ mean |dx|: NORMAL {dx[~y].mean():.2f}, PNEUMONIA {dx[y].mean():.2f} grey levels")
    print(
        f"sharpness alone, grouped 5-fold CV on train/: ROC-AUC {roc_auc_score(y, p):.3f}, "
        f"balanced accuracy {balanced_accuracy_score(y, p > 0.5):.3f}"
    )


if __name__ == "__main__":
    main()
