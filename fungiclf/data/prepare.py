"""Decode once: turn Samples into a uint8 image array, cached on disk across processes.

Cache entry ``<cache_dir>/prepared/<key>/``: ``images.npy`` (N, H, W, C) uint8, loaded
memory-mapped, and ``manifest.json`` (key, shape, kept indices, skipped files, and per
kept item a digest of its file bytes and of its decoded pixels, for duplicate checks, and a
checksum of images.npy's pixels). The key hashes the item list (path, size, mtime, and the
inode and ctime that no copy tool restores, or the array bytes) and every preprocessing
setting, so a changed file or setting makes a new entry, even one whose size and mtime were
kept (``cp -p``, rsync, unzip). Entries are built under a lock, so jobs sharing a cache decode
once, written to a temporary folder and renamed into place; a complete entry is never
replaced, and a damaged one (its pixels no longer match their checksum) fails verification
on load and is rebuilt.
"""

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash
from filelock import FileLock, Timeout

from fungiclf.data.decode import (
    COLOR_CHANNELS,
    DecodeError,
    decode_array,
    decode_file,
    follows_bit_depth,
    sixteen_bit_summary,
)
from fungiclf.data.enhance import PixelSettings, model_pixels
from fungiclf.data.samples import Samples
from fungiclf.errors import DataError
from fungiclf.progress import progress_bar
from fungiclf.scratch import scratch_path

log = logging.getLogger(__name__)

CACHE_FORMAT = 5
MANIFEST = "manifest.json"
LOCKS = ".locks"  # prepared/.locks/<key>.lock: one builder per entry


@dataclass
class Prepared:
    """Decoded pixels for the kept items of a Samples.

    Attributes:
        images: (N_kept, H, W, C) uint8, usually a read-only memmap.
        kept: (N_kept,) int indices into the Samples that were decoded.
        skipped: (id, reason) of items that could not be decoded.
        key: the cache key (data fingerprint).
        from_cache: whether the pixels were loaded from an existing entry.
        file_digests: (N_kept,) hash of each item's file bytes (of its array for array sources).
        pixel_digests: (N_kept,) hash of each item's decoded pixels at their stored size.
        sixteen_bit: the kept 16-bit files' decode.sixteen_bit_summary at the settings'
            bit depth; None when there are none.
    """

    images: np.ndarray
    kept: np.ndarray
    skipped: list[tuple[str, str]]
    key: str
    from_cache: bool
    file_digests: np.ndarray
    pixel_digests: np.ndarray
    sixteen_bit: dict | None = None


def cache_key(samples: Samples, settings: PixelSettings) -> str:
    """Fingerprint of the items and preprocessing settings (sha256 hex, 20 chars)."""
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, dataclasses.asdict(settings)], default=list).encode())
    if samples.paths is not None:
        for path in samples.paths:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}\0{stat.st_ctime_ns}\n".encode())
    else:
        digest.update(np.ascontiguousarray(samples.images).data)
        digest.update(str(samples.images.shape).encode())
    return digest.hexdigest()[:20]


def pixels_checksum(images: np.ndarray) -> str:
    """xxh3 of the pixel bytes: one pass at several GB/s (benchmarks/decode_cache.py)."""
    return xxhash.xxh3_64_hexdigest(memoryview(np.ascontiguousarray(images)).cast("B"))


def is_entry(folder: Path) -> bool:
    """Whether ``folder`` is a cache entry fungiclf made: its manifest names it by its key."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("key") == Path(folder).name and "format" in manifest


def _load_entry(folder: Path, key: str) -> Prepared | None:
    """The verified entry in ``folder``, or None when missing or damaged."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        images = np.load(folder / "images.npy", mmap_mode="r")
        kept = np.asarray(manifest["kept"], dtype=np.int64)
        file_digests = np.asarray(manifest["file_digests"], dtype=object)
        pixel_digests = np.asarray(manifest["pixel_digests"], dtype=object)
        if (
            manifest["key"] != key
            or list(images.shape) != manifest["shape"]
            or images.dtype != np.uint8
            or not len(kept) == len(file_digests) == len(pixel_digests) == images.shape[0]
        ):
            raise ValueError("manifest does not match images.npy")
        if manifest["pixels_xxh3"] != pixels_checksum(images):
            raise ValueError("its pixels do not match their checksum")
    except FileNotFoundError:
        return None
    except Exception as exc:
        log.warning("Cache entry %s is damaged (%s); rebuilding it", folder, exc)
        return None
    return Prepared(
        images,
        kept,
        [tuple(s) for s in manifest["skipped"]],
        key,
        True,
        file_digests,
        pixel_digests,
        manifest["sixteen_bit"],
    )


