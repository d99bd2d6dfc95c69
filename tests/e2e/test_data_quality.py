"""Data handling inside real runs (logreg: seconds): duplicates across splits, the
low-variance filter, training fractions, denoise/CLAHE, dataset presets, the cache."""

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from fungiclf.data.sources import load_image_folder
from fungiclf.errors import DataError
from fungiclf.train import run_job, train
from tests.conftest import write_image_folder, write_npz

FAST = ("model=logreg", "preprocess.size=12")


def read_split(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "split.csv", keep_default_na=False)


def test_duplicates_across_splits_are_counted_then_dropped(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=20)
    for f in sorted(root.glob("a/*.png"))[:10]:
        shutil.copy(f, f.with_name(f"copy_{f.name}"))  # same bytes
        cv2.imwrite(str(f.with_name(f"{f.stem}_as.bmp")), cv2.imread(str(f)))  # same pixels only
    cfg = make_cfg("dataset=image_folder", f"dataset.path={root}", *FAST)
    metrics = train(cfg, tmp_path / "keep")
    split = read_split(tmp_path / "keep").set_index("id")
    order = {"train": 0, "val": 1, "test": 2}
    exact = pixel = 0
    for f in sorted(root.glob("a/a_*.png"))[:10]:
        trio = {name: order[split.loc[f"a/{name}", "split"]] for name in (f.name, f"copy_{f.name}", f"{f.stem}_as.bmp")}
        for name, rank in trio.items():  # one count per val/test item with a twin in an earlier split
            twins = [r for other, r in trio.items() if other != name]
            byte_twin = [r for other, r in trio.items() if other != name and other.endswith(".png")]
            if name.endswith(".png") and min(byte_twin) < rank:
                exact += 1
            elif min(twins) < rank:
                pixel += 1
    found = metrics["duplicates_across_splits"]
    assert found["exact"] == exact and found["pixel"] == pixel and found["dropped"] == 0 and exact + pixel > 0

    metrics = train(
        make_cfg("dataset=image_folder", f"dataset.path={root}", "dataset.drop_cross_split_duplicates=true", *FAST),
        tmp_path / "drop",
    )
    removed = pd.read_csv(tmp_path / "drop" / "removed.csv")
    assert len(removed) == exact + pixel == metrics["duplicates_across_splits"]["dropped"]
    assert set(removed["split"]) <= {"val", "test"} and set(removed["reason"]) == {"duplicate"}
    predictions = pd.read_csv(tmp_path / "drop" / "predictions.csv")
    assert not set(predictions["id"]) & set(removed["id"])
    assert metrics["n_test"] + metrics["n_val"] + len(removed) == int(
        (read_split(tmp_path / "drop")["split"] != "train").sum()
    )


def test_low_variance_images_are_removed_from_train_and_listed(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=20)
    for cls in ("a", "b", "c"):
        for i in range(6):
            cv2.imwrite(str(root / cls / f"blank_{i}.png"), np.full((24, 24, 3), 30 + i, np.uint8))
    metrics = train(
        make_cfg("dataset=image_folder", f"dataset.path={root}", "preprocess.low_variance.threshold=1.0", *FAST),
        tmp_path / "run",
    )
    split = read_split(tmp_path / "run")
    blanks = split[split["id"].str.contains("blank")]
    removed = pd.read_csv(tmp_path / "run" / "removed.csv")
    in_train = blanks[blanks["split"] == "train"]
    assert sorted(removed["id"]) == sorted(in_train["id"]) and (removed["detail"] == 0).all()
    assert (in_train["excluded"] == "low_variance").all()
    assert (blanks.loc[blanks["split"] != "train", "excluded"] == "").all()  # val/test untouched by default
    assert metrics["data_quality"]["low_variance"]["removed"] == len(in_train) > 0
    assert metrics["n_train"] == int(((split["split"] == "train") & (split["excluded"] == "")).sum())

    metrics = train(
        make_cfg(
            "dataset=image_folder",
            f"dataset.path={root}",
            "preprocess.low_variance.percentile=25",
            "preprocess.low_variance.splits=[train,val,test]",
            *FAST,
        ),
        tmp_path / "pct",
    )
    low = metrics["data_quality"]["low_variance"]
    assert low["removed"] == pytest.approx(0.25 * len(read_split(tmp_path / "pct")), abs=3)
    assert set(low["removed_per_split"]) == {"train", "val", "test"}


