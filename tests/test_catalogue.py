"""The catalogue of the unasked, measured on a pool that no night shows and nobody asks."""

import dataclasses

import numpy as np
import pytest

from ahunt.config import ExperimentConfig, SurveyConfig
from ahunt.evaluate.catalogue import catalogue_metrics
from ahunt.evaluate.experiment import hunt_summary, run_experiment
from ahunt.sources.simulated import pool_counts
from ahunt.sources.streams import make_stream
from conftest import tiny_config


def test_catalogue_metrics_read_the_top_of_the_list():
    is_class = np.zeros(200, dtype=bool)
    is_class[[3, 50, 120, 199]] = True
    scores = np.zeros(200)
    scores[[3, 50, 7]] = [0.9, 0.8, 0.95]  # two of the four on top, one impostor first
    m = catalogue_metrics(scores, is_class)
    assert m["precision_at_k"] == 0.5  # top 4 = 7, 3, 50 and a tie: 2 of 4
    assert m["recall_top1pct"] == 0.25  # top 1 % of 200 = 2 objects: 7 and 3
    assert 0 < m["ap"] < 1 and 0.5 < m["auroc"] < 1
    perfect = catalogue_metrics(is_class.astype(float), is_class)
    assert perfect == {"precision_at_k": 1.0, "recall_top1pct": 0.5, "ap": 1.0, "auroc": 1.0}
    assert all(np.isnan(v) for v in catalogue_metrics(scores, np.zeros(200, bool)).values())


def test_pool_counts_keep_the_last_nights_proportions():
    survey = SurveyConfig(nights=8, nightly={"spiral": 992, "merger": 5, "artefact": 3}, late_from_night=99, late={})
    assert pool_counts(survey, 2000) == {"spiral": 1984, "merger": 10, "artefact": 6}
    late = dataclasses.replace(survey, late_from_night=8, late={"lens": 2})
    assert pool_counts(late, 1000)["lens"] == 2  # the last night's late class is in the pool too


def test_simulated_pool_is_apart_from_every_night(sim_cache):
    cfg = tiny_config()
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    pool = stream.pool(60)
    assert len(pool.ids) == sum(pool_counts(cfg.survey, 60).values()) and pool.labels is None
    night_ids = {i for r in range(stream.n_rounds) for i in stream.load(r).ids.tolist()}
    assert not night_ids & set(pool.ids.tolist())
    assert (pool.truth == "merger").sum() == pool_counts(cfg.survey, 60)["merger"]
    again = stream.pool(60)  # cached, and the same draw
    np.testing.assert_array_equal(again.images, pool.images)


def test_sampled_pool_draws_only_images_no_round_drew():
    survey = SurveyConfig(source="mnist5k", seed=0, nights=2, initial={"0": 100, "1": 100},
                          nightly={"0": 150, "1": 150, "2": 5}, late_from_night=99, late={})
    stream = make_stream(survey, image_size=16)
    pool = stream.pool(2000)
    used = {i for r in range(stream.n_rounds) for i in stream.load(r).ids.tolist()}
    assert not used & set(pool.ids.tolist())
    # 500 of each digit: 100 left of the 0s and 1s, so every class shrinks alike
    counts = {c: int((pool.truth == c).sum()) for c in ("0", "1", "2")}
    assert counts["0"] == counts["1"] <= 100 and counts["2"] >= 3


@pytest.mark.slow
def test_experiment_reports_the_catalogue_and_the_any_class(tmp_path, sim_cache):
    cfg = tiny_config()
    cfg = dataclasses.replace(
        cfg, survey=dataclasses.replace(cfg.survey, nights=2),
        experiment=ExperimentConfig(trials=1, jobs=1, methods=("ahunt", "aad-raw"), uninteresting=("artefact",),
                                    catalogue_pool=100),
    )
    rows = run_experiment(cfg, tmp_path / "exp", cache_dir=sim_cache)
    metrics = {r["metric"] for r in rows}
    for name in ("precision_at_k", "recall_top1pct", "ap", "auroc"):
        assert {f"catalogue_{name}:merger", f"catalogue_{name}:any"} <= metrics
    assert {"mcc:any", "mcc_heldout:any", "ideal_found"} <= metrics
    for method in ("ahunt", "aad-raw"):
        per = {(r["round"], r["metric"]): r["value"] for r in rows if r["method"] == method}
        for r in (1, 2):  # the 'any' class counts every interesting find, and only those
            assert per[(r, "true_candidates:any")] == per[(r, "interesting_found")]
            assert per[(r, "ideal_found")] >= per[(r, "interesting_found")]
    s = hunt_summary(rows)["ahunt"]
    assert {"final_catalogue_ap:any", "mean_catalogue_ap:any", "found_share"} <= set(s)
    assert 0 <= s["found_share"][0] <= 1
