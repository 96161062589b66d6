import numpy as np
import pytest

from ahunt.errors import QueryError
from ahunt.hunt.query import (
    choose_from_candidates,
    question_candidates,
    random_count,
    anomaly_sampling,
    member_shares,
    choose_questions,
    diversity_sampling,
    random_sampling,
    split_quota,
    spread_sampling,
    uncertainty_sampling,
    validate_interest,
)


# -- the interest split --------------------------------------------------------------------
@pytest.mark.parametrize(
    "weights, n, expected",
    [
        ({"reserve": 0.83, "merger": 0.17}, 10, {"reserve": 8, "merger": 2}),
        ({"reserve": 1.0}, 10, {"reserve": 10}),
        ({"a": 1, "b": 1, "c": 1}, 10, {"a": 4, "b": 3, "c": 3}),
        # every positive weight gets at least one, even a tiny one
        ({"reserve": 0.98, "lens": 0.02}, 10, {"reserve": 9, "lens": 1}),
        # zero weight gets nothing
        ({"reserve": 1.0, "artefact": 0.0}, 5, {"reserve": 5, "artefact": 0}),
        # fewer questions than weighted classes: the heaviest get one
        ({"a": 0.2, "b": 0.5, "c": 0.3}, 2, {"a": 0, "b": 1, "c": 1}),
        ({"first": 0.125, "second": 0.75, "reserve": 0.125}, 10, {"first": 1, "second": 8, "reserve": 1}),
    ],
)
def test_split_quota(weights, n, expected):
    quota = split_quota(weights, n)
    assert quota == expected
    assert sum(quota.values()) == min(n, n)


def test_split_quota_always_sums_to_n():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(1, 6))
        weights = {f"c{i}": float(w) for i, w in enumerate(rng.random(k))}
        n = int(rng.integers(0, 30))
        quota = split_quota(weights, n)
        assert sum(quota.values()) == n
        if n >= k:
            assert all(q >= 1 for q in quota.values())


def test_validate_interest():
    validate_interest({"reserve": 0.5, "merger": 0.5}, ["a", "reserve", "merger"])
    with pytest.raises(QueryError, match="unknown class 'lens'"):
        validate_interest({"lens": 1.0}, ["a", "reserve"])
    with pytest.raises(QueryError, match="positive"):
        validate_interest({"reserve": 0.0}, ["a", "reserve"])


# -- strategies ----------------------------------------------------------------------------
P = np.array([0.9, 0.55, 0.1, 0.7, 0.51, 0.3, 0.99])
POOL = np.arange(len(P))
RNG = np.random.default_rng(0)
Z = np.zeros((len(P), 2))


def test_anomaly_takes_highest_probability():
    assert anomaly_sampling(P, Z, POOL, 3, RNG).tolist() == [6, 0, 3]


def test_uncertainty_takes_members_closest_to_half():
    assert uncertainty_sampling(P, Z, POOL, 3, RNG).tolist() == [4, 1, 3]


def test_uncertainty_falls_back_to_highest_p():
    p = np.array([0.2, 0.6, 0.4, 0.1])
    assert uncertainty_sampling(p, Z, np.arange(4), 3, RNG).tolist() == [1, 2, 0]


def test_uncertainty_respects_pool():
    pool = np.array([0, 2, 3, 5, 6])
    chosen = uncertainty_sampling(P, Z, pool, 4, RNG)
    assert set(chosen) <= set(pool)
    assert chosen.tolist() == [3, 0, 6, 5]


def test_random_is_seeded_and_within_pool():
    a = random_sampling(P, Z, POOL, 4, np.random.default_rng(1))
    b = random_sampling(P, Z, POOL, 4, np.random.default_rng(1))
    assert a.tolist() == b.tolist() and len(set(a)) == 4


