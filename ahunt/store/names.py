"""Class names as people type them: matching that forgives case and spaces, and typo detection.

A typo must never quietly become a class ("Spiral" next to "spiral", "mergr" next to
"merger"), so every place that turns typed text into a class (the terminal's new-class prompt,
an answers file, interest weights) asks these functions first.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Sequence

__all__ = ["normalise", "find_name", "close_name", "is_legend_key", "check_new_name", "waiting_weights"]

# difflib's ratio at or above which two names count as "close": 'mergr'/'merger' is 0.91,
# 'lens'/'lense' 0.89, while distinct short names such as 'arc'/'bar' (0.67) stay apart.
CLOSE_RATIO = 0.8


def normalise(name: str) -> str:
    """The form names are compared in: surrounding spaces dropped, case folded."""
    return " ".join(name.split()).casefold()


def find_name(name: str, names: Iterable[str]) -> str | None:
    """The existing name that ``name`` means (exact first, then ignoring case and spaces), or None."""
    names = list(names)
    if name in names:
        return name
    key = normalise(name)
    hits = [n for n in names if normalise(n) == key]
    return hits[0] if len(hits) == 1 else None


def close_name(name: str, names: Iterable[str]) -> str | None:
    """An existing name that ``name`` is probably a typo of (not the same name), or None.

    Same name apart from case or spaces counts as close too, so callers that did not first try
    ``find_name`` still never create a near-duplicate.
    """
    key = normalise(name)
    by_key = {normalise(n): n for n in names if n != name}
    if key in by_key:
        return by_key[key]
    best = difflib.get_close_matches(key, list(by_key), n=1, cutoff=CLOSE_RATIO)
    return by_key[best[0]] if best else None


def is_legend_key(name: str) -> bool:
    """A bare digit: on the labelling screen it picks a class, so it never names a new one."""
    return name.strip().isdigit()


def check_new_name(name: str, classes: Sequence) -> tuple[str | None, str | None, str | None]:
    """What a name typed for a new class means, given ``classes`` (with ``.name``, ``.retired``).

    Returns ``(existing, close, problem)``: the live class it already names (any case), else a
    live class it is close to (ask before creating), and a reason to refuse it (a bare digit).
    """
    live = [c.name for c in classes if not getattr(c, "retired", False)]
    existing = find_name(name, live)
    if existing is not None:
        return existing, None, None
    if is_legend_key(name):
        return None, None, f"{name!r} is a key of the legend, not a class name; press the key itself, or type a name"
    return None, close_name(name, live), None


def waiting_weights(weights: Iterable[str], names: Sequence[str]) -> list[tuple[str, str | None]]:
    """Weighted names that are not (yet) classes, each with the existing class it is close to."""
    return [(w, close_name(w, names)) for w in weights if w not in names]
