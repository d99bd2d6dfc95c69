"""``dataset.path`` as a URL (``s3://``, ``gs://``, ``https://``: any fsspec protocol), mirrored
into ``<cache_dir>/remote/<digest of the URL>/`` and read from there like a local path.

Every run lists the remote files (name, size and the store's version: its ETag or
modification time) and downloads only those the mirror lacks or holds in another version;
files gone from the store leave the mirror, and a file whose store gives no version is
downloaded again. So no run reads a stale copy, and a second run of an unchanged dataset
downloads nothing. Jobs sharing a cache mirror a URL once (a file lock, as for decoding).
"""

import hashlib
import json
import logging
import os
import re
from pathlib import Path, PurePosixPath

from filelock import FileLock

from fungiclf.errors import ConfigError, DataError
from fungiclf.scratch import scratch_path

log = logging.getLogger(__name__)

URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# the optional dependencies (pyproject's extras) that bring each protocol's filesystem
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "http": "http", "https": "http"}
VERSION_KEYS = ("ETag", "etag", "md5Hash", "generation", "LastModified", "Last-Modified", "mtime", "updated")
MANIFEST = "mirror.json"


def is_url(path: str | None) -> bool:
    return bool(path) and URL.match(str(path)) is not None


def check_url(url: str) -> str:
    """``url`` when this machine can read its protocol; else ConfigError naming the extra."""
    import fsspec

    protocol = URL.match(url).group(1).lower()
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise ConfigError(
            f"dataset.path={url}: {protocol}:// is not a protocol fsspec knows (s3://, gs://, https://, file:// ...)"
        ) from None
    except ImportError:
        extra = EXTRAS.get(protocol)
        install = f"pip install 'fungiclf[{extra}]'" if extra else f"install the fsspec filesystem for {protocol}://"
        raise ConfigError(f"dataset.path={url}: reading {protocol}:// needs an optional package: {install}") from None
    return url


def mirror(url: str, cache_dir: str) -> Path:
    """The local copy of ``url`` (a file or a folder), brought up to date with the store.

    Raises:
        DataError: the URL does not exist or cannot be listed or read.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    listing = _listing(fs, root, url)
    home = Path(cache_dir).expanduser() / "remote" / hashlib.sha256(url.encode()).hexdigest()[:16]
    name = PurePosixPath(root.rstrip("/")).name or "data"
    target = home / name
    try:
        home.mkdir(parents=True, exist_ok=True)
        lock = FileLock(home / ".lock")
    except OSError as exc:
        raise DataError(
            f"dataset.path={url}: cannot mirror it into paths.cache_dir={cache_dir} ({exc.strerror}: {exc.filename})"
        ) from None
    with lock:
        mirrored = _read_manifest(home)
        fetched = 0
        for relative, (remote, version) in listing.items():
            local = target / relative if relative else target
            if version is None or mirrored.get(relative) != version or not local.is_file():
                _download(fs, remote, local, url)
                mirrored[relative] = version
                fetched += 1
        for relative in set(mirrored) - set(listing):  # gone from the store: gone from the mirror
            (target / relative if relative else target).unlink(missing_ok=True)
            del mirrored[relative]
        _write_manifest(home, mirrored, url)
    log.info("dataset.path=%s: %d files, %d downloaded into %s", url, len(listing), fetched, target)
    return target


def _listing(fs, root: str, url: str) -> dict[str, tuple[str, str | None]]:
    """Relative name ('' for a single file) -> (remote path, version or None)."""
    try:
        info = fs.info(root)
        if info.get("type") != "directory":
            return {"": (root, _version(info))}
        found = fs.find(root, detail=True)
    except FileNotFoundError:
        raise DataError(f"dataset.path {url!r} does not exist") from None
    except Exception as exc:  # each store raises its own kinds (botocore, aiohttp, google): one line
        raise DataError(f"dataset.path {url!r} cannot be listed: {type(exc).__name__}: {exc}") from None
    base = root.rstrip("/") + "/"
    files = {
        path[len(base) :] if path.startswith(base) else PurePosixPath(path).name: (path, _version(detail))
        for path, detail in found.items()
        if detail.get("type") != "directory"
    }
    unsafe = [name for name in files if name.startswith("/") or ".." in PurePosixPath(name).parts]
    if unsafe:
        raise DataError(f"dataset.path {url!r} lists a file outside it: {unsafe[0]!r}")
    if not files:
        raise DataError(f"dataset.path {url!r} is an empty folder")
    return files


def _version(detail: dict) -> str | None:
    """The store's version of a file (with its size), or None when the store gives none."""
    token = next((detail[key] for key in VERSION_KEYS if detail.get(key) not in (None, "")), None)
    return None if token is None else f"{detail.get('size')}:{token}"


def _download(fs, remote: str, local: Path, url: str) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    part = scratch_path(local, "part", hidden=True)
    try:
        fs.get_file(remote, str(part))
        os.replace(part, local)
    except Exception as exc:
        raise DataError(f"dataset.path {url!r}: downloading {remote} failed: {type(exc).__name__}: {exc}") from None
    finally:
        part.unlink(missing_ok=True)


def _read_manifest(home: Path) -> dict[str, str | None]:
    try:
        return json.loads((home / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_manifest(home: Path, files: dict[str, str | None], url: str) -> None:
    part = scratch_path(home / MANIFEST, "tmp", hidden=True)
    part.write_text(json.dumps({"url": url, "files": files}))
    os.replace(part, home / MANIFEST)
