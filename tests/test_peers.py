"""coniferest's active forests as peers: one question at a time, a refit after every answer."""

import dataclasses

import numpy as np

from ahunt.config import ExperimentConfig
from ahunt.evaluate.experiment import hunt_summary, run_experiment
from ahunt.hunt.oracle import TruthOracle
from ahunt.hunt.session import train_initial
from ahunt.methods.peers import ActiveForestPeer
from ahunt.sources.streams import make_stream
from ahunt.store.workspace import Workspace
from conftest import tiny_config


def _workspace(tmp_path, sim_cache):
    cfg = tiny_config()
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    return ws, stream


def test_peer_refits_after_every_answer_and_learns_what_is_interesting(tmp_path, sim_cache, monkeypatch):
    ws, stream = _workspace(tmp_path, sim_cache)
    data = stream.load(1)
    r = ws.store.add_round(data)
    peer = ActiveForestPeer("aad-raw", ws, seed=0, uninteresting=["artefact"])
    n0 = peer.n_round0_known
    fits = []
    original = peer._fit
    monkeypatch.setattr(peer, "_fit", lambda x, seed: fits.append(len(peer.known_y) - n0) or original(x, seed))
    scores = peer.run_night(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), 5, seed=1)
    # Before each of the 5 questions the forest saw every answer so far, and once more at the end.
    assert fits == [0, 1, 2, 3, 4, 5]
    questions = ws.log.questions(r)
    assert [q.position for q in questions] == list(range(5)) and len({q.object_id for q in questions}) == 5
    truth = dict(zip(data.ids, data.truth))
    asked = [truth[q.object_id] for q in questions]
    # An artefact is an anomaly class, but not an interesting one: a "regular" answer.
    expected = [-1 if t == "merger" else 1 for t in asked]
    assert peer.known_y[n0:] == expected
    assert scores.shape == (len(data.ids),) and np.isfinite(scores).all()


def test_latent_peer_works_on_the_round0_latent_space(tmp_path, sim_cache):
    ws, stream = _workspace(tmp_path, sim_cache)
    peer = ActiveForestPeer("aad-latent", ws, seed=0)
    x = peer.features(stream.load(1).images)
    assert x.shape == (len(stream.load(1).ids), ws.config.model.latent_dim)


def test_peers_run_in_the_experiment_with_held_out_scores(tmp_path, sim_cache):
    cfg = tiny_config()
    cfg = dataclasses.replace(
        cfg, survey=dataclasses.replace(cfg.survey, nights=2),
        experiment=ExperimentConfig(trials=1, jobs=1, methods=("aad-raw", "pineforest-raw", "aad-latent"),
                                    uninteresting=("artefact",)),
    )
    rows = run_experiment(cfg, tmp_path / "exp", cache_dir=sim_cache)
    metrics = {r["metric"] for r in rows}
    assert {"mcc_heldout:merger", "auc_heldout:merger", "interesting_found", "cpu_seconds"} <= metrics
    per_round = [r for r in rows if r["method"] == "aad-raw" and r["metric"] == "interesting_found"]
    assert len(per_round) == 2
    summary = hunt_summary(rows)
    found = [r["value"] for r in rows if r["method"] == "aad-raw" and r["metric"] == "true_candidates:merger"]
    assert summary["aad-raw"]["found_total:merger"][0] == sum(found)  # cumulative, not the last night
    assert summary["aad-raw"]["cpu_seconds"][0] > 0


def test_peer_knows_round0_as_regular_and_grows_its_forest_on_every_night_so_far(tmp_path, sim_cache, monkeypatch):
    """The peers get what AHUNT gets: round 0's images and labels, every night so far, the answers."""
    from coniferest.label import Label

    ws, stream = _workspace(tmp_path, sim_cache)
    n0 = len(stream.load(0).ids)
    peer = ActiveForestPeer("aad-raw", ws, seed=0)
    # round 0's objects are of known classes: known "regular" data before any question
    assert peer.n_round0_known == n0 and peer.known_y == [int(Label.REGULAR)] * n0
    round0 = peer.features(stream.load(0).images)
    assert any(np.array_equal(round0[0], k) for k in peer.known_x)
    fitted_on = []
    original = peer._fit
    monkeypatch.setattr(peer, "_fit", lambda x, seed: fitted_on.append(len(x)) or original(x, seed))
    sizes = [n0]
    for night in (1, 2):
        data = stream.load(night)
        r = ws.store.add_round(data)
        peer.run_night(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), 2, seed=night)
        sizes.append(sizes[-1] + len(data.ids))
        # grown on round 0 and every night so far (tonight included), not tonight's objects alone
        assert set(fitted_on) == {sizes[-1]}
        fitted_on.clear()
    assert len(peer.known_y) == n0 + 4
    pool = stream.pool(50)
    assert peer.scores(pool.images).shape == (len(pool.ids),)


def test_seen_sample_is_bounded_and_uniform():
    from ahunt.methods.peers import SeenSample

    sample = SeenSample(100, seed=0)
    for start in range(0, 10_000, 1000):
        sample.add(np.arange(start, start + 1000)[:, None])
    kept = sample.sample()[:, 0]
    assert sample.seen == 10_000 and len(kept) == 100 and len(set(kept.tolist())) == 100
    # every thousand is about equally represented (a reservoir, not the first or last rows)
    counts = np.bincount(kept // 1000, minlength=10)
    assert counts.min() >= 3 and counts.max() <= 20
