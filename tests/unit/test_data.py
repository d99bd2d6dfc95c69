"""Sources, decoding, cache and the synthetic set."""

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from fungiclf.data.decode import DecodeError, decode_file, read_image, to_model_pixels
from fungiclf.data.enhance import PixelSettings
from fungiclf.data.prepare import bit_depth_warnings, prepare
from fungiclf.inference.images import load_images
from fungiclf.data.sources import NUMBERED_NAME, group_keys, load_image_folder, load_npz, numbered_series
from fungiclf.data.synthetic import ensure_synthetic
from fungiclf.errors import DataError
from tests.conftest import write_image_folder, write_npz


def test_group_pattern_takes_the_first_group():
    keys = group_keys(["H1/H1_101a_7.jpg", "H1/H1_101a_8.jpg", "H2/odd.jpg"], r"^(.+)_\d+\.\w+$")
    assert list(keys) == ["H1_101a", "H1_101a", "H2/odd.jpg"]
    with pytest.raises(DataError, match="capturing group"):
        group_keys(["a.jpg"], r"^.+$")
    defungi_photograph = r"^(H\d+_\d+[a-z]*)_\d+\.\w+$"
    with pytest.raises(DataError, match=r"matched none of the 2 file names \(e.g. 'person1_bacteria_1.jpeg'\)"):
        group_keys(["PNEUMONIA/person1_bacteria_1.jpeg", "NORMAL/IM-0001.jpeg"], defungi_photograph)


def test_numbered_series_are_photographs_or_patients_not_a_class_naming_scheme():
    """What the per-file-split warning flags: many short series (patches of photographs, a
    patient's images) but not one series a class (cat_001 ... cat_500)."""
    photographs = [f"H{c}_{p}a_{i}.jpg" for c in (1, 2) for p in range(4) for i in range(1, 9)]  # 8 of 64 a series
    assert numbered_series(photographs, [name[:2] for name in photographs]) == photographs
    scheme = [f"{c}_{i:03d}.png" for c in ("cat", "dog", "owl") for i in range(40)]
    assert numbered_series(scheme, [name[:3] for name in scheme]) == []
    kermany = [
        "IM-0115-0001.jpeg",
        "IM-0115-0002.jpeg",
        "IM-0117-0001.jpeg",
        "IM-0119-0001.jpeg",
        "person1_virus_6.jpeg",
        "person1_virus_7.jpeg",
        "person3_bacteria_10.jpeg",
        "person3_bacteria_11.jpeg",
        "person5_bacteria_1.jpeg",
        "person5_bacteria_2.jpeg",
    ]
    labels = ["NORMAL"] * 4 + ["PNEUMONIA"] * 6
    assert numbered_series(kermany, labels) == []  # 4 series, 2 classes: not enough to say
    assert numbered_series(kermany + ["person7_virus_1.jpeg", "person7_virus_2.jpeg"], labels + ["PNEUMONIA"] * 2)[
        :2
    ] == ["IM-0115-0001.jpeg", "IM-0115-0002.jpeg"]
    preset = yaml.safe_load((Path(__file__).parents[2] / "conf" / "dataset" / "image_folder.yaml").read_text())
    assert preset["group_presets"]["prefix"] == NUMBERED_NAME  # the warning advises what the preset does


def test_image_folder_class_layout(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("x", "y"), per_class=3)
    samples = load_image_folder(str(root))
    assert samples.class_names == ["x", "y"] and len(samples) == 6 and samples.given_split is None
    assert list(samples.labels) == [0, 0, 0, 1, 1, 1]


