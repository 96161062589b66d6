"""FITS cutouts: single-band images, multi-band cubes, or one file per band.

* a 2-D image is one band;
* a 3-D cube (C, H, W) holds C = 1 or 3 band planes, taken as (g, r, z) in increasing
  wavelength (a ``BANDS`` header keyword such as ``'zrg'`` reorders them);
* files named ``STEM_BAND.fits`` (BAND one of u g r i z y) that share a STEM are one object with
  one plane per band, sorted by wavelength; a lone ``STEM_BAND.fits`` is an ordinary file.

The first HDU holding an image is used (compressed ``.fits.fz`` included).  Integer images with
a ``BLANK`` value, NaN and masked pixels are replaced before the stretch (``ahunt/sources/stretch.py``);
an image with no finite pixel is an error.  RA/Dec come from the celestial part of the header's
WCS at the image centre, in ICRS degrees; NaN when the header has none.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ahunt.errors import InputError
from ahunt.sources.stretch import stretch_bands

if TYPE_CHECKING:  # pragma: no cover
    from ahunt.config import DataConfig

__all__ = [
    "FITS_SUFFIXES", "BAND_ORDER", "FitsCutout", "is_fits", "fits_stem", "group_band_files",
    "read_fits_bands", "read_fits_cutout", "wcs_centre",
]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fz")
BAND_ORDER = "ugrizy"
_BAND_FILE = re.compile(r"^(?P<stem>.+)_(?P<band>[ugrizyY])$")


@dataclass
class FitsCutout:
    """One object read from FITS: stretched pixels and the sky position of its centre."""

    image: np.ndarray  # float32 (C, H, W) in [0, 1], C = 1 or 3 (R, G, B = z, r, g)
    ra: float
    dec: float
    replaced: int  # NaN / masked / BLANK pixels that were replaced


def is_fits(path: Path) -> bool:
    return path.name.lower().endswith(FITS_SUFFIXES)


def fits_stem(path: Path) -> str:
    """The file name without its FITS suffix (``a.fits.gz`` -> ``a``)."""
    name = path.name
    for suffix in sorted(FITS_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def group_band_files(paths: Sequence[Path]) -> list[tuple[str, list[Path]]]:
    """(object stem, files) for FITS files: per-band files sharing a stem become one object.

    Files of one object are sorted by wavelength (u g r i z y).  Order of the result follows
    the first file of each object in ``paths``.
    """
    by_stem: dict[str, list[tuple[str, Path]]] = {}
    for p in paths:
        m = _BAND_FILE.match(fits_stem(p))
        if m:
            by_stem.setdefault(m["stem"], []).append((m["band"].lower(), p))
    groups: dict[str, list[Path]] = {}
    for p in paths:
        stem = fits_stem(p)
        m = _BAND_FILE.match(stem)
        if m and len(by_stem[m["stem"]]) > 1:
            if m["stem"] not in groups:
                groups[m["stem"]] = [q for _, q in sorted(by_stem[m["stem"]], key=lambda bq: BAND_ORDER.index(bq[0]))]
        else:
            groups[stem] = [p]
    return list(groups.items())


def wcs_centre(header, shape: tuple[int, int]) -> tuple[float, float]:
    """ICRS (ra, dec) in degrees of the pixel at the image centre; (nan, nan) without a WCS."""
    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FITSFixedWarning and friends for imperfect headers
            wcs = WCS(header)
            if not wcs.has_celestial:
                return float("nan"), float("nan")
            cel = wcs.celestial
            h, w = shape
            sky = cel.pixel_to_world((w - 1) / 2.0, (h - 1) / 2.0)
            icrs = sky.icrs
            ra, dec = float(icrs.ra.deg), float(icrs.dec.deg)
    except Exception:
        return float("nan"), float("nan")
    return (ra, dec) if np.isfinite(ra) and np.isfinite(dec) else (float("nan"), float("nan"))


def _band_order(header, n: int) -> list[int] | None:
    bands = str(header.get("BANDS", "")).strip().lower()
    if len(bands) == n and set(bands) <= set(BAND_ORDER) and len(set(bands)) == n:
        return sorted(range(n), key=lambda i: BAND_ORDER.index(bands[i]))
    return None


def read_fits_bands(path: Path) -> tuple[np.ndarray, object]:
    """Raw float64 (C, H, W) planes of the first image HDU (NaN where BLANK/masked) and its header."""
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdul:
                hdu = next((h for h in hdul if getattr(h, "is_image", False) and h.data is not None), None)
                if hdu is None:
                    raise InputError(f"{path}: no image in any HDU")
                header = hdu.header.copy()
                raw = hdu.data
                data = np.ma.filled(raw.astype(np.float64), np.nan) if np.ma.isMaskedArray(raw) else np.array(raw, dtype=np.float64)
                if np.issubdtype(np.asarray(raw).dtype, np.integer) and "BLANK" in header:
                    data[np.asarray(raw) == header["BLANK"]] = np.nan
    except InputError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError... for corrupt files
        raise InputError(f"{path}: cannot read FITS ({type(exc).__name__}: {exc})") from None
    while data.ndim > 3 and data.shape[0] == 1:
        data = data[0]  # degenerate leading axes, e.g. (1, 3, H, W)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise InputError(f"{path}: a cutout must be a 2-D image or a (bands, H, W) cube; got {data.ndim}-D data of shape {data.shape}")
    if data.shape[0] not in (1, 3):
        raise InputError(f"{path}: a cube must hold 1 or 3 band planes (g, r, z); got {data.shape[0]} (shape {data.shape})")
    if min(data.shape[1:]) < 2:
        raise InputError(f"{path}: image of shape {data.shape[1:]} is too small")
    order = _band_order(header, len(data))
    if order is not None:
        data = data[order]
    return data, header


def read_fits_cutout(paths: Path | Sequence[Path], config: "DataConfig | None" = None) -> FitsCutout:
    """Read one object (one file, or one file per band), clean, stretch, and locate it."""
    files = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    planes, ra, dec = [], float("nan"), float("nan")
    for f in files:
        data, header = read_fits_bands(f)
        if len(files) > 1 and len(data) != 1:
            raise InputError(f"{f}: a per-band file must hold a single 2-D image; got {len(data)} planes")
        if planes and data.shape[1:] != planes[0].shape[1:]:
            raise InputError(f"{f}: shape {data.shape[1:]} differs from {files[0].name}'s {planes[0].shape[1:]}")
        if not np.isfinite(data).any():
            raise InputError(f"{f}: all pixels are NaN or masked")
        if np.isnan(ra):
            ra, dec = wcs_centre(header, data.shape[1:])
        planes.append(data)
    bands = np.concatenate(planes)
    if len(bands) not in (1, 3):
        names = ", ".join(f.name for f in files)
        raise InputError(f"{files[0].parent}: {len(bands)} band files ({names}); an object needs 1 or 3 bands (g, r, z)")
    replaced = int((~np.isfinite(bands)).sum())
    try:
        image = stretch_bands(bands, config)
    except ValueError as exc:
        raise InputError(f"{files[0]}: {exc}") from None
    return FitsCutout(image=image, ra=ra, dec=dec, replaced=replaced)