def test_fraction_trains_on_a_grouped_stratified_subset(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=30, photos=3)
    args = ("dataset=image_folder", f"dataset.path={root}", "dataset.group_pattern='^(.+)_\\d+\\.\\w+$'", *FAST)
    full = train(make_cfg(*args), tmp_path / "full")
    part = train(make_cfg(*args, "dataset.fraction=0.3"), tmp_path / "part")
    assert part["n_test"] == full["n_test"] and part["n_val"] == full["n_val"]
    assert part["n_train"] == pytest.approx(0.3 * full["n_train"], abs=6) and part["n_train"] < full["n_train"]
    split = read_split(tmp_path / "part")
    assert set(split.loc[split["excluded"] == "fraction", "split"]) == {"train"}
    used = split[(split["split"] == "train") & (split["excluded"] == "")]
    assert set(used["label"]) == {"a", "b", "c"}
    assert split.groupby("group")["excluded"].nunique().max() == 1  # whole photographs in or out
    assert part["data_quality"]["fraction"] == 0.3
    failed = run_job(make_cfg(*args, "dataset.fraction=0"), tmp_path / "zero")
    assert (
        failed is None
        and "'fraction' parameter of dataset" in json.loads((tmp_path / "zero" / "metrics.json").read_text())["error"]
    )


def test_denoise_and_clahe_change_the_cached_pixels(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=8)
    base = ("dataset=image_folder", f"dataset.path={root}", *FAST)
    plain = train(make_cfg(*base), tmp_path / "plain")
    assert plain["timings"]["data_from_cache"] is False
    again = train(make_cfg(*base), tmp_path / "again")
    assert again["timings"]["data_from_cache"] is True and again["data_fingerprint"] == plain["data_fingerprint"]
    enhanced = train(make_cfg(*base, "preprocess.denoise=nlmeans", "preprocess.clahe=true"), tmp_path / "enh")
    assert enhanced["data_fingerprint"] != plain["data_fingerprint"]
    assert (
        train(make_cfg(*base, "preprocess.fit=pad"), tmp_path / "pad")["data_fingerprint"] != plain["data_fingerprint"]
    )
    assert json.loads((tmp_path / "enh" / "metrics.json").read_text())["status"] == "completed"
    for bad, key in (
        ("preprocess.denoise=bilateral", "'denoise'"),
        ("preprocess.denoise_kernel=4", "'denoise_kernel'"),
        ("preprocess.bit_depth=17", "'bit_depth'"),
        ("preprocess.fit=letterbox", "'fit'"),
    ):
        assert run_job(make_cfg(*base, bad), tmp_path / "bad") is None
        assert key in json.loads((tmp_path / "bad" / "metrics.json").read_text())["error"]


def test_a_run_on_twelve_bit_files_says_which_bit_depth_keeps_their_contrast(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=8)
    for f in sorted(root.rglob("*.png")):  # the same pictures as a 12-bit camera's 16-bit TIFFs
        cv2.imwrite(str(f.with_suffix(".tif")), cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16)
        f.unlink()
    base = ("dataset=image_folder", f"dataset.path={root}", "preprocess.color=gray", *FAST)
    dim = train(make_cfg(*base), tmp_path / "dim")
    [warning] = [w["message"] for w in dim["warnings"] if w["kind"] == "bit_depth"]
    assert "use at most 12 bits" in warning and "preprocess.bit_depth=12 keeps their contrast" in warning
    fitted = train(make_cfg(*base, "preprocess.bit_depth=12"), tmp_path / "fitted")
    assert "bit_depth" not in [w["kind"] for w in fitted["warnings"]]
    assert fitted["data_fingerprint"] != dim["data_fingerprint"]


def test_missing_classes_between_train_and_test_folders(tmp_path):
    write_image_folder(tmp_path / "d" / "train", classes=("a", "b", "c"), per_class=4)
    write_image_folder(tmp_path / "d" / "test", classes=("a", "b"), per_class=2)
    samples = load_image_folder(str(tmp_path / "d"))  # class c has no test images: a warning, not an error
    assert samples.class_names == ["a", "b", "c"]
    write_image_folder(tmp_path / "e" / "train", classes=("a", "b"), per_class=4)
    write_image_folder(tmp_path / "e" / "test", classes=("a", "b", "z"), per_class=2)
    with pytest.raises(DataError, match="class 'z' has no folder in .*train"):
        load_image_folder(str(tmp_path / "e"))


