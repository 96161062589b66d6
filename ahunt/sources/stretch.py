"""Stretches that turn raw survey fluxes (FITS cutouts) into network- and display-ready images.

Raw cutouts span orders of magnitude (a faint disk beside a saturated core) and carry a sky
level and noise that differ from band to band and from survey to survey.  A CNN, and the
person answering its questions, want both the faint outskirts (tidal tails, arcs) and the core
visible.  Two stretches are offered, chosen in ``[data]`` of the config; the image stored in a
hunt is the stretched one, so the network and the labelling screen see the same pixels:

``asinh`` (default)
    each band on its own: a robust interval (``zscale``, IRAF's choice that ignores stars and
    sky outliers, or a ``percentile`` clip) maps to [0, 1], then astropy's ``AsinhStretch(a)``
    (linear near 0, logarithmic above ``a``).  Colour balance is not kept between bands, but
    every band uses its full range, which suits the network.
``lupton``
    Lupton et al. (2004) colour composite, ``astropy.visualization.make_lupton_rgb`` with
    z -> R, r -> G, g -> B: the asinh acts on the summed intensity so colours are preserved;
    each band's sky (median) is subtracted and all bands share one scale, the largest upper limit
    of the robust interval, so ``lupton_stretch`` is in units of that limit.

Non-finite (NaN, masked, BLANK) pixels are replaced by the band's median before anything is
computed, so they neither crash the interval nor poison the stretch; an all-non-finite band is
an error for the caller to report.

Band order: a (3, H, W) input is taken in increasing wavelength (g, r, z); the 3-band output is
in display order R, G, B = (z, r, g) for both stretches.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ahunt.config import DataConfig

__all__ = ["STRETCHES", "INTERVALS", "clean_bands", "asinh_bands", "lupton_rgb", "stretch_bands"]

STRETCHES = ("asinh", "lupton")
INTERVALS = ("zscale", "percentile")


def clean_bands(bands: np.ndarray) -> tuple[np.ndarray, int]:
    """float32 (C, H, W) copy with non-finite or masked pixels set to their band's median.

    Returns the cleaned bands and the number of pixels replaced.  Raises ValueError naming
    the band when a band has no finite pixel at all.
    """
    if np.ma.isMaskedArray(bands):
        bands = np.ma.filled(bands.astype(np.float64), np.nan)
    x = np.array(bands, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"expected (C, H, W) or (H, W) pixels; got shape {x.shape}")
    bad = ~np.isfinite(x)
    for c in range(len(x)):
        if bad[c].all():
            raise ValueError("all pixels are NaN or masked" + (f" in band {c}" if len(x) > 1 else ""))
        if bad[c].any():
            x[c][bad[c]] = np.median(x[c][~bad[c]])
    return x.astype(np.float32), int(bad.sum())


def _interval(kind: str, percentile: float):
    from astropy.visualization import PercentileInterval, ZScaleInterval

    if kind == "zscale":
        return ZScaleInterval()
    if kind == "percentile":
        return PercentileInterval(percentile)
    raise ValueError(f"unknown interval {kind!r}; choose one of {', '.join(INTERVALS)}")


def _limits(band: np.ndarray, interval) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zscale warns on tiny or flat images
        lo, hi = interval.get_limits(band)
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        lo, hi = float(band.min()), float(band.max())
    return lo, hi


def asinh_bands(bands: np.ndarray, *, interval: str = "zscale", percentile: float = 99.5, a: float = 0.1) -> np.ndarray:
    """Per-band asinh over a robust interval: float32 (C, H, W) in [0, 1] (3 bands reordered z, r, g)."""
    from astropy.visualization import AsinhStretch

    x, _ = clean_bands(bands)
    iv = _interval(interval, percentile)
    stretch = AsinhStretch(a)
    out = np.zeros_like(x)
    for c, band in enumerate(x):
        lo, hi = _limits(band, iv)
        if hi > lo:  # a constant band carries nothing: leave it black
            out[c] = stretch(np.clip((band - lo) / (hi - lo), 0.0, 1.0))
    if len(out) == 3:
        out = out[::-1]
    return np.ascontiguousarray(out, dtype=np.float32)


def lupton_rgb(bands: np.ndarray, *, q: float = 8.0, stretch: float = 0.5, interval: str = "zscale",
               percentile: float = 99.5) -> np.ndarray:
    """Lupton colour composite of (g, r, z) (or one band): float32 (3, H, W) R, G, B in [0, 1]."""
    from astropy.visualization import make_lupton_rgb

    x, _ = clean_bands(bands)
    if len(x) not in (1, 3):
        raise ValueError(f"a Lupton composite needs 1 or 3 bands (g, r, z); got {len(x)}")
    x = x - np.median(x, axis=(1, 2), keepdims=True)  # sky to 0
    iv = _interval(interval, percentile)
    scale = max(_limits(band, iv)[1] for band in x)
    if not scale > 0:
        scale = float(np.abs(x).max()) or 1.0
    x = x / scale
    g, r, z = (x[0], x[0], x[0]) if len(x) == 1 else x
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgb = make_lupton_rgb(z, r, g, minimum=0.0, stretch=stretch, Q=q)
    out = np.moveaxis(rgb, -1, 0).astype(np.float32) / 255.0
    return np.ascontiguousarray(out)


def stretch_bands(bands: np.ndarray, config: "DataConfig | None" = None) -> np.ndarray:
    """Apply the configured stretch (``[data]``) to raw (C, H, W) or (H, W) fluxes.

    Returns float32 (C, H, W) in [0, 1]: one plane for one band; three (R, G, B = z, r, g) for
    three bands, or for one band under ``lupton`` (a grey composite).
    """
    if config is None:
        from ahunt.config import DataConfig

        config = DataConfig()
    if config.stretch == "asinh":
        return asinh_bands(bands, interval=config.interval, percentile=config.percentile, a=config.asinh_a)
    if config.stretch == "lupton":
        out = lupton_rgb(bands, q=config.lupton_q, stretch=config.lupton_stretch, interval=config.interval,
                         percentile=config.percentile)
        return out[:1] if np.ndim(bands) == 2 or len(bands) == 1 else out
    raise ValueError(f"unknown stretch {config.stretch!r}; choose one of {', '.join(STRETCHES)}")
