import matplotlib.image as mpimg
import numpy as np
import pytest

from ahunt.errors import StoreError
from ahunt.sources.files import read_batch, read_labelled
from ahunt.sources.pixels import to_model_input


def _png_folder(root, classes=("a", "b"), n=3, size=24, rgb=False):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            img = rng.random((size, size, 3) if rgb else (size, size))
            mpimg.imsave(root / c / f"{c}{i}.png", img, cmap=None if rgb else "gray")
    return root


def test_labelled_png_folder(tmp_path):
    data = read_labelled(_png_folder(tmp_path / "known"), image_size=16, channels=1)
    assert data.images.shape == (6, 1, 16, 16) and data.images.dtype == np.float32
    assert 0 <= data.images.min() and data.images.max() <= 1
    assert data.labels.tolist() == ["a"] * 3 + ["b"] * 3
    assert data.ids.tolist()[0] == "a/a0"


def test_flat_folder_batch_and_channels(tmp_path):
    folder = tmp_path / "night"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        mpimg.imsave(folder / f"obj{i}.png", rng.random((30, 30, 3)))
    data = read_batch(folder, image_size=32, channels=3)
    assert data.images.shape == (4, 3, 32, 32) and data.labels is None
    assert data.ids.tolist() == ["obj0", "obj1", "obj2", "obj3"]
    grey = read_batch(folder, image_size=32, channels=1)
    np.testing.assert_allclose(grey.images[:, 0], data.images.mean(axis=1), atol=1e-5)


def test_grey_to_rgb_replicates():
    x = to_model_input(np.arange(16, dtype=np.uint8).reshape(1, 4, 4), image_size=4, channels=3)
    assert x.shape == (1, 3, 4, 4)
    assert np.array_equal(x[0, 0], x[0, 2]) and x.max() == pytest.approx(15 / 255)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: (p / "empty").mkdir() or p / "empty", ["no class subfolders"]),
        (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", ["unsupported input"]),
        (lambda p: p / "nothing.npz", ["no such file"]),
        (lambda p: (p / "bad.npz").write_bytes(b"not a zip") and p / "bad.npz", ["cannot read"]),
        (lambda p: np.savez(p / "nolab.npz", images=np.zeros((2, 4, 4))) or p / "nolab.npz", ["'labels'"]),
    ],
)
def test_bad_inputs_name_the_file(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(StoreError) as info:
        read_labelled(path, image_size=8, channels=1)
    assert str(path) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_corrupt_png_named(tmp_path):
    folder = _png_folder(tmp_path / "known")
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(StoreError, match="broken.png: cannot read image"):
        read_labelled(folder, image_size=8, channels=1)


# -- skipping bad files, catalogues, arrays --------------------------------------------------
def test_report_skips_bad_files_and_keeps_the_good(tmp_path):
    folder = _png_folder(tmp_path / "known")
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG garbage")
    (folder / "a" / "README.txt").write_text("notes")
    (folder / "empty").mkdir()
    data, skipped = read_labelled(folder, image_size=8, channels=1, report=True)
    assert len(data) == 6 and sorted(set(data.labels.tolist())) == ["a", "b"]
    reasons = dict(skipped)
    assert "cannot read image" in reasons[str(folder / "a" / "broken.png")]
    assert "not a PNG, JPEG or FITS" in reasons[str(folder / "a" / "README.txt")]
    assert "no PNG, JPEG or FITS" in reasons[str(folder / "empty")]
    # the result also has named fields
    result = read_labelled(folder, image_size=8, channels=1, report=True)
    assert result.data.ids.tolist() == data.ids.tolist() and result.skipped == skipped


def test_empty_and_duplicate_in_flat_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StoreError, match="empty: no PNG, JPEG or FITS images found"):
        read_batch(empty, image_size=8, channels=1, report=True)
    night = tmp_path / "night"
    night.mkdir()
    mpimg.imsave(night / "x.png", np.random.default_rng(0).random((10, 10)))
    mpimg.imsave(night / "x.jpg", np.random.default_rng(1).random((10, 10, 3)))
    data, skipped = read_batch(night, image_size=8, channels=1, report=True)
    assert data.ids.tolist() == ["x"] and "duplicate object id 'x'" in skipped[0][1]
    with pytest.raises(StoreError, match="duplicate object id 'x'"):
        read_batch(night, image_size=8, channels=1)


