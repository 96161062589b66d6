"""Galaxy10 DECaLS (Leung & Bovy): 17 736 colour cutouts of 256 x 256 px in ten morphology classes.

The file (``Galaxy10_DECals.h5``, 2.5 GB) holds the datasets ``images`` (N, 256, 256, 3) uint8,
``ans`` (N,) class index 0-9, ``ra``, ``dec``, ``redshift`` (NaN where unknown) and
``pxscale``.  It is never loaded whole: labels are read alone, and images only for the rows
asked for, a chunk at a time, each chunk resized to the model's input size before the next is
read.  The images are already colour-stretched JPEG-like RGB, so they are only scaled to [0, 1].

The paper's protocol (``configs/galaxy10-decals.toml``): normal classes 6 (Unbarred Tight
Spiral) and 8 (Edge-on without Bulge), anomaly class 1 (Merging).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ahunt.errors import InputError
from ahunt.sources.pixels import to_model_input
from ahunt.sources.rounds import RoundData

__all__ = [
    "GALAXY10_CLASSES", "is_galaxy10", "galaxy10_labels", "galaxy10_class_indices", "read_galaxy10",
    "iter_galaxy10",
]

GALAXY10_CLASSES = (
    "Disturbed",
    "Merging",
    "Round Smooth",
    "In-between Round Smooth",
    "Cigar Shaped Smooth",
    "Barred Spiral",
    "Unbarred Tight Spiral",
    "Unbarred Loose Spiral",
    "Edge-on without Bulge",
    "Edge-on with Bulge",
)

_CHUNK = 64  # rows read and resized at a time: 64 x 256 x 256 x 3 bytes = 12 MB, ~50 MB as float32


def _open(path: Path):
    import h5py

    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except Exception as exc:
        raise InputError(f"{path}: cannot open HDF5 file ({exc})") from None


def is_galaxy10(path: str | Path) -> bool:
    """True for an HDF5 file with the Galaxy10 datasets ``images`` and ``ans``."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return all(isinstance(f.get(k), h5py.Dataset) for k in ("images", "ans"))
    except Exception:
        return False


def _check_schema(f, path: Path) -> int:
    import h5py

    missing = [k for k in ("images", "ans") if not isinstance(f.get(k), h5py.Dataset)]
    if missing:
        raise InputError(f"{path}: not a Galaxy10 file: dataset(s) {', '.join(missing)} missing "
                         f"(found: {', '.join(f.keys()) or 'nothing'})")
    images, ans = f["images"], f["ans"]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"{path}: Galaxy10 'images' must be (N, H, W, 3); got shape {images.shape}")
    if images.dtype != np.uint8:
        raise InputError(f"{path}: Galaxy10 'images' must be uint8; got {images.dtype}")
    n = images.shape[0]
    if ans.ndim != 1 or ans.shape[0] != n:
        raise InputError(f"{path}: Galaxy10 'ans' must be (N,) with N = {n} (the number of images); got {ans.shape}")
    for name in ("ra", "dec"):
        if name in f and f[name].shape != (n,):
            raise InputError(f"{path}: Galaxy10 '{name}' must be (N,) with N = {n}; got {f[name].shape}")
    return n


def _labels(f, path: Path) -> np.ndarray:
    ans = f["ans"][...]
    if not (np.issubdtype(ans.dtype, np.integer) or np.issubdtype(ans.dtype, np.floating)):
        raise InputError(f"{path}: Galaxy10 'ans' must hold class indices; got {ans.dtype}")
    if np.issubdtype(ans.dtype, np.floating) and not np.all(np.isfinite(ans) & (ans == np.round(ans))):
        raise InputError(f"{path}: Galaxy10 'ans' must hold whole class indices")
    labels = ans.astype(np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= len(GALAXY10_CLASSES)))
    if bad.size:
        raise InputError(f"{path}: row {bad[0]} has label {labels[bad[0]]}, outside the Galaxy10 classes 0-9")
    return labels


def galaxy10_labels(path: str | Path) -> np.ndarray:
    """Class index (0-9) of every row, int64; reads only ``ans`` (and checks the schema)."""
    path = Path(path)
    with _open(path) as f:
        _check_schema(f, path)
        return _labels(f, path)


def galaxy10_class_indices(classes: Iterable[int | str], *, source: str = "Galaxy10") -> list[int]:
    """Class indices from indices (6, "6") or names ("Merging", case-insensitive)."""
    by_name = {name.lower(): i for i, name in enumerate(GALAXY10_CLASSES)}
    out: list[int] = []
    for c in classes:
        key = str(c).strip()
        if key.lstrip("-").isdigit():
            i = int(key)
            if not 0 <= i < len(GALAXY10_CLASSES):
                raise InputError(f"{source}: class {i} is outside the Galaxy10 classes 0-9")
        elif key.lower() in by_name:
            i = by_name[key.lower()]
        else:
            listing = ", ".join(f"{i} {n}" for i, n in enumerate(GALAXY10_CLASSES))
            raise InputError(f"{source}: {key!r} is not a Galaxy10 class; give an index or a name: {listing}")
        if i not in out:
            out.append(i)
    return out


