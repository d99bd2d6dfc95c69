"""DICOM files (X-ray, CT slice) as uint8 pixels, through pydicom (``pip install "fungiclf[dicom]"``).

A grayscale image gets the modality LUT (rescale slope and intercept) and the VOI LUT (the
file's window centre and width, when it has one), is stretched from its minimum to its
maximum onto 0-255, and is inverted when stored as MONOCHROME1 (white = low values), so
that bone is bright in every file. Colour images come as RGB.
"""

import io

import numpy as np

from fungiclf.errors import DecodeError

DICOM_MAGIC_OFFSET, DICOM_MAGIC = 128, b"DICM"


def is_dicom(raw: np.ndarray | bytes) -> bool:
    """Whether encoded bytes are a DICOM file (the "DICM" marker after the 128-byte preamble)."""
    return bytes(raw[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4]) == DICOM_MAGIC


def decode_dicom(raw: np.ndarray | bytes) -> tuple[np.ndarray, str]:
    """(uint8 (H, W) gray or (H, W, 3) RGB, mode such as "dicom-gray12") of one DICOM file;
    raises DecodeError when pydicom is missing or the pixels cannot be read."""
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError:
        raise DecodeError('a DICOM file: reading it needs pydicom (pip install "fungiclf[dicom]")') from None
    try:
        dataset = pydicom.dcmread(io.BytesIO(bytes(raw)))
        pixels = dataset.pixel_array
    except Exception as exc:  # pydicom raises many types: no pixel data, a compression without its decoder
        raise DecodeError(f"DICOM pixel data cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from None
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DecodeError(f"a DICOM file of {frames} frames; one image per file is supported")
    bits = int(dataset.get("BitsStored", pixels.dtype.itemsize * 8))
    if int(dataset.get("SamplesPerPixel", 1)) == 3:
        if pixels.dtype != np.uint8:
            pixels = np.round(pixels / max(float(pixels.max()), 1.0) * 255)
        return np.ascontiguousarray(pixels.astype(np.uint8)), f"dicom-rgb{bits}"
    values = apply_voi_lut(apply_modality_lut(pixels, dataset), dataset).astype(np.float64)
    low, high = float(values.min()), float(values.max())
    image = np.round((values - low) / (high - low or 1.0) * 255).astype(np.uint8)
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        image = 255 - image
    return np.ascontiguousarray(image), f"dicom-gray{bits}"
