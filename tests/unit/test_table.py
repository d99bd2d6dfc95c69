"""dataset=csv: a CSV table of images with labels, groups and an optional split."""

import json

import pandas as pd
import pytest

from fungiclf.cli.data import main as data_main
from fungiclf.data.table import load_csv
from fungiclf.errors import DataError
from fungiclf.train import run_job, train
from tests.conftest import write_image_folder


def write_table(root, rows=None, name="meta.csv"):
    """Images of three classes (eight lesions of three photos each) and a CSV listing them
    with HAM10000-like columns; returns the CSV's path."""
    write_image_folder(root / "imgs", per_class=24, photos=3)
    if rows is None:
        rows = [
            {
                "path": f"imgs/{f.parent.name}/{f.name}",
                "dx": f.parent.name,
                "lesion_id": f"L{f.stem[:-2]}",
                "part": "test" if f.stem.split("_")[1] == "007" else "train",
            }
            for f in sorted((root / "imgs").rglob("*.png"))
        ]
    pd.DataFrame(rows).to_csv(root / name, index=False)
    return root / name


COLUMNS = {"image": "path", "label": "dx", "group": "lesion_id"}


def test_rows_become_samples_grouped_by_their_group_column(tmp_path):
    table = write_table(tmp_path)
    samples = load_csv(str(table), columns=COLUMNS)
    assert samples.class_names == ["a", "b", "c"] and len(samples) == 72 and samples.grouped
    assert samples.ids[0] == "imgs/a/a_000_0.png" and samples.paths[0] == str(tmp_path / "imgs/a/a_000_0.png")
    assert len(set(samples.groups)) == 24 and samples.given_split is None
    with_split = load_csv(str(table), columns={**COLUMNS, "split": "part"})
    assert set(with_split.given_split) == {"", "test"}  # no val rows: val is carved out of train
    assert (with_split.given_split == "test").sum() == 9
    ordered = load_csv(str(table), class_names=["c", "b", "a"], columns=COLUMNS)
    assert ordered.class_names == ["c", "b", "a"] and ordered.labels[0] == 2


def test_missing_images_are_left_out_and_absolute_paths_work(tmp_path, caplog):
    table = write_table(tmp_path)
    rows = pd.read_csv(table)
    rows.loc[0, "path"] = "imgs/a/gone.png"
    rows.loc[1, "path"] = str(tmp_path / rows.loc[1, "path"])
    rows.to_csv(table, index=False)
    samples = load_csv(str(table), columns=COLUMNS)
    assert len(samples) == 71 and samples.skipped == [("imgs/a/gone.png", "no such file")]
    assert "1 images listed in" in caplog.text and samples.paths[0] == rows.loc[1, "path"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop(columns="dx"), "has no column 'dx' (dataset.columns.label); its columns are"),
        (lambda t: t.assign(dx=["a"] * len(t)), "holds 1 class; at least two are needed"),
        (
            lambda t: t.assign(path=t["path"].where(t.index != 4, "")),
            "1 rows have no image in column 'path' (first: line 6)",
        ),
        (
            lambda t: t.assign(part=t["part"].where(t.index != 0, "holdout")),
            "holds ['holdout']; expected train, val or test",
        ),
        (lambda t: t.assign(part="train"), "column 'part' (dataset.columns.split) has no test rows"),
        (lambda t: pd.concat([t, t.head(1)]), "1 images are listed more than once (first: 'imgs/a/a_000_0.png'"),
        (lambda t: t.assign(path="elsewhere/" + t["path"]), "none of the 72 images listed in"),
    ],
)
def test_bad_tables_are_refused_in_one_line_naming_the_file_and_column(tmp_path, change, message):
    table = write_table(tmp_path)
    change(pd.read_csv(table)).to_csv(table, index=False)
    with pytest.raises(DataError) as error:
        load_csv(str(table), columns={**COLUMNS, "split": "part"})
    assert message in str(error.value) and str(table) in str(error.value) and "\n" not in str(error.value)


def test_a_file_that_is_not_a_csv_table_is_refused(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"\xff\xd8\xff\x00binary")
    with pytest.raises(DataError, match="not a readable CSV table"):
        load_csv(str(tmp_path / "x.csv"))
    with pytest.raises(DataError, match="does not exist"):
        load_csv(str(tmp_path / "none.csv"))


def test_a_run_and_info_on_a_csv_table(make_cfg, tmp_path, capsys):
    table = write_table(tmp_path)
    columns = [f"dataset.columns.{role}={name}" for role, name in COLUMNS.items()]
    metrics = train(
        make_cfg(
            "dataset=csv",
            f"dataset.path={table}",
            *columns,
            "dataset.columns.split=part",
            "model=logreg",
            "preprocess.size=12",
        ),
        tmp_path / "run",
    )
    split = pd.read_csv(tmp_path / "run" / "split.csv", keep_default_na=False)
    assert split.groupby("group")["split"].nunique().max() == 1  # a lesion on one side only
    assert metrics["n_test"] == 9 and set(split.loc[split["split"] == "test", "id"].str[7:12]) == {
        "a_007",
        "b_007",
        "c_007",
    }
    assert run_job(make_cfg("dataset=csv", f"dataset.path={table}", "model=logreg"), tmp_path / "bad") is None
    assert (
        "has no column 'image' (dataset.columns.image)"
        in json.loads((tmp_path / "bad" / "metrics.json").read_text())["error"]
    )
    assert (
        run_job(make_cfg("dataset=csv", f"dataset.path={table}", "dataset.columns.image=null"), tmp_path / "null")
        is None
    )
    assert "'columns.image'" in json.loads((tmp_path / "null" / "metrics.json").read_text())["error"]
    assert (
        run_job(
            make_cfg("dataset=image_folder", f"dataset.path={tmp_path / 'imgs'}", "dataset.columns={image: x}"),
            tmp_path / "folder",
        )
        is None
    )
    assert "columns of a CSV table" in json.loads((tmp_path / "folder" / "metrics.json").read_text())["error"]

    data_main(["info", str(table), "--columns", "image=path", "label=dx", "group=lesion_id"])
    assert "72 images, 3 classes, 24 groups" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        data_main(["info", str(table), "--columns", "image"])
    assert "ROLE=NAME" in capsys.readouterr().err
