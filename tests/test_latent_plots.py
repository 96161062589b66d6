"""Latent-space figures: formats, sizes, thumbnails; and one real (Aligned)UMAP run end to end."""

import matplotlib.image as mpimg
import numpy as np
import pytest

from ahunt.errors import AhuntError
from ahunt.outputs import latent_plots
from ahunt.outputs.embedding import SOURCE_ANCHOR, SOURCE_ANSWER, SOURCE_ROUND, LatentView
from ahunt.outputs.latent_plots import plot_latent, plot_latent_rounds, write_umap
from ahunt.store.answer_log import ClassInfo
from test_embedding import tiny_hunt

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = [ClassInfo(0, "elliptical", "known", 0), ClassInfo(1, "spiral", "known", 0),
           ClassInfo(2, "reserve", "reserve", 0), ClassInfo(3, "merger", "anomaly", 1)]


def synthetic_view(r=1, n=60, seed=0):
    rng = np.random.default_rng(seed)
    source = np.array([SOURCE_ANCHOR] * 30 + [SOURCE_ANSWER] * 5 + [SOURCE_ROUND] * (n - 35), dtype=np.int8)
    label = np.where(source == SOURCE_ROUND, -1, rng.integers(0, 2, n))
    label[30:33] = 3  # earlier answers naming the anomaly class
    queried = np.zeros(n, bool)
    queried[-6:] = True
    label[-3:] = [3, 1, 2]  # answered this round (the rest of the questions skipped)
    probs = rng.dirichlet(np.ones(4), n).astype(np.float32)
    truth = np.array(["elliptical", "spiral", "merger", "lens"])[rng.integers(0, 4, n)]
    return LatentView(round=r, version=r, ids=np.array([f"o{k}" for k in range(n)]), xy=rng.normal(size=(n, 2)),
                      probs=probs, source=source, label=label, queried=queried,
                      where=np.stack([np.zeros(n, int), np.arange(n)], 1), classes=CLASSES, truth=truth,
                      n_in_round=40)


def pixels(path):
    return mpimg.imread(path).shape[:2]


def test_single_map_png_size_and_formats(tmp_path):
    view = synthetic_view()
    png = plot_latent(view, tmp_path / "map.png")
    assert png.read_bytes()[:8] == PNG
    assert pixels(png) == (816, 1260)  # 10.5 x 6.8 in at 120 dpi
    assert plot_latent(view, tmp_path / "map.pdf").read_bytes()[:5] == b"%PDF-"
    svg = plot_latent(view, tmp_path / "map.svg").read_text()
    assert "<svg" in svg[:500]
    with pytest.raises(AhuntError, match="unknown figure format"):
        plot_latent(view, tmp_path / "map.jpg")


def test_truth_colours_thumbnails_and_panels(tmp_path):
    view = synthetic_view()
    thumbs = {k: np.random.default_rng(k).uniform(0, 1.5, (1, 16, 16)).astype(np.float32) for k in range(0, 60, 6)}
    thumbs[1] = np.random.default_rng(1).uniform(0, 1.5, (3, 16, 16)).astype(np.float32)  # RGB too
    out = plot_latent(view, tmp_path / "truth.png", truth=True, thumbnails=thumbs)
    assert out.read_bytes()[:8] == PNG and pixels(out) == (816, 1260)
    view.truth = None
    with pytest.raises(AhuntError, match="no true classes"):
        plot_latent(view, tmp_path / "x.png", truth=True)
    views = [synthetic_view(r, seed=r) for r in range(3)]
    panels = plot_latent_rounds(views, tmp_path / "rounds.png")
    assert pixels(panels) == (480, 1428)  # 3 panels of 3.1 in + 2.6 in of legend, 4.0 in high, 120 dpi
    assert plot_latent_rounds(views, tmp_path / "rounds.svg").read_text().lstrip().startswith("<?xml")


@pytest.fixture(scope="module")
def hunt(tmp_path_factory, sim_cache):
    return tiny_hunt(tmp_path_factory.mktemp("lat") / "ws", sim_cache, nights=2, pending=True)


def test_real_umap_of_one_round(hunt, tmp_path, monkeypatch):
    """umap-learn itself (the first UMAP in a process compiles with numba: ~10 s on 2 cores)."""
    notes = []
    one = write_umap(hunt, tmp_path / "r3.png", round=3, thumbnails=True, max_points=80, n_neighbors=5,
                     notify=notes.append)
    assert not one.cached and one.note == "" and len(one.views[0]) <= 80
    assert any("UMAP of" in n and "numba" in n for n in notes)
    assert one.path.read_bytes()[:8] == PNG and pixels(one.path) == (816, 1260)
    assert np.isfinite(one.views[0].xy).all()
    again = write_umap(hunt, tmp_path / "r3.pdf", round=3, max_points=80, n_neighbors=5)
    assert again.cached and again.path.read_bytes()[:5] == b"%PDF-"
    np.testing.assert_array_equal(again.views[0].xy, one.views[0].xy)
    monkeypatch.setattr(latent_plots, "MAX_THUMBNAILS", 20)
    many = write_umap(hunt, tmp_path / "r3c.png", round=3, thumbnails=True, max_points=80, n_neighbors=5)
    assert many.cached and "thumbnails only for the 6 asked objects" in many.note
    with pytest.raises(AhuntError, match="not both"):
        write_umap(hunt, tmp_path / "x.png", round=1, all_rounds=True)


@pytest.mark.slow
def test_real_aligned_umap_of_a_tiny_hunt(hunt, tmp_path):
    """AlignedUMAP over 4 tiny rounds; slow only because numba compiles it (~17 s on 2 cores)."""
    notes = []
    result = write_umap(hunt, tmp_path / "all.png", all_rounds=True, max_points=80, n_neighbors=5,
                        notify=notes.append)
    assert [v.round for v in result.views] == [0, 1, 2, 3] and not result.cached
    assert any("AlignedUMAP" in n and "numba" in n for n in notes)
    assert result.path.read_bytes()[:8] == PNG
    assert pixels(result.path) == (480, 1800)  # 4 panels of 3.1 in in a row + 2.6 in of legend, 4.0 in high
    for v in result.views:
        assert np.isfinite(v.xy).all(axis=1).mean() > 0.9
    again = write_umap(hunt, tmp_path / "all.svg", all_rounds=True, max_points=80, n_neighbors=5)
    assert again.cached and again.path.read_text().lstrip().startswith("<?xml")
    np.testing.assert_array_equal(again.views[2].xy, result.views[2].xy)