def test_train_test_layout_leaves_val_to_carve(tmp_path):
    write_image_folder(tmp_path / "d" / "train", per_class=4)
    write_image_folder(tmp_path / "d" / "test", per_class=2)
    samples = load_image_folder(str(tmp_path / "d"))
    assert set(samples.given_split) == {"", "test"}
    assert sum(samples.given_split == "test") == 6


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "nope", "does not exist"),
        (lambda p: (p / "one" / "only").mkdir(parents=True) or p / "one", "at least two class folders"),
        (
            lambda p: (
                write_image_folder(p / "f", classes=("a", "b"), per_class=3) and p / "f" / "a"
            ),  # one class folder given
            "found 0; it holds 3 files itself: give the folder whose subfolders are the classes",
        ),
        (
            lambda p: (write_image_folder(p / "g", classes=("a",), per_class=2), (p / "g" / "README").write_text("x"))[
                0
            ],
            r"found 1$",
        ),  # one class beside a file: no such hint
        (lambda p: (write_image_folder(p / "e", classes=("a",), per_class=2), (p / "e" / "b").mkdir())[0], "is empty"),
    ],
)
def test_bad_folders_are_one_line_errors(tmp_path, make, message):
    with pytest.raises(DataError, match=message) as info:
        load_image_folder(str(make(tmp_path)))
    assert "\n" not in str(info.value)


def test_npz_errors_name_the_file_and_key(tmp_path):
    np.savez(tmp_path / "bad.npz", train_images=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match="train_labels"):
        load_npz(str(tmp_path / "bad.npz"))
    path = write_npz(tmp_path / "ok.npz")
    arrays = dict(np.load(path))
    arrays["test_labels"] = arrays["test_labels"][:-1]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(DataError, match="test_images has 12 rows but test_labels has 11"):
        load_npz(str(tmp_path / "short.npz"))
    arrays = dict(np.load(path))
    arrays["train_labels"] = np.zeros((40, 3), np.uint8)
    np.savez(tmp_path / "multi.npz", **arrays)
    with pytest.raises(DataError, match="multi-label"):
        load_npz(str(tmp_path / "multi.npz"))
    with pytest.raises(
        DataError, match="is a folder, not a MedMNIST-style .npz file"
    ):  # dataset=pneumoniamnist on images
        load_npz(str(tmp_path))


def test_decoding_converts_depth_alpha_and_colour(tmp_path):
    img16 = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    cv2.imwrite(str(tmp_path / "deep.png"), img16)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGR order
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    deep = read_image(str(tmp_path / "deep.png"))
    assert deep.dtype == np.uint8 and deep.max() == round(63000 / 257)
    red = read_image(str(tmp_path / "rgba.png"))
    assert red.shape == (8, 8, 3) and red[0, 0].tolist() == [200, 0, 0]  # RGB order
    assert to_model_pixels(red, "gray", (4, 6)).shape == (4, 6, 1)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DecodeError):
        read_image(str(tmp_path / "empty.png"))