def read_galaxy10(
    path: str | Path,
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    image_size: int,
    channels: int,
    classes: Iterable[int | str] | None = None,
    chunk: int = _CHUNK,
    track=None,
) -> RoundData:
    """The rows ``indices`` (all rows when None), in that order, network-ready.

    ``classes`` (indices or names) keeps only rows of those classes.  Ids are ``g10-{row}``;
    ``labels`` and ``truth`` are the class names; ``ra``/``dec`` are copied when present.
    ``track(iterable, description, total)`` may draw a progress bar over the chunks.
    """
    path = Path(path)
    with _open(path) as f:
        n = _check_schema(f, path)
        labels = _labels(f, path)
        if indices is None:
            idx = np.arange(n, dtype=np.int64)
        else:
            idx = np.asarray(indices)
            if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
                raise InputError(f"{path}: row indices must be a 1-D list of integers")
            idx = idx.astype(np.int64)
            out_of_range = idx[(idx < 0) | (idx >= n)]
            if out_of_range.size:
                raise InputError(f"{path}: row {out_of_range[0]} does not exist (the file has {n} rows)")
            uniq, counts = np.unique(idx, return_counts=True)
            if (counts > 1).any():
                raise InputError(f"{path}: row {uniq[counts > 1][0]} asked for twice (duplicate id g10-{uniq[counts > 1][0]})")
        if classes is not None:
            wanted = galaxy10_class_indices(classes, source=str(path))
            idx = idx[np.isin(labels[idx], wanted)]
        if idx.size == 0:
            raise InputError(f"{path}: no rows selected" + (" for the classes asked for" if classes is not None else ""))
        images = f["images"]
        out = np.empty((len(idx), channels, image_size, image_size), dtype=np.float32)
        order = np.argsort(idx, kind="stable")
        starts = range(0, len(idx), chunk)
        if track is not None:
            starts = track(starts, "reading Galaxy10", len(starts))
        for start in starts:
            pos = order[start:start + chunk]
            rows = idx[pos]  # increasing, as h5py wants
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            if hi - lo <= 2 * len(rows):
                block = images[lo:hi][rows - lo]  # one contiguous read when the rows are dense
            else:
                block = images[rows]
            out[pos] = to_model_input(block, image_size=image_size, channels=channels, source=str(path))
        names = np.array([GALAXY10_CLASSES[i] for i in labels[idx]], dtype=object)
        ra = np.asarray(f["ra"][...], dtype=np.float64)[idx] if "ra" in f else None
        dec = np.asarray(f["dec"][...], dtype=np.float64)[idx] if "dec" in f else None
    return RoundData(
        images=out,
        ids=np.array([f"g10-{i}" for i in idx], dtype=object),
        labels=names,
        truth=names.copy(),
        ra=ra,
        dec=dec,
    )


def iter_galaxy10(
    path: str | Path,
    *,
    image_size: int,
    channels: int,
    classes: Iterable[int | str] | None = None,
    chunk: int = _CHUNK,
    track=None,
) -> Iterator[RoundData]:
    """Every row (of ``classes``, when given) in file order, as consecutive pieces of at most
    ``chunk`` rows: what ``read_galaxy10`` returns, without holding more than a piece."""
    path = Path(path)
    with _open(path) as f:
        n = _check_schema(f, path)
        labels = _labels(f, path)
        idx = np.arange(n, dtype=np.int64)
        if classes is not None:
            idx = idx[np.isin(labels, galaxy10_class_indices(classes, source=str(path)))]
        if idx.size == 0:
            raise InputError(f"{path}: no rows selected" + (" for the classes asked for" if classes is not None else ""))
        images = f["images"]
        ra = np.asarray(f["ra"][...], dtype=np.float64) if "ra" in f else None
        dec = np.asarray(f["dec"][...], dtype=np.float64) if "dec" in f else None
        starts = range(0, len(idx), chunk)
        if track is not None:
            starts = track(starts, "reading Galaxy10", len(starts))
        for start in starts:
            rows = idx[start:start + chunk]
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            block = images[lo:hi][rows - lo] if hi - lo <= 2 * len(rows) else images[rows]
            names = np.array([GALAXY10_CLASSES[i] for i in labels[rows]], dtype=object)
            yield RoundData(
                images=to_model_input(block, image_size=image_size, channels=channels, source=str(path)),
                ids=np.array([f"g10-{i}" for i in rows], dtype=object),
                labels=names,
                truth=names.copy(),
                ra=ra[rows] if ra is not None else None,
                dec=dec[rows] if dec is not None else None,
            )
