"""The embedded simulated survey: round 0 of known classes, then nightly batches.

The schedule comes from ``SurveyConfig``; images come from ``galaxy_sim.draw_objects``.  A
whole survey is simulated once and cached as an image store keyed by a hash of everything that
shapes it, so a repeated demo reads it back instead of simulating again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ahunt.config import SurveyConfig
from ahunt.progress import Track, no_progress
from ahunt.sources.rounds import RoundData

if TYPE_CHECKING:  # pragma: no cover
    from ahunt.store.images import Store

__all__ = ["round_kinds", "pool_counts", "simulate_round", "SimulatedSurvey", "default_cache_dir", "is_simulated_hunt"]

# Bump when the simulator's output changes, so old caches are not reused.
SIMULATOR_VERSION = 1


def default_cache_dir() -> Path:
    """``$AHUNT_CACHE_DIR``, else ``$XDG_CACHE_HOME/ahunt``, else ``~/.cache/ahunt``."""
    if os.environ.get("AHUNT_CACHE_DIR"):
        return Path(os.environ["AHUNT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ahunt"


def round_kinds(cfg: SurveyConfig, r: int) -> list[str]:
    """True classes of round ``r`` in a seeded shuffled order (round 0 is the labelled set).

    Round 0's hidden anomalies (``[survey.hidden]``) come after its kinds, in their own seeded
    order, so the pile of kinds is the same with and without them."""
    if r == 0:
        return _shuffled(dict(cfg.initial), [cfg.seed, 0, 1]) + _shuffled(dict(cfg.hidden), [cfg.seed, 0, 3])
    counts = dict(cfg.nightly)
    if r >= cfg.late_from_night:
        for name, n in cfg.late.items():
            counts[name] = counts.get(name, 0) + n
    return _shuffled(counts, [cfg.seed, r, 1])


def _shuffled(counts: dict[str, int], seed: list[int]) -> list[str]:
    kinds = [name for name, n in counts.items() for _ in range(n)]
    rng = np.random.default_rng(seed)
    return [kinds[i] for i in rng.permutation(len(kinds))]


POOL = -1  # the round number that stands for an experiment's catalogue pool


def pool_counts(cfg: SurveyConfig, size: int) -> dict[str, int]:
    """Class counts of a catalogue pool of about ``size`` objects at the last night's proportions
    (every class of that night keeps at least one object)."""
    night = dict(cfg.nightly)
    if cfg.nights >= cfg.late_from_night:
        for name, n in cfg.late.items():
            night[name] = night.get(name, 0) + n
    total = sum(night.values())
    return {name: max(1, round(size * n / total)) for name, n in night.items() if n > 0}


def _kinds(cfg: SurveyConfig, r: int, pool_size: int = 0) -> list[str]:
    if r != POOL:
        return round_kinds(cfg, r)
    kinds = [name for name, n in pool_counts(cfg, pool_size).items() for _ in range(n)]
    rng = np.random.default_rng([cfg.seed, 10**6, 1])
    return [kinds[i] for i in rng.permutation(len(kinds))]


def simulate_round(cfg: SurveyConfig, r: int, *, image_size: int, pool_size: int = 0) -> RoundData:
    """Round ``r`` of the survey, or with ``r = POOL`` a catalogue pool of ``pool_size`` objects
    drawn apart from every night (its own seeds and ids)."""
    from ahunt.sources.galaxy_sim import draw_objects

    kinds = _kinds(cfg, r, pool_size)
    r_seed = 10**6 if r == POOL else r
    images = draw_objects(kinds, image_size=image_size, seed=cfg.seed * 100_003 + r_seed)[:, None]
    rng = np.random.default_rng([cfg.seed, r_seed, 2])
    # Positions scattered over a 2x2 degree field, so catalogues have something real to show.
    ra = 150.0 + rng.uniform(-1, 1, len(kinds))
    dec = 2.0 + rng.uniform(-1, 1, len(kinds))
    truth = np.array(kinds, dtype=object)
    return RoundData(
        images=images.astype(np.float32),
        ids=np.array([f"pool-{i:06d}" if r == POOL else f"sim-{r:02d}-{i:04d}" for i in range(len(kinds))],
                     dtype=object),
        labels=truth if r == 0 else None,
        truth=truth,
        ra=ra,
        dec=dec,
    )


def is_simulated_hunt(store) -> bool:
    """True when the store's round 0 came from this simulator, so hints say --simulated: as the
    store recorded it, or, in a store that did not record it, by its ids (a file whose ids look
    like the simulator's would pass that test)."""
    import re

    origin = store.origin()
    if origin is not None:
        return origin == "simulated"
    ids = store.load_round(0, images=False).ids[:100]
    return len(ids) > 0 and all(re.fullmatch(r"sim-00-\d{4}", str(i)) for i in ids)


class SimulatedSurvey:
    """All rounds of a simulated survey, simulated on first use and cached.

    Anomalies hidden in round 0 (``[survey.hidden]``) are drawn after its kinds, so they change
    round 0 alone: the survey's cache is the one without them, and round 0 with them is cached
    beside it.
    """

    def __init__(self, cfg: SurveyConfig, *, image_size: int, cache_dir: str | Path | None = None):
        self.cfg = cfg
        self.image_size = image_size
        shape = asdict(cfg)
        hidden = shape.pop("hidden")
        self.cache_path = Path(cache_dir or default_cache_dir()) / f"survey-{_digest(image_size, shape)}.h5"
        self._round0_path = (self.cache_path.with_name(f"{self.cache_path.stem}-hidden-{_digest(hidden)}.h5")
                             if cfg.hidden else None)

    @property
    def n_rounds(self) -> int:
        return self.cfg.nights + 1

    def ensure(self, *, track: Track = no_progress) -> Store:
        """Simulate into the cache unless it is already there; the cache appears only when complete."""
        clean = replace(self.cfg, hidden={})
        store = _cached(self.cache_path, [lambda r=r: simulate_round(clean, r, image_size=self.image_size)
                                          for r in range(self.n_rounds)], "simulating survey", track)
        if self._round0_path is not None:
            _cached(self._round0_path, [lambda: simulate_round(self.cfg, 0, image_size=self.image_size)],
                    "simulating round 0 with its hidden anomalies", track)
        return store

    def pool(self, size: int, *, track: Track = no_progress) -> RoundData:
        """The catalogue pool (``pool_counts``), simulated once and cached beside the survey."""
        path = self.cache_path.with_name(f"{self.cache_path.stem}-pool{size}.h5")
        store = _cached(path, [lambda: simulate_round(self.cfg, POOL, image_size=self.image_size, pool_size=size)],
                        "simulating the catalogue pool", track)
        data = store.load_round(0)
        data.labels = None
        return data

    def load(self, r: int, *, track: Track = no_progress) -> RoundData:
        store = self.ensure(track=track)
        if r == 0 and self._round0_path is not None:
            from ahunt.store.images import Store

            return Store(self._round0_path).load_round(0)
        data = store.load_round(r)
        if r > 0:
            data.labels = None  # nights arrive unlabelled; truth stays for the scripted oracle
        return data


def _digest(*parts) -> str:
    """A short hash of what shapes a cached file, and of the simulator's version."""
    key = json.dumps([SIMULATOR_VERSION, *parts], sort_keys=True, default=dict)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _cached(path: Path, rounds, description: str, track: Track) -> Store:
    """The image store at ``path``, made from ``rounds`` (callables, one per round) unless it is
    already there; it appears only when complete."""
    # The cache is an image store: the one place a source writes to the next step.
    from ahunt.store.images import Store

    if path.exists():
        return Store(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    store = Store(tmp)
    try:
        for make in track(rounds, description=description, total=len(rounds)):
            store.add_round(make())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        store.index_path.unlink(missing_ok=True)  # the cache's own index is made if ever needed
    return Store(path)
