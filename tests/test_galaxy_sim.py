"""Tests for ahunt.sources.galaxy_sim."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from ahunt.sources.galaxy_sim import (
    ANOMALY_CLASSES,
    NORMAL_CLASSES,
    STRETCH_CLIP,
    STRETCH_REFERENCE,
    asinh_stretch,
    draw_objects,
)

ALL = NORMAL_CLASSES + ANOMALY_CLASSES


def _n_peaks(img, threshold=0.3, window=7):
    """Count local maxima of a 3x3-smoothed image above `threshold`."""
    n = img.shape[0]
    p = np.pad(img, 1, mode="edge")
    smooth = sum(p[i : i + n, j : j + n] for i in range(3) for j in range(3)) / 9.0
    h = window // 2
    q = np.pad(smooth, h, mode="constant", constant_values=-1.0)
    local_max = sliding_window_view(q, (window, window)).max(axis=(-1, -2))
    return int(np.sum((smooth == local_max) & (smooth > threshold)))


def _brightest_sector_to_inner(img, n_sectors=8):
    """Brightest angular sector of the 5-10 px annulus over the 2-4 px ring.

    An arc lifts one or more sectors well above what a smooth, monotonically
    declining elliptical profile allows.
    """
    n = img.shape[0]
    yy, xx = np.mgrid[:n, :n]
    dx, dy = xx - (n - 1) / 2, yy - (n - 1) / 2
    r = np.hypot(dx, dy)
    sector = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * n_sectors).astype(int) % n_sectors
    annulus = (r >= 5) & (r < 10)
    outer = max(img[annulus & (sector == s)].mean() for s in range(n_sectors))
    return outer / img[(r >= 2) & (r < 4)].mean()


def test_class_tuples():
    assert NORMAL_CLASSES == ("elliptical", "spiral", "edge-on")
    assert ANOMALY_CLASSES == ("merger", "lens", "artefact")


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shape_dtype_range_every_class(size):
    imgs = draw_objects(list(ALL), image_size=size, seed=3)
    assert imgs.shape == (len(ALL), size, size)
    assert imgs.dtype == np.float32
    assert np.all(np.isfinite(imgs))
    assert imgs.min() >= 0.0
    assert imgs.max() <= STRETCH_CLIP
    c = size // 2
    for kind, img in zip(ALL, imgs):
        # Every class has an object at the centre, well above the sky border.
        core = img[c - 3 : c + 3, c - 3 : c + 3].mean()
        border = np.concatenate([img[:2].ravel(), img[-2:].ravel()]).mean()
        assert core > border + 0.15, kind


def test_typical_galaxies_use_most_of_unit_range():
    imgs = draw_objects(["elliptical", "spiral", "edge-on"] * 8, seed=5)
    peaks = imgs.reshape(len(imgs), -1).max(axis=1)
    assert 0.5 < np.median(peaks) < 1.2


def test_empty_kinds():
    out = draw_objects([], image_size=32, seed=0)
    assert out.shape == (0, 32, 32)
    assert out.dtype == np.float32


def test_deterministic_and_seed_dependent():
    kinds = ["spiral", "merger", "lens", "artefact"]
    a = draw_objects(kinds, seed=11)
    b = draw_objects(kinds, seed=11)
    c = draw_objects(kinds, seed=12)
    np.testing.assert_array_equal(a, b)
    for i in range(len(kinds)):
        assert not np.array_equal(a[i], c[i])


def test_prefix_stability():
    short = draw_objects(["lens", "elliptical"], seed=4)
    long = draw_objects(["lens", "elliptical", "merger", "spiral", "artefact"], seed=4)
    np.testing.assert_array_equal(short, long[:2])
    # Object i depends on its own kind, not on its neighbours' kinds.
    other = draw_objects(["edge-on", "elliptical"], seed=4)
    np.testing.assert_array_equal(other[1], short[1])


def test_unknown_kind_raises_with_name():
    with pytest.raises(ValueError, match="quasar"):
        draw_objects(["spiral", "quasar"], seed=0)


def test_bare_string_rejected():
    with pytest.raises(TypeError):
        draw_objects("spiral", seed=0)


def test_bad_size_and_seed_rejected():
    with pytest.raises(ValueError):
        draw_objects(["spiral"], image_size=8, seed=0)
    with pytest.raises(ValueError):
        draw_objects(["spiral"], seed=-1)


def test_asinh_stretch_properties():
    x = np.array([-50.0, 0.0, 10.0, 100.0, STRETCH_REFERENCE, 1e7])
    y = asinh_stretch(x, softening=30.0)
    assert y.dtype == np.float32
    assert y[0] == 0.0 and y[1] == 0.0
    assert np.all(np.diff(y[1:]) > 0)
    assert y[4] == pytest.approx(1.0, abs=1e-6)
    assert y[5] == pytest.approx(STRETCH_CLIP)
    with pytest.raises(ValueError):
        asinh_stretch(x, softening=0.0)


def test_mergers_show_two_nuclei_and_ellipticals_do_not():
    imgs = draw_objects(["merger"] * 20 + ["elliptical"] * 20, seed=21)
    two = np.array([_n_peaks(im) >= 2 for im in imgs])
    assert two[:20].mean() >= 0.6
    assert two[20:].mean() <= 0.15


def test_lenses_put_light_in_an_arc():
    imgs = draw_objects(["lens"] * 20 + ["elliptical"] * 20, seed=22)
    ratio = np.array([_brightest_sector_to_inner(im) for im in imgs])
    assert ratio[:20].mean() > ratio[20:].mean() + 0.12


def test_artefacts_put_bright_pixels_far_from_the_galaxy():
    # Trails, columns and cosmic rays reach the stamp outskirts, where sky
    # noise alone essentially never exceeds ~6 sigma (0.4 after the stretch)
    # and only the largest normal galaxies do.
    imgs = draw_objects(["artefact"] * 30 + ["elliptical", "spiral", "edge-on"] * 10, seed=23)
    n = imgs.shape[1]
    yy, xx = np.mgrid[:n, :n]
    outer = np.hypot(xx - (n - 1) / 2, yy - (n - 1) / 2) > 20
    n_bright = (imgs[:, outer] > 0.4).sum(axis=1)
    assert np.mean(n_bright[:30] >= 2) > 0.5
    assert np.mean(n_bright[30:] >= 2) < 0.2
