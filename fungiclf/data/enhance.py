"""Pixel settings of the preprocess group, and the optional denoising / CLAHE step (OpenCV).

Both run once per image after resizing, when the cache entry is built, so they cost
nothing at training time and every setting is part of the cache key.
"""

from dataclasses import dataclass

import cv2
import numpy as np
from fungiclf.data.decode import to_model_pixels

DENOISERS = ["none", "median", "gaussian", "nlmeans"]


@dataclass(frozen=True)
class PixelSettings:
    """How decoded images become model input (everything here enters the cache key).

    Attributes:
        color: "gray" or "rgb".
        size: (height, width) in pixels.
        fit: how an image of another aspect ratio meets ``size``: one of FITS (stretch,
            crop the centre, or pad with black).
        bit_depth: significant bits of 16-bit files' values (8-16): ``2**bit_depth - 1`` decodes
            to 255, larger values are clipped. 8-bit files are not affected.
        max_megapixels: a file whose header says it has more pixels (millions) is skipped
            before it is decoded (a 109 KB PNG can declare 30000x30000).
        max_file_mb: a larger file (megabytes) is skipped before it is read.
        denoise: one of DENOISERS.
        denoise_kernel: median / Gaussian kernel side in pixels (odd).
        denoise_h: non-local means filter strength (OpenCV's h; larger removes more noise).
        clahe: contrast-limited adaptive histogram equalisation (on the L channel for RGB).
        clahe_clip: CLAHE clip limit.
        clahe_tiles: CLAHE grid side, in tiles.
    """

    color: str
    size: tuple[int, int]
    fit: str = "stretch"
    bit_depth: int = 16
    max_megapixels: float = 100.0
    max_file_mb: float = 1024.0
    denoise: str = "none"
    denoise_kernel: int = 3
    denoise_h: float = 10.0
    clahe: bool = False
    clahe_clip: float = 2.0
    clahe_tiles: int = 8


def enhance(image: np.ndarray, settings: PixelSettings) -> np.ndarray:
    """Denoise and/or equalise one (H, W, C) uint8 image; returns the same shape and dtype."""
    rgb = image.shape[2] == 3
    out = image if rgb else image[..., 0]
    if settings.denoise == "median":
        out = cv2.medianBlur(out, settings.denoise_kernel)
    elif settings.denoise == "gaussian":
        out = cv2.GaussianBlur(out, (settings.denoise_kernel, settings.denoise_kernel), 0)
    elif settings.denoise == "nlmeans":
        h = settings.denoise_h
        out = cv2.fastNlMeansDenoisingColored(out, None, h, h) if rgb else cv2.fastNlMeansDenoising(out, None, h)
    if settings.clahe:
        clahe = cv2.createCLAHE(clipLimit=settings.clahe_clip, tileGridSize=(settings.clahe_tiles,) * 2)
        if rgb:
            lab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)
            lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
            out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        else:
            out = clahe.apply(np.ascontiguousarray(out))
    return out.reshape(image.shape)


def model_pixels(image: np.ndarray, settings: PixelSettings) -> np.ndarray:
    """Decoded uint8 image -> model input (height, width, channels) uint8."""
    pixels = to_model_pixels(image, settings.color, settings.size, settings.fit)
    if settings.denoise != "none" or settings.clahe:
        pixels = enhance(pixels, settings)
    return pixels
