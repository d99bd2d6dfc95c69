"""fungiclf-data info, and every kind of bad input file: handled or refused in one line."""

import json
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from fungiclf.cli.data import main as data_main
from fungiclf.data.decode import DecodeError, read_image
from fungiclf.data.sources import load_npz
from fungiclf.errors import DataError
from tests.conftest import write_image_folder, write_npz


def messy_folder(root):
    """Three classes of readable images, plus every awkward kind of file in class a/."""
    write_image_folder(root, per_class=6, size=24)
    a = root / "a"
    good = a / "a_000.png"
    shutil.copy(good, a / "copy_of_a_000.png")  # same bytes
    cv2.imwrite(str(a / "a_000_as.bmp"), cv2.imread(str(good)))  # same pixels, other bytes
    (a / "zero.png").write_bytes(b"")
    (a / "notes.txt").write_text("not an image")
    jpeg = cv2.imencode(".jpg", np.full((40, 40, 3), 128, np.uint8))[1].tobytes()
    (a / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    png = cv2.imencode(".png", np.full((30, 30), 9, np.uint8))[1].tobytes()
    (a / "truncated.png").write_bytes(png[: len(png) - 20])
    (a / "corrupt.tif").write_bytes(b"II*\x00" + b"\x13" * 64)
    cv2.imwrite(str(a / "deep16.png"), np.full((20, 20), 40000, np.uint16))
    cv2.imwrite(str(a / "alpha.png"), np.full((20, 30, 4), 200, np.uint8))
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).convert("P").save(a / "palette.png")
    Image.fromarray(np.full((18, 18), 3000, np.uint16)).save(a / "deep16.tif")
    return root


def test_awkward_files_are_converted_or_skipped_with_a_reason(tmp_path):
    root = messy_folder(tmp_path / "d")
    a = root / "a"
    for name in ("zero.png", "notes.txt", "truncated.jpg", "truncated.png", "corrupt.tif"):
        with pytest.raises(DecodeError):
            read_image(str(a / name))
    assert read_image(str(a / "deep16.png")).max() == round(40000 / 257)
    assert read_image(str(a / "alpha.png")).shape == (20, 30, 3)
    assert read_image(str(a / "palette.png")).ndim in (2, 3)
    assert read_image(str(a / "deep16.tif")).dtype == np.uint8
    cv2.imwrite(str(a / "nan.tif"), np.full((6, 6), np.nan, np.float32))
    with pytest.raises(DecodeError, match="not finite"):
        read_image(str(a / "nan.tif"))


def test_info_reports_classes_modes_unreadable_and_duplicates(tmp_path, capsys):
    root = messy_folder(tmp_path / "d")
    data_main(["info", str(root), "--json", str(tmp_path / "info.json")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "info.json").read_text())
    per_class = {row["class"]: row for row in report["per_class"]}
    assert report["images"] == 6 * 3 + 11 and per_class["a"]["images"] == 17 and per_class["b"]["unreadable"] == 0
    assert {u["id"].split("/")[-1] for u in report["unreadable"]} == {
        "zero.png",
        "notes.txt",
        "truncated.jpg",
        "truncated.png",
        "corrupt.tif",
    }
    assert report["exact_duplicates"] == [["a/a_000.png", "a/copy_of_a_000.png"]]
    assert report["pixel_duplicates"] == [["a/a_000.png", "a/a_000_as.bmp", "a/copy_of_a_000.png"]]
    assert "gray16" in per_class["a"]["modes"] and "rgba8" in per_class["a"]["modes"]
    assert "24x24 (6)" in per_class["b"]["sizes"]
    assert "unreadable files: 5" in out and "exact duplicates (same bytes): 2 files in 1 sets" in out
    assert report["sixteen_bit"] == {"images": 2, "peak": 40000, "bits": 16, "clipped": 0}
    assert "16-bit images: 2, largest value 40000 (16 bits used): the default preprocess.bit_depth=16 fits them" in out


def test_info_groups_with_a_dataset_preset(tmp_path, capsys):
    root = tmp_path / "defungi"
    for cls in ("H1", "H2"):
        write_image_folder(root, classes=(cls,), per_class=6, photos=3)
        for f in (root / cls).iterdir():  # photograph 0 -> H1_100a_<patch>.png, photograph 1 -> H1_101a_<patch>.png
            photo, patch = f.stem.split("_")[1:]
            f.rename(f.with_name(f"{cls}_{100 + int(photo)}a_{patch}.png"))
    data_main(["info", str(root), "--dataset", "defungi"])
    assert "12 images, 2 classes, 4 groups" in capsys.readouterr().out
    data_main(["info", str(root), "--dataset", "defungi", "--group-by", "none"])
    assert capsys.readouterr().out.splitlines()[0].endswith("12 images, 2 classes")
    with pytest.raises(SystemExit):
        data_main(["info", str(root), "--group-by", "slide"])  # image_folder's only preset is folder
    assert "'group_by'" in (err := capsys.readouterr().err) and "folder" in err
    with pytest.raises(SystemExit):
        data_main(["info", str(tmp_path / "x.npz"), "--group-by", "folder"])
    assert "needs a dataset with group presets" in capsys.readouterr().err


