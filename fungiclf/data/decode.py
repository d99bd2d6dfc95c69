"""Image decoding (OpenCV; DICOM through data/dicom.py) and pixel conversion. Pixels stay
uint8 0-255 throughout."""

import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from fungiclf.data.dicom import decode_dicom, is_dicom
from fungiclf.errors import DecodeError

COLOR_CHANNELS = {"gray": 1, "rgb": 3}
FITS = ["stretch", "crop", "pad"]  # how an image of another aspect ratio meets preprocess.size
JPEG_START, JPEG_END, JPEG_SCAN = b"\xff\xd8", b"\xff\xd9", b"\xff\xda"
# A JPEG is decoded with its EXIF orientation applied (a phone photo tagged "rotate 90"
# stands upright); IMREAD_UNCHANGED, which keeps alpha and 16 bits, ignores it, and JPEGs
# have neither.
JPEG_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH


def decode_unchanged(raw: bytes | np.ndarray) -> np.ndarray:
    """Decode encoded image bytes as stored: any depth, BGR(A) channel order; a JPEG upright
    by its EXIF orientation.

    A JPEG whose last scan has no end-of-image marker after it is refused: OpenCV would
    silently fill the missing rows with gray. Bytes after the marker (what some cameras and
    editors append) are allowed.
    """
    buffer = np.frombuffer(raw, np.uint8) if isinstance(raw, bytes) else raw
    if buffer.size == 0:
        raise DecodeError("empty file")
    jpeg = bytes(buffer[:2]) == JPEG_START
    if jpeg:
        data = buffer.tobytes()
        if data.rfind(JPEG_END) < data.rfind(JPEG_SCAN):  # an EXIF thumbnail's marker comes before the scan
            raise DecodeError("truncated JPEG (no end-of-image marker after its last scan)")
    image = cv2.imdecode(buffer, JPEG_FLAGS if jpeg else cv2.IMREAD_UNCHANGED)
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
        mode: how it was stored ("rgb8", "gray16", "rgba8", "dicom-gray12", ...).
        file_digest: hash of the file bytes (of the array, for array sources).
        pixel_digest: hash of ``image``: equal for files that decode alike.
        peak: the largest stored value of the colour channels of an integer image (up to
            65535 for 16-bit files: it tells how many of their bits are used); 255 for floats
            and DICOM files (which are windowed, not scaled by bit depth).
    """

    image: np.ndarray
    mode: str
    file_digest: str
    pixel_digest: str
    peak: int


def decode_file(path: str, bit_depth: int = 16, max_megapixels: float = 100.0, max_file_mb: float = 1024.0) -> Decoded:
    """Read and decode one image file; raises DecodeError when it cannot, or when it is
    larger than ``max_file_mb`` megabytes or its header declares more than ``max_megapixels``
    million pixels (checked before reading, and before decoding).

    Args:
        path: the image file.
        bit_depth: significant bits of a 16-bit file's values (see to_uint8_rgb).
    """
    try:
        size = os.stat(path).st_size
        if size > max_file_mb * 1e6:
            raise DecodeError(f"{size / 1e6:.0f} MB, over preprocess.max_file_mb={max_file_mb:g}: not read")
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:  # permissions, a file that vanished, an I/O error
        raise DecodeError(f"cannot read ({exc.strerror or exc})") from None
    check_header(raw, max_megapixels)
    digest = hashlib.blake2b(raw.data, digest_size=16).hexdigest()
    if is_dicom(raw):
        image, mode = decode_dicom(raw)
        return Decoded(image, mode, digest, pixel_digest(image), 255)
    stored = decode_unchanged(raw)
    image = to_uint8_rgb(stored, bgr=True, bit_depth=bit_depth)
    colors = color_channels(stored)
    peak = int(colors.max()) if colors.dtype.kind in "ui" else 255
    return Decoded(image, image_mode(stored), digest, pixel_digest(image), peak)


def check_header(raw: np.ndarray, max_megapixels: float) -> None:
    """Refuse a file whose header declares more than ``max_megapixels`` million pixels, before
    decoding it. Pillow reads the header alone; a format it does not know is left to OpenCV."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw.data)) as header:
                width, height = header.size
    except Image.DecompressionBombError as exc:  # over twice Pillow's own limit: its message says the size
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(declared.group(1)) if declared else 2 * Image.MAX_IMAGE_PIXELS
        if pixels > max_megapixels * 1e6:
            raise DecodeError(
                f"its header declares {pixels / 1e6:.0f} megapixels, over preprocess.max_megapixels="
                f"{max_megapixels:g}: not decoded"
            ) from None
        return
    except Exception:  # DICOM, or a file Pillow cannot read: OpenCV decides
        return
    if width * height > max_megapixels * 1e6:
        raise DecodeError(
            f"its header declares {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), over "
            f"preprocess.max_megapixels={max_megapixels:g}: not decoded"
        )


def decode_array(array: np.ndarray) -> Decoded:
    """An item of an array source (RGB order), normalised like a decoded file."""
    image = to_uint8_rgb(np.asarray(array))
    digest = pixel_digest(image)
    return Decoded(image, image_mode(np.asarray(array)), digest, digest, int(image.max()))


