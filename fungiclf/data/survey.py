"""A look at a dataset before any work: does it carry colour, how large are its images,
is it a known MedMNIST set. Read from headers (an npz's array headers, a sample of image
files), so that resolve can decide the defaults that depend on the data.
"""

import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fungiclf.data.medmnist_info import medmnist_info
from fungiclf.data.samples import SPLITS
from fungiclf.errors import DataError

SAMPLE = 64  # image files opened per survey (evenly spread over the sorted list)
COLOUR_SPREAD = 2.0  # mean |R-G| + |G-B| (0-255 units) above which a file carries colour
COLOUR_SHARE = 0.1  # the share of sampled files with colour that makes a dataset colour
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
MEDMNIST_FILE = re.compile(r"^([a-z]+mnist)(?:_(?:64|128|224))?$")


@dataclass(frozen=True)
class Survey:
    """What the headers of a dataset say.

    Attributes:
        colour: the images carry colour (an npz's 3-channel arrays; sampled files whose
            channels differ); None when nothing could be read.
        colour_why: the evidence, as a phrase ("12 of 64 sampled files carry colour").
        size: (height, width) of the images in pixels (an npz's; the median of the sampled
            files), or None.
        size_why: the evidence, as a phrase.
        known_set: the MedMNIST set an npz is (by its file name or its split sizes), or None.
        known_why: how it was recognised.
    """

    colour: bool | None
    colour_why: str
    size: tuple[int, int] | None
    size_why: str
    known_set: str | None = None
    known_why: str = ""


def npz_headers(file: Path) -> dict[str, tuple[int, ...]]:
    """Shape of each array of an .npz, from the members' .npy headers (nothing loaded)."""
    shapes = {}
    try:
        with zipfile.ZipFile(file) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, _ = read(stream)
                shapes[member[:-4]] = tuple(int(n) for n in shape)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{str(file)!r} is not a readable .npz file ({type(exc).__name__})") from None
    return shapes


def known_medmnist(file: Path, shapes: dict[str, tuple[int, ...]]) -> tuple[str | None, str]:
    """The MedMNIST set an npz is: named like one (breastmnist_64.npz) or with one's exact
    split sizes, and with its channel count; (None, "") otherwise."""
    info = medmnist_info()
    counts = tuple(shapes.get(f"{s}_images", (0,))[0] for s in SPLITS)
    channels = 3 if len(shapes.get("train_images", ())) == 4 and shapes["train_images"][-1] == 3 else 1
    named = MEDMNIST_FILE.match(file.stem.lower())
    for name, entry in info.items():
        if entry.get("n_channels") != channels:
            continue
        if named and named.group(1) == name:
            return name, f"the file name {file.name}"
        if counts == tuple(entry["n_samples"][s] for s in SPLITS):
            return name, f"its split sizes {'/'.join(map(str, counts))}"
    return None, ""


def survey_npz(file: Path) -> Survey:
    """Colour, size and known set of an existing .npz file (a folder: load_npz says so)."""
    if not file.is_file():
        return Survey(None, "", None, "")
    shapes = npz_headers(file)
    train = shapes.get("train_images")
    if train is None or len(train) not in (3, 4):
        return Survey(None, "", None, "")  # load_npz says what is wrong with it
    colour = len(train) == 4 and train[-1] >= 3
    shape = f"train_images is {train}"
    known, known_why = known_medmnist(file, shapes)
    return Survey(colour, shape, (train[1], train[2]), shape, known, known_why)


def file_colour(path: str) -> tuple[bool, tuple[int, int]] | None:
    """(carries colour, (height, width)) of one image file from a small draft of it, or None
    when Pillow cannot read it (the decoder will say why when it is decoded)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                size = (image.height, image.width)
                if image.mode in GRAY_MODES:
                    return False, size
                image.draft("RGB", (64, 64))  # JPEG: decode at 1/2..1/8 scale
                image.thumbnail((64, 64))
                pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    except Exception:  # any unreadable file: the decoder reports it with its reason
        return None
    spread = np.abs(pixels[..., 0] - pixels[..., 1]) + np.abs(pixels[..., 1] - pixels[..., 2])
    return bool(spread.mean() > COLOUR_SPREAD), size


def survey_files(paths: list[str]) -> Survey:
    """Colour and size of the image files ``paths`` from SAMPLE of them, evenly spread."""
    chosen = (
        [paths[int(i)] for i in np.unique(np.linspace(0, len(paths) - 1, min(SAMPLE, len(paths))).round())]
        if paths
        else []
    )
    seen = [found for found in map(file_colour, chosen) if found is not None]
    if not seen:
        return Survey(None, "", None, "")
    coloured = sum(colour for colour, _ in seen)
    heights, widths = zip(*(size for _, size in seen))
    size = (int(np.median(heights)), int(np.median(widths)))
    spread = f"{min(heights)}-{max(heights)} x {min(widths)}-{max(widths)} px"
    return Survey(
        coloured >= max(1, COLOUR_SHARE * len(seen)),
        f"{coloured} of {len(seen)} sampled files carry colour",
        size,
        f"the sampled files are {spread}, median {size[0]}x{size[1]}",
    )
