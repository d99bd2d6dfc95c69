"""Defaults that read the data (settings/data_defaults.py): colour, size, a known MedMNIST
set's names and positive class, decided in resolve with the evidence, before any work."""

import cv2
import numpy as np
import pytest

from fungiclf.data.dataset import list_items
from fungiclf.data.survey import survey_files
from fungiclf.errors import DataError
from fungiclf.models import min_input_size
from fungiclf.settings.resolve import resolve
from tests.conftest import SHARED_DATA, model_settings, write_image_folder, write_npz


def plan_of(settings) -> dict:
    return {choice.key: choice for choice in settings.plan}


def write_gray_jpegs(root, classes=("a", "b"), per_class=10, size=40):
    """Gray X-ray-like content saved as 3-channel JPEGs (as the Kermany copies are)."""
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            gray = rng.integers(0, 255, (size, size), dtype=np.uint8)
            cv2.imwrite(str(root / name / f"{name}_{i}.jpg"), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    return root


@pytest.mark.parametrize("rgb, color", [(False, "gray"), (True, "rgb")])
def test_an_npz_trains_in_the_colour_of_its_arrays(make_cfg, tmp_path, rgb, color):
    npz = write_npz(tmp_path / "mine.npz", rgb=rgb)
    settings = resolve(make_cfg("dataset=medmnist", f"dataset.path={npz}"))
    assert settings.preprocess.pixels.color == color
    assert plan_of(settings)["preprocess.color"].source == "the data"
    assert settings.preprocess.pixels.size == (28, 28)  # the file's own side, not upscaled


def test_an_image_folder_is_gray_when_its_files_carry_no_colour(make_cfg, tmp_path):
    gray = write_gray_jpegs(tmp_path / "xrays")
    colour = write_image_folder(tmp_path / "stains", size=24)  # per-channel noise: colour
    assert resolve(make_cfg("dataset=image_folder", f"dataset.path={gray}")).preprocess.pixels.color == "gray"
    settings = resolve(make_cfg("dataset=image_folder", f"dataset.path={colour}"))
    assert settings.preprocess.pixels.color == "rgb"
    assert "carry colour" in plan_of(settings)["preprocess.color"].why


def test_a_user_setting_that_drops_colour_is_kept_and_said(make_cfg, tmp_path):
    colour = write_image_folder(tmp_path / "stains", size=24)
    settings = resolve(make_cfg("dataset=image_folder", f"dataset.path={colour}", "preprocess.color=gray"))
    choice = plan_of(settings)["preprocess.color"]
    assert settings.preprocess.pixels.color == "gray" and choice.warning and "drops the colour" in choice.why
    kept = resolve(
        make_cfg("dataset=image_folder", f"dataset.path={write_gray_jpegs(tmp_path / 'g')}", "preprocess.color=gray")
    )
    assert "preprocess.color" not in plan_of(kept)  # gray data: nothing dropped, nothing said


def test_auto_size_takes_the_images_side_at_most_64_and_never_upscales(make_cfg, tmp_path):
    small = write_image_folder(tmp_path / "small", size=24)
    large = write_image_folder(tmp_path / "large", size=100)
    assert resolve(make_cfg("dataset=image_folder", f"dataset.path={small}")).preprocess.pixels.size == (24, 24)
    settings = resolve(make_cfg("dataset=image_folder", f"dataset.path={large}"))
    assert settings.preprocess.pixels.size == (64, 64) and "median 100x100" in plan_of(settings)["preprocess.size"].why
    given = resolve(make_cfg("dataset=image_folder", f"dataset.path={large}", "preprocess.size=40"))
    assert given.preprocess.pixels.size == (40, 40) and "preprocess.size" not in plan_of(given)


def test_auto_size_upscales_only_to_what_the_model_accepts(make_cfg, tmp_path):
    floor = min_input_size(model_settings("cnn4"), 1)
    npz = write_npz(tmp_path / "tiny.npz", size=floor - 4)
    settings = resolve(make_cfg("dataset=medmnist", f"dataset.path={npz}", "model=cnn4"))
    assert settings.preprocess.pixels.size == (floor, floor)
    assert "smallest input model 'cnn4' accepts" in plan_of(settings)["preprocess.size"].why


def test_a_known_medmnist_set_gives_its_name_labels_and_positive_class(make_cfg, tmp_path):
    # breastmnist's label 0 is malignant: its finding becomes label 1, the positive class
    npz = write_npz(tmp_path / "breastmnist_64.npz", size=20)
    settings = resolve(make_cfg("dataset=medmnist", f"dataset.path={npz}"))
    assert settings.dataset.name == "breastmnist" and settings.dataset.positive_class == "malignant"
    assert settings.dataset.class_names == ("malignant", "normal, benign")
    samples = list_items(settings.dataset, 0, settings.paths.cache_dir).samples
    assert samples.class_names == ["normal, benign", "malignant"]
    first = np.load(npz)["train_labels"].ravel()
    assert np.array_equal(samples.labels[: len(first)], 1 - first)  # the same images, labels swapped


def test_a_set_is_recognised_by_its_split_sizes_and_an_unknown_npz_by_its_file_name(make_cfg, tmp_path):
    pneumonia = write_npz(tmp_path / "xr.npz", n=(4708, 524, 624), size=8)
    settings = resolve(make_cfg("dataset=medmnist", f"dataset.path={pneumonia}"))
    assert settings.dataset.name == "pneumoniamnist" and "4708/524/624" in plan_of(settings)["dataset.name"].why
    assert settings.dataset.positive_class == "pneumonia"
    mine = resolve(make_cfg("dataset=medmnist", f"dataset.path={write_npz(tmp_path / 'ultrasound_2024.npz')}"))
    assert mine.dataset.name == "ultrasound_2024" and mine.dataset.class_names is None
    assert mine.dataset.positive_class is None


def test_the_positive_class_is_chosen_by_name(make_cfg, tmp_path):
    root = write_image_folder(tmp_path / "lesions", classes=("malignant", "normal"), size=16)
    settings = resolve(make_cfg("dataset=image_folder", f"dataset.path={root}", "dataset.positive_class=malignant"))
    samples = list_items(settings.dataset, 0, settings.paths.cache_dir).samples
    assert samples.class_names == ["normal", "malignant"]
    assert all(samples.class_names[label] == path.split("/")[-2] for label, path in zip(samples.labels, samples.paths))


@pytest.mark.parametrize(
    "classes, positive, message",
    [
        (("malignant", "normal"), "benign", "is not a class of this dataset"),
        (("a", "b", "c"), "a", "needs a two-class task"),
    ],
)
def test_a_positive_class_that_cannot_apply_is_one_line(make_cfg, tmp_path, classes, positive, message):
    root = write_image_folder(tmp_path / "imgs", classes=classes, size=16)
    cfg = make_cfg("dataset=image_folder", f"dataset.path={root}", f"dataset.positive_class={positive}", "model=logreg")
    with pytest.raises(DataError, match=message):
        settings = resolve(cfg)
        list_items(settings.dataset, 0, settings.paths.cache_dir)


def test_auto_on_a_missing_folder_names_the_path(make_cfg, tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        resolve(make_cfg("dataset=image_folder", f"dataset.path={tmp_path / 'nowhere'}"))


@pytest.mark.skipif(not (SHARED_DATA / "chest_xray").is_dir(), reason="../shared/data/chest_xray is absent")
def test_real_chest_xrays_in_three_channel_jpegs_read_as_gray_and_defungi_as_colour():
    xrays = sorted(str(p) for p in (SHARED_DATA / "chest_xray" / "train").rglob("*.jpeg"))
    fungi = sorted(str(p) for p in (SHARED_DATA / "defungi").rglob("*.jpg"))
    assert survey_files(xrays).colour is False
    assert survey_files(fungi).colour is True
