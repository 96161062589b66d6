"""How much of a night is anomalous: design-based estimates from the answered questions.

Questions are not a random sample (they go where anomalies are likely), so the plain fraction
of anomalous answers overstates the contamination.  Weighting each answer by the inverse of
the probability with which it was chosen undoes that, whatever the design, as long as every
anomalous object could have been chosen.

- ``importance_weighted_fraction``: one probability per draw.  By default the draws are taken
  as independent, with replacement, each from the same distribution over the pool
  (Hansen–Hurwitz: each draw gives ``y / (N q)``).  With ``sequential=True`` they are draws
  *without* replacement, each ``q`` the conditional probability of its unit among those not yet
  drawn, in draw order (as k-means++ seeding draws): the Des Raj estimator, whose per-draw terms
  ``(sum of earlier y + y / q) / N`` are each unbiased given the earlier draws, so their mean is
  unbiased and their spread gives the standard error.
- ``mixed_design_fraction``: "top-k plus a random share": the top-k are certain (inclusion
  probability 1), the random share is a simple random sample of the rest (Horvitz–Thompson).

Each returns ``(estimate, standard_error)`` of the anomalous fraction of the pool of ``n_pool``
objects; the standard error is NaN when it cannot be estimated (fewer than two draws).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["importance_weighted_fraction", "mixed_design_fraction", "clopper_pearson", "mixed_design_interval"]


def _flags(values, name: str) -> np.ndarray:
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name} must hold 0/1 (or booleans)")
    return y


def _mixed_sample(top_is_anomaly, random_is_anomaly, n_pool: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The top-k and random answers as flags, and the rest of the pool the random ones stand for."""
    top = _flags(top_is_anomaly, "top_is_anomaly")
    rand = _flags(random_is_anomaly, "random_is_anomaly")
    rest = n_pool - len(top)
    if rest < 0 or len(rand) > rest:
        raise ValueError(f"{len(top)} top and {len(rand)} random questions do not fit a pool of {n_pool}")
    return top, rand, rest


def importance_weighted_fraction(is_anomaly, probabilities, n_pool: int, *,
                                 sequential: bool = False) -> tuple[float, float]:
    """Importance-weighted estimate of the anomalous fraction of a pool, and its standard error.

    ``probabilities[i]`` is the probability with which question ``i`` was drawn at its draw.
    Without ``sequential``: Hansen–Hurwitz, ``z_i = y_i / (n_pool q_i)``, estimate ``mean(z)``,
    standard error ``std(z, ddof=1) / sqrt(n)`` (exact for draws with replacement).  With
    ``sequential`` (draws without replacement, in draw order, ``q`` conditional on the earlier
    draws): Des Raj, ``z_t = (sum_{j<t} y_j + y_t / q_t) / n_pool``, same mean and error formula.
    """
    y = _flags(is_anomaly, "is_anomaly")
    q = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if len(q) != len(y):
        raise ValueError(f"{len(y)} answers but {len(q)} probabilities")
    if len(y) == 0:
        raise ValueError("no draws: nothing to estimate from")
    if not np.all((q > 0) & (q <= 1)):
        raise ValueError("selection probabilities must be in (0, 1]")
    if n_pool < 1:
        raise ValueError(f"n_pool must be >= 1, got {n_pool}")
    z = y / q
    if sequential:
        z = z + np.concatenate([[0.0], np.cumsum(y)[:-1]])
    z = z / n_pool
    n = len(z)
    se = float(np.std(z, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return float(z.mean()), se


def mixed_design_fraction(top_is_anomaly, random_is_anomaly, n_pool: int) -> tuple[float, float]:
    """Horvitz–Thompson estimate for "top-k plus a simple random sample of the rest".

    The top-k (``len(top_is_anomaly)``) are counted exactly; the ``m`` random ones, drawn
    uniformly without replacement from the other ``n_pool - k``, each stand for
    ``(n_pool - k) / m`` objects.  The standard error is that of a simple random sample without
    replacement, with the finite-population correction: ``(n_pool - k) sqrt((1 - m/(n_pool-k)) s^2 / m) / n_pool``.
    """
    top, rand, rest = _mixed_sample(top_is_anomaly, random_is_anomaly, n_pool)
    m = len(rand)
    if rest == 0:
        return float(top.sum() / n_pool), 0.0
    if m == 0:
        raise ValueError("no random share: the rest of the pool is not estimable")
    estimate = (top.sum() + rest * rand.mean()) / n_pool
    if m == rest:
        se = 0.0  # the whole rest was asked
    elif m > 1:
        se = rest * math.sqrt((1 - m / rest) * np.var(rand, ddof=1) / m) / n_pool
    else:
        se = float("nan")
    return float(estimate), float(se)


def clopper_pearson(x: int, m: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a proportion: ``x`` successes in ``m`` draws.

    It covers the true proportion at least ``level`` of the time for every sample size, which a
    normal-approximation standard error does not (2 answers, both "no", gave "0.0 % ± 0.0 %").
    """
    from scipy.special import betaincinv

    if not 0 <= x <= m or m < 1:
        raise ValueError(f"need 0 <= x <= m and m >= 1, got x={x}, m={m}")
    alpha = 1 - level
    low = 0.0 if x == 0 else float(betaincinv(x, m - x + 1, alpha / 2))
    high = 1.0 if x == m else float(betaincinv(x + 1, m - x, 1 - alpha / 2))
    return low, high


def mixed_design_interval(top_is_anomaly, random_is_anomaly, n_pool: int,
                          level: float = 0.95) -> tuple[float, float]:
    """An interval for the anomalous fraction under "top-k plus a random sample of the rest".

    The top-k are counted exactly; the rest's fraction gets the Clopper–Pearson interval of the
    random sample (conservative: it ignores the finite-population correction), so the interval
    is honest for the handful of random answers a night gives.
    """
    top, rand, rest = _mixed_sample(top_is_anomaly, random_is_anomaly, n_pool)
    m = len(rand)
    if rest == 0 or m == rest:  # nothing left to estimate: the count is exact
        exact = float((top.sum() + rand.sum()) / n_pool)
        return exact, exact
    if m == 0:
        raise ValueError("no random share: the rest of the pool is not estimable")
    low, high = clopper_pearson(int(rand.sum()), m, level)
    return float((top.sum() + rest * low) / n_pool), float((top.sum() + rest * high) / n_pool)
