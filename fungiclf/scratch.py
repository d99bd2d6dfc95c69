"""Names for files and folders a job writes before renaming them into place, unique across
hosts and containers (a PID alone repeats across containers sharing one cache), and which of
them a killed process of this host left behind."""

import os
import socket
import uuid
from pathlib import Path


def scratch_path(target: Path, kind: str, hidden: bool = False, keep_suffix: bool = False) -> Path:
    """``target``'s sibling ``[.]<name>.<kind>-<host>-<pid>-<random>``: never another job's.
    ``keep_suffix`` ends it in ``target``'s suffix (``.keras``, ``.png``: writers that read the
    format from the name)."""
    host = socket.gethostname().replace("-", "_") or "host"
    stem, suffix = (target.stem, target.suffix) if keep_suffix else (target.name, "")
    return target.with_name(f"{'.' if hidden else ''}{stem}.{kind}-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def left_by_dead_process(path: Path, kind: str) -> bool:
    """Whether ``path`` is a scratch name of ``kind`` made on this host by a process that is gone
    (another host's, or a live one's, is never called stale)."""
    _, marker, owner = path.name.partition(f".{kind}-")
    parts = owner.rsplit("-", 2)
    if not marker or len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid, _ = parts
    return host == (socket.gethostname().replace("-", "_") or "host") and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
