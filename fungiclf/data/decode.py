"""Image decoding and pixel conversion with OpenCV. Pixels stay uint8 0-255 throughout."""

import numpy as np
import cv2

COLOR_CHANNELS = {"gray": 1, "rgb": 3}


class DecodeError(Exception):
    """This file is not an image OpenCV can read (the caller skips it)."""


def read_image(path: str) -> np.ndarray:
    """Decode one file to uint8 (H, W) or (H, W, 3) RGB; 16-bit is scaled, alpha dropped."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0:
        raise DecodeError("empty file")
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DecodeError("not a readable image")
    return to_uint8_rgb(image, bgr=True)


def to_uint8_rgb(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """Normalise depth and channels: uint8, (H, W) gray or (H, W, 3) RGB."""
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = ((image - lo) / (hi - lo or 1.0) * 255).round().astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[..., :3]
        if image.shape[2] != 3:
            raise DecodeError(f"unsupported channel count {image.shape[2]}")
        if bgr:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim != 2:
        raise DecodeError(f"unsupported image shape {image.shape}")
    return image


def to_model_pixels(image: np.ndarray, color: str, size: tuple[int, int]) -> np.ndarray:
    """Convert colour mode and resize: uint8 (height, width, 1 or 3)."""
    image = to_uint8_rgb(image)
    if color == "gray" and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif color == "rgb" and image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    height, width = size
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] >= height and image.shape[1] >= width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return image.reshape(height, width, COLOR_CHANNELS[color])
