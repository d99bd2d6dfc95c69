"""New images for a finished run: find them (files, folders, globs, the arrays of an .npz),
decode them and apply the run's own preprocessing, skipping and listing the ones that
cannot be read."""

import glob
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fungiclf.data.decode import DecodeError, decode_file, fit_aspect
from fungiclf.data.enhance import PixelSettings, model_pixels
from fungiclf.data.medmnist_info import medmnist_info
from fungiclf.data.prepare import prepare
from fungiclf.data.sources import load_npz
from fungiclf.data.survey import known_medmnist, npz_headers
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
        file_digests: hash of each decoded file's bytes, as in a run's split.csv ("" for an
            npz's arrays).
        labels: each image's class name where its source says it (an npz's labels, named as
            its known MedMNIST set names them, else "0", "1", ...), else None.
    """

    paths: list[Path]
    pixels: np.ndarray
    originals: list[np.ndarray] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    file_digests: list[str] = field(default_factory=list)
    labels: list[str | None] = field(default_factory=list)


def find_images(arguments: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named directly, every file under a named folder (hidden ones left out), and
    glob matches, in the order given, each once; and (argument, reason) for the arguments
    that name nothing."""
    found: list[Path] = []
    missing: list[tuple[str, str]] = []
    for argument in arguments:
        path = Path(argument).expanduser()
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
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


def npz_item(file: Path, item: str) -> Path:
    """How an npz's array row is named in outputs: ``data.npz:test/17``."""
    return Path(f"{file}:{item}")


def load_npz_images(file: Path, split: str | None, settings: PixelSettings, keep_originals: bool = False) -> ImageBatch:
    """The rows of an .npz (its ``split`` arrays, or all) in the run's preprocessing, with
    their labels' names."""
    samples = load_npz(str(file))
    chosen = np.flatnonzero(samples.given_split == split) if split else np.arange(len(samples))
    samples = samples.subset(chosen)
    prepared = prepare(samples, settings, None)
    known, _ = known_medmnist(file, npz_headers(file))
    names = medmnist_info()[known]["label"] if known else {}
    kept = prepared.kept
    labels = [names.get(str(samples.labels[i]), str(samples.labels[i])) for i in kept]
    originals = [fit_aspect(samples.images[i], settings.size, settings.fit) for i in kept] if keep_originals else []
    return ImageBatch(
        [npz_item(file, samples.ids[i]) for i in kept],
        prepared.images,
        originals,
        [(str(npz_item(file, item)), reason) for item, reason in prepared.skipped],
        [""] * len(kept),
        labels,
    )


def load_inputs(
    arguments: list[str], settings: PixelSettings, split: str | None = None, keep_originals: bool = False
) -> tuple[ImageBatch, list[Path]]:
    """Every image the arguments name: .npz files (their ``split`` arrays), then image files,
    folders and globs; and the files read (to keep outputs off them)."""
    arrays = [Path(a).expanduser() for a in arguments if a.endswith(".npz") and Path(a).expanduser().is_file()]
    paths, missing = find_images([a for a in arguments if Path(a).expanduser() not in arrays])
    batches = [load_npz_images(file, split, settings, keep_originals) for file in arrays]
    files = load_images(paths, settings, keep_originals)
    files.labels = [None] * len(files.paths)
    batches.append(files)
    merged = ImageBatch(
        [p for b in batches for p in b.paths],
        np.concatenate([b.pixels for b in batches]),
        [o for b in batches for o in b.originals],
        [*missing, *(x for b in batches for x in b.skipped)],
        [d for b in batches for d in b.file_digests],
        [lab for b in batches for lab in b.labels],
    )
    return merged, [*arrays, *paths]
