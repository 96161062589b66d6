"""Scoring on a Dask cluster (2 worker processes on loopback) gives exactly the single-process
scores and questions."""

import dataclasses

import numpy as np
import pytest
import torch

from ahunt.config import ScoreConfig
from ahunt.hunt.distributed import candidates_dask, score_round_dask
from ahunt.hunt.query import choose_from_candidates, choose_questions
from ahunt.hunt.session import prepare_questions, score_round, train_initial
from ahunt.learn.scoring import score_store
from conftest import tiny_config
from test_scoring import _model, _store

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


def test_scores_and_questions_match_one_process(tmp_path, client):
    store = _store(tmp_path, 5000)  # 5 chunks of 1,024, the last one ragged
    model = _model(n_classes=4)
    here = score_store(store, 0, model, device=CPU)
    there = score_round_dask(client, store, 0, model, chunk=1024)
    assert np.array_equal(there.probs, here.probs)
    assert np.array_equal(there.latents, here.latents)
    # The model reached each worker once for the round, not once per chunk.
    loads = client.run(lambda dask_worker: dask_worker.__dict__.get("ahunt_model_loads", 0))
    assert sorted(loads.values()) == [1, 1]

    names = ["a", "b", "reserve", "x"]
    weights = {"a": 1.0, "reserve": 2.0, "x": 1.0}
    exclude = np.random.default_rng(0).choice(5000, size=400, replace=False)
    for strategy in ("anomaly", "uncertainty", "diversity", "random"):
        options = dict(strategy=strategy, exclude=exclude, diversity_pool=5, random_share=0.2)
        want = choose_questions(here.probs, here.latents, names, weights, 15, rng=np.random.default_rng(4), **options)
        cand = candidates_dask(client, store, 0, model, columns=[0, 2, 3], n=12, strategy=strategy,
                               diversity_pool=5, exclude=exclude, chunk=1024)
        if strategy != "random":
            # The client received the top (pool + 1) x n per class at most, not 5,000 scores.
            assert len(cand.index) <= 3 * 6 * 12
        got = choose_from_candidates(cand.index, cand.probs, cand.latents, names, weights, 15,
                                     rng=np.random.default_rng(4), n_objects=5000, **options)
        assert got == want, strategy

    # [hunt] spread on the cluster: a named class the network calls thousands of objects (a
    # sharper head makes "b" one) spreads its picks, and the cluster's candidates hold them.
    with torch.no_grad():
        model.head.weight.mul_(30)
    here = score_store(store, 0, model, device=CPU)
    weights = {"b": 1.0, "reserve": 2.0}
    picks = {}
    for spread in (0, 5):
        options = dict(strategy="anomaly", exclude=exclude, diversity_pool=5, random_share=0.2, spread=spread)
        want = choose_questions(here.probs, here.latents, names, weights, 15, rng=np.random.default_rng(4), **options)
        cand = candidates_dask(client, store, 0, model, columns=[1, 2], n=12, strategy="anomaly", diversity_pool=5,
                               exclude=exclude, chunk=1024, spread=spread, spread_columns=[1])
        got = choose_from_candidates(cand.index, cand.probs, cand.latents, names, weights, 15,
                                     rng=np.random.default_rng(4), n_objects=5000, **options)
        assert got == want, spread
        picks[spread] = [q.index for q in got if q.interest == "b"]
    assert picks[0][0] == picks[5][0] and picks[0] != picks[5]  # the likeliest first, then spread


def test_a_hunt_asks_the_same_questions_through_the_scheduler(tmp_path, sim_cache, cluster):
    from test_session import _workspace

    config = tiny_config(strategy="diversity", random_share=0.3)
    dask_config = dataclasses.replace(config, score=ScoreConfig(dask_scheduler=cluster.scheduler_address,
                                                                 dask_chunk=1024))
    rows = []
    for name, cfg in (("here", config), ("dask", dask_config)):
        ws, survey = _workspace(tmp_path / name, sim_cache, cfg)
        train_initial(ws)
        r = ws.store.add_round(survey.load(1))
        rows.append([(q.object_id, q.interest, q.score) for q in prepare_questions(ws, r)])
        probs, latents, _, _ = score_round(ws, r)
        rows.append((probs.tolist(), latents.tolist()))
    assert rows[0] == rows[2] and rows[1] == rows[3]

