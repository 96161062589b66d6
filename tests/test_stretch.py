import numpy as np
import pytest

from ahunt.config import DataConfig
from ahunt.sources.stretch import asinh_bands, clean_bands, lupton_rgb, stretch_bands


def _galaxy(n=48, bands=3, seed=0):
    """Sky + noise + a bright Gaussian core, with a different flux per band (g < r < z)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:n, :n]
    core = np.exp(-((x - n / 2) ** 2 + (y - n / 2) ** 2) / (2 * 3.0**2))
    return np.stack([100.0 + 5 * rng.standard_normal((n, n)) + 1e4 * (b + 1) * core for b in range(bands)])


def test_clean_bands_replaces_nan_by_median_and_rejects_all_nan():
    x = _galaxy(bands=1)
    x[0, :5, :5] = np.nan
    x[0, 10, 10] = np.inf
    clean, n = clean_bands(x)
    assert n == 26 and np.isfinite(clean).all()
    assert clean[0, 0, 0] == pytest.approx(np.nanmedian(np.where(np.isfinite(x), x, np.nan)[0]), rel=1e-5)
    with pytest.raises(ValueError, match="all pixels are NaN"):
        clean_bands(np.full((1, 8, 8), np.nan))
    masked = np.ma.masked_array(np.ones((8, 8)), mask=np.eye(8, dtype=bool))
    assert clean_bands(masked)[1] == 8


@pytest.mark.parametrize("interval", ["zscale", "percentile"])
def test_asinh_range_and_core_brighter_than_sky(interval):
    x = _galaxy()
    x[1, 3, 3] = np.nan  # must not poison the stretch
    out = asinh_bands(x, interval=interval, percentile=99.5, a=0.1)
    assert out.shape == (3, 48, 48) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert (out[:, 24, 24] > out[:, 2, 40] + 0.3).all()


def test_asinh_orders_bands_z_r_g_and_handles_constant_band():
    x = _galaxy()
    x[0] = 7.0  # g is constant
    out = asinh_bands(x)
    assert np.all(out[2] == 0)  # g is the blue (last) plane, black
    assert out[0].max() > 0


def test_lupton_rgb_colour_order():
    x = _galaxy()
    x[0] *= 0.1  # little g light: the composite must not be blue
    out = lupton_rgb(x, q=8, stretch=0.5)
    assert out.shape == (3, 48, 48) and 0 <= out.min() and out.max() <= 1
    r, g, b = out[:, 24, 24]
    assert r >= g >= b and r > 0


def test_stretch_bands_follows_config():
    x = _galaxy(bands=1)[0]
    grey = stretch_bands(x, DataConfig())
    assert grey.shape == (1, 48, 48)
    lup = stretch_bands(x, DataConfig(stretch="lupton"))
    assert lup.shape == (1, 48, 48) and np.isfinite(lup).all()
    colour = stretch_bands(_galaxy(), DataConfig(stretch="lupton", lupton_q=4.0, lupton_stretch=1.0))
    assert colour.shape == (3, 48, 48)
