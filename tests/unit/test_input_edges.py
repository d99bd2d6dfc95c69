"""Inputs at the edges: EXIF orientation, bytes after a JPEG's end, float TIFFs, files too
large to decode, an .npy passed as .npz, and CSV tables that spell one file or class twice."""

import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fungiclf.data.decode import decode_file
from fungiclf.data.sources import load_npz
from fungiclf.data.table import load_csv
from fungiclf.errors import DataError, DecodeError


def test_a_jpeg_is_turned_upright_by_its_exif_orientation(tmp_path):
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = 255  # white on the left, 20 high x 40 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(image).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    shown = decode_file(str(tmp_path / "phone.jpg")).image
    assert shown.shape[:2] == (40, 20)  # upright: tall, not wide
    assert shown[:20].mean() > 200 and shown[20:].mean() < 50  # the white half is on top after the turn


def test_bytes_after_a_jpegs_end_marker_are_accepted_and_a_cut_jpeg_is_not(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.jpg"), noise)
    whole = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "trailer.jpg").write_bytes(whole + b"\x00" * 500 + b"camera maker notes")
    assert np.array_equal(decode_file(str(tmp_path / "trailer.jpg")).image, decode_file(str(tmp_path / "a.jpg")).image)
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # inside the scan: OpenCV would fill it with gray
    with pytest.raises(DecodeError, match="truncated JPEG"):
        decode_file(str(tmp_path / "cut.jpg"))


def test_float_tiffs_are_scaled_by_the_types_range_not_per_image(tmp_path):
    cv2.imwrite(str(tmp_path / "dim.tif"), np.full((8, 8), 0.25, np.float32))
    cv2.imwrite(str(tmp_path / "bright.tif"), np.full((8, 8), 0.75, np.float32))
    assert decode_file(str(tmp_path / "dim.tif")).image.max() == 64
    assert decode_file(str(tmp_path / "bright.tif")).image.max() == 191
    cv2.imwrite(str(tmp_path / "counts.tif"), np.full((8, 8), 4095.0, np.float32))
    with pytest.raises(DecodeError, match=r"outside \[0, 1\]"):
        decode_file(str(tmp_path / "counts.tif"))


def bomb_png(path: Path, side: int) -> Path:
    """A valid PNG header declaring side x side gray pixels, with one tiny compressed row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(side + 1)))
        + chunk(b"IEND", b"")
    )
    return path


def test_an_image_whose_header_declares_too_many_pixels_is_skipped_before_decoding(tmp_path):
    png = bomb_png(tmp_path / "bomb.png", 30000)
    assert png.stat().st_size < 2000
    with pytest.raises(DecodeError, match=r"header declares 900 megapixels, over preprocess.max_megapixels=100"):
        decode_file(str(png), max_megapixels=100)
    small = bomb_png(tmp_path / "small.png", 3000)  # 9 megapixels: under Pillow's own limit, over ours
    with pytest.raises(
        DecodeError,
        match=r"header declares 3000x3000 pixels \(9 megapixels\), over "
        r"preprocess.max_megapixels=5",
    ):
        decode_file(str(small), max_megapixels=5)


def test_a_file_over_the_byte_cap_is_not_read(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64), np.uint8))
    with pytest.raises(DecodeError, match="over preprocess.max_file_mb=1e-05: not read"):
        decode_file(str(tmp_path / "a.png"), max_file_mb=0.00001)


def test_an_npy_renamed_npz_is_refused_in_one_line(tmp_path):
    np.save(tmp_path / "data.npy", np.zeros((4, 8, 8), np.uint8))
    (tmp_path / "data.npy").rename(tmp_path / "data.npz")
    with pytest.raises(DataError, match="is a single .npy array, not a .npz archive"):
        load_npz(str(tmp_path / "data.npz"))


def write_table(root: Path, rows: list[tuple[str, str]]) -> Path:
    for name, _ in rows:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if not (root / name).exists():
            cv2.imwrite(str(root / name), np.zeros((8, 8), np.uint8))
    pd.DataFrame(rows, columns=["image", "label"]).to_csv(root / "table.csv", index=False)
    return root / "table.csv"


def test_one_file_under_two_spellings_is_listed_twice(tmp_path):
    table = write_table(tmp_path, [("a.png", "x"), ("b.png", "y"), ("./a.png", "y")])
    with pytest.raises(DataError, match="listed more than once .*'./a.png', perhaps under another spelling"):
        load_csv(str(table))


def test_a_class_name_in_nfc_and_nfd_is_one_class(tmp_path):
    nfc, nfd = "n\u00e9vus", "ne\u0301vus"
    assert nfc != nfd
    table = write_table(tmp_path, [("a.png", nfc), ("b.png", nfd), ("c.png", "melanoma")])
    samples = load_csv(str(table))
    assert samples.class_names == ["melanoma", nfc] and list(samples.labels) == [1, 1, 0]
