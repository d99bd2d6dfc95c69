"""New images for a finished run: find them (files, folders, globs), decode them and apply
the run's own preprocessing, skipping and listing the ones that cannot be read."""

import glob
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fungiclf.data.decode import DecodeError, decode_file, fit_aspect
from fungiclf.data.enhance import PixelSettings, model_pixels
from fungiclf.progress import progress_bar


@dataclass
class ImageBatch:
    """Decoded images ready for a model.

    Attributes:
        paths: the files that decoded, in input order.
        pixels: (N, H, W, C) uint8 in the run's preprocessing.
        originals: the decoded images at their stored resolution (uint8 RGB or gray), cropped
            or padded to the model input's aspect ratio as preprocess.fit does, so that a
            heat map of the input lies on them; for display.
        skipped: (path, reason) of files that could not be read.
        file_digests: hash of each decoded file's bytes, as in a run's split.csv.
    """

    paths: list[Path]
    pixels: np.ndarray
    originals: list[np.ndarray] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    file_digests: list[str] = field(default_factory=list)


def find_images(arguments: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named directly, every file under a named folder (hidden ones left out), and
    glob matches, in the order given, each once; and (argument, reason) for the arguments
    that name nothing."""
    found: list[Path] = []
    missing: list[tuple[str, str]] = []
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            found.append(path)
        elif any(c in argument for c in "*?["):
            matches = [Path(p) for p in sorted(glob.glob(str(path), recursive=True)) if Path(p).is_file()]
            found += matches
            if not matches:
                missing.append((argument, "the glob matches no file"))
        else:
            missing.append((argument, "no such file, folder or glob match"))
    return list(dict.fromkeys(found)), missing


def load_images(paths: list[Path], settings: PixelSettings, keep_originals: bool = False) -> ImageBatch:
    """Decode and preprocess every file as the run's cache entry was built (a progress bar
    for long lists); unreadable files are skipped with their reason."""
    height, width = settings.size
    kept, pixels, originals, skipped, digests = [], [], [], [], []
    for path in progress_bar(paths, at_least=200, desc="decode", unit="img", leave=False):
        try:
            decoded = decode_file(str(path), settings.bit_depth, settings.max_megapixels, settings.max_file_mb)
        except DecodeError as exc:
            skipped.append((str(path), str(exc)))
            continue
        kept.append(path)
        digests.append(decoded.file_digest)
        pixels.append(model_pixels(decoded.image, settings))
        if keep_originals:
            originals.append(fit_aspect(decoded.image, settings.size, settings.fit))
    channels = 1 if settings.color == "gray" else 3
    array = np.stack(pixels) if pixels else np.zeros((0, height, width, channels), np.uint8)
    return ImageBatch(kept, array, originals, skipped, digests)
