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
    peer = ActiveForestPeer("aad-raw", ws, seed=0, interesting=["merger"])
    fits = []
    original = peer._fit
    monkeypatch.setattr(peer, "_fit", lambda x, seed: fits.append(len(peer.known_y)) or original(x, seed))
    scores = peer.run_night(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), 5, seed=1)
    # Before each of the 5 questions the forest saw every answer so far, and once more at the end.
    assert fits == [0, 1, 2, 3, 4, 5]
    questions = ws.log.questions(r)
    assert [q.position for q in questions] == list(range(5)) and len({q.object_id for q in questions}) == 5
    truth = dict(zip(data.ids, data.truth))
    asked = [truth[q.object_id] for q in questions]
    # An artefact is an anomaly class, but not an interesting one: a "regular" answer.
    expected = [-1 if t == "merger" else 1 for t in asked]
    assert peer.known_y == expected
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
