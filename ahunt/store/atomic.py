"""Writing files so that a full or read-only disk never leaves half a file, and says so plainly.

Every file ahunt replaces (checkpoints, the config, catalogues) is written whole to a temporary
name in the same folder, flushed to disk, then renamed over the old one: a failure at any point
leaves the old file as it was.  Errors that come from the disk rather than from ahunt (full,
over quota, read-only, no permission) are turned into one line that says what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

__all__ = ["disk_problem", "write_bytes_atomic", "umask_mode", "require_space", "savefig_atomic", "MARGIN"]

# HDF5 must never meet a full disk: when a write fails inside it, closing the file can crash the
# process (a segmentation fault) and leave the file unreadable.  So HDF5 writers check first that
# the data fits, with this much to spare for metadata and for whatever else writes meanwhile.
MARGIN = 4 * 2**20

_PROBLEMS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
_ADVICE = {
    errno.ENOSPC: "free some space (df -h shows where) and run the command again",
    errno.EDQUOT: "free some space within your quota and run the command again",
    errno.EROFS: "work on a writable copy (cp -r) or remount it read-write",
    errno.EACCES: "check who owns the folder (ls -ld) or work on a copy you own",
    errno.EPERM: "check who owns the folder (ls -ld) or work on a copy you own",
}


def _errno_of(exc: BaseException) -> int | None:
    """The disk errno behind ``exc``, also when a library wrapped it (h5py, SQLite, torch)."""
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, OSError) and e.errno in _PROBLEMS:
            return e.errno
    text = str(exc).lower()
    if isinstance(exc, sqlite3.Error):
        if "disk is full" in text or "database or disk is full" in text:
            return errno.ENOSPC
        if "readonly database" in text or "read-only" in text:
            return errno.EROFS
    for code, words in ((errno.ENOSPC, "no space left"), (errno.EROFS, "read-only file system"),
                        (errno.EDQUOT, "quota exceeded"), (errno.EACCES, "permission denied")):
        if words in text:
            return code
    return None


def disk_problem(exc: BaseException) -> str | None:
    """'no space left on the device; free some space ...' when ``exc`` came from the disk, else None."""
    code = _errno_of(exc)
    return None if code is None else f"{_PROBLEMS[code]}; {_ADVICE[code]}"


def require_space(path: str | Path, nbytes: int) -> None:
    """Raise ``OSError(ENOSPC)`` unless the file system of ``path`` has ``nbytes`` + ``MARGIN`` free."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    free = shutil.disk_usage(folder).free
    if free < nbytes + MARGIN:
        raise OSError(errno.ENOSPC, f"No space left on device: {(nbytes + MARGIN) / 2**20:.1f} MB needed, "
                                    f"{free / 2**20:.1f} MB free", str(path))


def savefig_atomic(fig, path: str | Path, **kwargs) -> Path:
    """``fig.savefig`` to a temporary name beside ``path``, then rename: never half a figure."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, **kwargs)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` less the process's umask: what ``open`` would give a new file (mkstemp gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: temp file, fsync, rename; mode follows the umask.

    Raises the ``OSError`` of the failed step, with the temporary file removed.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())  # a group sharing the hunt can read it, as with any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