@pytest.mark.parametrize("dataset", ["defungi", "pneumoniamnist", "pathmnist", "chest_xray"])
def test_dataset_presets_say_how_to_fetch_missing_data(make_cfg, tmp_path, dataset):
    cfg = make_cfg(f"dataset={dataset}", f"paths.data_dir={tmp_path}", *FAST)
    assert run_job(cfg, tmp_path / "run") is None
    error = json.loads((tmp_path / "run" / "metrics.json").read_text())["error"]
    assert f"fungiclf-data fetch {dataset}" in error and str(tmp_path) in error


def test_group_by_names_a_preset_of_the_dataset(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=4)
    assert (
        run_job(
            make_cfg("dataset=image_folder", f"dataset.path={root}", "dataset.group_by=photograph", *FAST),
            tmp_path / "run",
        )
        is None
    )
    assert "'group_by'" in (error := json.loads((tmp_path / "run" / "metrics.json").read_text())["error"])
    assert "folder" in error
    npz = write_npz(tmp_path / "x.npz")
    assert (
        run_job(make_cfg("dataset=medmnist", f"dataset.path={npz}", "dataset.group_by=folder", *FAST), tmp_path / "npz")
        is None
    )
    assert "group presets" in json.loads((tmp_path / "npz" / "metrics.json").read_text())["error"]


def test_subfolders_of_class_folders_group_with_group_by_folder(make_cfg, tmp_path, caplog):
    flat = write_image_folder(tmp_path / "flat", per_class=24)
    for f in sorted(flat.rglob("*.png")):  # six slides of four patches per class: CLASS/slide_<k>/<file>
        slide = f.parent / f"slide_{int(f.stem.split('_')[1]) // 4}"
        slide.mkdir(exist_ok=True)
        f.rename(slide / f.name)
    base = ("dataset=image_folder", f"dataset.path={flat}", *FAST)
    with caplog.at_level("WARNING"):
        train(make_cfg(*base), tmp_path / "per_file")
    assert (
        "72 files sit in subfolders of their class folders" in caplog.text and "dataset.group_by=folder" in caplog.text
    )
    per_file = read_split(tmp_path / "per_file")
    assert per_file["group"].nunique() == len(per_file) == 72  # each file its own group

    metrics = train(make_cfg(*base, "dataset.group_by=folder"), tmp_path / "grouped")
    split = read_split(tmp_path / "grouped")
    assert sorted(split["group"].unique()) == [f"slide_{k}" for k in range(6)]  # keyed by the subfolder's name
    assert split.groupby("group")["split"].nunique().max() == 1  # a slide on one side only
    assert metrics["groups"]["train"] + metrics["groups"]["val"] + metrics["groups"]["test"] == 6


def test_numbered_file_series_are_named_as_a_per_file_split_and_group_with_group_by_prefix(make_cfg, tmp_path, caplog):
    """dataset=image_folder on DeFungi-style names (patch i of photograph p: a_003_1.png) splits
    per file unless told: the log must say so, and group_by=prefix must keep a photograph whole."""
    series = write_image_folder(tmp_path / "series", per_class=24, photos=4)  # six photographs of four a class
    base = ("dataset=image_folder", f"dataset.path={series}", *FAST)
    with caplog.at_level("WARNING"):
        train(make_cfg(*base), tmp_path / "per_file")
    assert "72 of 72 file names come in numbered series" in caplog.text and "dataset.group_by=prefix" in caplog.text
    metrics = train(make_cfg(*base, "dataset.group_by=prefix"), tmp_path / "grouped")
    split = read_split(tmp_path / "grouped")
    assert split["group"].nunique() == 18 and split.groupby("group")["split"].nunique().max() == 1
    assert sum(metrics["groups"].values()) == 18
    caplog.clear()
    table = tmp_path / "series.csv"  # the same files listed in a table without a group column
    table.write_text(
        "image,label\n" + "".join(f"{f.relative_to(tmp_path)},{f.parent.name}\n" for f in sorted(series.rglob("*.png")))
    )
    with caplog.at_level("WARNING"):
        train(make_cfg("dataset=csv", f"dataset.path={table}", *FAST), tmp_path / "csv_run")
    assert "72 of 72 file names come in numbered series" in caplog.text
    caplog.clear()
    plain = write_image_folder(tmp_path / "plain", per_class=24)  # a_000.png ... a_023.png: one scheme
    with caplog.at_level("WARNING"):
        train(make_cfg("dataset=image_folder", f"dataset.path={plain}", *FAST), tmp_path / "plain_run")
    assert "numbered series" not in caplog.text