def test_diversity_spreads_over_clusters():
    # Two tight clusters of high-p near-duplicates: top-2 by p would take both from cluster A.
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 0.01, (5, 2)), rng.normal(10, 0.01, (5, 2))])
    p = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.9, 0.89, 0.88, 0.87, 0.86])
    chosen = diversity_sampling(p, z, np.arange(10), 2, np.random.default_rng(3), pool_factor=5)
    assert chosen[0] == 0
    assert chosen[1] >= 5  # the second pick comes from the other cluster
    assert anomaly_sampling(p, z, np.arange(10), 2, RNG).tolist() == [0, 1]


def test_spread_covers_what_the_network_calls_the_class():
    # A big night: 40 likely members in one corner (A) and 10 less likely in another (B), all
    # called the class (p > 0.5); the likeliest-first picks are both from A, the spread's second
    # from B.  Objects not called the class are never picked while enough are.
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 0.01, (40, 2)), rng.normal(10, 0.01, (10, 2)), rng.normal(5, 3, (950, 2))])
    p = np.concatenate([np.linspace(0.99, 0.9, 40), np.linspace(0.8, 0.6, 10), np.full(950, 0.3)])
    pool = np.arange(1000)
    assert anomaly_sampling(p, z, pool, 2, RNG).tolist() == [0, 1]
    chosen = spread_sampling(p, z, pool, 2, np.random.default_rng(3), spread=50)
    assert chosen[0] == 0 and 40 <= chosen[1] < 50
    # A small night: no more called the class than the quota -> the likeliest, as anomaly
    few = np.concatenate([[0.9, 0.7], np.full(98, 0.2)])
    assert spread_sampling(few, z[:100], np.arange(100), 3, RNG, spread=50).tolist() == [0, 1, 2]


def test_spread_leaves_the_reserve_as_it_is():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(0, 0.01, (40, 2)), rng.normal(10, 0.01, (10, 2)), rng.normal(5, 3, (150, 2))])
    merger = np.concatenate([np.linspace(0.99, 0.9, 40), np.linspace(0.8, 0.6, 10), np.full(150, 0.01)])
    reserve = np.linspace(0.9, 0.1, 200)[::-1]  # the reserve's likeliest are the last objects
    probs = np.stack([reserve, merger], axis=1)
    names, weights = ["reserve", "merger"], {"reserve": 0.5, "merger": 0.5}
    plain = choose_questions(probs, z, names, weights, 4, strategy="anomaly", rng=np.random.default_rng(0))
    spread = choose_questions(probs, z, names, weights, 4, strategy="anomaly", rng=np.random.default_rng(0),
                              spread=50)
    assert [q.index for q in plain if q.interest == "reserve"] == [q.index for q in spread if q.interest == "reserve"]
    assert [q.index for q in plain if q.interest == "merger"] == [0, 1]
    merger_picks = [q.index for q in spread if q.interest == "merger"]
    assert merger_picks[0] == 0 and 40 <= merger_picks[1] < 50


# -- choosing a round's questions ------------------------------------------------------------
def _probs(n=200, k=4, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True), rng.normal(size=(n, 8))


@pytest.mark.parametrize("strategy", ["uncertainty", "anomaly", "diversity", "random"])
def test_choose_never_asks_twice_and_respects_split(strategy):
    probs, z = _probs()
    names = ["elliptical", "spiral", "reserve", "merger"]
    picks = choose_questions(probs, z, names, {"reserve": 0.83, "merger": 0.17}, 10,
                             strategy=strategy, rng=np.random.default_rng(0), exclude=[1, 2, 3])
    idx = [p.index for p in picks]
    assert len(idx) == 10 and len(set(idx)) == 10
    assert not {1, 2, 3} & set(idx)
    assert sum(p.interest == "reserve" for p in picks) == 8
    assert sum(p.interest == "merger" for p in picks) == 2


def test_choose_ignores_weights_of_classes_not_found_yet():
    probs, z = _probs(k=3)
    picks = choose_questions(probs, z, ["a", "b", "reserve"], {"reserve": 0.5, "merger": 0.5}, 6,
                             strategy="anomaly", rng=np.random.default_rng(0))
    assert [p.interest for p in picks] == ["reserve"] * 6