def _catalogue(tmp_path, fmt="csv", label=True, units=False):
    from astropy.table import Table
    import astropy.units as u

    img_dir = tmp_path / "img"
    img_dir.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        mpimg.imsave(img_dir / f"c{i}.png", rng.random((12, 12)), cmap="gray")
    t = Table()
    t["id"] = ["obj-a", "obj-b", "obj-c", "obj-b", "obj-d"]
    t["ra"] = [10.0, 11.0, 12.0, 13.0, 14.0]
    t["dec"] = [-1.0, -2.0, -3.0, -4.0, -5.0]
    if units:
        t["ra"] = t["ra"] / 15.0
        t["ra"].unit = u.hourangle
        t["dec"].unit = u.deg
    t["path"] = ["img/c0.png", "img/c1.png", "img/c2.png", "img/c3.png", "img/missing.png"]
    if label:
        t["label"] = ["spiral", "elliptical", "spiral", "spiral", "spiral"]
    path = tmp_path / f"cat.{fmt}"
    t.write(path, format="ascii.ecsv" if fmt == "ecsv" else "ascii.csv")
    return path


@pytest.mark.parametrize("fmt, units", [("csv", False), ("ecsv", True)])
def test_catalogue_joins_ids_positions_and_labels(tmp_path, fmt, units):
    cat = _catalogue(tmp_path, fmt, units=units)
    data, skipped = read_labelled(cat, image_size=8, channels=1, report=True)
    assert data.ids.tolist() == ["obj-a", "obj-b", "obj-c"]
    assert data.labels.tolist() == ["spiral", "elliptical", "spiral"]
    np.testing.assert_allclose(data.ra, [10.0, 11.0, 12.0])
    np.testing.assert_allclose(data.dec, [-1.0, -2.0, -3.0])
    reasons = [r for _, r in skipped]
    assert any("duplicate object id 'obj-b'" in r for r in reasons)
    assert any(f.endswith("missing.png") and "file not found" in r for f, r in skipped)
    night, _ = read_batch(cat, image_size=8, channels=3, report=True)
    assert night.labels is None and night.truth.tolist() == ["spiral", "elliptical", "spiral"]
    only, _ = read_labelled(cat, image_size=8, channels=1, report=True, classes="elliptical")
    assert only.ids.tolist() == ["obj-b"]
    with pytest.raises(StoreError, match="'merger' .* not among the known classes"):
        read_labelled(cat, image_size=8, channels=1, report=True, classes="merger")
    with pytest.raises(StoreError, match="missing.png: file not found"):
        read_labelled(cat, image_size=8, channels=1)


def test_catalogue_errors(tmp_path):
    cat = _catalogue(tmp_path, label=False)
    with pytest.raises(StoreError, match=r"cat.csv: catalogue lacks column\(s\) label"):
        read_labelled(cat, image_size=8, channels=1, report=True)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,file\nx,y.png\n")
    with pytest.raises(StoreError, match=r"bad.csv: catalogue lacks column\(s\) id, path"):
        read_batch(bad, image_size=8, channels=1, report=True)


def test_arrays_nan_replaced_all_nan_and_duplicates_named(tmp_path):
    images = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    images[0, 0, 0] = np.nan
    np.savez(tmp_path / "ok.npz", images=images)
    data = read_batch(tmp_path / "ok.npz", image_size=8, channels=1)
    assert np.isfinite(data.images).all()
    images[1] = np.nan
    np.savez(tmp_path / "nan.npz", images=images)
    with pytest.raises(StoreError, match=r"nan.npz: image 'nan-000001' has no finite pixel"):
        read_batch(tmp_path / "nan.npz", image_size=8, channels=1)
    np.savez(tmp_path / "dup.npz", images=np.zeros((2, 8, 8)), ids=np.array(["a", "a"]))
    with pytest.raises(StoreError, match=r"dup.npz: duplicate object id 'a'"):
        read_batch(tmp_path / "dup.npz", image_size=8, channels=1)
    np.save(tmp_path / "flat.npy", np.zeros(10))
    with pytest.raises(StoreError, match=r"flat.npy: 'images' must be"):
        read_batch(tmp_path / "flat.npy", image_size=8, channels=1)


def test_two_bands_to_rgb_goes_through_grey():
    x = to_model_input(np.stack([np.zeros((1, 6, 6)), np.ones((1, 6, 6))], axis=1), image_size=6, channels=3)
    assert x.shape == (1, 3, 6, 6) and np.allclose(x, 0.5)


def test_streamed_night_matches_the_whole_read_a_piece_at_a_time(tmp_path, monkeypatch):
    import ahunt.sources.files as files
    from ahunt.sources.files import stream_batch

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(250, 20, 20), dtype=np.uint8)
    np.save(tmp_path / "night.npy", images)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(7):
        mpimg.imsave(folder / f"g{i}.png", rng.random((12, 12)), cmap="gray")
    monkeypatch.setattr(files, "PIECE", 100)
    for path, sizes in ((tmp_path / "night.npy", [100, 100, 50]), (folder, [7])):
        whole = read_batch(path, image_size=16, channels=1)
        pieces = list(stream_batch(path, image_size=16, channels=1).pieces)
        assert [len(p) for p in pieces] == sizes
        assert np.array_equal(np.concatenate([p.images for p in pieces]), whole.images)
        assert np.concatenate([p.ids for p in pieces]).tolist() == whole.ids.tolist()


