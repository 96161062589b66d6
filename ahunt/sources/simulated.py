"""The embedded simulated survey: round 0 of known classes, then nightly batches.

The schedule comes from ``SurveyConfig``; images come from ``galaxy_sim.draw_objects``.  A
whole survey is simulated once and cached as an image store keyed by a hash of everything that
shapes it, so a repeated demo reads it back instead of simulating again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
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
    """True when the store's round 0 came from this simulator (its ids), so hints say --simulated."""
    import re

    ids = store.load_round(0, images=False).ids[:100]
    return len(ids) > 0 and all(re.fullmatch(r"sim-00-\d{4}", str(i)) for i in ids)


class SimulatedSurvey:
    """All rounds of a simulated survey, simulated on first use and cached."""

    def __init__(self, cfg: SurveyConfig, *, image_size: int, cache_dir: str | Path | None = None):
        self.cfg = cfg
        self.image_size = image_size
        shape = asdict(cfg)
        if not cfg.hidden:
            del shape["hidden"]  # surveys cached before the key existed keep their cache
        key = json.dumps([SIMULATOR_VERSION, image_size, shape], sort_keys=True, default=dict)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.cache_path = Path(cache_dir or default_cache_dir()) / f"survey-{digest}.h5"

    @property
    def n_rounds(self) -> int:
        return self.cfg.nights + 1

    def is_cached(self) -> bool:
        return self.cache_path.exists()

    def ensure(self, *, track: Track = no_progress) -> Store:
        """Simulate into the cache unless it is already there; the cache appears only when complete."""
        # The cache is an image store: the one place a source writes to the next step.
        from ahunt.store.images import Store

        if self.cache_path.exists():
            return Store(self.cache_path)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        store = Store(tmp)
        try:
            for r in track(range(self.n_rounds), description="simulating survey", total=self.n_rounds):
                store.add_round(simulate_round(self.cfg, r, image_size=self.image_size))
            os.replace(tmp, self.cache_path)
        finally:
            tmp.unlink(missing_ok=True)
            store.index_path.unlink(missing_ok=True)  # the cache's own index is made if ever needed
        return Store(self.cache_path)

    def pool(self, size: int, *, track: Track = no_progress) -> RoundData:
        """The catalogue pool (``pool_counts``), simulated once and cached beside the survey."""
        from ahunt.store.images import Store

        path = self.cache_path.with_name(f"{self.cache_path.stem}-pool{size}.h5")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            store = Store(tmp)
            try:
                for _ in track(range(1), description="simulating the catalogue pool", total=1):
                    store.add_round(simulate_round(self.cfg, POOL, image_size=self.image_size, pool_size=size))
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
                store.index_path.unlink(missing_ok=True)
        data = Store(path).load_round(0)
        data.labels = None
        return data

    def load(self, r: int, *, track: Track = no_progress) -> RoundData:
        data = self.ensure(track=track).load_round(r)
        if r > 0:
            data.labels = None  # nights arrive unlabelled; truth stays for the scripted oracle
        return data
