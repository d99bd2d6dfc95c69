"""Download datasets: checksum-verified, atomic (a temporary name renamed at the end), and
zip extraction that refuses members landing outside the destination.

Names: ``defungi`` (UCI dataset 773), ``chest_xray`` (Kermany et al.; needs --url), and
every 2D MedMNIST set at 28 px (``pathmnist``) or a larger size (``pathmnist_128``).
"""

import hashlib
import http.client
import logging
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fungiclf.data.medmnist_info import SIZES, medmnist_info
from fungiclf.errors import DataError
from fungiclf.progress import progress_bar
from fungiclf.scratch import left_by_dead_process, scratch_path

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes per read
MAX_EXPANDED_GB = 200.0  # default cap on what an archive may unpack to (PathMNIST 224 px is 16 GB)
MAX_RATIO = 100.0  # default cap on unpacked / packed size (images and npz compress a few times at most)
HEX_LENGTH = {"md5": 32, "sha256": 64}


@dataclass(frozen=True)
class Limits:
    """What an archive may expand to: at most ``max_bytes`` in all and ``max_ratio`` times
    its own size (a zip bomb stops at the first member that would pass either)."""

    max_bytes: int = int(MAX_EXPANDED_GB * 1e9)
    max_ratio: float = MAX_RATIO


def check_checksum(checksum: tuple[str, str] | None) -> tuple[str, str] | None:
    """A checksum given by hand must be hex of the algorithm's length: refused before downloading."""
    if checksum is None:
        return None
    algorithm, value = checksum
    if len(value) != HEX_LENGTH[algorithm] or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise DataError(f"--{algorithm} {value!r} is not a {algorithm} digest ({HEX_LENGTH[algorithm]} hex digits)")
    return algorithm, value.lower()


@dataclass(frozen=True)
class Remote:
    """One downloadable dataset.

    Attributes:
        name: what users type (``fungiclf-data fetch NAME``).
        url: where it is published; None when there is no stable direct link.
        checksum: (algorithm, hex digest) pinned in the package, or None when unpublished.
        target: name of the file or folder the fetch leaves in the destination.
        archive: a zip to extract into ``target`` (a folder).
        how: where it comes from (and, without ``url``, where to get it by hand).
        manual_file: without ``url``: the file a user downloads by hand and passes with --url.
    """

    name: str
    url: str | None
    checksum: tuple[str, str] | None
    target: str
    archive: bool
    how: str = ""
    manual_file: str | None = None


def _medmnist_remotes() -> dict[str, Remote]:
    remotes = {}
    for set_name, entry in medmnist_info().items():
        for size in SIZES:
            suffix = "" if size == 28 else f"_{size}"
            if f"url{suffix}" not in entry:
                continue
            name = f"{set_name}{suffix}"
            remotes[name] = Remote(
                name,
                entry[f"url{suffix}"],
                ("md5", entry[f"MD5{suffix}"]),
                f"{name}.npz",
                False,
                "MedMNIST v2/v3 on Zenodo (CC BY 4.0)",
            )
    return remotes


def remotes() -> dict[str, Remote]:
    """Every dataset ``fetch`` knows, by name."""
    return {
        "defungi": Remote(
            "defungi",
            "https://archive.ics.uci.edu/static/public/773/defungi.zip",
            None,
            "defungi",
            True,
            "UCI Machine Learning Repository, dataset 773 (CC BY 4.0)",
        ),
        "chest_xray": Remote(
            "chest_xray",
            None,
            None,
            "chest_xray",
            True,
            "Mendeley Data, doi:10.17632/rscbjbr9sj (Kermany et al., CC BY 4.0)",
            "ChestXRay2017.zip",
        ),
        **_medmnist_remotes(),
    }


def _hashers() -> dict[str, "hashlib._Hash"]:
    return {"md5": hashlib.md5(usedforsecurity=False), "sha256": hashlib.sha256()}


def file_digests(path: Path) -> dict[str, str]:
    """md5 and sha256 of a file, hex."""
    hashers = _hashers()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            for h in hashers.values():
                h.update(block)
    return {k: h.hexdigest() for k, h in hashers.items()}


def _as_url(url: str) -> str:
    return url if "://" in url else Path(url).expanduser().resolve().as_uri()


