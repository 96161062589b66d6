"""Choosing questions: strategies are plain functions, the interest split is arithmetic.

A strategy ranks a pool for one class of interest:
``strategy(p, latents, pool, n, rng) -> chosen pool indices`` where ``p`` holds that class's
probability for every object of the round and ``pool`` the indices still available.
``choose_questions`` splits the budget across classes by interest weight and asks each
strategy for its share, never taking an object twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from ahunt.config import STRATEGIES
from ahunt.errors import QueryError

__all__ = [
    "Pick",
    "split_quota",
    "uncertainty_sampling",
    "anomaly_sampling",
    "diversity_sampling",
    "random_sampling",
    "choose_questions",
    "validate_interest",
    "RANDOM_SHARE",
]

RANDOM_SHARE = "random share"  # the interest recorded for questions of the uniform random share


# -- the interest split --------------------------------------------------------------------
def split_quota(weights: Mapping[str, float], n: int) -> dict[str, int]:
    """Split ``n`` questions across classes in proportion to their weights.

    Every class with a positive weight gets at least one question when ``n`` allows; the
    rest go by largest remainder.  When ``n`` is smaller than the number of weighted classes,
    the heaviest classes get one each.  Ties break by the order of ``weights``.
    """
    if n < 0:
        raise QueryError(f"number of questions must be >= 0, got {n}")
    positive = [(name, float(w)) for name, w in weights.items() if w > 0]
    quota = {name: 0 for name in weights}
    if not positive or n == 0:
        return quota
    if n < len(positive):
        for name, _ in sorted(positive, key=lambda t: -t[1])[:n]:
            quota[name] = 1
        return quota
    total = sum(w for _, w in positive)
    share = {name: n * w / total for name, w in positive}
    for name, s in share.items():
        quota[name] = max(1, int(np.floor(s)))
    # Too many after the minimum of one: take back from the most over-served (never below 1).
    while sum(quota.values()) > n:
        name = max((k for k in share if quota[k] > 1), key=lambda k: quota[k] - share[k])
        quota[name] -= 1
    # Too few: largest remainder first.
    while sum(quota.values()) < n:
        name = max(share, key=lambda k: share[k] - quota[k])
        quota[name] += 1
    return quota


def validate_interest(weights: Mapping[str, float], class_names: Sequence[str]) -> None:
    """Every weighted class must exist (or be expected); weights must sum to a positive number."""
    from ahunt.config import validate_weights
    from ahunt.errors import ConfigError

    try:
        validate_weights(weights)
    except ConfigError as exc:
        raise QueryError(str(exc)) from None
    unknown = [name for name in weights if name not in class_names]
    if unknown:
        raise QueryError(
            f"interest weight for unknown class {', '.join(map(repr, unknown))}; "
            f"classes are: {', '.join(class_names)}"
        )


# -- strategies ----------------------------------------------------------------------------
Strategy = Callable[[np.ndarray, np.ndarray, np.ndarray, int, np.random.Generator], np.ndarray]


def _top(values: np.ndarray, pool: np.ndarray, n: int) -> np.ndarray:
    """Pool indices of the ``n`` largest values; ties keep pool order (stable, deterministic)."""
    order = np.argsort(-values[pool], kind="stable")
    return pool[order[:n]]


def uncertainty_sampling(p, latents, pool, n, rng) -> np.ndarray:
    """Most uncertain members first: rho = 1 - 2 (p - 0.5) over objects with p > 0.5.

    If fewer than ``n`` objects have p > 0.5, the rest are the highest p among the others.
    """
    members = pool[p[pool] > 0.5]
    rho = 1.0 - 2.0 * (p - 0.5)
    chosen = _top(rho, members, n)
    if len(chosen) < n:
        rest = np.setdiff1d(pool, chosen, assume_unique=True)
        chosen = np.concatenate([chosen, _top(p, rest, n - len(chosen))])
    return chosen


def anomaly_sampling(p, latents, pool, n, rng) -> np.ndarray:
    """Highest probability of the class first."""
    return _top(p, pool, n)


def diversity_sampling(p, latents, pool, n, rng, *, pool_factor: int = 5) -> np.ndarray:
    """k-means++ seeding in latent space among the top ``pool_factor * n`` by p (as ALOE).

    The first pick is the top candidate; each next one is drawn with probability proportional
    to its squared latent distance from the picks so far, so a batch avoids near-duplicates.
    """
    candidates = _top(p, pool, max(n, pool_factor * n))
    if len(candidates) <= n:
        return candidates
    z = latents[candidates].astype(np.float64)
    chosen = [0]
    d2 = np.sum((z - z[0]) ** 2, axis=1)
    while len(chosen) < n:
        total = d2.sum()
        if total <= 0:  # all remaining candidates coincide with a pick: fall back to rank order
            rest = [i for i in range(len(candidates)) if i not in chosen]
            chosen += rest[: n - len(chosen)]
            break
        k = int(rng.choice(len(candidates), p=d2 / total))
        chosen.append(k)
        d2 = np.minimum(d2, np.sum((z - z[k]) ** 2, axis=1))
        d2[chosen] = 0.0
    return candidates[np.asarray(chosen)]


def random_sampling(p, latents, pool, n, rng) -> np.ndarray:
    """Uniform over the pool: the control."""
    return rng.choice(pool, size=min(n, len(pool)), replace=False)


_STRATEGY_FUNCS: dict[str, Strategy] = {
    "uncertainty": uncertainty_sampling,
    "anomaly": anomaly_sampling,
    "diversity": diversity_sampling,
    "random": random_sampling,
}
assert set(_STRATEGY_FUNCS) == set(STRATEGIES)


@dataclass(frozen=True)
class Pick:
    """One chosen question: the object's index in the round and why it was chosen."""

    index: int
    interest: str
    score: float