def test_ingest_fails_on_a_late_piece_and_stores_nothing(tmp_path, monkeypatch, sim_cache):
    """The second piece of the night clashes with the store: the first is not kept either."""
    from typer.testing import CliRunner

    from ahunt.cli import app
    from ahunt.config import dump_config
    import ahunt.sources.files as files
    from ahunt.store.workspace import Workspace
    from conftest import tiny_config

    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    monkeypatch.setattr(files, "PIECE", 50)
    config = tmp_path / "tiny.toml"
    config.write_text(dump_config(tiny_config()))
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", str(ws), "--simulated", "--config", str(config)]).exit_code == 0
    taken = str(Workspace.open(ws).store.load_round(0, images=False).ids[0])
    ids = np.array([f"new-{i}" for i in range(80)] + [taken] + [f"new-{i}" for i in range(80, 99)])
    np.savez(tmp_path / "night.npz", images=np.zeros((100, 32, 32), np.float32), ids=ids)
    result = runner.invoke(app, ["ingest", str(ws), str(tmp_path / "night.npz")])
    assert result.exit_code != 0
    assert f"object id {taken!r} is already in the store; nothing was stored" in " ".join(result.output.split())
    assert Workspace.open(ws).store.n_rounds() == 1


def test_npy_rows_are_read_without_loading_the_file(tmp_path):
    from ahunt.errors import InputError
    from ahunt.sources.files import _NpyRows

    x = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    np.save(tmp_path / "a.npy", x)
    rows = _NpyRows(tmp_path / "a.npy")
    assert rows.shape == (5, 3, 4) and rows.ndim == 3 and len(rows) == 5
    assert np.array_equal(rows[1:4], x[1:4]) and np.array_equal(rows[3:99], x[3:])
    assert np.array_equal(rows[np.array([0, 2, 4])], x[[0, 2, 4]])
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    with pytest.raises(InputError, match="C-ordered"):
        _NpyRows(tmp_path / "f.npy")
    (tmp_path / "short.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-8])
    with pytest.raises(InputError, match="shorter"):
        _NpyRows(tmp_path / "short.npy")[0:5]


# -- small input checks (issue 15) --------------------------------------------------------------
def test_a_one_pixel_png_is_too_small_not_three_dimensional(tmp_path):
    import matplotlib.image as mpimg

    folder = tmp_path / "night"
    folder.mkdir()
    mpimg.imsave(folder / "dot.png", np.zeros((1, 1)), cmap="gray")
    with pytest.raises(StoreError, match=r"dot.png: image of 1x1 pixels is too small; the minimum is 2x2"):
        read_batch(folder, image_size=8, channels=1)


def test_complex_arrays_are_refused(tmp_path):
    np.save(tmp_path / "night.npy", np.ones((3, 8, 8), dtype=np.complex64))
    with pytest.raises(StoreError, match="night.npy: 'images' are complex numbers"):
        read_batch(tmp_path / "night.npy", image_size=8, channels=1)


def test_five_planes_are_refused_as_for_fits_and_averaging_says_so(tmp_path):
    import warnings

    from ahunt.errors import AhuntWarning

    np.save(tmp_path / "five.npy", np.zeros((3, 16, 16, 5), dtype=np.float32))
    with pytest.raises(StoreError, match=r"five.npy: 'images' of shape \(16, 16, 5\) have 5 planes"):
        read_batch(tmp_path / "five.npy", image_size=8, channels=1)
    with pytest.raises(StoreError, match="have 5 planes"):
        to_model_input(np.zeros((2, 16, 16, 5)), image_size=8, channels=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = to_model_input(np.ones((2, 16, 16, 3)), image_size=8, channels=1)
    assert x.shape == (2, 1, 8, 8)
    assert [str(w.message) for w in caught if w.category is AhuntWarning] == [
        "images with 3 bands are averaged to grey for this hunt's 1-channel model ([model] channels = 3 keeps colour)"]


def test_a_refused_folder_names_every_bad_file(tmp_path):
    folder = tmp_path / "night"
    folder.mkdir()
    for i in range(6):
        (folder / f"bad{i}.png").write_bytes(b"not a png")
    with pytest.raises(StoreError) as info:
        read_batch(folder, image_size=8, channels=1, report=True)
    assert "skipped 6" in str(info.value) and all(f"bad{i}.png" in str(info.value) for i in range(6))
