"""docs/chest_xray_shift.py: the val split of train/'s earliest patients per series, and
the blurred val that a sharpness shortcut fails."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "chest_xray_shift.py"


def _load():
    spec = importlib.util.spec_from_file_location("chest_xray_shift", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((8, 8), np.uint8))


def test_val_takes_the_earliest_patients_of_every_series_and_keeps_each_patient_whole(tmp_path):
    shift = _load()
    names = {
        "NORMAL": [f"IM-{i:04d}-0001.jpeg" for i in range(115, 125)]
        + [f"NORMAL2-IM-{i:04d}-0001.jpeg" for i in range(383, 393)],
        "PNEUMONIA": [f"person{i}_bacteria_{2 * i + k}.jpeg" for i in range(1, 11) for k in (0, 1)]
        + [f"person{i}_virus_{i}.jpeg" for i in range(80, 90)],
    }
    for label, files in names.items():
        for name in files:
            _write(tmp_path / "train" / label / name)
    _write(tmp_path / "test" / "NORMAL" / "IM-0001-0001.jpeg")

    df = shift.earliest_as_val(shift.table(tmp_path), share=0.2)

    val = df[df.split == "val"]
    assert set(val.group) == {
        "IM-115",
        "IM-116",
        "NORMAL2-IM-383",
        "NORMAL2-IM-384",
        "bacteria-1",
        "bacteria-2",
        "virus-80",
        "virus-81",
    }
    assert len(val[val.group == "bacteria-1"]) == 2  # both of the patient's images
    assert df[df.image.str.contains("/test/")].split.tolist() == ["test"]


def test_the_normal2_val_holds_that_whole_series_and_no_other_normal(tmp_path):
    shift = _load()
    for name in ["IM-0115-0001.jpeg", "IM-0116-0001.jpeg", "NORMAL2-IM-0383-0001.jpeg", "NORMAL2-IM-0384-0001.jpeg"]:
        _write(tmp_path / "train" / "NORMAL" / name)
    for i in range(1, 11):
        _write(tmp_path / "train" / "PNEUMONIA" / f"person{i}_bacteria_{i}.jpeg")

    df = shift.normal2_as_val(shift.table(tmp_path), share=0.2)

    val = df[df.split == "val"]
    assert set(val[val.label == "NORMAL"].series) == {"NORMAL2-IM"} and (val.label == "NORMAL").sum() == 2
    assert (val.label == "PNEUMONIA").sum() == 2


def test_a_file_name_without_a_patient_is_refused_with_its_path(tmp_path):
    _write(tmp_path / "train" / "NORMAL" / "scan.jpeg")
    with pytest.raises(SystemExit, match="scan.jpeg: file name names no patient"):
        _load().table(tmp_path)


def test_the_matched_sigma_blurs_sharp_images_down_to_the_target_sharpness(tmp_path):
    shift = _load()
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        path = tmp_path / f"IM-{i:04d}-0001.jpeg"
        cv2.imwrite(str(path), rng.integers(0, 256, (64, 64)).astype(np.uint8))  # sharp: noise
        paths.append(str(path))
    sharp = np.mean([shift.mean_dx(cv2.imread(p, cv2.IMREAD_GRAYSCALE)) for p in paths])
    sigma = shift.matching_sigma(paths, target_dx=sharp / 4)
    blurred = np.mean(
        [shift.mean_dx(cv2.GaussianBlur(cv2.imread(p, cv2.IMREAD_GRAYSCALE), (0, 0), sigma)) for p in paths]
    )
    assert 0.3 < sigma < 2.0 and blurred == pytest.approx(sharp / 4, rel=0.15)


def test_the_blurred_val_holds_the_runs_val_images_only_by_class(tmp_path):
    shift = _load()
    root, run = tmp_path / "chest_xray", tmp_path / "run"
    noise = np.random.default_rng(1).integers(0, 256, (32, 32)).astype(np.uint8)
    for name in ["NORMAL/IM-0115-0001.jpeg", "NORMAL/IM-0116-0001.jpeg", "PNEUMONIA/person1_virus_1.jpeg"]:
        (root / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "train" / name), noise)
    run.mkdir()
    (run / "split.csv").write_text(
        "id,label,group,split\n"
        "train/NORMAL/IM-0115-0001.jpeg,NORMAL,IM-0115,val\n"
        "train/NORMAL/IM-0116-0001.jpeg,NORMAL,IM-0116,train\n"
        "train/PNEUMONIA/person1_virus_1.jpeg,PNEUMONIA,person1,val\n"
    )

    counts = shift.write_blurred_val(root, run, tmp_path / "out", sigma=1.0)

    assert dict(counts) == {"NORMAL": 1, "PNEUMONIA": 1}
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpeg"))
    assert written == ["NORMAL/IM-0115-0001.jpeg", "PNEUMONIA/person1_virus_1.jpeg"]
    blurred = cv2.imread(str(tmp_path / "out" / written[0]), cv2.IMREAD_GRAYSCALE)
    assert shift.mean_dx(blurred) < 0.5 * shift.mean_dx(noise)
