"""The peers an astronomer would pick instead of ahunt: coniferest's active anomaly forests.

``aad-raw`` (AADForest on the model's input pixels), ``aad-latent`` (AADForest on the round-0
network's latent space) and ``pineforest-raw`` (PineForest on pixels) run as coniferest's own
``Session`` does: within a night they ask one question at a time and refit on every answer so
far before choosing the next.  Each night's objects are the candidates; a new forest is grown
on them, and every answer of the hunt so far is its known data.

Questions and answers go through the same answer log and oracle as AHUNT's, so the budget,
the stream and the scoring are identical.  The forests are binary: an answer with an anomaly
class the astronomer finds interesting is ``Label.ANOMALY``, any other answer (a known class,
an uninteresting anomaly such as an artefact) is ``Label.REGULAR``, and a skip is left out.

coniferest's scores are lower for more anomalous objects; everything here returns
``-score_samples`` so that, as elsewhere in ahunt, higher means more anomalous.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ahunt.hunt.oracle import Oracle
from ahunt.learn.train import resolve_device, score
from ahunt.store.answer_log import QuestionRow

__all__ = ["PEERS", "ActiveForestPeer"]

# method name -> (coniferest model, feature space)
PEERS: dict[str, tuple[str, str]] = {
    "aad-raw": ("aad", "raw"),
    "aad-latent": ("aad", "latent"),
    "pineforest-raw": ("pine", "raw"),
}


def _forest(kind: str, n: int, seed: int):
    from coniferest.aadforest import AADForest
    from coniferest.pineforest import PineForest

    # A night can hold fewer objects than coniferest's default subsample of 256.
    options = dict(n_trees=100, n_subsamples=min(256, n), random_seed=seed, n_jobs=1)
    return AADForest(**options) if kind == "aad" else PineForest(**options)


class ActiveForestPeer:
    """One peer method through a whole hunt: its known labels carry over from night to night."""

    def __init__(self, method: str, ws, *, seed: int, interesting: Sequence[str] | None = None):
        self.method = method
        self.kind, self.space = PEERS[method]
        self.seed = seed
        self.interesting = None if interesting is None else set(interesting)
        self.known_x: list[np.ndarray] = []
        self.known_y: list[int] = []
        self._model0 = ws.load_model(0)[0] if self.space == "latent" else None
        self._device = resolve_device(ws.config.device)

    def features(self, images: np.ndarray) -> np.ndarray:
        if self.space == "raw":
            return images.reshape(len(images), -1).astype(np.float32)
        _, latents = score(self._model0, images, device=self._device)
        return latents.astype(np.float32)

    def _label(self, ws, answer) -> int | None:
        from coniferest.label import Label

        if answer.kind == "skip":
            return None
        cls = next(c for c in ws.classes() if c.idx == answer.class_idx)
        interesting = cls.kind == "anomaly" and (self.interesting is None or cls.name in self.interesting)
        return int(Label.ANOMALY if interesting else Label.REGULAR)

    def _fit(self, x: np.ndarray, seed: int):
        forest = _forest(self.kind, len(x), seed)
        if self.known_y:
            # coniferest's Label values are ints; index arrays must not be Python ints (0.2.2 trap).
            forest.fit_known(x, np.stack(self.known_x), np.asarray(self.known_y, dtype=int))
        else:
            forest.fit(x)
        return forest

    def run_night(self, ws, r: int, oracle: Oracle, n: int, *, seed: int) -> np.ndarray:
        """Ask ``n`` questions of round ``r`` one at a time; return the final anomaly scores."""
        from ahunt.hunt.session import ask

        data = ws.store.load_round(r)
        x = self.features(data.images)
        version = ws.current_version()
        asked: list[int] = []
        for k in range(min(n, len(x))):
            # A fresh forest per refit, like Session's fit_known on the same trees: the trees
            # are grown from the night's objects with the same seed, so only the weights move.
            s = -self._fit(x, seed).score_samples(x)
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
        return -self._fit(x, seed).score_samples(x)
