"""Choosing questions: strategies are plain functions, the interest split is arithmetic.

A strategy ranks a pool for one class of interest:
``strategy(p, latents, pool, n, rng) -> chosen pool indices`` where ``p`` holds that class's
probability for every object of the round and ``pool`` the indices still available.
``choose_questions`` splits the budget across classes by interest weight and asks each
strategy for its share, never taking an object twice.

A night can hold 10^5-10^6 objects, so nothing here sorts the whole night:
``question_candidates`` keeps, per class of interest, only the few objects the strategy could
possibly pick (partial selection, linear in N), and the choosing runs on those.  The same
function reduces each Dask chunk to its candidates (``ahunt.hunt.distributed``); the candidates of
merged chunks are a superset of the whole night's, so both paths pick exactly the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ahunt.config import STRATEGIES
from ahunt.errors import QueryError
from ahunt.store.answer_log import RESERVE

__all__ = [
    "Pick",
    "split_quota",
    "uncertainty_sampling",
    "anomaly_sampling",
    "diversity_sampling",
    "spread_sampling",
    "picked_by",
    "spread_columns",
    "random_sampling",
    "choose_questions",
    "question_candidates",
    "choose_from_candidates",
    "live_interest",
    "random_count",
    "validate_interest",
    "RANDOM_SHARE",
    "member_shares",
    "moving_shares",
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
        from ahunt.store.names import close_name

        hints = [f" (did you mean {close!r}?)" if (close := close_name(n, class_names)) else "" for n in unknown]
        raise QueryError(
            f"interest weight for unknown class {', '.join(repr(n) + h for n, h in zip(unknown, hints))}; "
            f"classes are: {', '.join(class_names)}"
        )


# -- strategies ----------------------------------------------------------------------------
Strategy = Callable[[np.ndarray, np.ndarray, np.ndarray, int, np.random.Generator], np.ndarray]


def _top(values: np.ndarray, pool: np.ndarray, n: int) -> np.ndarray:
    """Pool indices of the ``n`` largest values; ties keep pool order (stable, deterministic).

    Partial selection: only the values at or above the n-th largest are sorted, so the cost is
    linear in the pool, with the same result as a stable sort of everything.
    """
    v = -np.asarray(values[pool])
    if n <= 0:
        return pool[:0]
    if n < len(v):
        kth = np.partition(v, n - 1)[n - 1]
        keep = np.flatnonzero(v <= kth)  # ascending pool order, ties at the boundary included
        return pool[keep[np.argsort(v[keep], kind="stable")[:n]]]
    return pool[np.argsort(v, kind="stable")]


def _uncertainty(p: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 * (p - 0.5)


def uncertainty_sampling(p, latents, pool, n, rng) -> np.ndarray:
    """Most uncertain members first: rho = 1 - 2 (p - 0.5) over objects with p > 0.5.

    If fewer than ``n`` objects have p > 0.5, the rest are the highest p among the others.
    """
    members = pool[p[pool] > 0.5]
    chosen = _top(_uncertainty(p), members, n)
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


def spread_sampling(p, latents, pool, n, rng, *, spread: int) -> np.ndarray:
    """Among what the network calls the class (p > 0.5), at most ``spread * n`` of the likeliest,
    ``n`` picks spread by k-means++ seeding in latent space (the likeliest first); where fewer
    than ``n`` are called the class, the likeliest, as ``anomaly_sampling``.

    On a night of 10^5 the top of a class is many objects deep and can be all one corner of it
    (its faintest members, say): the likeliest first would keep asking about that corner, and
    the network would never see the rest of the class, nor the ordinary objects it confuses
    with it.  On a small night the objects called the class are few, and this asks about them.
    """
    called = pool[p[pool] > 0.5]
    if latents is None or len(called) <= n:
        return _top(p, pool, n)
    return diversity_sampling(p, latents, called, n, rng, pool_factor=spread)


def picked_by(strategy: str, spread: int, interest: str) -> str:
    """The name of the sampling that chose a question for ``interest``, as the log and the
    question screen give it: "spread" for a named class's picks under ``spread``."""
    return "spread" if spread and strategy == "anomaly" and _spreads(interest) else strategy


def _spreads(interest: str) -> bool:
    """A named class spreads its questions; the reserve and the random share never do."""
    return interest not in (RESERVE, RANDOM_SHARE)