def download(url: str, target: Path, checksum: tuple[str, str] | None, progress: bool = True) -> dict[str, str]:
    """Fetch ``url`` into ``target`` via a temporary file, verifying ``checksum``.

    On any failure (network error, a download shorter than announced, a checksum
    mismatch, Ctrl-C) the temporary file is deleted and ``target`` is left untouched.

    Returns:
        the md5 and sha256 of the downloaded file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = scratch_path(target, "part", hidden=True)
    hashers = _hashers()
    try:
        with urllib.request.urlopen(_as_url(url), timeout=60) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            received = 0
            with progress_bar(total=expected, enabled=progress, unit="B", unit_scale=True, desc=target.name) as bar:
                while block := response.read(CHUNK):
                    out.write(block)
                    for h in hashers.values():
                        h.update(block)
                    received += len(block)
                    bar.update(len(block))
        if expected is not None and received != expected:
            raise DataError(f"download of {url} was cut off at {received:,} of {expected:,} bytes; run fetch again")
        digests = {k: h.hexdigest() for k, h in hashers.items()}
        if checksum is not None and digests[checksum[0]] != checksum[1].lower():
            raise DataError(
                f"{target.name}: {checksum[0]} {digests[checksum[0]]} does not match the expected "
                f"{checksum[1]}; the download was deleted (a new release? pass --url and --sha256)"
            )
        os.replace(part, target)
        return digests
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
        reason = (
            f"HTTP {exc.code} {exc.reason}"
            if isinstance(exc, urllib.error.HTTPError)
            else getattr(exc, "reason", None) or exc
        )
        raise DataError(f"download of {url} failed: {reason}") from None
    finally:
        part.unlink(missing_ok=True)


def safe_extract(archive: Path, dest: Path, limits: Limits = Limits()) -> None:
    """Extract a zip into ``dest`` (created), refusing the whole archive if any member would
    land outside it (absolute paths, ``..``, links) or the archive would expand past
    ``limits``; the bytes actually written are counted too, whatever the headers claim."""
    root = dest.resolve()
    budget = min(limits.max_bytes, int(archive.stat().st_size * limits.max_ratio))
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for member in members:
                where = (root / member.filename).resolve()
                is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
                if is_link or not where.is_relative_to(root):
                    raise DataError(
                        f"{archive.name}: member {member.filename!r} would be written outside "
                        f"{str(dest)!r}; refusing to extract"
                    )
            declared = sum(member.file_size for member in members)
            if declared > budget:
                raise DataError(_too_big(archive, declared, limits))
            dest.mkdir(parents=True, exist_ok=True)
            written = 0
            for member in members:
                target = root / member.filename
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as source, open(target, "wb") as out:
                    while block := source.read(CHUNK):
                        written += len(block)
                        if written > budget:
                            raise DataError(_too_big(archive, written, limits))
                        out.write(block)
    except zipfile.BadZipFile:
        raise DataError(f"{str(archive)!r} is not a valid zip file") from None


def _too_big(archive: Path, size: int, limits: Limits) -> str:
    return (
        f"{archive.name} would expand to more than {size / 1e9:.1f} GB, past the limit of "
        f"{limits.max_bytes / 1e9:g} GB or {limits.max_ratio:g} times its {archive.stat().st_size / 1e6:.1f} MB; "
        f"refusing it (raise --max-expanded-gb / --max-ratio if it is genuine)"
    )


def _unwrap(folder: Path, limits: Limits = Limits()) -> Path:
    """The folder that holds the data: descend through single sub-folders and nested zips."""
    while True:
        entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        zips = [p for p in entries if p.suffix.lower() == ".zip"]
        if len(entries) == 1 and entries[0].is_dir():
            folder = entries[0]
        elif len(entries) == 1 and zips:
            inner = folder / f".{zips[0].stem}"
            safe_extract(zips[0], inner, limits)
            zips[0].unlink()
            folder = inner
        else:
            return folder


def fetch_hint(name: str, missing: Path) -> str:
    """How to get dataset ``name`` to the path ``missing``: a command that works as written
    (the destination included), or the manual download it needs first."""
    remote = remotes()[name]
    missing = Path(missing).expanduser()
    command = f"fungiclf-data fetch {name} --dest {missing.parent}"
    if remote.url is None:
        command += f" --url /path/to/{remote.manual_file}"
    elsewhere = missing.name != remote.target
    where = f" and set dataset.path={missing.parent / remote.target}" if elsewhere else ""
    first = f"download {remote.manual_file} by hand from {remote.how}, then run" if remote.url is None else "run"
    return f"{first} '{command}'{where}, or point dataset.path at your copy"


def clean_stale(dest_dir: Path) -> None:
    """Remove partial downloads and staging folders that killed fetches of this host left
    behind (their process is gone); another host's or a running fetch's are left alone."""
    for leftover in Path(dest_dir).glob(".*"):
        if left_by_dead_process(leftover, "part") or left_by_dead_process(leftover, "extracting"):
            log.info("Removing %s, left by an interrupted fetch", leftover)
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)


def fetch(
    name: str,
    dest_dir: Path,
    url: str | None = None,
    checksum: tuple[str, str] | None = None,
    progress: bool = True,
    limits: Limits = Limits(),
) -> Path:
    """Download (and unpack) dataset ``name`` into ``dest_dir``; returns the data path.

    ``url`` replaces the pinned address (a mirror: the pinned checksum still applies);
    ``checksum`` replaces the pinned checksum (a new release). Without
    any checksum, the sha256 of the download is logged so that users can pin it.
    """
    known = remotes()
    if name not in known:
        sets = sorted(n for n in known if n not in ("defungi", "chest_xray") and not n.rsplit("_", 1)[-1].isdigit())
        raise DataError(
            f"unknown dataset {name!r}: choose defungi, chest_xray, or a MedMNIST set "
            f"({', '.join(sets)}), optionally with _64, _128 or _224"
        )
    remote = known[name]
    url = url or remote.url
    if url is None:
        raise DataError(
            f"{name} has no pinned download address: download {remote.manual_file} by hand from "
            f"{remote.how}, then run 'fungiclf-data fetch {name} --url /path/to/{remote.manual_file}'"
        )
    if "://" not in url and Path(url).expanduser().is_dir():
        raise DataError(
            f"--url {url} is a folder; fetch takes the downloaded file. An unpacked copy needs no fetch: "
            f"train on it with dataset.path={Path(url).expanduser()}"
        )
    checksum = check_checksum(checksum) or remote.checksum  # a mirror serves the same file: the pinned value holds
    target = Path(dest_dir).expanduser() / remote.target
    if target.parent.is_dir():
        clean_stale(target.parent)
    if target.exists():
        log.info("%s is already at %s", name, target)
        return target
    download_to = target.with_name(f"{remote.target}.zip") if remote.archive else target
    digests = download(url, download_to, checksum, progress)
    if checksum is None:
        log.warning("%s has no published checksum; sha256 of this download: %s", name, digests["sha256"])
    if remote.archive:
        staging = scratch_path(target, "extracting", hidden=True)
        try:
            safe_extract(download_to, staging, limits)
            os.replace(_unwrap(staging, limits), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            download_to.unlink(missing_ok=True)
    log.info("Fetched %s to %s", name, target)
    return target