def test_choose_passes_unfilled_quota_on():
    probs, z = _probs(n=5, k=3)
    picks = choose_questions(probs, z, ["a", "reserve", "m"], {"reserve": 0.5, "m": 0.5}, 10,
                             strategy="anomaly", rng=np.random.default_rng(0))
    assert sorted(p.index for p in picks) == [0, 1, 2, 3, 4]


def test_a_class_with_fewer_members_than_its_share_passes_the_rest_to_the_other_named_classes():
    """Three objects the network calls "3" and a share of 8: the "2"s, with members to spare, take
    what the 3s cannot fill; the reserve keeps its own share; the rest stays with the 3s, by rank."""
    names = ["0", "reserve", "2", "3"]
    probs = np.array([[0.90, 0.04, 0.01, 0.05]] * 30 + [[0.03, 0.06, 0.90, 0.01]] * 5
                     + [[0.03, 0.02, 0.05, 0.90]] * 3, dtype=np.float32)
    probs[:30, 3] += np.linspace(0, 0.01, 30)  # the normals: the likeliest non-3s; the "2"s: the most novel
    weights = {"2": 0.125, "3": 0.75, "reserve": 0.125}
    shares = member_shares({"2": 1, "3": 8, "reserve": 1}, probs, np.arange(len(probs)), names, weights)
    assert shares == {"2": 5, "3": 4, "reserve": 1}  # 3 members + 1 back, 1 + 4 spare members, unchanged
    picks = choose_questions(probs, None, names, weights, 10, strategy="anomaly", rng=np.random.default_rng(0))
    assert [p.index for p in picks if p.interest == "3"] == [35, 36, 37, 29]
    assert sorted(p.index for p in picks if p.interest == "2") == [30, 31, 32, 33, 34]
    assert len(picks) == 10 and len({p.index for p in picks}) == 10
    by_rank = choose_questions(probs, None, names, weights, 10, strategy="anomaly", rng=np.random.default_rng(0),
                               members_first=False)  # [hunt] members_first = false: the shares as split
    assert sum(p.interest == "3" for p in by_rank) == 8 and not set(range(30, 35)) <= {p.index for p in by_rank}
    # no object called a "3" tonight: one question still goes to its likeliest object
    unsure = probs.copy()
    unsure[35:, 3], unsure[35:, 0] = 0.4, 0.55
    assert member_shares({"2": 1, "3": 8, "reserve": 1}, unsure, np.arange(len(probs)), names, weights)["3"] == 4
    assert member_shares({"2": 1, "3": 8}, unsure, np.arange(len(probs)), names, {"2": 1, "3": 1})["3"] == 4
    # with one named class (and the reserve) nothing moves: its share is asked by rank
    alone = {"3": 6, "reserve": 4}
    assert member_shares(alone, probs, np.arange(len(probs)), names, {"3": 0.6, "reserve": 0.4}) == alone


def test_choose_rejects_unknown_strategy_and_dead_weights():
    probs, z = _probs(k=3)
    with pytest.raises(QueryError, match="unknown strategy 'loud'"):
        choose_questions(probs, z, ["a", "b", "reserve"], {"reserve": 1}, 3, strategy="loud",
                         rng=np.random.default_rng(0))
    with pytest.raises(QueryError, match="give the reserve class a weight"):
        choose_questions(probs, z, ["a", "b", "reserve"], {"merger": 1}, 3, strategy="anomaly",
                         rng=np.random.default_rng(0))


def test_random_share_is_drawn_from_what_the_strategy_left():
    from ahunt.hunt.query import RANDOM_SHARE

    probs, z = _probs()
    names = ["elliptical", "spiral", "reserve", "merger"]
    picks = choose_questions(probs, z, names, {"reserve": 0.5, "merger": 0.5}, 10, strategy="anomaly",
                             rng=np.random.default_rng(0), random_share=0.2)
    assert [p.interest for p in picks].count(RANDOM_SHARE) == 2
    assert len({p.index for p in picks}) == 10
    top = choose_questions(probs, z, names, {"reserve": 0.5, "merger": 0.5}, 8, strategy="anomaly",
                           rng=np.random.default_rng(0))
    assert [p.index for p in picks[:8]] == [p.index for p in top]  # the strategy's picks come first