def choose_questions(
    probs: np.ndarray,
    latents: np.ndarray,
    class_names: Sequence[str],
    weights: Mapping[str, float],
    n: int,
    *,
    strategy: str,
    rng: np.random.Generator,
    exclude: Sequence[int] = (),
    diversity_pool: int = 5,
    random_share: float = 0.0,
) -> list[Pick]:
    """Choose up to ``n`` questions from one round.

    With ``random_share`` > 0, that share of the questions (at least one) is drawn uniformly
    from what the strategy left, after it chose; those picks carry the interest
    ``RANDOM_SHARE`` and make an unbiased estimate of the night's anomalous fraction possible.

    ``probs`` is (N, n_classes) in the order of ``class_names``; ``weights`` maps class names
    to interest weights (classes absent from ``class_names`` are ignored: they do not exist
    yet).  A quota a class cannot fill (the pool ran out) passes to the others by weight.
    """
    if strategy not in _STRATEGY_FUNCS:
        raise QueryError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    live = {name: float(w) for name, w in weights.items() if name in class_names and w > 0}
    if not live:
        raise QueryError(
            f"no interest weight > 0 for an existing class ({', '.join(class_names)}); "
            "give the reserve class a weight"
        )
    func = _STRATEGY_FUNCS[strategy]
    if strategy == "diversity":
        func = lambda p, z, pool, k, g: diversity_sampling(p, z, pool, k, g, pool_factor=diversity_pool)  # noqa: E731
    available = np.setdiff1d(np.arange(len(probs)), np.asarray(exclude, dtype=np.int64))
    picks: list[Pick] = []
    n_random = min(n - 1, max(1, round(n * random_share))) if random_share > 0 and n > 1 else 0
    n, remaining = n - n_random, min(n - n_random, len(available))
    open_classes = dict(live)
    while remaining > 0 and open_classes and len(available):
        quota = split_quota(open_classes, remaining)
        for name in sorted(open_classes, key=lambda k: -open_classes[k]):
            if quota[name] == 0 or not len(available):
                continue
            col = list(class_names).index(name)
            p = probs[:, col]
            chosen = np.asarray(func(p, latents, available, min(quota[name], len(available)), rng))
            picks += [Pick(int(i), name, float(p[i])) for i in chosen]
            available = np.setdiff1d(available, chosen)
            if len(chosen) < quota[name]:
                open_classes.pop(name)  # could not fill: its share goes to the others
        remaining = min(n - len(picks), len(available))
    if n_random and len(available):
        drawn = rng.choice(available, size=min(n_random, len(available)), replace=False)
        picks += [Pick(int(i), RANDOM_SHARE, 0.0) for i in drawn]  # no class score: drawn uniformly
    return picks