def test_twelve_bit_camera_files_keep_their_contrast_with_preprocess_bit_depth(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(3):  # a 12-bit camera's values (0-4095) in 16-bit TIFFs
            cv2.imwrite(str(tmp_path / "d" / name / f"{i}.tif"), (np.arange(64).reshape(8, 8) * 65).astype(np.uint16))
    one = str(tmp_path / "d" / "a" / "0.tif")
    assert decode_file(one).image.max() == round(63 * 65 / 257) and decode_file(one).peak == 63 * 65
    assert decode_file(one, bit_depth=12).image.max() == round(63 * 65 * 255 / 4095)
    assert decode_file(one, bit_depth=10).image.max() == 255  # above 2**10 - 1: clipped to white

    samples = load_image_folder(str(tmp_path / "d"))
    full = prepare(samples, PixelSettings("gray", (8, 8)), str(tmp_path / "cache"))
    twelve = prepare(samples, PixelSettings("gray", (8, 8), bit_depth=12), str(tmp_path / "cache"))
    assert twelve.key != full.key and full.images.max() == 16 and twelve.images.max() == 255
    assert twelve.sixteen_bit == {"images": 6, "peak": 4095, "bits": 12, "clipped": 0}
    cached = prepare(samples, PixelSettings("gray", (8, 8), bit_depth=10), str(tmp_path / "cache"))
    assert (
        prepare(samples, PixelSettings("gray", (8, 8), bit_depth=10), str(tmp_path / "cache")).sixteen_bit
        == cached.sixteen_bit
        == {"images": 6, "peak": 4095, "bits": 12, "clipped": 6}
    )  # kept in the cache entry
    # predict decodes new files with the run's bit depth, as its cache entry was built
    assert np.array_equal(
        load_images([tmp_path / "d" / "a" / "0.tif"], PixelSettings("gray", (8, 8), bit_depth=12)).pixels[0],
        twelve.images[0],
    )

    assert "preprocess.bit_depth=12 keeps their contrast" in bit_depth_warnings(full.sixteen_bit, 16)[0]["message"]
    assert "6 of the 6 16-bit images have values above 1023" in bit_depth_warnings(cached.sixteen_bit, 10)[0]["message"]
    assert bit_depth_warnings(twelve.sixteen_bit, 12) == [] and bit_depth_warnings(None, 16) == []


def test_preprocess_fit_crops_or_pads_other_aspect_ratios_instead_of_stretching(tmp_path):
    wide = np.full((40, 80, 3), 100, np.uint8)
    wide[:, :20] = 255  # a bright left quarter, outside the centre square
    cv2.imwrite(str(tmp_path / "wide.png"), wide)
    stretched = to_model_pixels(wide, "rgb", (20, 20))
    assert stretched[:, :5].min() == 255  # the quarter became a quarter of the square: distorted
    cropped = to_model_pixels(wide, "rgb", (20, 20), "crop")
    assert cropped.min() == cropped.max() == 100  # the centre 40x40 only
    padded = to_model_pixels(wide, "rgb", (20, 20), "pad")
    assert padded[:5].max() == padded[-5:].max() == 0 and padded[5:15, :5].min() == 255  # black bands, all content
    assert to_model_pixels(wide[..., 0], "gray", (30, 20), "pad").shape == (30, 20, 1)
    # explain shows the original cropped like the input, at full resolution, so the heat map lies on it
    shown = load_images([tmp_path / "wide.png"], PixelSettings("rgb", (20, 20), fit="crop"), keep_originals=True)
    assert shown.originals[0].shape == (40, 40, 3) and np.array_equal(shown.pixels[0], cropped)


def test_cache_is_hit_from_a_second_process_and_rebuilt_when_damaged(tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=4)
    samples = load_image_folder(str(root))
    first = prepare(samples, PixelSettings("rgb", (12, 12)), str(tmp_path / "cache"))
    assert not first.from_cache and first.images.shape == (12, 12, 12, 3)
    code = (
        "from fungiclf.data.sources import load_image_folder; from fungiclf.data.prepare import prepare;"
        "from fungiclf.data.enhance import PixelSettings;"
        f"p = prepare(load_image_folder({str(root)!r}), PixelSettings('rgb', (12, 12)), {str(tmp_path / 'cache')!r});"
        "print(p.from_cache)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    # a changed setting is a new key; a damaged entry is rebuilt
    assert prepare(samples, PixelSettings("gray", (12, 12)), str(tmp_path / "cache")).key != first.key
    assert prepare(samples, PixelSettings("rgb", (12, 12), clahe=True), str(tmp_path / "cache")).key != first.key
    expected, key = np.array(first.images), first.key
    del first  # drop the memmap before truncating its file (reading it afterwards would SIGBUS)
    (tmp_path / "cache" / "prepared" / key / "images.npy").write_bytes(b"garbage")
    again = prepare(samples, PixelSettings("rgb", (12, 12)), str(tmp_path / "cache"))
    assert not again.from_cache and np.array_equal(again.images, expected) and again.key == key
    changed = root / "a" / "a_000.png"
    os.utime(changed, ns=(0, 10**18))  # same bytes, new modification time: a new key
    assert prepare(samples, PixelSettings("rgb", (12, 12)), None).key != key


@pytest.mark.slow  # four processes that each import Keras
def test_jobs_started_together_on_a_cold_cache_decode_once_and_read_identical_arrays(tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=4)
    go = tmp_path / "go"
    # each job waits for the same start, and decoding takes a second: without the lock all four decode
    code = (
        "import time, pathlib; from fungiclf.data import prepare as p; from fungiclf.data.sources import "
        "load_image_folder; from fungiclf.data.enhance import PixelSettings;"
        "slow = p._decode_all; p._decode_all = lambda *a: (time.sleep(1.0), slow(*a))[1];"
        f"samples = load_image_folder({str(root)!r});"
        f"[time.sleep(0.01) for _ in iter(lambda: pathlib.Path({str(go)!r}).exists(), True)];"
        f"e = p.prepare(samples, PixelSettings('rgb', (12, 12)), {str(tmp_path / 'cache')!r});"
        "print(e.from_cache, p.pixels_checksum(e.images))"
    )
    jobs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    try:
        time.sleep(3)  # all four imported and waiting
        go.touch()
        outs = [job.communicate(timeout=120)[0].split() for job in jobs]
    finally:
        for job in jobs:
            job.kill()
    assert sorted(out[0] for out in outs) == ["False", "True", "True", "True"]  # one decoded, three loaded it
    assert len({out[1] for out in outs}) == 1
    prepared = tmp_path / "cache" / "prepared"
    assert [p.name for p in prepared.iterdir() if not p.name.startswith(".")] == [
        p.name for p in prepared.iterdir() if (p / "manifest.json").exists()
    ]  # no scratch folder left


def test_synthetic_is_deterministic_and_grouped(tmp_path):
    a = ensure_synthetic(str(tmp_path / "a"), n_per_class=6, patches_per_photo=3, size=24, seed=5)
    b = ensure_synthetic(str(tmp_path / "b"), n_per_class=6, patches_per_photo=3, size=24, seed=5)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*.png")) and len(files_a) == 30
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    samples = load_image_folder(str(a), r"^(.+)_\d+\.\w+$")
    assert len(set(samples.groups)) == 10 and len(samples.class_names) == 5
    # classes=2 (smoke runs of two-class experiments): the first two classes, the same images
    two = ensure_synthetic(str(tmp_path / "a"), n_per_class=6, patches_per_photo=3, size=24, seed=5, classes=2)
    files_two = sorted(p.relative_to(two) for p in two.rglob("*.png"))
    assert (
        two != a and len(files_two) == 12 and {f.parts[0] for f in files_two} == {"branching_hyphae", "budding_yeast"}
    )
    assert all((two / f).read_bytes() == (a / f).read_bytes() for f in files_two)


def test_cache_clear_removes_prepared_arrays_only(tmp_path, capsys):
    from fungiclf.cli.data import main as data_main

    root = write_image_folder(tmp_path / "cache" / "datasets" / "mine", per_class=3)
    entry = prepare(load_image_folder(str(root)), PixelSettings("rgb", (8, 8)), str(tmp_path / "cache"))
    assert (tmp_path / "cache" / "prepared" / entry.key).is_dir()
    del entry
    data_main(["cache", "clear", "--cache-dir", str(tmp_path / "cache")])
    assert "Removed 1 prepared-array entries" in capsys.readouterr().out
    assert not (tmp_path / "cache" / "prepared").exists() and len(list(root.rglob("*.png"))) == 9


def test_enhancement_denoises_and_equalises():
    from fungiclf.data.enhance import enhance

    rng = np.random.default_rng(0)
    flat = np.full((32, 32, 1), 100, np.uint8)
    noisy = flat.copy()
    noisy[rng.random((32, 32)) < 0.05] = 255  # salt noise
    cleaned = enhance(noisy, PixelSettings("gray", (32, 32), denoise="median"))
    assert np.abs(cleaned.astype(int) - 100).mean() < 0.2 * np.abs(noisy.astype(int) - 100).mean()
    dull = np.tile(np.linspace(100, 130, 32, dtype=np.uint8), (32, 1))[..., None].repeat(3, axis=2)
    equalised = enhance(dull, PixelSettings("rgb", (32, 32), clahe=True, clahe_clip=4.0))
    assert equalised.shape == dull.shape and np.ptp(equalised) > 2 * np.ptp(dull)
