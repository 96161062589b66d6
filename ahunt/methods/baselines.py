"""Baselines AHUNT must beat, run through the same session loop, stream and question budget.

- ``static``: the round-0 network, then only its last layer retrained on the answers (the
  paper's "Static", the closest analogue to Astronomaly and Zoobot);
- ``random``: full retraining with random questions;
- ``iforest-raw``: isolation forest on raw pixels;
- ``iforest-latent-static``: isolation forest on the round-0 network's latent space;
- ``iforest-latent-dynamic``: isolation forest on the latent space of a network retrained
  every round on the answers to the forest's own questions;
- ``aloe``: active latent outlier exposure, a one-class detector on the CNN backbone
  (``ahunt/methods/aloe.py``), diverse questions with recorded selection probabilities;
- ``ae-active``: a convolutional autoencoder with an active layer over its reconstruction
  errors (``ahunt/methods/ae_active.py``), questions by top score;
- ``aad-raw``, ``aad-latent``, ``pineforest-raw``: coniferest's active anomaly forests, the
  peers an astronomer would otherwise pick (``ahunt/methods/peers.py``), one question at a time;
- ``fixmatch``: AnomalyMatch-style semi-supervised search, FixMatch on the labelled set and the
  nights' unlabelled objects, questions by top score (``ahunt/methods/fixmatch.py``);
- ``fixmatch-kinds``: ``fixmatch`` that also learns the pile's pseudo-kinds every night, as
  AHUNT does in a hunt started without labels (with labels it is ``fixmatch``).

The isolation-forest methods ask their top-scoring objects, and their MCC uses the same top-k
rule as AHUNT, on the forest's score.  Their forest grows on what the peers' grow on: a sample
of round 0 and every night so far (``IForestChooser``).  The two deep detectors (``Method.detector``) keep their
own network in memory through a task: the loop calls ``start_round``, uses the detector as the
question chooser, then calls ``learn`` after the answers, ``scores`` for the MCC and
``contamination`` for an estimate of the night's anomalous fraction (None if it has none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest

from ahunt.hunt.query import Pick
from ahunt.learn.model import centre_crop
from ahunt.learn.train import score

__all__ = ["Method", "METHOD_SPECS", "IForestChooser", "make_detector"]


@dataclass(frozen=True)
class Method:
    """How one method runs the shared loop."""

    strategy: str | None  # question strategy for the class-based methods; None for iforest
    retrain: str  # 'full', 'head' or 'none'
    iforest_space: str | None = None  # 'raw' or 'latent' for the isolation-forest methods
    detector: str | None = None  # 'aloe' or 'ae-active': a deep detector with its own network
    loss: str | None = None  # a training loss other than the config's (cross_entropy, focal, isomax)
    peer: bool = False  # a coniferest active forest (``ahunt/methods/peers.py``), one question at a time
    reserve_score: str | None = None  # a reserve score other than the config's (novelty, probability)
    labelled_start: bool = False  # round 0 with its labels even when the experiment starts unlabelled
    semi_supervised: str | None = None  # a nightly retrain other than the config's (none, fixmatch)

    @property
    def single_score(self) -> bool:
        """A binary detector: one anomaly score, which its per-class metrics rank for every class."""
        return bool(self.iforest_space or self.detector or self.peer)


METHOD_SPECS: dict[str, Method] = {
    "ahunt": Method(strategy=None, retrain="full"),  # the config's strategy
    "ahunt-uncertainty": Method(strategy="uncertainty", retrain="full"),
    "ahunt-diversity": Method(strategy="diversity", retrain="full"),
    "random": Method(strategy="random", retrain="full"),
    "ahunt-focal": Method(strategy=None, retrain="full", loss="focal"),
    "ahunt-isomax": Method(strategy=None, retrain="full", loss="isomax"),
    "ahunt-reserve-probability": Method(strategy=None, retrain="full", reserve_score="probability"),
    # What the labels are worth: in an experiment started unlabelled, AHUNT as if round 0 were labelled.
    "ahunt-labelled": Method(strategy=None, retrain="full", labelled_start=True),
    # AHUNT whose nightly retrain also learns from the nights' unlabelled objects (FixMatch).
    "ahunt-semi": Method(strategy=None, retrain="full", semi_supervised="fixmatch"),
    "static": Method(strategy=None, retrain="head"),
    "iforest-raw": Method(strategy=None, retrain="none", iforest_space="raw"),
    "iforest-latent-static": Method(strategy=None, retrain="none", iforest_space="latent"),
    "iforest-latent-dynamic": Method(strategy=None, retrain="full", iforest_space="latent"),
    "aloe": Method(strategy=None, retrain="none", detector="aloe"),
    "ae-active": Method(strategy=None, retrain="none", detector="ae-active"),
    "aad-raw": Method(strategy=None, retrain="none", peer=True),
    "aad-latent": Method(strategy=None, retrain="none", peer=True),
    "pineforest-raw": Method(strategy=None, retrain="none", peer=True),
    "fixmatch": Method(strategy=None, retrain="none", detector="fixmatch"),
    "fixmatch-kinds": Method(strategy=None, retrain="none", detector="fixmatch-kinds"),
}


def make_detector(name: str, ws, *, device):
    """The detector a method names, set up on the workspace's round 0 (the round-0 model trained)."""
    if name == "aloe":
        from ahunt.methods.aloe import AloeDetector

        return AloeDetector(ws, device=device)
    if name == "ae-active":
        from ahunt.methods.ae_active import AeActiveDetector

        return AeActiveDetector(ws, device=device)
    if name in ("fixmatch", "fixmatch-kinds"):
        from ahunt.methods.fixmatch import FixMatchDetector

        return FixMatchDetector(ws, device=device, kinds=name == "fixmatch-kinds")
    raise ValueError(f"unknown detector {name!r}")


