"""FITS cutouts: single band, cubes, per-band files, WCS positions, NaN/BLANK pixels, bad files."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from ahunt.config import DataConfig
from ahunt.errors import StoreError
from ahunt.sources.files import read_batch, read_labelled
from ahunt.sources.fits import group_band_files, read_fits_cutout, wcs_centre

N = 33  # odd: the centre pixel is (16, 16)


def _wcs(ra=150.0, dec=2.0, n=N, scale=0.262 / 3600):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(n + 1) / 2, (n + 1) / 2]  # FITS pixels are 1-based: the centre
    w.wcs.cdelt = [-scale, scale]
    return w


def _image(seed=0, n=N, flux=5e3):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:n, :n]
    return (50 + 3 * rng.standard_normal((n, n)) + flux * np.exp(-((x - n // 2) ** 2 + (y - n // 2) ** 2) / 8.0)).astype(np.float32)


def _write(path, data, *, ra=None, dec=None, header=None):
    hdr = _wcs(ra, dec).to_header() if ra is not None else fits.Header()
    if header:
        hdr.update(header)
    fits.PrimaryHDU(data=data, header=hdr).writeto(path)
    return path


def test_single_band_with_wcs_and_nan(tmp_path):
    img = _image()
    img[:4, :] = np.nan
    path = _write(tmp_path / "obj1.fits", img, ra=150.1, dec=2.2)
    cut = read_fits_cutout(path)
    assert cut.image.shape == (1, N, N) and np.isfinite(cut.image).all()
    assert 0 <= cut.image.min() and cut.image.max() <= 1 and cut.replaced == 4 * N
    assert cut.ra == pytest.approx(150.1, abs=1e-9) and cut.dec == pytest.approx(2.2, abs=1e-9)
    data = read_batch(path, image_size=16, channels=1)  # a single FITS file is one object
    assert data.ids.tolist() == ["obj1"] and data.images.shape == (1, 1, 16, 16)
    assert data.ra[0] == pytest.approx(150.1) and np.isfinite(data.images).all()


def test_wcs_centre_off_crpix_and_without_wcs():
    w = _wcs(10.0, -30.0)
    w.wcs.crpix = [1, 1]
    ra, dec = wcs_centre(w.to_header(), (N, N))
    expect = w.pixel_to_world((N - 1) / 2, (N - 1) / 2)
    assert ra == pytest.approx(expect.ra.deg) and dec == pytest.approx(expect.dec.deg)
    assert np.isnan(wcs_centre(fits.Header(), (N, N))).all()


def test_cube_grz_and_blank_int_image(tmp_path):
    cube = np.stack([_image(1, flux=1e3), _image(2, flux=3e3), _image(3, flux=9e3)])
    hdr = _wcs(20.0, 5.0).to_header()
    hdr["BANDS"] = "grz"
    fits.PrimaryHDU(data=cube, header=hdr).writeto(tmp_path / "cube.fits")  # WCS of a 3-axis cube
    cut = read_fits_cutout(tmp_path / "cube.fits", DataConfig(stretch="lupton"))
    assert cut.image.shape == (3, N, N) and cut.ra == pytest.approx(20.0)
    r, g, b = cut.image[:, N // 2, N // 2]
    assert r >= g >= b  # z -> R is the brightest band

    ints = np.full((N, N), 100, dtype=np.int16)
    ints[N // 2, N // 2] = 3000
    ints[0, :] = -32768
    hdu = fits.PrimaryHDU(data=ints)
    hdu.header["BLANK"] = -32768
    hdu.writeto(tmp_path / "blank.fits")
    cut = read_fits_cutout(tmp_path / "blank.fits")
    assert cut.replaced == N and np.isfinite(cut.image).all()
    assert cut.image[0, 0, 0] == cut.image[0, 5, 5]  # BLANK became the sky, not a black stripe


def test_per_band_files_are_grouped(tmp_path):
    night = tmp_path / "night"
    night.mkdir()
    for band, seed in (("g", 1), ("r", 2), ("z", 3)):
        _write(night / f"obj123_{band}.fits", _image(seed), ra=33.0, dec=-4.0)
    _write(night / "lone_r.fits", _image(4))  # a lone band file is an ordinary object
    groups = dict(group_band_files(sorted(night.iterdir())))
    assert [p.name for p in groups["obj123"]] == ["obj123_g.fits", "obj123_r.fits", "obj123_z.fits"]
    assert "lone_r" in groups
    data = read_batch(night, image_size=16, channels=3)
    assert data.ids.tolist() == ["lone_r", "obj123"]
    assert data.images.shape == (2, 3, 16, 16)
    assert np.isnan(data.ra[0]) and data.ra[1] == pytest.approx(33.0)


def test_bad_fits_in_a_folder_are_skipped_and_reported(tmp_path):
    night = tmp_path / "night"
    night.mkdir()
    _write(night / "good.fits", _image(), ra=1.0, dec=1.0)
    _write(night / "allnan.fits", np.full((N, N), np.nan, dtype=np.float32))
    _write(night / "line.fits", np.arange(10.0))
    _write(night / "four.fits", np.zeros((2, 3, N, N), dtype=np.float32))
    _write(night / "five.fits", np.zeros((5, N, N), dtype=np.float32))
    (night / "corrupt.fits").write_bytes(b"SIMPLE  =                    T" + b"\0" * 50)
    (night / "notes.txt").write_text("seeing 1.1")
    for band in ("g", "r"):  # two bands only: cannot make 1 or 3
        _write(night / f"pair_{band}.fits", _image())
    data, skipped = read_batch(night, image_size=16, channels=1, report=True)
    assert data.ids.tolist() == ["good"]
    reasons = dict(skipped)
    assert "all pixels are NaN" in reasons[str(night / "allnan.fits")]
    assert "1-D" in reasons[str(night / "line.fits")]
    assert "4-D" in reasons[str(night / "four.fits")]
    assert "1 or 3 band planes" in reasons[str(night / "five.fits")]
    assert "cannot read FITS" in reasons[str(night / "corrupt.fits")]
    assert "not a PNG, JPEG or FITS" in reasons[str(night / "notes.txt")]
    assert any("1 or 3 bands" in r for f, r in skipped if "pair_g" in f)
    # without report, the first bad file is an error naming it
    with pytest.raises(StoreError, match=r"\.fits: "):
        read_batch(night, image_size=16, channels=1)


@pytest.mark.parametrize(
    "data, words",
    [
        (np.full((N, N), np.nan, dtype=np.float32), ["all pixels are NaN"]),
        (np.zeros((2, 2, N, N), dtype=np.float32), ["4-D"]),
        (np.arange(5.0), ["1-D"]),
    ],
)
def test_single_bad_fits_file_is_an_error(tmp_path, data, words):
    path = _write(tmp_path / "bad.fits", data)
    with pytest.raises(StoreError) as info:
        read_batch(path, image_size=16, channels=1)
    assert str(path) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_labelled_fits_folder_and_classes_filter(tmp_path):
    known = tmp_path / "known"
    for c, k in (("spiral", 3), ("elliptical", 2), ("edge-on", 2)):
        (known / c).mkdir(parents=True)
        for i in range(k):
            _write(known / c / f"{c}{i}.fits", _image(i))
    data = read_labelled(known, image_size=16, channels=1, classes="spiral,elliptical")
    assert sorted(set(data.labels.tolist())) == ["elliptical", "spiral"] and len(data) == 5
    assert data.ids.tolist()[0] == "elliptical/elliptical0"
    with pytest.raises(StoreError, match="'lens' .* not among the known classes"):
        read_labelled(known, image_size=16, channels=1, classes="spiral,lens")


def test_cli_init_and_ingest_print_what_was_skipped(tmp_path):
    from typer.testing import CliRunner

    from ahunt.cli import app
    from ahunt.config import dump_config
    from ahunt.store.workspace import Workspace
    from conftest import tiny_config

    known = tmp_path / "known"
    for c in ("spiral", "elliptical"):
        (known / c).mkdir(parents=True)
        for i in range(4):
            _write(known / c / f"{c}{i}.fits", _image(i), ra=10.0 + i, dec=1.0)
    _write(known / "spiral" / "dead.fits", np.full((N, N), np.nan, dtype=np.float32))
    night = tmp_path / "night"
    night.mkdir()
    for i in range(3):
        _write(night / f"new{i}.fits", _image(10 + i), ra=20.0, dec=2.0)
    (night / "new3.fits").write_text("not fits at all")
    config = tmp_path / "c.toml"
    config.write_text(dump_config(tiny_config(interest={"reserve": 1.0})).replace('stretch = "asinh"', 'stretch = "lupton"'))
    runner = CliRunner()
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws), "--known", str(known), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "8 labelled images" in result.output and "skipped 1" in result.output and "dead.fits" in result.output
    result = runner.invoke(app, ["ingest", str(ws), str(night)])
    assert result.exit_code == 0, result.output
    assert "Round 1: 3 objects" in result.output and "new3.fits" in result.output
    w = Workspace.open(ws)
    assert w.config.data.stretch == "lupton"
    assert w.store.load_round(1, images=False).ra.tolist() == pytest.approx([20.0] * 3)
    # the same night again: ids clash, a clear error naming the folder, nothing stored
    result = runner.invoke(app, ["ingest", str(ws), str(night)])
    assert result.exit_code == 2 and str(night) in result.output and "already in the store" in result.output
    assert w.store.n_rounds() == 2
    result = runner.invoke(app, ["ingest", str(ws), str(night / "new3.fits")])  # one bad file: an error
    assert result.exit_code == 2 and "new3.fits: cannot read FITS" in result.output
    assert w.store.n_rounds() == 2
