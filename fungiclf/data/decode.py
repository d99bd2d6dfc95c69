"""Image decoding and pixel conversion with OpenCV. Pixels stay uint8 0-255 throughout."""

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

COLOR_CHANNELS = {"gray": 1, "rgb": 3}
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"


class DecodeError(Exception):
    """This file is not an image OpenCV can read (the caller skips it)."""


def decode_unchanged(raw: bytes | np.ndarray) -> np.ndarray:
    """Decode encoded image bytes as stored: any depth, BGR(A) channel order.

    A JPEG without its end-of-image marker is refused: OpenCV would silently fill the
    missing rows with gray.
    """
    buffer = np.frombuffer(raw, np.uint8) if isinstance(raw, bytes) else raw
    if buffer.size == 0:
        raise DecodeError("empty file")
    if bytes(buffer[:2]) == JPEG_START and JPEG_END not in bytes(buffer[-64:]):
        raise DecodeError("truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise DecodeError("not a readable image")
    return image


def image_mode(image: np.ndarray) -> str:
    """A short description of a decoded image's storage: "gray8", "rgb8", "rgba16", ..."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    name = {1: "gray", 2: "gray+alpha", 3: "rgb", 4: "rgba"}.get(channels, f"{channels}ch")
    return f"{name}{image.dtype.itemsize * 8}"


@dataclass
class Decoded:
    """One decoded item.

    Attributes:
        image: uint8 (H, W) gray or (H, W, 3) RGB at the stored size.
        mode: how it was stored ("rgb8", "gray16", "rgba8", ...).
        file_digest: hash of the file bytes (of the array, for array sources).
        pixel_digest: hash of ``image``: equal for files that decode alike.
    """

    image: np.ndarray
    mode: str
    file_digest: str
    pixel_digest: str


def decode_file(path: str) -> Decoded:
    """Read and decode one image file; raises DecodeError when it cannot."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:  # permissions, a file that vanished, an I/O error
        raise DecodeError(f"cannot read ({exc.strerror or exc})") from None
    stored = decode_unchanged(raw)
    image = to_uint8_rgb(stored, bgr=True)
    return Decoded(image, image_mode(stored), hashlib.blake2b(raw.data, digest_size=16).hexdigest(), pixel_digest(image))


def decode_array(array: np.ndarray) -> Decoded:
    """An item of an array source (RGB order), normalised like a decoded file."""
    image = to_uint8_rgb(np.asarray(array))
    digest = pixel_digest(image)
    return Decoded(image, image_mode(np.asarray(array)), digest, digest)


def read_image(path: str) -> np.ndarray:
    """Decode one file to uint8 (H, W) or (H, W, 3) RGB; 16-bit is scaled, alpha dropped."""
    return decode_file(path).image


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
        if image.shape[2] in (2, 4):  # drop alpha
            image = image[..., 0] if image.shape[2] == 2 else image[..., :3]
        if image.ndim == 3 and image.shape[2] != 3:
            raise DecodeError(f"unsupported channel count {image.shape[2]}")
        if bgr and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim != 2:
        raise DecodeError(f"unsupported image shape {image.shape}")
    return np.ascontiguousarray(image)


def pixel_digest(image: np.ndarray) -> str:
    """Hash of decoded pixels and their shape: equal for two files that decode alike."""
    digest = hashlib.blake2b(str(image.shape).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


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
