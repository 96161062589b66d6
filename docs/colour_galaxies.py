"""Write small Galaxy10-DECaLS-layout files of synthetic colour galaxies, for trying the
labelling screen in a real terminal without the 2.5 GB download.

    python docs/colour_galaxies.py /tmp/trial   # -> /tmp/trial/galaxy10.h5
    ahunt init my-hunt --known /tmp/trial/galaxy10.h5 --classes 6,8 --image-size 128 --channels 3
    ahunt ingest my-hunt /tmp/trial/galaxy10.h5 --classes 1,7
    ahunt hunt my-hunt

Rows 0-59 are the known classes (6 Unbarred Tight Spiral, 8 Edge-on without Bulge); rows 60-109
a night of 7 Unbarred Loose Spiral and 1 Merging, shuffled.  Same schema as Galaxy10_DECals.h5 (``images`` uint8 (N, 256, 256, 3), ``ans``, ``ra``, ``dec``,
``redshift``, ``pxscale``).  Each galaxy is a reddish bulge, a bluer disk (tight spiral arms
with star-forming knots, or edge-on), sky noise and a few field stars; a merger is two of them
with curved tidal tails.  Seeded.
"""

import sys
from pathlib import Path

import h5py
import numpy as np

SIZE = 256
SPIRAL, LOOSE, EDGE_ON, MERGING = 6, 7, 8, 1  # Galaxy10 class indices
BULGE = np.array([1.0, 0.75, 0.45])  # R, G, B: old stars
DISK = np.array([0.45, 0.65, 1.0])  # young stars
KNOT = np.array([0.55, 0.7, 1.0])


def _galaxy(rng, cx, cy, scale, kind):
    y, x = np.mgrid[:SIZE, :SIZE].astype(float)
    pa, incl = rng.uniform(0, np.pi), (rng.uniform(0.8, 0.9) if kind == EDGE_ON else rng.uniform(0.0, 0.5))
    dx, dy = x - cx, y - cy
    u = dx * np.cos(pa) + dy * np.sin(pa)
    v = (-dx * np.sin(pa) + dy * np.cos(pa)) / max(1e-3, np.cos(incl * np.pi / 2))
    r = np.hypot(u, v)
    light = np.zeros((SIZE, SIZE, 3))
    light += np.exp(-7.67 * ((np.hypot(dx, dy) / (0.18 * scale)) ** 0.25 - 1))[..., None] * BULGE * (0.2 if kind == EDGE_ON else 1)
    disk = np.exp(-r / (0.35 * scale))
    if kind != EDGE_ON:
        theta = np.arctan2(v, u)
        pitch = np.tan(np.radians(25 if kind == LOOSE else 14))
        arms = 0.5 + 0.5 * np.cos(2 * (theta - np.log(r + 1) / pitch))
        disk = disk * (0.35 + 1.3 * arms ** 4)
        for _ in range(25):  # star-forming knots along the arms
            t = rng.uniform(0.4, 2.2) * scale * 0.5
            phi = np.log(t + 1) / pitch + rng.choice([0, np.pi]) + rng.normal(0, 0.1)
            ku, kv = t * np.cos(phi), t * np.sin(phi)
            kv_s = kv * np.cos(incl * np.pi / 2)
            kx, ky = cx + ku * np.cos(pa) - kv_s * np.sin(pa), cy + ku * np.sin(pa) + kv_s * np.cos(pa)
            light += 0.35 * np.exp(-((x - kx) ** 2 + (y - ky) ** 2) / (2 * 1.4 ** 2))[..., None] * KNOT
    light += 0.9 * disk[..., None] * DISK
    return light


def _tail(rng, cx, cy, scale):
    y, x = np.mgrid[:SIZE, :SIZE].astype(float)
    light = np.zeros((SIZE, SIZE, 3))
    phi0, curl = rng.uniform(0, 2 * np.pi), rng.choice([-1, 1]) * rng.uniform(1.5, 2.5)
    for t in np.linspace(0.3, 1.0, 60):
        px = cx + t * 2.2 * scale * np.cos(phi0 + curl * t)
        py = cy + t * 2.2 * scale * np.sin(phi0 + curl * t)
        light += 0.03 * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * (3 + 4 * t) ** 2))[..., None] * DISK
    return light


def cutout(kind: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(40, 55)
    c = SIZE / 2 + rng.normal(0, 3, 2)
    if kind == MERGING:
        offset = rng.uniform(0.6, 1.2) * scale * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        light = _galaxy(rng, *(c - offset / 2), scale * 0.8, SPIRAL) + _galaxy(rng, *(c + offset / 2), scale * 0.6, SPIRAL)
        light += _tail(rng, *(c - offset / 2), scale) + _tail(rng, *(c + offset / 2), scale)
    else:
        light = _galaxy(rng, *c, scale, kind)
    y, x = np.mgrid[:SIZE, :SIZE]
    for _ in range(rng.integers(1, 5)):  # field stars, some red, some blue
        sx, sy = rng.uniform(0, SIZE, 2)
        colour = rng.choice([BULGE, DISK, np.ones(3)])
        light += rng.uniform(0.3, 2) * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * 1.6 ** 2))[..., None] * colour
    light += rng.normal(0, 0.012, light.shape)  # sky noise
    rgb = np.arcsinh(np.clip(light, 0, None) / 0.05) / np.arcsinh(1.5 / 0.05)
    return np.clip(rgb * 255, 0, 255).astype(np.uint8)


def write(path: Path, kinds: list[int], seed: int) -> Path:
    n = len(kinds)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.stack([cutout(k, seed * 100_000 + i) for i, k in enumerate(kinds)]),
                         chunks=(1, SIZE, SIZE, 3), compression="gzip", compression_opts=1)
        f.create_dataset("ans", data=np.array(kinds, dtype=np.uint8))
        f.create_dataset("ra", data=np.linspace(150, 151, n))
        f.create_dataset("dec", data=np.linspace(2, 3, n))
        f.create_dataset("redshift", data=np.linspace(0.01, 0.2, n))
        f.create_dataset("pxscale", data=np.full(n, 0.262))
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    night = np.random.default_rng(0).permutation([LOOSE] * 40 + [MERGING] * 10).tolist()
    print(f"wrote {write(out / 'galaxy10.h5', [SPIRAL, EDGE_ON] * 30 + night, seed=1)}")
