"""Galaxy10 DECaLS reader, on a tiny file with exactly the real file's schema."""

import dataclasses

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.config import ModelConfig, dump_config
from ahunt.errors import StoreError
from ahunt.sources.files import read_batch, read_labelled
from ahunt.sources.pixels import to_model_input
import ahunt.sources.galaxy10 as g10
from ahunt.sources.galaxy10 import GALAXY10_CLASSES, galaxy10_labels, read_galaxy10
from ahunt.store.workspace import Workspace
from conftest import tiny_config

ANS = np.array([6, 8, 1, 6, 8, 6, 8, 1, 6, 8] * 3, dtype=np.uint8)  # 30 rows


def _g10(path, ans=ANS, size=256):
    rng = np.random.default_rng(0)
    n = len(ans)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                         chunks=(1, size, size, 3), compression="gzip", compression_opts=1)
        f.create_dataset("ans", data=ans)
        f.create_dataset("ra", data=np.linspace(150, 151, n))
        f.create_dataset("dec", data=np.linspace(2, 3, n))
        z = np.linspace(0.01, 0.2, n)
        z[::4] = np.nan
        f.create_dataset("redshift", data=z)
        f.create_dataset("pxscale", data=np.full(n, 0.262))
    return path


@pytest.fixture(scope="module")
def g10_file(tmp_path_factory):
    return _g10(tmp_path_factory.mktemp("g10") / "Galaxy10_DECals.h5")


def test_labels_and_rows_in_the_order_asked(g10_file, monkeypatch):
    assert galaxy10_labels(g10_file).tolist() == ANS.tolist()
    sizes = []
    real = g10.to_model_input
    monkeypatch.setattr(g10, "to_model_input", lambda x, **kw: sizes.append(len(x)) or real(x, **kw))
    rows = [17, 2, 29, 5, 0, 11, 3]
    data = read_galaxy10(g10_file, rows, image_size=32, channels=3, chunk=3)
    assert sizes and max(sizes) <= 3  # read and resized chunk by chunk
    assert data.ids.tolist() == [f"g10-{i}" for i in rows]
    assert data.labels.tolist() == [GALAXY10_CLASSES[ANS[i]] for i in rows] == data.truth.tolist()
    assert data.ra[0] == pytest.approx(np.linspace(150, 151, 30)[17])
    with h5py.File(g10_file) as f:
        expect = to_model_input(f["images"][[2]], image_size=32, channels=3)
    np.testing.assert_allclose(data.images[1:2], expect, atol=1e-6)


