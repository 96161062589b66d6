"""One round's objects as every reader hands them on: ``RoundData``, what the image store keeps.

Images are float32 (N, C, H, W), already network-ready; every other column is one entry per
image.  A reader fills what its data has: ids always, the labels given with the data (round 0),
the truth (simulations and experiments, never shown to the model), and sky positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ahunt.errors import StoreError

__all__ = ["RoundData"]


@dataclass
class RoundData:
    """One round's objects, as handed to and returned by the store."""

    images: np.ndarray  # float32 (N, C, H, W)
    ids: np.ndarray  # str (N,)
    labels: np.ndarray | None = None  # str (N,) class names given with the data
    truth: np.ndarray | None = None  # str (N,) ground truth, for simulations and experiments
    ra: np.ndarray | None = None
    dec: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concat(cls, pieces: Sequence["RoundData"]) -> "RoundData":
        """One RoundData from consecutive pieces (a column is kept when every piece has it)."""
        if not pieces:
            raise StoreError("a round needs at least one image")

        def column(name):
            values = [getattr(p, name) for p in pieces]
            return None if any(v is None for v in values) else np.concatenate(values)

        return cls(images=np.concatenate([p.images for p in pieces]), ids=column("ids"), labels=column("labels"),
                   truth=column("truth"), ra=column("ra"), dec=column("dec"))

    def subset(self, keep: np.ndarray) -> "RoundData":
        """The objects that ``keep`` (a mask or indices) selects, every column alike."""

        def column(name):
            values = getattr(self, name)
            return None if values is None else values[keep]

        return RoundData(images=self.images[keep], ids=self.ids[keep], labels=column("labels"),
                         truth=column("truth"), ra=column("ra"), dec=column("dec"))

    def validate(self, *, allow_empty: bool = False) -> None:
        if self.images.ndim != 4:
            raise StoreError(f"images must be (N, C, H, W); got shape {self.images.shape}")
        n = len(self.images)
        if n == 0 and not allow_empty:
            raise StoreError("a round needs at least one image")
        for name in ("ids", "labels", "truth", "ra", "dec"):
            column = getattr(self, name)
            if column is not None and len(column) != n:
                raise StoreError(f"{name} has {len(column)} entries for {n} images")
        if not np.all(np.isfinite(self.images)):
            raise StoreError("images contain NaN or infinite pixels; clean them before storing")
        if len(set(self.ids.tolist())) != n:
            dup = _first_duplicate(self.ids)
            raise StoreError(f"duplicate object id {dup!r} within the round")


def _first_duplicate(ids: Sequence[str]) -> str:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            return i
        seen.add(i)
    return ""