def _rows(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).reshape(len(x), -1)


def _grow_forest(features: np.ndarray, *, seed: int) -> IsolationForest:
    return IsolationForest(n_estimators=200, random_state=seed).fit(_rows(features))


class IForestChooser:
    """An isolation-forest method: question chooser for ``session.prepare_questions`` (the top
    scores) and the scorer of its MCC and catalogue.

    It gets what the peers get: each night the forest is grown on a uniform sample of at most
    ``SEEN_SAMPLE`` of every object seen so far (round 0 and every night, tonight's included),
    then scores tonight's objects.  The sample keeps images, not features: a latent space
    changes whenever the network is retrained (``iforest-latent-dynamic``)."""

    def __init__(self, space: str, *, seed: int, crop: int = 0):
        from ahunt.methods.peers import SEEN_SAMPLE, SeenSample

        self.space = space
        self.crop = crop  # raw pixels: the field the network looks at (``[model] crop``)
        self.name = f"iforest-{space}"
        self.needs_pixels = space == "raw"  # a latent forest needs no images of the night in memory
        self.seen = SeenSample(SEEN_SAMPLE, seed=seed)
        self.forest: IsolationForest | None = None

    def features(self, images: np.ndarray, latents: np.ndarray) -> np.ndarray:
        return centre_crop(images, self.crop) if self.space == "raw" else latents

    def see(self, images: np.ndarray) -> None:
        """Objects seen: a round's images, added to the sample the forest grows on."""
        self.seen.add(images)

    def features_of(self, model, images: np.ndarray, *, device) -> np.ndarray:
        """The forest's features of ``images``: the pixels, or their latents under ``model``."""
        latents = None if self.space == "raw" else score(model, images, device=device)[1]
        return self.features(images, latents)

    def grow(self, model, *, seed: int, device) -> None:
        """Grow the forest on the sample seen so far, in ``model``'s latent space for a latent forest."""
        self.forest = _grow_forest(self.features_of(model, self.seen.sample(), device=device), seed=seed)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Anomaly score per row of ``features`` (higher = more anomalous) under the grown forest."""
        if self.forest is None:
            raise RuntimeError("the isolation forest is not grown yet: call grow() after see()")
        return -self.forest.score_samples(_rows(features))

    def image_scores(self, model, images: np.ndarray, *, device) -> np.ndarray:
        """Anomaly score of any images (tonight's, a catalogue's) under the grown forest."""
        return self.scores(self.features_of(model, images, device=device))

    def __call__(self, images, latents, exclude, n, rng) -> list[Pick]:
        s = self.scores(self.features(images, latents))
        available = np.setdiff1d(np.arange(len(s)), np.asarray(exclude, dtype=np.int64))
        order = available[np.argsort(-s[available], kind="stable")[:n]]
        return [Pick(int(i), "anomaly score", float(s[i])) for i in order]