def test_npz_labels_out_of_range_and_lengths_are_refused(tmp_path):
    arrays = dict(np.load(write_npz(tmp_path / "ok.npz")))
    arrays["val_labels"] = arrays["val_labels"] + 5
    np.savez(tmp_path / "range.npz", **arrays)
    with pytest.raises(DataError, match=r"range.npz.*labels must lie in \[0, 1\]"):
        load_npz(str(tmp_path / "range.npz"), class_names=["normal", "pneumonia"])
    arrays = dict(np.load(write_npz(tmp_path / "ok.npz")))
    arrays["train_labels"] = arrays["train_labels"][:5]
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(DataError, match="train_images has 40 rows but train_labels has 5"):
        load_npz(str(tmp_path / "short.npz"))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.npz' is not a readable .npz"):
        load_npz(str(tmp_path / "junk.npz"))


def test_a_run_on_the_messy_folder_skips_and_counts_the_bad_files(make_cfg, tmp_path):
    from fungiclf.train import train

    root = messy_folder(tmp_path / "d")
    metrics = train(
        make_cfg("dataset=image_folder", f"dataset.path={root}", "model=logreg", "preprocess.size=12"), tmp_path / "run"
    )
    assert metrics["status"] == "completed" and metrics["skipped_files"] == 5
    assert {s[0] for s in metrics["skipped"]} == {
        f"a/{n}" for n in ("zero.png", "notes.txt", "truncated.jpg", "truncated.png", "corrupt.tif")
    }
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 6 * 3 + 11 - 5


def test_a_failed_load_writes_no_cache_entry(tmp_path):
    from fungiclf.data.enhance import PixelSettings
    from fungiclf.data.prepare import prepare
    from fungiclf.data.sources import load_image_folder

    for cls in ("a", "b"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        (tmp_path / "d" / cls / "x.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(DataError, match="none of the 2 files could be decoded"):
        prepare(load_image_folder(str(tmp_path / "d")), PixelSettings("rgb", (8, 8)), str(tmp_path / "cache"))
    assert [p.name for p in (tmp_path / "cache" / "prepared").glob("*")] in ([], [".locks"])  # a lock file may stay


def test_symlink_loops_and_dangling_links_are_counted(make_cfg, tmp_path):
    from fungiclf.train import train

    root = write_image_folder(tmp_path / "d", per_class=8, size=12)
    (root / "a" / "loop").symlink_to(root / "a", target_is_directory=True)  # a/loop/loop/... forever
    (root / "b" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    metrics = train(
        make_cfg("dataset=image_folder", f"dataset.path={root}", "model=logreg", "preprocess.size=12"), tmp_path / "run"
    )
    assert metrics["skipped_files"] == 2
    assert sorted(metrics["skipped"]) == [["a/loop", "symbolic link loop"], ["b/gone.png", "link to nothing"]]
    assert metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 24  # every real image, once


def test_a_cache_dir_that_cannot_be_written(tmp_path, caplog):
    from fungiclf.data.enhance import PixelSettings
    from fungiclf.data.prepare import prepare
    from fungiclf.data.sources import load_image_folder
    from fungiclf.data.synthetic import ensure_synthetic

    (tmp_path / "a_file").write_text("not a folder")
    cache = str(tmp_path / "a_file" / "cache")
    # decoded images are used without the cache, and the log says why
    samples = load_image_folder(str(write_image_folder(tmp_path / "d", per_class=3)))
    prepared = prepare(samples, PixelSettings("rgb", (8, 8)), cache)
    assert prepared.images.shape == (len(samples), 8, 8, 3) and not prepared.from_cache
    assert "Not caching the prepared images" in caplog.text and "paths.cache_dir=" in caplog.text
    # the synthetic dataset has nowhere else to go: one line naming the key
    with pytest.raises(DataError, match=r"^paths.cache_dir=.*a_file/cache: cannot write the synthetic dataset"):
        ensure_synthetic(cache, n_per_class=2)
