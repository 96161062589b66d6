"""Catalogues that join metadata to image files: CSV or ECSV with columns id, path (+ ra, dec, label).

``path`` is relative to the catalogue's folder (absolute paths are kept) and names a PNG/JPEG
or FITS cutout.  ``ra``/``dec`` are degrees (an ECSV unit such as hourangle is converted); a
missing or empty value falls back to the FITS header's WCS.  ``label`` is required for labelled
round-0 data; at ingest it is kept as the object's true class (for ``--oracle truth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ahunt.errors import InputError

__all__ = ["CATALOGUE_SUFFIXES", "CatalogueRow", "read_catalogue_rows"]

CATALOGUE_SUFFIXES = (".csv", ".ecsv")


@dataclass(frozen=True)
class CatalogueRow:
    id: str
    path: Path
    ra: float
    dec: float
    label: str | None


def _column(table, name: str):
    for col in table.colnames:
        if col.strip().lower() == name:
            return table[col]
    return None


def _strings(col) -> list[str]:
    values = col.filled("") if hasattr(col, "filled") else col
    return [v.decode() if isinstance(v, bytes) else str(v).strip() for v in values]


def _degrees(col, path: Path, name: str) -> np.ndarray:
    import astropy.units as u

    if col is None:
        return None
    try:
        data = col.filled(np.nan) if hasattr(col, "filled") else col
        values = np.asarray(data, dtype=np.float64)
        if col.unit is not None and col.unit != u.dimensionless_unscaled:
            values = (values * col.unit).to_value(u.deg)
    except Exception as exc:
        raise InputError(f"{path}: column {name!r} must hold angles in degrees ({exc})") from None
    return values


def read_catalogue_rows(path: str | Path, *, labelled: bool) -> list[CatalogueRow]:
    """The catalogue's rows, with paths resolved; errors name the file and the reason."""
    from astropy.table import Table

    path = Path(path)
    fmt = "ascii.ecsv" if path.suffix.lower() == ".ecsv" else "ascii.csv"
    try:
        table = Table.read(path, format=fmt)
    except Exception as exc:
        raise InputError(f"{path}: cannot read catalogue as {fmt} ({type(exc).__name__}: {exc})") from None
    if len(table) == 0:
        raise InputError(f"{path}: catalogue has no rows")
    need = ["id", "path"] + (["label"] if labelled else [])
    missing = [c for c in need if _column(table, c) is None]
    if missing:
        what = " (labelled data needs a label per object)" if "label" in missing else ""
        raise InputError(f"{path}: catalogue lacks column(s) {', '.join(missing)}{what}; "
                         f"found: {', '.join(table.colnames)}")
    ids = _strings(_column(table, "id"))
    files = _strings(_column(table, "path"))
    label_col = _column(table, "label")
    labels = _strings(label_col) if label_col is not None else [None] * len(table)
    ra = _degrees(_column(table, "ra"), path, "ra")
    dec = _degrees(_column(table, "dec"), path, "dec")
    nan = np.full(len(table), np.nan)
    ra, dec = (nan if ra is None else ra), (nan if dec is None else dec)
    rows = []
    for i in range(len(table)):
        f = Path(files[i])
        rows.append(CatalogueRow(
            id=ids[i], path=f if f.is_absolute() else path.parent / f, ra=float(ra[i]), dec=float(dec[i]),
            label=labels[i] if labels[i] != "" else None,
        ))
    return rows
