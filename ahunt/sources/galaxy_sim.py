"""Seeded GalSim simulator of single-band galaxy cutouts.

The simulator produces DECaLS-like stamps (0.262 arcsec/pixel, Moffat PSF,
Poisson sky and source noise) of three *normal* classes and three *anomaly*
classes, already stretched into the range a neural network expects.

Normal classes
    ``"elliptical"``
        Truncated Sersic profile, n in [3, 5].
    ``"spiral"``
        Face-on-ish exponential disk, small de Vaucouleurs bulge and
        star-forming knots that trace two loose logarithmic arms.
    ``"edge-on"``
        ``galsim.InclinedExponential`` at 80-90 degrees, optional small bulge.

Anomaly classes
    ``"merger"``
        Two overlapping or close galaxies plus faint curved tidal tails.
    ``"lens"``
        Massive elliptical with a lensed arc or Einstein ring and, for partial
        arcs, a faint counter-image.
    ``"artefact"``
        A normal galaxy with a satellite trail, cosmic-ray hits or a hot/dead
        column or row on top of it (anomalous in pixels, but uninteresting).

All classes share one total-flux distribution, and the anomaly geometries are
scaled so that their overall light spread overlaps the normals; anomalies are
therefore not separable by brightness or size alone.

Smooth profiles are drawn by GalSim (FFT convolution with the PSF). Compact
features (knots, arc segments, tidal-tail clumps) are rendered as elongated
Gaussians on the pixel grid and convolved with the same PSF via a small numpy
FFT: summing dozens of shifted GalSim profiles costs ~50-100 us per component
in k-space, which would blow the ~4 ms/object budget.

Every object is drawn from its own ``numpy.random.SeedSequence([seed, i])``,
so object ``i`` depends only on ``(seed, i, kinds[i], image_size)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import galsim
import numpy as np

__all__ = [
    "ANOMALY_CLASSES",
    "NORMAL_CLASSES",
    "PIXEL_SCALE",
    "SKY_LEVEL",
    "SKY_SIGMA",
    "STRETCH_CLIP",
    "STRETCH_REFERENCE",
    "STRETCH_SOFTENING",
    "asinh_stretch",
    "draw_objects",
]

NORMAL_CLASSES: tuple[str, ...] = ("elliptical", "spiral", "edge-on")
ANOMALY_CLASSES: tuple[str, ...] = ("merger", "lens", "artefact")

#: Pixel scale in arcsec/pixel (DECaLS / DECam).
PIXEL_SCALE: float = 0.262
#: Sky level in electrons per pixel; with gain 1 the sky noise is its square root.
SKY_LEVEL: float = 100.0
#: Per-pixel sky noise (electrons) in sky-subtracted images.
SKY_SIGMA: float = math.sqrt(SKY_LEVEL)
#: Asinh softening used by :func:`draw_objects`, in electrons per pixel.
STRETCH_SOFTENING: float = 3.0 * SKY_SIGMA
#: Pixel value (electrons) that the stretch maps to 1.0.
STRETCH_REFERENCE: float = 600.0
#: Upper clip of the stretched images.
STRETCH_CLIP: float = 1.5

_MIN_IMAGE_SIZE = 16
_ALL_CLASSES = NORMAL_CLASSES + ANOMALY_CLASSES

# Shared by all classes so that total flux carries no class information.
_FLUX_RANGE = (1.0e4, 1.0e5)
# Loosened from the GalSim defaults: at 5e-3 the n=5 Sersic wings force
# ~300^2 FFTs, and the extra aliasing is far below the sky noise here. The
# default minimum_fft_size (128) doubles the k-space work for 64-pixel stamps;
# 64 changes noiseless pixels by < 0.04 sky sigma.
_GSPARAMS = galsim.GSParams(
    folding_threshold=1.0e-2, maxk_threshold=3.0e-3, minimum_fft_size=64
)
# Truncating Sersic profiles keeps the FFT small; truncation in units of the
# half-light radius keeps GalSim's per-(n, trunc/r0) cache hit.
_SERSIC_TRUNC = 4.5
# Quantised so GalSim caches the Sersic integrals instead of recomputing them.
_SERSIC_N_GRID = (3.0, 3.5, 4.0, 4.5, 5.0)
# Below half a pixel, point sampling a Gaussian misplaces its flux.
_MIN_BLOB_SIGMA_PIX = 0.5


@dataclass
class _Scene:
    """Unconvolved scene: a GalSim profile plus Gaussian blobs.

    Blob positions and sizes are in arcsec relative to the stamp centre;
    ``angle`` is the major-axis position angle in radians from +x.
    """

    smooth: list[galsim.GSObject] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    flux: list[np.ndarray] = field(default_factory=list)
    sig_major: list[np.ndarray] = field(default_factory=list)
    sig_minor: list[np.ndarray] = field(default_factory=list)
    angle: list[np.ndarray] = field(default_factory=list)

    def add_blobs(self, x, y, flux, sig_major, sig_minor, angle) -> None:
        n = np.size(x)
        for name, val in (
            ("x", x),
            ("y", y),
            ("flux", flux),
            ("sig_major", sig_major),
            ("sig_minor", sig_minor),
            ("angle", angle),
        ):
            getattr(self, name).append(np.broadcast_to(np.asarray(val, float), (n,)))

    def extend(self, other: _Scene, dx: float = 0.0, dy: float = 0.0) -> None:
        self.smooth.extend(s.shift(dx, dy) for s in other.smooth)
        for xs, ys, f, a, b, t in zip(
            other.x, other.y, other.flux, other.sig_major, other.sig_minor, other.angle
        ):
            self.add_blobs(xs + dx, ys + dy, f, a, b, t)

    def blobs(self) -> tuple[np.ndarray, ...] | None:
        if not self.x:
            return None
        return tuple(
            np.concatenate(v)
            for v in (self.x, self.y, self.flux, self.sig_major, self.sig_minor, self.angle)
        )


def asinh_stretch(image: np.ndarray, *, softening: float) -> np.ndarray:
    """Apply the display/network stretch used by :func:`draw_objects`.

    The stretch is ``arcsinh(image / softening) / arcsinh(STRETCH_REFERENCE /
    softening)``, clipped to ``[0, STRETCH_CLIP]``. It is linear for pixel
    values well below ``softening`` (so sky noise keeps a Gaussian look) and
    logarithmic above it (so bright cores do not saturate). The normalisation
    is a fixed global constant rather than a per-image maximum, so relative
    brightness between images survives the stretch.

    Parameters
    ----------
    image : numpy.ndarray
        Sky-subtracted image(s) in electrons per pixel, any shape.
    softening : float
        Asinh softening in the same units; :func:`draw_objects` uses
        ``STRETCH_SOFTENING`` (three times the sky noise).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape. A pixel equal to ``STRETCH_REFERENCE``
        maps to 1.0; typical galaxy cores land in roughly ``[0.5, 1.2]``.

    Raises
    ------
    ValueError
        If `softening` is not a positive finite number.
    """
    if not (np.isfinite(softening) and softening > 0):
        raise ValueError(f"softening must be a positive finite number, got {softening!r}")
    norm = np.arcsinh(STRETCH_REFERENCE / softening)
    out = np.arcsinh(np.asarray(image, dtype=np.float64) / softening) / norm
    return np.clip(out, 0.0, STRETCH_CLIP).astype(np.float32)


def draw_objects(kinds: Sequence[str], *, image_size: int = 64, seed: int) -> np.ndarray:
    """Draw one simulated cutout per entry of `kinds`.

    Parameters
    ----------
    kinds : sequence of str
        Class name of each object, each one of ``NORMAL_CLASSES`` or
        ``ANOMALY_CLASSES``.
    image_size : int, optional
        Side of the square stamps in pixels (0.262 arcsec/pixel). Object sizes
        are physical, so small stamps crop large galaxies; 32-128 is the
        intended range.
    seed : int
        Non-negative master seed.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(len(kinds), image_size, image_size)``,
        stretched with :func:`asinh_stretch` (``softening=STRETCH_SOFTENING``)
        into ``[0, STRETCH_CLIP]``, mostly ``[0, 1]``.

    Raises
    ------
    ValueError
        If a kind is unknown (the message names it), `image_size` is below 16,
        or `seed` is negative.
    TypeError
        If `kinds` is a bare string.

    Notes
    -----
    Object ``i`` is drawn from ``numpy.random.SeedSequence([seed, i])`` and
    depends only on ``(seed, i, kinds[i], image_size)``: output is
    bit-identical for identical arguments, and appending kinds never changes
    the earlier objects.
    """
    if isinstance(kinds, str):
        raise TypeError("kinds must be a sequence of class names, not a single string")
    kinds = list(kinds)
    for kind in kinds:
        if kind not in _ALL_CLASSES:
            raise ValueError(f"unknown object kind {kind!r}; expected one of {_ALL_CLASSES}")
    image_size = int(image_size)
    if image_size < _MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be >= {_MIN_IMAGE_SIZE}, got {image_size}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")

    out = np.empty((len(kinds), image_size, image_size), dtype=np.float32)
    for i, kind in enumerate(kinds):
        out[i] = asinh_stretch(
            _draw_linear(kind, image_size, seed, i), softening=STRETCH_SOFTENING
        )
    return out


# --------------------------------------------------------------------------
# Per-object drawing
# --------------------------------------------------------------------------


def _draw_linear(kind: str, size: int, seed: int, index: int) -> np.ndarray:
    """Sky-subtracted noisy image in electrons for object `index`."""
    np_seq, gs_seq = np.random.SeedSequence([seed, index]).spawn(2)
    rng = np.random.default_rng(np_seq)
    # GalSim treats seed 0 as "seed from the clock", so keep it positive.
    gs_rng = galsim.BaseDeviate(int(gs_seq.generate_state(1)[0]) % (2**31 - 2) + 1)

    psf_fwhm = rng.uniform(0.9, 1.5)
    psf = galsim.Moffat(beta=rng.uniform(2.8, 3.2), fwhm=psf_fwhm, gsparams=_GSPARAMS)
    # Real PSFs are never perfectly round; a few percent ellipticity keeps a
    # classifier from using PSF roundness as a class cue.
    psf = psf.shear(e=rng.uniform(0.0, 0.06), beta=rng.uniform(0, np.pi) * galsim.radians)

    flux = _log_uniform(rng, *_FLUX_RANGE)
    artefact = None
    if kind == "artefact":
        host = NORMAL_CLASSES[rng.integers(len(NORMAL_CLASSES))]
        scene = _NORMAL_BUILDERS[host](rng, flux)
        artefact = ("trail", "cosmic", "column")[rng.integers(3)]
    elif kind in _NORMAL_BUILDERS:
        scene = _NORMAL_BUILDERS[kind](rng, flux)
    elif kind == "merger":
        scene = _merger(rng, flux)
    else:
        # Lensing galaxies are massive, and faint arcs vanish in the noise, so
        # the faintest fifth (in log flux) of the shared range is excluded.
        # This leaves flux mildly informative for lenses (AUC ~0.65).
        lo, hi = np.log(_FLUX_RANGE)
        flux = float(np.exp(rng.uniform(lo + 0.2 * (hi - lo), hi)))
        scene = _lens(rng, flux, psf_fwhm)

    offset = rng.uniform(-0.5, 0.5, size=2)
    image = galsim.ImageF(size, size, scale=PIXEL_SCALE)
    # GalSim sizes the FFT to cover the bounds' distance from the origin, so
    # 1-based bounds would force an FFT twice the stamp size.
    image.setCenter(0, 0)
    smooth = galsim.Convolve(galsim.Add(scene.smooth), psf, gsparams=_GSPARAMS)
    smooth.drawImage(image=image, offset=(offset[0], offset[1]))
    arr = image.array
    blobs = scene.blobs()
    if blobs is not None:
        arr += _render_blobs(blobs, size, offset, psf, psf_fwhm)

    if artefact == "trail":
        _add_trail(rng, arr, psf_fwhm)
    elif artefact == "cosmic":
        _add_cosmic_rays(rng, arr)

    noise = galsim.CCDNoise(gs_rng, sky_level=SKY_LEVEL, gain=1.0)
    image.addNoise(noise)
    arr = image.array
    # Hot/dead columns are electronic, i.e. added after the photon noise.
    if artefact == "column":
        _add_bad_column(rng, arr)
    return arr


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _sersic(rng: np.random.Generator, n_choices, hlr: float, flux: float) -> galsim.GSObject:
    n = n_choices[rng.integers(len(n_choices))]
    return galsim.Sersic(
        n=n, half_light_radius=hlr, flux=flux, trunc=_SERSIC_TRUNC * hlr, gsparams=_GSPARAMS
    )


def _bulge(hlr: float, flux: float) -> galsim.GSObject:
    return galsim.Sersic(
        n=4.0, half_light_radius=hlr, flux=flux, trunc=_SERSIC_TRUNC * hlr, gsparams=_GSPARAMS
    )


def _elliptical(rng: np.random.Generator, flux: float, hlr: float | None = None) -> _Scene:
    if hlr is None:
        hlr = _log_uniform(rng, 0.6, 2.4)
    gal = _sersic(rng, _SERSIC_N_GRID, hlr, flux)
    gal = gal.shear(q=rng.uniform(0.5, 1.0), beta=rng.uniform(0, np.pi) * galsim.radians)
    return _Scene(smooth=[gal])


def _spiral(rng: np.random.Generator, flux: float, hlr: float | None = None) -> _Scene:
    if hlr is None:
        hlr = _log_uniform(rng, 1.0, 3.0)
    q = rng.uniform(0.6, 1.0)
    pa = rng.uniform(0, np.pi)
    f_bulge = rng.uniform(0.05, 0.25)
    f_knots = rng.uniform(0.15, 0.35)
    disk = galsim.Exponential(
        half_light_radius=hlr, flux=flux * (1 - f_bulge - f_knots), gsparams=_GSPARAMS
    )
    bulge = _bulge(hlr * rng.uniform(0.15, 0.3), flux * f_bulge)
    gal = galsim.Add([disk, bulge]).shear(q=q, beta=pa * galsim.radians)

    # Knots follow two trailing log-spiral arms plus a diffuse population, so
    # the disk shows some spiral structure rather than random speckle.
    n_knots = int(rng.integers(25, 60))
    r_s = hlr / 1.678
    r = r_s * rng.gamma(2.0, 1.0, size=n_knots) + 0.3 * hlr
    on_arm = rng.random(n_knots) < rng.uniform(0.5, 0.9)
    pitch = np.tan(np.deg2rad(rng.uniform(12, 30)))
    phase0 = rng.uniform(0, 2 * np.pi)
    arm = rng.integers(2, size=n_knots)
    theta = np.where(
        on_arm,
        phase0 + np.pi * arm + np.log(r / r_s) / pitch + rng.normal(0, 0.25, n_knots),
        rng.uniform(0, 2 * np.pi, n_knots),
    )
    x, y = r * np.cos(theta), r * np.sin(theta)
    # Same area-preserving shear as galsim's shear(q=q, beta=pa).
    x, y = _rotate(x / np.sqrt(q), y * np.sqrt(q), pa)
    weights = rng.exponential(1.0, n_knots)
    sig = rng.uniform(0.08, 0.25, n_knots)
    scene = _Scene(smooth=[gal])
    scene.add_blobs(x, y, flux * f_knots * weights / weights.sum(), sig, sig, 0.0)
    return scene


def _edge_on(rng: np.random.Generator, flux: float, hlr: float | None = None) -> _Scene:
    if hlr is None:
        hlr = _log_uniform(rng, 1.2, 3.2)
    pa = rng.uniform(0, np.pi) * galsim.radians
    f_bulge = rng.uniform(0.0, 0.2)
    disk = galsim.InclinedExponential(
        inclination=rng.uniform(80, 90) * galsim.degrees,
        half_light_radius=hlr,
        scale_h_over_r=rng.uniform(0.06, 0.15),
        flux=flux * (1 - f_bulge),
        gsparams=_GSPARAMS,
    )
    parts = [disk]
    if f_bulge > 0.02:
        parts.append(
            _bulge(hlr * rng.uniform(0.15, 0.3), flux * f_bulge).shear(
                q=rng.uniform(0.6, 0.9), beta=0 * galsim.radians
            )
        )
    return _Scene(smooth=[galsim.Add(parts).rotate(pa)])


_NORMAL_BUILDERS = {"elliptical": _elliptical, "spiral": _spiral, "edge-on": _edge_on}


def _merger(rng: np.random.Generator, flux: float) -> _Scene:
    f_tail = rng.uniform(0.08, 0.18)
    f_primary = rng.uniform(0.5, 0.75)
    flux_gal = flux * (1 - f_tail)
    # Components are drawn smaller than isolated galaxies so the pair's total
    # light spread stays within the normal range (no trivial size cue).
    hlr1 = _log_uniform(rng, 0.6, 1.8)
    hlr2 = hlr1 * rng.uniform(0.5, 0.9)
    kinds = ("elliptical", "spiral", "edge-on")
    probs = (0.45, 0.4, 0.15)
    k1, k2 = rng.choice(3, size=2, p=probs)
    g1 = _NORMAL_BUILDERS[kinds[k1]](rng, flux_gal * f_primary, hlr1)
    g2 = _NORMAL_BUILDERS[kinds[k2]](rng, flux_gal * (1 - f_primary), hlr2)

    # Floor in arcsec: nuclei closer than ~1.5 PSF FWHM blend into one.
    sep = max(rng.uniform(0.7, 2.5) * hlr1, rng.uniform(1.8, 2.8))
    phi = rng.uniform(0, 2 * np.pi)
    # Centre on the flux-weighted centroid, as a detection of the blend would.
    w2 = 1 - f_primary
    c1 = np.array([-w2 * sep * np.cos(phi), -w2 * sep * np.sin(phi)])
    c2 = c1 + sep * np.array([np.cos(phi), np.sin(phi)])

    scene = _Scene()
    scene.extend(g1, *c1)
    scene.extend(g2, *c2)

    # Tidal tails leave each galaxy on the side away from its companion and
    # curl with a common sense of rotation, as in a prograde encounter.
    curl = rng.choice((-1.0, 1.0)) * rng.uniform(0.6, 1.6)
    origins = [(c1, hlr1, phi + np.pi), (c2, hlr2, phi)]
    n_tails = 2 if rng.random() < 0.6 else 1
    order = rng.permutation(2)[:n_tails]
    tail_fluxes = flux * f_tail * rng.dirichlet(np.ones(n_tails) * 3)
    for j, tail_flux in zip(order, tail_fluxes):
        centre, hlr, away = origins[j]
        _add_tail(rng, scene, centre, hlr, away + rng.normal(0, 0.4), curl, hlr1, tail_flux)
    return scene


def _add_tail(rng, scene, centre, hlr, phi0, curl, hlr_ref, tail_flux) -> None:
    length = min(rng.uniform(1.5, 3.5) * max(hlr_ref, 0.8), 5.0)
    n = max(int(np.ceil(length / 0.2)), 6)
    t = np.linspace(0.0, 1.0, n)
    rho = 0.8 * hlr + length * t
    ang = phi0 + curl * t
    x = centre[0] + rho * np.cos(ang)
    y = centre[1] + rho * np.sin(ang)
    # Blob major axis follows the local tangent of the curve.
    tangent = np.arctan2(np.gradient(y), np.gradient(x))
    sig_major = 0.25 + 0.45 * t
    sig_minor = sig_major * rng.uniform(0.3, 0.6)
    w = np.exp(-1.5 * t) * rng.uniform(0.6, 1.4, n)
    scene.add_blobs(x, y, tail_flux * w / w.sum(), sig_major, sig_minor, tangent)


def _lens(rng: np.random.Generator, flux: float, psf_fwhm: float) -> _Scene:
    # An arc closer to the lens centre than ~1.8 PSF FWHM merges with the
    # lens light even in a noiseless image.
    theta_e = min(max(rng.uniform(1.5, 2.5), 1.8 * psf_fwhm), 2.6)
    f_arc = rng.uniform(0.35, 0.55)
    # The lens must be compact relative to the Einstein radius or its own
    # light buries the arc.
    hlr = theta_e * rng.uniform(0.15, 0.35)
    lens_gal = _sersic(rng, (3.0, 3.5, 4.0), hlr, flux * (1 - f_arc)).shear(
        q=rng.uniform(0.6, 1.0), beta=rng.uniform(0, np.pi) * galsim.radians
    )
    scene = _Scene(smooth=[lens_gal])

    span = np.deg2rad(rng.uniform(60, 360))
    centre_ang = rng.uniform(0, 2 * np.pi)
    sig_tan = rng.uniform(0.15, 0.3)
    sig_rad = rng.uniform(0.03, 0.08)
    n = max(int(np.ceil(theta_e * span / (0.6 * sig_tan))), 8)
    full_ring = span > np.deg2rad(300)
    if full_ring:
        span = 2 * np.pi
        ang = centre_ang + np.linspace(0, 2 * np.pi, n, endpoint=False)
        w = 1.0 + 0.6 * np.cos(ang - centre_ang)
    else:
        t = np.linspace(-0.5, 0.5, n)
        ang = centre_ang + span * t
        w = np.cos(np.pi * t) ** 0.5 + 0.05
    # A mildly elliptical critical curve reads more natural than a perfect circle.
    eps = rng.uniform(0.0, 0.1)
    r = theta_e * (1 + eps * np.cos(2 * (ang - rng.uniform(0, np.pi))))
    w = w * rng.uniform(0.7, 1.3, n)
    arc_flux = flux * f_arc
    counter_flux = 0.0
    if not full_ring and span < np.deg2rad(240):
        counter_flux = arc_flux * rng.uniform(0.15, 0.35)
        rc = theta_e * rng.uniform(0.45, 0.8)
        ca = centre_ang + np.pi + rng.normal(0, 0.15)
        scene.add_blobs(rc * np.cos(ca), rc * np.sin(ca), counter_flux, 0.12, 0.08, ca + np.pi / 2)
    scene.add_blobs(
        r * np.cos(ang),
        r * np.sin(ang),
        (arc_flux - counter_flux) * w / w.sum(),
        sig_tan,
        sig_rad,
        ang + np.pi / 2,
    )
    return scene


# --------------------------------------------------------------------------
# Pixel-level helpers
# --------------------------------------------------------------------------


def _rotate(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(angle), np.sin(angle)
    return c * x - s * y, s * x + c * y


def _render_blobs(blobs, size: int, offset: np.ndarray, psf, psf_fwhm: float) -> np.ndarray:
    """PSF-convolved image (electrons) of the Gaussian blobs."""
    x, y, flux, sig_a, sig_b, angle = blobs
    half_k = int(np.ceil(2.5 * psf_fwhm / PIXEL_SCALE))
    pad = half_k
    canvas_n = size + 2 * pad
    # GalSim's true centre of an N-pixel image is at 0-based index (N-1)/2.
    centre = (size - 1) / 2.0
    px = centre + offset[0] + x / PIXEL_SCALE + pad
    py = centre + offset[1] + y / PIXEL_SCALE + pad
    sa = np.maximum(sig_a / PIXEL_SCALE, _MIN_BLOB_SIGMA_PIX)
    sb = np.maximum(sig_b / PIXEL_SCALE, _MIN_BLOB_SIGMA_PIX)

    h = int(np.ceil(3.5 * sa.max()))
    d = np.arange(-h, h + 1)
    ix0 = np.rint(px).astype(int)
    iy0 = np.rint(py).astype(int)
    cols = ix0[:, None, None] + d[None, None, :]
    rows = iy0[:, None, None] + d[None, :, None]
    dx = cols - px[:, None, None]
    dy = rows - py[:, None, None]
    c = np.cos(angle)[:, None, None]
    s = np.sin(angle)[:, None, None]
    u = c * dx + s * dy
    v = -s * dx + c * dy
    prof = np.exp(-0.5 * ((u / sa[:, None, None]) ** 2 + (v / sb[:, None, None]) ** 2))
    # Normalising the sampled patch (not the analytic integral) conserves
    # flux exactly even for half-pixel blobs.
    prof *= (flux / prof.sum(axis=(1, 2)))[:, None, None]
    rows, cols = np.broadcast_arrays(rows, cols)
    inside = (rows >= 0) & (rows < canvas_n) & (cols >= 0) & (cols < canvas_n)
    canvas = np.zeros((canvas_n, canvas_n))
    np.add.at(canvas, (rows[inside], cols[inside]), prof[inside])

    kernel = psf.drawImage(
        nx=2 * half_k + 1, ny=2 * half_k + 1, scale=PIXEL_SCALE, method="no_pixel"
    ).array.astype(np.float64)
    kernel /= kernel.sum()
    conv = _fft_convolve_same(canvas, kernel)
    return conv[pad : pad + size, pad : pad + size]


def _fft_convolve_same(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    k = kernel.shape[0]
    n = image.shape[0] + k - 1
    fft_n = _next_fast_len(n)
    spec = np.fft.rfft2(image, s=(fft_n, fft_n)) * np.fft.rfft2(kernel, s=(fft_n, fft_n))
    full = np.fft.irfft2(spec, s=(fft_n, fft_n))
    h = k // 2
    return full[h : h + image.shape[0], h : h + image.shape[1]]


def _next_fast_len(n: int) -> int:
    best = 2 ** int(np.ceil(np.log2(n)))
    for p3 in (1, 3, 9):
        for p5 in (1, 5, 25):
            base = p3 * p5
            m = base
            while m < n:
                m *= 2
            best = min(best, m)
    return best


def _add_trail(rng: np.random.Generator, arr: np.ndarray, psf_fwhm: float) -> None:
    """Satellite/airplane trail: a PSF-wide line crossing the stamp."""
    size = arr.shape[0]
    ang = rng.uniform(0, np.pi)
    # A point within the central half guarantees the trail crosses the stamp.
    x0, y0 = rng.uniform(0.25, 0.75, size=2) * (size - 1)
    yy, xx = np.mgrid[0:size, 0:size]
    dist = -(xx - x0) * np.sin(ang) + (yy - y0) * np.cos(ang)
    sigma = psf_fwhm / 2.355 / PIXEL_SCALE * rng.uniform(1.0, 1.8)
    peak = SKY_SIGMA * _log_uniform(rng, 3.0, 15.0)
    arr += peak * np.exp(-0.5 * (dist / sigma) ** 2)


def _add_cosmic_rays(rng: np.random.Generator, arr: np.ndarray) -> None:
    """Unconvolved single-pixel hits and short streaks (they never saw the optics)."""
    size = arr.shape[0]
    n_hits = int(rng.integers(1, 5))
    for _ in range(n_hits):
        length = int(rng.integers(1, 8))
        ang = rng.uniform(0, np.pi)
        x0, y0 = rng.uniform(0.1, 0.9, size=2) * (size - 1)
        t = np.arange(length)
        xs = np.clip(np.rint(x0 + t * np.cos(ang)).astype(int), 0, size - 1)
        ys = np.clip(np.rint(y0 + t * np.sin(ang)).astype(int), 0, size - 1)
        arr[ys, xs] += SKY_SIGMA * _log_uniform(rng, 15.0, 150.0) * rng.uniform(0.5, 1.0, length)


def _add_bad_column(rng: np.random.Generator, arr: np.ndarray) -> None:
    """Hot or dead column/row, full length or bleeding from one edge."""
    size = arr.shape[0]
    # Within the central half, so that the defect usually crosses the galaxy
    # (a dead column on empty sky is clipped away by the stretch).
    idx = int(rng.integers(size // 4, size - size // 4))
    width = int(rng.choice((1, 1, 1, 2)))
    level = SKY_SIGMA * rng.uniform(3.0, 12.0)
    if rng.random() < 0.3:
        level = -level
    start, stop = 0, size
    if rng.random() < 0.4:
        cut = int(rng.integers(size // 4, 3 * size // 4))
        start, stop = (0, cut) if rng.random() < 0.5 else (cut, size)
    if rng.random() < 0.5:
        arr[start:stop, idx : idx + width] += level
    else:
        arr[idx : idx + width, start:stop] += level
