"""One writer per folder: a workspace, or an experiment's run folder.

The lock is ``flock`` on ``<folder>/.lock``: the operating system drops it when the process
ends, however it ends, so a crash never leaves a folder locked.  The file names the holder
(``ahunt process <pid>``) for the message a second process gets.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ahunt.errors import WorkspaceError
from ahunt.store.atomic import disk_problem

__all__ = ["folder_lock"]


@contextmanager
def folder_lock(root: Path, *, writes: str = "the workspace") -> Iterator[None]:
    """Exclusive lock on ``root`` for the duration of the block; WorkspaceError, one line that
    names the folder and its holder, when another process holds it.  ``writes`` says what the
    command writes, for the message when the lock file itself cannot be written."""
    path = Path(root) / ".lock"
    try:
        fh = open(path, "a+")
    except OSError as exc:
        problem = disk_problem(exc)
        if problem is None:
            raise
        raise WorkspaceError(f"{root}: this command writes to {writes}, but {problem}") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise WorkspaceError(
                f"{root} is in use by {holder}; wait for it to finish (or stop it) and try again"
            ) from None
        try:  # who holds the lock, for the error above; on a full disk the lock holds without it
            fh.seek(0)
            fh.truncate()
            fh.write(f"ahunt process {os.getpid()}")
            fh.flush()
        except OSError:
            pass
        try:
            yield
        finally:
            try:
                fh.seek(0)
                fh.truncate()
            except OSError:
                pass
            fcntl.flock(fh, fcntl.LOCK_UN)