def follows_bit_depth(mode: str) -> bool:
    """Whether a file of this mode is scaled by preprocess.bit_depth: a 16-bit image that is
    not DICOM (DICOM is windowed instead)."""
    return mode.endswith("16") and not mode.startswith("dicom")


def sixteen_bit_summary(peaks: np.ndarray, bit_depth: int = 16) -> dict | None:
    """Of the 16-bit files whose largest stored values are ``peaks`` (one per file): how many
    ("images"), the largest value ("peak"), the preprocess.bit_depth that fits it ("bits")
    and how many exceed ``2**bit_depth - 1`` ("clipped"); None when there are none."""
    if len(peaks) == 0:
        return None
    peak = int(np.max(peaks))
    return {
        "images": len(peaks),
        "peak": peak,
        "bits": max(peak.bit_length(), 8),
        "clipped": int((np.asarray(peaks) > (1 << bit_depth) - 1).sum()),
    }


def read_image(path: str) -> np.ndarray:
    """Decode one file to uint8 (H, W) or (H, W, 3) RGB; 16-bit is scaled, alpha dropped."""
    return decode_file(path).image


def color_channels(image: np.ndarray) -> np.ndarray:
    """The stored image without its alpha channel: (H, W) or (H, W, 3), any depth."""
    if image.ndim == 3 and image.shape[2] in (1, 2):
        return image[..., 0]
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., :3]
    if image.ndim == 3 and image.shape[2] != 3:
        raise DecodeError(f"unsupported channel count {image.shape[2]}")
    if image.ndim not in (2, 3):
        raise DecodeError(f"unsupported image shape {image.shape}")
    return image


def to_uint8_rgb(image: np.ndarray, bgr: bool = False, bit_depth: int = 16) -> np.ndarray:
    """Normalise depth and channels: uint8, (H, W) gray or (H, W, 3) RGB.

    A 16-bit image is scaled so that ``2**bit_depth - 1`` becomes 255 (values above it are
    clipped): 16 for the container's full range, 12 for a 12-bit camera's files. A float
    image is scaled by its type's range, [0, 1] to 0-255, the same for every image (never by
    its own minimum and maximum, which would make a dim image as bright as a bright one);
    one with values outside [0, 1] is refused with the reason, as is another integer type
    whose values do not fit 0-255.
    """
    image = color_channels(image)
    if image.dtype == np.uint16:
        image = np.minimum(image * (255.0 / ((1 << bit_depth) - 1)), 255.0).round().astype(np.uint8)
    elif image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise DecodeError("pixels that are not finite numbers (NaN or infinity)")
        lo, hi = float(image.min()), float(image.max())
        if lo < 0 or hi > 1:
            raise DecodeError(
                f"float pixels from {lo:g} to {hi:g}, outside [0, 1], the range fungiclf scales "
                f"floats by: save them as 8- or 16-bit integers, or scaled to [0, 1]"
            )
        image = (image * 255.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:  # int8, int32, int64 ...: taken as they are when they fit 0-255
        if image.dtype.kind not in "iu" or image.min() < 0 or image.max() > 255:
            raise DecodeError(
                f"{image.dtype} pixels from {image.min()} to {image.max()}: fungiclf reads 8- and "
                f"16-bit unsigned integers, other integers within 0-255, and floats in [0, 1]"
            )
        image = image.astype(np.uint8)
    if bgr and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def pixel_digest(image: np.ndarray) -> str:
    """Hash of decoded pixels and their shape: equal for two files that decode alike."""
    digest = hashlib.blake2b(str(image.shape).encode(), digest_size=16)
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def fit_aspect(image: np.ndarray, size: tuple[int, int], fit: str) -> np.ndarray:
    """Bring ``image`` to the aspect ratio of ``size`` (height, width) at its own resolution:
    "crop" keeps the centre, "pad" adds black borders on both sides, "stretch" leaves it
    (the resize then distorts it)."""
    height, width = image.shape[:2]
    target_height, target_width = size
    wide = width * target_height > height * target_width
    if fit == "stretch" or width * target_height == height * target_width:
        return image
    if fit == "crop":
        if wide:
            keep = max(1, round(height * target_width / target_height))
            return image[:, (width - keep) // 2 : (width - keep) // 2 + keep]
        keep = max(1, round(width * target_height / target_width))
        return image[(height - keep) // 2 : (height - keep) // 2 + keep]
    extra = (
        (round(width * target_height / target_width) - height)
        if wide
        else (round(height * target_width / target_height) - width)
    )
    before, after = extra // 2, extra - extra // 2
    borders = (before, after, 0, 0) if wide else (0, 0, before, after)
    return cv2.copyMakeBorder(image, *borders, cv2.BORDER_CONSTANT, value=0)


def to_model_pixels(image: np.ndarray, color: str, size: tuple[int, int], fit: str = "stretch") -> np.ndarray:
    """Convert colour mode, fit the aspect ratio (FITS) and resize: uint8 (height, width, 1 or 3)."""
    image = fit_aspect(to_uint8_rgb(image), size, fit)
    if color == "gray" and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif color == "rgb" and image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    height, width = size
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] >= height and image.shape[1] >= width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return image.reshape(height, width, COLOR_CHANNELS[color])