def _decode_all(samples: Samples, settings: PixelSettings, workers: int) -> tuple:
    """Decode every item: (images, kept, skipped, file_digests, pixel_digests, sixteen_bit)."""
    height, width = settings.size
    out = np.empty((len(samples), height, width, COLOR_CHANNELS[settings.color]), np.uint8)
    ok = np.zeros(len(samples), bool)
    file_digests = np.empty(len(samples), dtype=object)
    pixel_digests = np.empty(len(samples), dtype=object)
    peaks16 = np.full(len(samples), -1, np.int64)  # the peak of 16-bit files, -1 for the others
    skipped: list[tuple[str, str]] = []

    def one(i: int) -> None:
        try:
            item = (
                decode_array(samples.images[i])
                if samples.paths is None
                else decode_file(samples.paths[i], settings.bit_depth, settings.max_megapixels, settings.max_file_mb)
            )
            out[i] = model_pixels(item.image, settings)
            file_digests[i], pixel_digests[i] = item.file_digest, item.pixel_digest
            if follows_bit_depth(item.mode):
                peaks16[i] = item.peak
            ok[i] = True
        except DecodeError as exc:
            skipped.append((samples.ids[i], str(exc)))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(
            progress_bar(
                pool.map(one, range(len(samples))),
                total=len(samples),
                at_least=500,
                desc="decode",
                unit="img",
                leave=False,
            )
        )
    kept = np.flatnonzero(ok)
    sixteen_bit = sixteen_bit_summary(peaks16[kept][peaks16[kept] >= 0], settings.bit_depth)
    return out[kept], kept, sorted(skipped), file_digests[kept], pixel_digests[kept], sixteen_bit


def prepare(samples: Samples, settings: PixelSettings, cache_dir: str | None, workers: int | None = None) -> Prepared:
    """Decode, convert, resize (and denoise / equalise) every item, or load them from the cache.

    Jobs sharing a cache (one host or many, on shared storage) decode a dataset once: the
    first builds the entry under ``prepared/.locks/<key>.lock`` while the others wait, then
    load what it wrote.

    Args:
        samples: items to decode (files or arrays).
        settings: colour, size and enhancement settings.
        cache_dir: cache root; None disables the cache.
        workers: decoding threads; default all cores.
    """
    key = cache_key(samples, settings)
    if cache_dir is None:
        return _decode(samples, settings, workers, key)
    folder = Path(cache_dir).expanduser() / "prepared" / key
    if (entry := _load_entry(folder, key)) is not None:
        log.info("Loaded %d prepared images from cache %s", entry.images.shape[0], folder)
        return entry
    try:
        lock = entry_lock(folder)
    except OSError as exc:  # a cache that cannot be written costs only the next decode
        log.warning(
            "Not caching the prepared images: cannot write %s (%s; paths.cache_dir=%s)",
            exc.filename or folder.parent,
            exc.strerror,
            cache_dir,
        )
        return _decode(samples, settings, workers, key)
    with held(lock, folder):
        if (entry := _load_entry(folder, key)) is not None:  # the job this one waited for built it
            log.info("Loaded %d prepared images from cache %s", entry.images.shape[0], folder)
            return entry
        return _store(_decode(samples, settings, workers, key), folder, settings, len(samples), cache_dir)


def entry_lock(folder: Path) -> FileLock:
    """The lock that guards building ``folder`` (flock, which Linux maps to NFS locks)."""
    locks = folder.parent / LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(locks / f"{folder.name}.lock")


