"""The peers an astronomer would pick instead of ahunt: coniferest's active anomaly forests.

``aad-raw`` (AADForest on the model's input pixels), ``aad-latent`` (AADForest on the round-0
network's latent space) and ``pineforest-raw`` (PineForest on pixels) run as coniferest's own
``Session`` does: within a night they ask one question at a time and refit on every answer so
far before choosing the next.

They get what AHUNT gets, as a coniferest user would give it to them:
- **the data seen so far**: the forest is grown on a uniform sample (at most
  ``SEEN_SAMPLE`` objects, kept by reservoir sampling) of round 0 and every night so far,
  tonight's included, and then scores tonight's objects;
- **round 0's labels**: round 0's objects are of known, normal classes, so a sample of them (at
  most ``ROUND0_KNOWN``) is known "regular" data from the start;
- **every answer** of the hunt so far is added to the known data.

Questions and answers go through the same answer log and oracle as AHUNT's, so the budget,
the stream and the scoring are identical.  The forests are binary: an answer with an anomaly
class is ``Label.ANOMALY`` unless the experiment's config names that class uninteresting
(``[experiment] uninteresting``, e.g. artefacts); any other answer (a known class, a normal
kind, an uninteresting anomaly) is ``Label.REGULAR``, and a skip is left out.  Nothing here
reads the truth of an object: the class of an answer is what the oracle said.

coniferest's scores are lower for more anomalous objects; everything here returns
``-score_samples`` so that, as elsewhere in ahunt, higher means more anomalous.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ahunt.hunt.oracle import Oracle
from ahunt.learn.model import centre_crop
from ahunt.learn.train import resolve_device, score
from ahunt.store.answer_log import QuestionRow

__all__ = ["PEERS", "ActiveForestPeer", "SeenSample", "SEEN_SAMPLE", "ROUND0_KNOWN"]

# method name -> (coniferest model, feature space)
PEERS: dict[str, tuple[str, str]] = {
    "aad-raw": ("aad", "raw"),
    "aad-latent": ("aad", "latent"),
    "pineforest-raw": ("pine", "raw"),
}
SEEN_SAMPLE = 2048  # objects the forest is grown on: its trees subsample 256 of them each
ROUND0_KNOWN = 512  # round-0 objects given as known regulars (the QP grows with the known data)


def _forest(kind: str, n: int, seed: int):
    from coniferest.aadforest import AADForest
    from coniferest.pineforest import PineForest

    # A small sample can hold fewer objects than coniferest's default subsample of 256.
    options = dict(n_trees=100, n_subsamples=min(256, n), random_seed=seed, n_jobs=1)
    return AADForest(**options) if kind == "aad" else PineForest(**options)


class SeenSample:
    """A uniform sample of at most ``size`` of every row ever added (reservoir sampling), so
    that a hunt of a million objects costs what one of ``size`` does."""

    def __init__(self, size: int, *, seed: int):
        self.size = size
        self.rows: np.ndarray | None = None
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x)
        if self.rows is None:
            self.rows = np.empty((self.size, *x.shape[1:]), dtype=x.dtype)
        for row in x:  # Algorithm R: row k (0-based) replaces a kept one with probability size/(k+1)
            if self.seen < self.size:
                self.rows[self.seen] = row
            else:
                j = int(self._rng.integers(self.seen + 1))
                if j < self.size:
                    self.rows[j] = row
            self.seen += 1

    def sample(self) -> np.ndarray:
        return self.rows[: min(self.seen, self.size)]


class ActiveForestPeer:
    """One peer method through a whole hunt: its known labels carry over from night to night."""

    def __init__(self, method: str, ws, *, seed: int, uninteresting: Sequence[str] = ()):
        from coniferest.label import Label

        self.method = method
        self.kind, self.space = PEERS[method]
        self.seed = seed
        self.uninteresting = set(uninteresting)
        self._model0 = ws.load_model(0)[0] if self.space == "latent" else None
        self._crop = ws.config.model.crop  # raw pixels: the field the network looks at
        self._device = resolve_device(ws.config.device)
        rng = np.random.default_rng(seed)
        r0 = ws.store.load_round(0)
        x0 = self.features(r0.images)
        self.seen = SeenSample(SEEN_SAMPLE, seed=seed)
        self.seen.add(x0)
        keep = np.sort(rng.choice(len(x0), size=min(ROUND0_KNOWN, len(x0)), replace=False))
        self.known_x: list[np.ndarray] = list(x0[keep])
        self.known_y: list[int] = [int(Label.REGULAR)] * len(keep)
        self.n_round0_known = len(keep)

    def features(self, images: np.ndarray) -> np.ndarray:
        if self.space == "raw":
            return centre_crop(np.asarray(images), self._crop).reshape(len(images), -1).astype(np.float32)
        _, latents = score(self._model0, images, device=self._device)
        return latents.astype(np.float32)

    def _label(self, ws, answer) -> int | None:
        from coniferest.label import Label

        if answer.kind == "skip":
            return None
        cls = next(c for c in ws.classes() if c.idx == answer.class_idx)
        interesting = cls.kind == "anomaly" and cls.name not in self.uninteresting
        return int(Label.ANOMALY if interesting else Label.REGULAR)

    def _fit(self, x: np.ndarray, seed: int):
        forest = _forest(self.kind, len(x), seed)
        # coniferest's Label values are ints; index arrays must not be Python ints (0.2.2 trap).
        forest.fit_known(x, np.stack(self.known_x), np.asarray(self.known_y, dtype=int))
        return forest

    def run_night(self, ws, r: int, oracle: Oracle, n: int, *, seed: int) -> np.ndarray:
        """Ask ``n`` questions of round ``r`` one at a time; return tonight's final anomaly scores."""
        from ahunt.hunt.session import ask

        data = ws.store.load_round(r)
        x = self.features(data.images)
        self.seen.add(x)
        fit_on = self.seen.sample()
        version = ws.current_version()
        asked: list[int] = []
        for k in range(min(n, len(x))):
            # A fresh forest per refit, like Session's fit_known on the same trees: the trees
            # are grown from the same sample with the same seed, so only the weights move.
            s = -self._fit(fit_on, seed).score_samples(x)
            order = np.argsort(-s, kind="stable")
            i = int(next(j for j in order if j not in asked))
            asked.append(i)
            ws.log.add_questions([QuestionRow(r, k, str(data.ids[i]), i, self.method, "anomaly score",
                                              float(s[i]), version)])
            ask(ws, r, oracle, with_images=False)
            answer = next(a for a in ws.log.standing_answers(r) if a.object_id == str(data.ids[i]))
            label = self._label(ws, answer)
            if label is not None:
                self.known_x.append(x[i])
                self.known_y.append(label)
        self.forest = self._fit(fit_on, seed)  # with every answer of the night: it ranks the catalogue
        return -self.forest.score_samples(x)

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Anomaly scores of any objects (a catalogue) under the forest of the last night."""
        return -self.forest.score_samples(self.features(images))