def _reference(probs, latents, names, weights, n, **options):
    """choose_from_candidates with every available object as a candidate: no reduction."""
    exclude = np.asarray(options.get("exclude", ()), dtype=np.int64)
    everything = np.setdiff1d(np.arange(len(probs)), exclude)
    return choose_from_candidates(everything, probs[everything], latents[everything], names, weights, n,
                                  n_objects=len(probs), **options)


@pytest.mark.parametrize("strategy", ["anomaly", "uncertainty", "diversity", "random"])
def test_candidate_reduction_picks_exactly_what_the_whole_night_gives(strategy):
    # Coarse probabilities make many ties, the hard case for a partial selection.
    names = ["a", "b", "reserve", "x"]
    for seed in range(25):
        rng = np.random.default_rng(seed)
        n_obj = int(rng.integers(5, 400))
        probs = np.round(rng.dirichlet(np.full(4, 0.3), size=n_obj), 1).astype(np.float32)
        latents = rng.standard_normal((n_obj, 3)).astype(np.float16)
        weights = {"a": float(rng.integers(0, 3)), "reserve": 1.0, "x": float(rng.integers(0, 2))}
        exclude = rng.choice(n_obj, size=int(rng.integers(0, n_obj // 2 + 1)), replace=False)
        n = int(rng.integers(1, 25))
        options = dict(strategy=strategy, exclude=exclude, diversity_pool=int(rng.integers(1, 6)),
                       random_share=float(rng.choice([0.0, 0.2, 0.5])))
        got = choose_questions(probs, latents, names, weights, n, rng=np.random.default_rng(seed), **options)
        want = _reference(probs, latents, names, weights, n, rng=np.random.default_rng(seed), **options)
        assert got == want, (seed, strategy)


def test_candidates_of_chunks_merge_to_the_nights_choice():
    """What ahunt.hunt.distributed does: reduce each chunk, merge, choose; same picks as one machine."""
    rng = np.random.default_rng(3)
    names = ["a", "b", "reserve"]
    probs = rng.dirichlet(np.full(3, 0.5), size=5000).astype(np.float32)
    latents = rng.standard_normal((5000, 4)).astype(np.float16)
    weights, n = {"a": 0.5, "b": 1.0, "reserve": 2.0}, 12  # two named classes: shares can move
    exclude = rng.choice(5000, size=300, replace=False)
    for strategy, spread in (("anomaly", 0), ("uncertainty", 0), ("diversity", 0), ("anomaly", 4)):
        options = dict(strategy=strategy, exclude=exclude, diversity_pool=5, random_share=0.25, spread=spread)
        want = choose_questions(probs, latents, names, weights, n, rng=np.random.default_rng(0), **options)
        n_strategy = n - random_count(n, 0.25)
        parts = []
        for s in range(0, 5000, 1024):
            available = np.setdiff1d(np.arange(s, min(s + 1024, 5000)), exclude)
            parts.append(question_candidates(probs, [0, 1, 2], n_strategy, strategy=strategy, diversity_pool=5,
                                             available=available, spread=spread, spread_columns=[0, 1]))
        index = np.concatenate(parts)
        assert len(index) <= 5 * 3 * 6 * n_strategy < 1200  # small results, not the night
        got = choose_from_candidates(index, probs[index], latents[index], names, weights, n,
                                     rng=np.random.default_rng(0), n_objects=5000, **options)
        assert got == want, (strategy, spread)


def test_top_is_a_stable_partial_sort():
    from ahunt.hunt.query import _top

    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, size=1000).astype(float)
    pool = np.sort(rng.choice(1000, size=600, replace=False))
    for n in (0, 1, 7, 100, 599, 600, 700):
        want = pool[np.argsort(-values[pool], kind="stable")[:n]]
        assert np.array_equal(_top(values, pool, n), want)
