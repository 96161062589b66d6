"""Progress hooks: long loops report progress through one, without knowing who shows it.

A hook wraps an iterable with a description and a total, as ``rich.progress.track`` does; the
CLI passes Rich's bars, the library's default shows nothing.  Every step (readers, training,
scoring, the session) takes one, so this module sits below them all.
"""

from __future__ import annotations

from typing import Callable, Iterable

__all__ = ["Track", "no_progress"]

# A progress hook: wraps an iterable with a description and a total (rich.progress.track fits).
Track = Callable[..., Iterable]


def no_progress(iterable: Iterable, description: str = "", total: int | None = None) -> Iterable:
    return iterable
