"""DICOM files: windowed, inverted when MONOCHROME1, refused in one reason when unreadable."""

import json
import sys

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from fungiclf.data.decode import DecodeError, decode_file
from fungiclf.train import run_job, train


def write_dicom(path, pixels: np.ndarray, photometric: str = "MONOCHROME2", bits: int = 12, **tags) -> None:
    """An uncompressed single-frame grayscale DICOM file of uint16 ``pixels`` (H, W)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    for name, value in tags.items():
        setattr(ds, name, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_pixels_are_windowed_stretched_and_inverted_for_monochrome1(tmp_path):
    ramp = (np.arange(64).reshape(8, 8) * 64).astype(np.uint16)  # 0-4032 of a 12-bit detector
    write_dicom(tmp_path / "plain.dcm", ramp)
    decoded = decode_file(str(tmp_path / "plain.dcm"))
    assert decoded.mode == "dicom-gray12" and decoded.image.dtype == np.uint8
    assert decoded.image.min() == 0 and decoded.image.max() == 255 and decoded.image[0, 1] < decoded.image[0, 2]
    write_dicom(tmp_path / "inverted.dcm", ramp, "MONOCHROME1")
    assert np.array_equal(decode_file(str(tmp_path / "inverted.dcm")).image, 255 - decoded.image)
    write_dicom(tmp_path / "window.dcm", ramp, WindowCenter=1024, WindowWidth=1024)  # 512-1536 shown
    windowed = decode_file(str(tmp_path / "window.dcm")).image
    assert windowed[0, 0] == windowed[0, 7] == 0 and windowed[-1, -1] == 255 and windowed[4, 0] == 255  # 2048: above it
    assert 0 < windowed[1, 7] < 255  # 960: inside the window


def test_unreadable_dicom_files_are_skipped_with_a_reason(tmp_path, monkeypatch):
    write_dicom(tmp_path / "frames.dcm", np.zeros((3, 8, 8)), NumberOfFrames=3)
    with pytest.raises(DecodeError, match="of 3 frames"):
        decode_file(str(tmp_path / "frames.dcm"))
    write_dicom(tmp_path / "ok.dcm", np.ones((8, 8)))
    (tmp_path / "cut.dcm").write_bytes((tmp_path / "ok.dcm").read_bytes()[:-40])  # pixel data cut short
    with pytest.raises(DecodeError, match="DICOM pixel data cannot be read"):
        decode_file(str(tmp_path / "cut.dcm"))
    monkeypatch.setitem(sys.modules, "pydicom", None)  # not installed
    with pytest.raises(DecodeError, match=r"needs pydicom \(pip install \"fungiclf\[dicom\]\"\)"):
        decode_file(str(tmp_path / "ok.dcm"))


def test_a_folder_of_dicom_files_trains(make_cfg, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for k, name in enumerate(("normal", "opacity")):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 1500, (24, 24))
            pixels[:, 4 + 12 * k : 8 + 12 * k] = 4000
            write_dicom(tmp_path / "d" / name / f"{i}.dcm", pixels, bits=16)
    cfg = make_cfg(
        "dataset=image_folder",
        f"dataset.path={tmp_path / 'd'}",
        "preprocess.color=gray",
        "model=logreg",
        "preprocess.size=12",
    )
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "pydicom", None)  # not installed: the one line says what to do
        assert run_job(cfg, tmp_path / "without") is None
    error = json.loads((tmp_path / "without" / "metrics.json").read_text())["error"]
    assert "none of the 24 files could be decoded" in error and 'pip install "fungiclf[dicom]"' in error
    metrics = train(cfg, tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["skipped"] == [] and metrics["test"]["accuracy"] == 1.0
    assert "bit_depth" not in [w["kind"] for w in metrics["warnings"]]  # windowed, not scaled by bit depth