def spread_columns(class_names: Sequence[str], interest: Iterable[str]) -> list[int]:
    """The columns of the classes of interest that ``spread`` spreads: the named ones, never
    the reserve."""
    return [list(class_names).index(name) for name in interest if _spreads(name)]


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


def live_interest(weights: Mapping[str, float], class_names: Sequence[str]) -> dict[str, float]:
    """The weights > 0 of classes that exist; an error when none is left."""
    live = {name: float(w) for name, w in weights.items() if name in class_names and w > 0}
    if not live:
        raise QueryError(
            f"no interest weight > 0 for an existing class ({', '.join(class_names)}); "
            "give the reserve class a weight"
        )
    return live


def random_count(n: int, random_share: float) -> int:
    """How many of ``n`` questions the uniform random share takes (at least one when > 0)."""
    return min(n - 1, max(1, round(n * random_share))) if random_share > 0 and n > 1 else 0


def question_candidates(
    probs: np.ndarray,
    columns: Sequence[int],
    n: int,
    *,
    strategy: str,
    diversity_pool: int,
    available: np.ndarray,
    spread: int = 0,
    spread_columns: Sequence[int] = (),
) -> np.ndarray:
    """Sorted indices of every object in ``available`` that the strategy could pick for the
    classes in ``columns`` when ``n`` questions are asked in all.

    Each class can take at most ``n`` objects, and the other classes at most ``n`` before it,
    so its candidates are its top ``n`` by the strategy's ranking (``(diversity_pool + 1) n``
    for diversity, which samples among the top ``diversity_pool`` x quota, and ``(spread + 1) n``
    for the ``spread_columns`` of the anomaly strategy with ``spread``).  Random sampling can
    pick anything: all of ``available``.
    """
    if strategy not in _STRATEGY_FUNCS:
        raise QueryError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    available = np.asarray(available, dtype=np.int64)
    if strategy == "random" or n <= 0:
        return available if strategy == "random" else available[:0]
    parts = [available[:0]]
    for col in columns:
        p = probs[:, col]
        if strategy == "anomaly":
            parts.append(_top(p, available, (spread + 1) * n if spread and col in spread_columns else n))
        elif strategy == "diversity":
            parts.append(_top(p, available, (max(1, diversity_pool) + 1) * n))
        else:  # uncertainty: the least certain members, and the likeliest of the rest
            is_member = p[available] > 0.5
            parts += [_top(_uncertainty(p), available[is_member], n), _top(p, available[~is_member], n)]
    return np.unique(np.concatenate(parts))


def moving_shares(quota: Mapping[str, int]) -> list[str]:
    """The named classes (not the reserve) with a share: ``member_shares`` moves questions among
    them when there are two or more."""
    return [c for c in quota if c != RESERVE and quota[c] > 0]


