import dataclasses

import numpy as np
import pytest
import torch

from ahunt.config import ExperimentConfig
from ahunt.evaluate.experiment import run_experiment
from ahunt.hunt.session import train_initial
from ahunt.methods.ae_active import ActiveLayer, AeActiveDetector, ConvAutoencoder, error_features, grid_size
from ahunt.sources.streams import make_stream
from ahunt.store.workspace import Workspace
from conftest import seeded_part, tiny_config


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 1), (64, 3)])
def test_autoencoder_mirrors_the_input_shape(size, channels):
    torch.manual_seed(0)
    ae = ConvAutoencoder(size, channels, width=4, latent_dim=16).eval()
    x = torch.rand(3, channels, size, size)
    assert ae(x).shape == x.shape
    assert error_features(x, ae(x)).shape == (3, channels * grid_size(size) ** 2)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_active_layer_starts_as_the_plain_reconstruction_score(size, channels):
    torch.manual_seed(1)
    ae = ConvAutoencoder(size, channels, width=4, latent_dim=16).eval()
    x = torch.rand(5, channels, size, size)
    with torch.no_grad():
        recon = ae(x)
        feats = error_features(x, recon).double().numpy()
        plain = ((x - recon) ** 2).flatten(1).mean(1).double().numpy()
    layer = ActiveLayer(feats.shape[1])
    assert np.allclose(layer.score(feats), plain, rtol=1e-6, atol=0)
    assert layer.fit(feats, np.zeros(5, bool)) == []  # no anomaly named yet: still the plain mean
    assert np.allclose(layer.score(feats), plain, rtol=1e-6, atol=0)


def test_active_layer_learns_which_errors_matter():
    rng = np.random.default_rng(0)
    n, d = 200, 16
    feats = rng.gamma(2.0, 1.0, size=(n, d))
    y = np.zeros(n, bool)
    y[:10] = True
    feats[y, 3] += 3.0  # the anomalies the user cares about: a large error in one cell only
    feats[10:30] += rng.gamma(2.0, 1.0, size=(20, d))  # uninteresting objects: large errors everywhere
    layer = ActiveLayer(d)
    before = layer.score(feats)
    losses = layer.fit(feats, y)
    after = layer.score(feats)
    assert losses[-1] < losses[0]
    assert int(np.argmax(layer.weight)) == 3
    top = lambda s: set(np.argsort(-s)[:10])  # noqa: E731
    assert len(top(after) & set(range(10))) > len(top(before) & set(range(10)))
    assert layer.bias == 0.0


def test_detector_trains_and_ranks_a_night(tmp_path, sim_cache):
    cfg = tiny_config()
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    det = AeActiveDetector(ws, device=torch.device("cpu"))
    r = ws.store.add_round(stream.load(1))
    det.start_round(ws, r)
    images = ws.store.load_round(r).images
    assert np.allclose(det.scores(images), det.reconstruction_error(images), rtol=1e-5)  # no labels yet
    picks = det(images, None, [0], 4, np.random.default_rng(0))
    s = det.scores(images)
    assert [p.index for p in picks] == [int(i) for i in np.argsort(-s[1:], kind="stable")[:4] + 1]


def test_ae_active_runs_in_the_experiment(tmp_path, sim_cache):
    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=2),
                              experiment=ExperimentConfig(trials=1, jobs=1, methods=("ae-active",)))
    rows = run_experiment(cfg, tmp_path / "exp", cache_dir=sim_cache)
    metrics = {r["metric"] for r in rows}
    assert {"mcc:merger", "true_candidates:merger", "anomalies_found"} <= metrics
    assert not any(m.startswith("contamination") for m in metrics)  # top-score questions: no design
    assert {r["round"] for r in rows} == {1, 2}
    assert seeded_part(run_experiment(cfg, tmp_path / "exp2", cache_dir=sim_cache)) == seeded_part(rows)  # seeded


@pytest.mark.parametrize("crop, sky_first", [(16, False), (0, True)])
def test_detector_sees_the_networks_field(tmp_path, sim_cache, crop, sky_first):
    """With ``[model] crop`` the autoencoder and its error features see the central pixels the
    other methods' networks see: an object odd only in the sky around them is not what it ranks
    first (without a crop it is)."""
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, crop=crop))
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    det = AeActiveDetector(ws, device=torch.device("cpu"))
    images = stream.load(1).images.copy()
    images[5, :, :4, :] += 50.0  # odd only outside the central 16 x 16
    size = crop or 32
    assert det.features(images).shape == (len(images), grid_size(size) ** 2)
    assert det.reconstruction_error(images).shape == (len(images),)
    s = det.scores(images)
    assert (int(np.argmax(s)) == 5) is sky_first
