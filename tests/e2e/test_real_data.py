"""Runs on ../shared/data (DeFungi, PneumoniaMNIST); skipped cleanly where it is absent."""

import json

import pytest

from fungiclf.cli.data import main as data_main
from fungiclf.train import train
from tests.conftest import SHARED_DATA

DEFUNGI = SHARED_DATA / "defungi"
PNEUMONIA = SHARED_DATA / "medmnist" / "pneumoniamnist.npz"


@pytest.mark.skipif(not PNEUMONIA.is_file(), reason="PneumoniaMNIST not present")
def test_pneumoniamnist_preset_keeps_the_official_split(make_cfg, tmp_path):
    cfg = make_cfg(
        "dataset=pneumoniamnist",
        f"dataset.path={PNEUMONIA}",
        "model=logreg",
        "preprocess.color=gray",
        "preprocess.size=28",
        "trainer.balance=class_weight",
    )
    metrics = train(cfg, tmp_path)
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (4708, 524, 624)
    assert metrics["classes"] == ["normal", "pneumonia"]
    assert metrics["test"]["accuracy"] > 0.8  # published logreg: 0.87
    assert metrics["duplicates_across_splits"]["dropped"] == 0


@pytest.mark.skipif(not DEFUNGI.is_dir(), reason="DeFungi not present")
def test_info_on_defungi(tmp_path, capsys):
    data_main(["info", str(DEFUNGI), "--dataset", "defungi", "--json", str(tmp_path / "info.json")])
    report = json.loads((tmp_path / "info.json").read_text())
    assert report["images"] == 9114 and report["groups"] == 877 and not report["unreadable"]
    assert {row["class"]: row["images"] for row in report["per_class"]} == {
        "H1": 4404,
        "H2": 2334,
        "H3": 819,
        "H5": 818,
        "H6": 739,
    }
    assert "9,114 images, 5 classes, 877 groups" in capsys.readouterr().out