def test_classes_by_index_or_name(g10_file):
    data = read_galaxy10(g10_file, image_size=16, channels=1, classes=[6, "Edge-on without Bulge"])
    assert set(data.labels.tolist()) == {"Unbarred Tight Spiral", "Edge-on without Bulge"} and len(data) == 24
    assert data.images.shape == (24, 1, 16, 16)
    via_files = read_labelled(g10_file, image_size=16, channels=1, classes="6,8")
    assert via_files.ids.tolist() == data.ids.tolist()
    night = read_batch(g10_file, image_size=16, channels=1, classes="merging")
    assert night.labels is None and set(night.truth.tolist()) == {"Merging"} and len(night) == 6


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"classes": [12]}, ["class 12", "outside the Galaxy10 classes"]),
        ({"classes": ["Spirals"]}, ["'Spirals' is not a Galaxy10 class"]),
        ({"indices": [3, 30]}, ["row 30 does not exist"]),
        ({"indices": [3, 3]}, ["row 3 asked for twice"]),
    ],
)
def test_bad_requests(g10_file, kwargs, words):
    with pytest.raises(StoreError) as info:
        read_galaxy10(g10_file, image_size=16, channels=1, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_bad_schema(tmp_path):
    bad = _g10(tmp_path / "labels.h5", ans=np.array([0, 10, 2], dtype=np.uint8), size=8)
    with pytest.raises(StoreError, match="row 1 has label 10, outside the Galaxy10 classes 0-9"):
        galaxy10_labels(bad)
    with h5py.File(tmp_path / "grey.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((2, 8, 8), dtype=np.uint8))
        f.create_dataset("ans", data=np.zeros(2, dtype=np.uint8))
    with pytest.raises(StoreError, match=r"grey.h5: Galaxy10 'images' must be \(N, H, W, 3\)"):
        galaxy10_labels(tmp_path / "grey.h5")
    with h5py.File(tmp_path / "noans.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((2, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(StoreError, match="dataset\\(s\\) ans missing"):
        galaxy10_labels(tmp_path / "noans.h5")


def test_cli_init_with_classes_then_ingest_the_anomalies(g10_file, tmp_path):
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, model=ModelConfig(image_size=32, channels=3, width=4),
                              hunt=dataclasses.replace(cfg.hunt, interest={"reserve": 0.5, "Merging": 0.5}))
    config = tmp_path / "g10.toml"
    config.write_text(dump_config(cfg))
    runner = CliRunner()
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws), "--known", str(g10_file), "--classes", "6,8", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "Unbarred Tight Spiral 12" in result.output
    w = Workspace.open(ws)
    assert w.class_names() == ["Unbarred Tight Spiral", "Edge-on without Bulge", "reserve"]
    result = runner.invoke(app, ["ingest", str(ws), str(g10_file), "--classes", "Merging"])
    assert result.exit_code == 0, result.output
    night = w.store.load_round(1, images=False)
    assert set(night.truth.tolist()) == {"Merging"} and night.ra is not None
    # the same rows again: clear error, nothing stored
    result = runner.invoke(app, ["ingest", str(ws), str(g10_file), "--classes", "1"])
    assert result.exit_code == 2 and "already in the store" in result.output and str(g10_file) in result.output
    assert w.store.n_rounds() == 2
    result = runner.invoke(app, ["init", str(tmp_path / "ws2"), "--known", str(g10_file), "--classes", "6,42"])
    assert result.exit_code == 2 and "class 42" in result.output and not (tmp_path / "ws2").exists()


def test_galaxy10_protocol_config_runs_as_a_stream(tmp_path):
    """configs/galaxy10-decals.toml drives the demo once its path points at a Galaxy10 file."""
    from pathlib import Path

    from ahunt.evaluate.demo import run_demo

    ans = np.array([6] * 40 + [8] * 30 + [1] * 12, dtype=np.uint8)
    path = _g10(tmp_path / "g10.h5", ans=ans, size=64)
    text = (Path(__file__).resolve().parents[1] / "configs" / "galaxy10-decals.toml").read_text()
    config = load_config_from(tmp_path, text.replace('path = "Galaxy10_DECals.h5"', f'path = "{path}"'))
    assert config.model.image_size == 128 and config.model.channels == 3
    survey = dataclasses.replace(
        config.survey, nights=2,
        initial={"Unbarred Tight Spiral": 20, "Edge-on without Bulge": 16},
        nightly={"Unbarred Tight Spiral": 8, "Edge-on without Bulge": 6, "Merging": 4},
    )
    small = dataclasses.replace(
        config, device="cpu", survey=survey, model=ModelConfig(image_size=32, channels=3),
        train=dataclasses.replace(config.train, epochs_initial=1, epochs=1),
        hunt=dataclasses.replace(config.hunt, questions=4),
    )
    reports = run_demo(small, tmp_path / "out")
    assert [r.round for r in reports] == [1, 2]
    assert reports[-1].classes[0].name == "Merging" and reports[-1].classes[0].n_true == 4


def load_config_from(folder, text):
    from ahunt.config import load_config

    path = folder / "g10.toml"
    path.write_text(text)
    return load_config(path)


def test_streamed_pieces_are_the_whole_read(g10_file):
    from ahunt.sources.galaxy10 import iter_galaxy10

    whole = read_galaxy10(g10_file, image_size=16, channels=3, classes=[1, 8])
    pieces = list(iter_galaxy10(g10_file, image_size=16, channels=3, classes=[1, 8], chunk=4))
    assert [len(p) for p in pieces] == [4, 4, 4, 4, 2]  # 18 rows of classes 1 and 8, 4 at a time
    assert np.array_equal(np.concatenate([p.images for p in pieces]), whole.images)
    for name in ("ids", "labels", "truth", "ra", "dec"):
        assert np.concatenate([getattr(p, name) for p in pieces]).tolist() == getattr(whole, name).tolist()