def member_shares(quota: Mapping[str, int], probs: np.ndarray, available: np.ndarray,
                  class_names: Sequence[str], weights: Mapping[str, float]) -> dict[str, int]:
    """The shares of the named classes of interest, moved to where the network sees members.

    A named class's share is at most the objects the network calls its own tonight (p > 0.5),
    and at least one question.  What it cannot fill goes to the other named classes with members
    to spare, by weight; what none of them can take stays with the class it came from (asked by
    rank, as without this).  The reserve's share never changes: with one named class, nothing does.
    """
    named = moving_shares(quota)
    if len(named) < 2:
        return dict(quota)
    names = list(class_names)
    cap = {c: max(1, int(np.sum(probs[available, names.index(c)] > 0.5))) for c in named}
    out = dict(quota)
    excess = {c: max(0, quota[c] - cap[c]) for c in named}
    for c in named:
        out[c] -= excess[c]
    spare = {c: cap[c] - out[c] for c in named if cap[c] > out[c]}
    left = sum(excess.values())
    while left and spare:
        share = split_quota({c: weights[c] for c in spare}, left)
        for c in list(spare):
            k = min(share[c], spare[c])
            out[c] += k
            spare[c] -= k
            left -= k
            if not spare[c]:
                del spare[c]
    for c in sorted(named, key=lambda k: -weights[k]):  # back where it came from
        k = min(excess[c], left)
        out[c] += k
        left -= k
    return out


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
    members_first: bool = True,
    spread: int = 0,
) -> list[Pick]:
    """Choose up to ``n`` questions from one round.

    With ``random_share`` > 0, that share of the questions (at least one) is drawn uniformly
    from what the strategy left, after it chose; those picks carry the interest
    ``RANDOM_SHARE`` and make an unbiased estimate of the night's anomalous fraction possible.

    ``probs`` is (N, n_classes) in the order of ``class_names``; ``weights`` maps class names
    to interest weights (classes absent from ``class_names`` are ignored: they do not exist
    yet).  A quota a class cannot fill (the pool ran out) passes to the others by weight.
    With ``spread`` > 0 and the anomaly strategy, each named class (not the reserve) picks by
    ``spread_sampling``.
    """
    live = live_interest(weights, class_names)
    exclude = np.asarray(exclude, dtype=np.int64)
    available = np.setdiff1d(np.arange(len(probs)), exclude)
    columns = [list(class_names).index(name) for name in live]
    index = question_candidates(probs, columns, n - random_count(n, random_share), strategy=strategy,
                                diversity_pool=diversity_pool, available=available, spread=spread,
                                spread_columns=spread_columns(class_names, live))
    return choose_from_candidates(
        index, probs[index], latents[index] if latents is not None else None, class_names, weights, n,
        strategy=strategy, rng=rng, n_objects=len(probs), exclude=exclude,
        diversity_pool=diversity_pool, random_share=random_share, members_first=members_first, spread=spread,
    )


def choose_from_candidates(
    index: np.ndarray,
    probs: np.ndarray,
    latents: np.ndarray | None,
    class_names: Sequence[str],
    weights: Mapping[str, float],
    n: int,
    *,
    strategy: str,
    rng: np.random.Generator,
    n_objects: int,
    exclude: Sequence[int] = (),
    diversity_pool: int = 5,
    random_share: float = 0.0,
    members_first: bool = True,
    spread: int = 0,
) -> list[Pick]:
    """``choose_questions`` on a night reduced to ``question_candidates``: ``index`` (sorted)
    gives each candidate's position in the night, ``probs`` and ``latents`` its rows.  The
    random share is drawn from the whole night (``n_objects``, less ``exclude``)."""
    if strategy not in _STRATEGY_FUNCS:
        raise QueryError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    live = live_interest(weights, class_names)
    func = _STRATEGY_FUNCS[strategy]
    if strategy == "diversity":
        func = lambda p, z, pool, k, g: diversity_sampling(p, z, pool, k, g, pool_factor=diversity_pool)  # noqa: E731
    spread_func = lambda p, z, pool, k, g: spread_sampling(p, z, pool, k, g, spread=spread)  # noqa: E731
    index = np.asarray(index, dtype=np.int64)
    available = np.arange(len(index))  # positions in the candidate list, not in the night
    picks: list[Pick] = []
    n_random = random_count(n, random_share)
    n = n - n_random
    remaining = min(n, len(available))
    open_classes = dict(live)
    first = strategy == "anomaly" and members_first
    while remaining > 0 and open_classes and len(available):
        quota = split_quota(open_classes, remaining)
        if first:
            quota = member_shares(quota, probs, available, class_names, open_classes)
            first = False
        for name in sorted(open_classes, key=lambda k: -open_classes[k]):
            if quota[name] == 0 or not len(available):
                continue
            col = list(class_names).index(name)
            p = probs[:, col]
            pick = spread_func if picked_by(strategy, spread, name) == "spread" else func
            chosen = np.asarray(pick(p, latents, available, min(quota[name], len(available)), rng))
            picks += [Pick(int(index[i]), name, float(p[i])) for i in chosen]
            available = np.setdiff1d(available, chosen)
            if len(chosen) < quota[name]:
                open_classes.pop(name)  # could not fill: its share goes to the others
        remaining = min(n - len(picks), len(available))
    if n_random:
        taken = np.concatenate([np.asarray(exclude, dtype=np.int64), [p.index for p in picks]])
        rest = np.setdiff1d(np.arange(n_objects), taken)
        if len(rest):
            drawn = rng.choice(rest, size=min(n_random, len(rest)), replace=False)
            picks += [Pick(int(i), RANDOM_SHARE, 0.0) for i in drawn]  # no class score: drawn uniformly
    return picks
