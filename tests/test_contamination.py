import math

import numpy as np
import pytest

from ahunt.hunt.contamination import importance_weighted_fraction, mixed_design_fraction
from ahunt.methods.aloe import kmeanspp_draws

REPS = 2000


def _pool(n=400, fraction=0.1, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    y[: int(round(fraction * n))] = 1
    rng.shuffle(y)
    weight = 1.0 + 4.0 * y + rng.uniform(0, 1, n)  # questions go where anomalies are likely
    return y, weight


def _check_unbiased(estimates, ses, truth):
    estimates, ses = np.asarray(estimates), np.asarray(ses)
    spread = estimates.std()
    assert abs(estimates.mean() - truth) < 4 * spread / math.sqrt(len(estimates))
    # the standard errors match the spread of the estimates
    assert 0.8 < math.sqrt(np.mean(ses**2)) / spread < 1.25


def test_hand_computed_values():
    est, se = importance_weighted_fraction([1, 0], [0.5, 0.25], 4)
    assert est == pytest.approx(0.25) and se == pytest.approx(0.25)
    est, se = importance_weighted_fraction([1, 1], [0.5, 0.5], 4, sequential=True)
    assert est == pytest.approx((0.5 + 0.75) / 2)  # z1 = 1/0.5/4, z2 = (1 + 1/0.5)/4
    assert math.isnan(importance_weighted_fraction([1], [0.5], 4)[1])
    est, se = mixed_design_fraction([1, 1, 0], [1, 0, 0, 0], 11)  # rest of 8, 4 random
    assert est == pytest.approx((2 + 8 * 0.25) / 11)
    assert se == pytest.approx(8 * math.sqrt((1 - 4 / 8) * 0.25 / 4) / 11)
    assert mixed_design_fraction([1, 0], [], 2) == (0.5, 0.0)


@pytest.mark.parametrize("bad", [([1, 2], [0.5, 0.5], 4), ([1], [0.0], 4), ([1], [0.5, 0.5], 4), ([], [], 4)])
def test_bad_inputs(bad):
    with pytest.raises(ValueError):
        importance_weighted_fraction(*bad)


def test_hansen_hurwitz_is_unbiased_for_draws_with_replacement():
    y, w = _pool()
    q = w / w.sum()
    rng = np.random.default_rng(1)
    out = [importance_weighted_fraction(y[i], q[i], len(y)) for i in (rng.choice(len(y), 10, p=q) for _ in range(REPS))]
    est, ses = zip(*out)
    _check_unbiased(est, ses, y.mean())
    naive = np.mean([y[rng.choice(len(y), 10, p=q)].mean() for _ in range(200)])
    assert naive > 2 * y.mean()  # the raw fraction of the answers overstates it


def _pps_without_replacement(w, n, rng):
    alive = np.ones(len(w), bool)
    picks, probs = [], []
    for _ in range(n):
        p = np.where(alive, w, 0) / np.where(alive, w, 0).sum()
        k = int(rng.choice(len(w), p=p))
        picks.append(k)
        probs.append(p[k])
        alive[k] = False
    return np.array(picks), np.array(probs)


def test_des_raj_is_unbiased_for_sequential_draws_without_replacement():
    y, w = _pool(n=60, fraction=0.15)
    rng = np.random.default_rng(2)
    est, ses = [], []
    for _ in range(REPS):
        picks, probs = _pps_without_replacement(w, 12, rng)
        e, s = importance_weighted_fraction(y[picks], probs, len(y), sequential=True)
        est.append(e)
        ses.append(s)
    _check_unbiased(est, ses, y.mean())


def test_des_raj_is_unbiased_for_kmeanspp_questions():
    rng = np.random.default_rng(3)
    n = 150
    y = (np.arange(n) < 12).astype(float)
    z = rng.normal(size=(n, 4)) + 2.5 * y[:, None] * rng.normal(size=(n, 4))  # anomalies spread out
    est, ses = [], []
    for _ in range(REPS):
        picks, probs = kmeanspp_draws(z, np.arange(n), 8, rng)
        e, s = importance_weighted_fraction(y[picks], probs, n, sequential=True)
        est.append(e)
        ses.append(s)
    _check_unbiased(est, ses, y.mean())


def test_mixed_design_is_unbiased():
    y, w = _pool(n=200, fraction=0.1, seed=4)
    score = w + np.random.default_rng(5).normal(0, 1.0, len(y))
    top = np.argsort(-score)[:8]
    rest = np.setdiff1d(np.arange(len(y)), top)
    rng = np.random.default_rng(6)
    out = [mixed_design_fraction(y[top], y[rng.choice(rest, 10, replace=False)], len(y)) for _ in range(REPS)]
    est, ses = zip(*out)
    _check_unbiased(est, ses, y.mean())


# -- an honest interval for a few random answers (issue 15) -----------------------------------
def test_clopper_pearson_hand_values_and_coverage():
    from ahunt.hunt.contamination import clopper_pearson

    assert clopper_pearson(0, 2) == pytest.approx((0.0, 1 - 0.025 ** 0.5))  # 0 of 2: up to 84 %
    assert clopper_pearson(2, 2) == pytest.approx((0.025 ** 0.5, 1.0))
    low, high = clopper_pearson(3, 10)
    assert low == pytest.approx(0.0667, abs=1e-4) and high == pytest.approx(0.6525, abs=1e-4)
    rng = np.random.default_rng(0)
    for p in (0.02, 0.1, 0.4):
        for m in (2, 5, 20):
            x = rng.binomial(m, p, size=2000)
            covered = [lo <= p <= hi for lo, hi in (clopper_pearson(int(k), m) for k in x)]
            assert np.mean(covered) >= 0.94


def test_mixed_design_interval_counts_the_top_exactly_and_scales_the_rest():
    from ahunt.hunt.contamination import mixed_design_interval

    # 4 of 8 top picks anomalous, 0 of 2 random answers, 1000 objects: at least 4, at most 4 + 992 * 0.84
    low, high = mixed_design_interval([1, 1, 1, 1, 0, 0, 0, 0], [0, 0], 1000)
    assert low == pytest.approx(0.004) and high == pytest.approx((4 + 992 * (1 - 0.025 ** 0.5)) / 1000)
    assert mixed_design_interval([1, 0], [1, 0], 4) == (0.5, 0.5)  # the whole rest asked: exact