@contextmanager
def held(lock: FileLock, folder: Path):
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("Waiting for another job that is decoding the same images into %s", folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _decode(samples: Samples, settings: PixelSettings, workers: int | None, key: str) -> Prepared:
    images, kept, skipped, file_digests, pixel_digests, sixteen_bit = _decode_all(
        samples, settings, workers or os.cpu_count() or 1
    )
    for item, reason in skipped:
        log.warning("Skipped %s: %s", item, reason)
    if len(kept) == 0:
        raise DataError(f"none of the {len(samples)} files could be decoded (first: {skipped[0][0]}: {skipped[0][1]})")
    return Prepared(images, kept, skipped, key, False, file_digests, pixel_digests, sixteen_bit)


def _store(prepared: Prepared, folder: Path, settings: PixelSettings, n_items: int, cache_dir: str) -> Prepared:
    """Write ``prepared`` as the entry ``folder`` (under its lock) and return it memory-mapped
    from there; as it is when the cache cannot be written. A damaged entry is moved aside
    before it is removed, so a job still reading its files keeps them."""
    tmp = scratch_path(folder, "tmp")
    manifest = {
        "key": prepared.key,
        "format": CACHE_FORMAT,
        "shape": list(prepared.images.shape),
        "settings": dataclasses.asdict(settings),
        "kept": prepared.kept.tolist(),
        "skipped": prepared.skipped,
        "n_items": n_items,
        "file_digests": prepared.file_digests.tolist(),
        "pixel_digests": prepared.pixel_digests.tolist(),
        "sixteen_bit": prepared.sixteen_bit,
        "pixels_xxh3": pixels_checksum(prepared.images),
    }
    try:
        tmp.mkdir(parents=True)
        np.save(tmp / "images.npy", prepared.images)
        (tmp / MANIFEST).write_text(json.dumps(manifest))
        if folder.exists():
            damaged = scratch_path(folder, "damaged")
            os.replace(folder, damaged)
            shutil.rmtree(damaged, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning(
            "Not caching the prepared images: cannot write %s (%s; paths.cache_dir=%s)",
            exc.filename or tmp,
            exc.strerror,
            cache_dir,
        )
        return prepared
    entry = _load_entry(folder, prepared.key)
    if entry is None:
        return prepared
    entry.from_cache = False
    return entry


def clear_locks(prepared_dir: Path) -> None:
    """Remove the lock files no job holds (``fungiclf-data cache-clear``)."""
    locks = Path(prepared_dir) / LOCKS
    for file in sorted(locks.glob("*.lock")) if locks.is_dir() else []:
        lock = FileLock(file)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        try:
            file.unlink(missing_ok=True)
        finally:
            lock.release()
    if locks.is_dir() and not any(locks.iterdir()):
        locks.rmdir()


def bit_depth_warnings(sixteen_bit: dict | None, bit_depth: int) -> list[dict]:
    """Warn (and log) when 16-bit files do not fit ``preprocess.bit_depth``: some values were
    above ``2**bit_depth - 1`` and clipped to white, or the largest value uses two or more
    bits fewer, so every image decodes dark (at most 63 of 255) and loses levels."""
    if not sixteen_bit:
        return []
    count, peak, clipped, used = (sixteen_bit[key] for key in ("images", "peak", "clipped", "bits"))
    limit = (1 << bit_depth) - 1
    if clipped:
        text = (
            f"{clipped} of the {count} 16-bit images have values above {limit} (preprocess.bit_depth="
            f"{bit_depth}), clipped to white; their largest value, {peak}, fits preprocess.bit_depth={used}"
        )
    elif used <= bit_depth - 2:
        text = (
            f"the {count} 16-bit images use at most {used} bits (largest value {peak}), so with "
            f"preprocess.bit_depth={bit_depth} they decode to 0-{round(peak * 255 / limit)} of 0-255; "
            f"preprocess.bit_depth={used} keeps their contrast"
        )
    else:
        return []
    log.warning("%s", text)
    return [{"kind": "bit_depth", "message": text}]
