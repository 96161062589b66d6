"""``fixmatch``: the AnomalyMatch-style peer (semi-supervised search with active learning).

AnomalyMatch (ESA; arXiv:2505.03509) trains a classifier with FixMatch on a few labelled
anomalies, labelled normals and every unlabelled cutout, then asks the astronomer about its
top-scoring objects and trains again.  Here, with the same information as every other method
of the runner:

- **network**: AHUNT's CNN, started from the round-0 network (trained on the known classes),
  with two more outputs, ``boring`` (an anomaly class the config names uninteresting, or a
  normal kind made by an answer) and ``interesting`` (any other anomaly class);
- **labels**: round 0's known classes and every answer so far, nothing else;
- **unlabelled**: a uniform sample (``UNLABELLED_SAMPLE``, reservoir sampling) of round 0 and
  every night so far;
- **training**: after each night's answers, ``[train] epochs`` epochs of FixMatch
  (``ahunt/learn/semi.py``), warm-started from the night before;
- **questions**: the night's top anomaly scores, ``[hunt] questions`` of them;
- **pseudo-kinds** (``fixmatch-kinds`` only): in a hunt started without labels, every night's
  training also learns the pile's pseudo-kinds, from the round-0 network's kinds head, as
  AHUNT's retrains do (``ahunt/learn/kinds.py``); a labelled start has none, and there
  ``fixmatch-kinds`` is ``fixmatch``;
- **anomaly score**: ``p(interesting)`` once an interesting object is labelled.  Before that
  it has no positive example (AnomalyMatch starts from a few labelled anomalies; a hunt starts
  from none), so a standard out-of-distribution score ranks the objects: the deep
  nearest-neighbour distance (Sun et al. 2022) in its own latent space to the labelled objects
  that are not interesting.
"""

from __future__ import annotations

import numpy as np

from ahunt.hunt.query import Pick
from ahunt.learn.train import score

__all__ = ["FixMatchDetector", "UNLABELLED_SAMPLE"]

UNLABELLED_SAMPLE = 4096


class FixMatchDetector:
    needs_pixels = True

    def __init__(self, ws, *, device, kinds: bool = False):
        import torch

        from ahunt.learn.kinds import KINDS, KINDS_HEAD, kinds_head
        from ahunt.learn.train import load_checkpoint
        from ahunt.methods.peers import SeenSample

        self.name = "fixmatch-kinds" if kinds else "fixmatch"
        self.device = device
        self.net, _ = ws.load_model(0)
        # The pile's pseudo-kinds and the head that tells them apart, as round 0 left them.
        meta = load_checkpoint(ws.checkpoint_path(0))[1] if kinds else {}
        self.kinds = meta[KINDS].numpy().astype(np.int64) if KINDS in meta else None
        self.kinds_head = (kinds_head(self.net, int(self.kinds.max()) + 1, meta[KINDS_HEAD])
                           if self.kinds is not None else None)
        self.n_known = self.net.n_classes
        self.net.grow_head(2, generator=torch.Generator().manual_seed(ws.config.seed))
        self.boring, self.interesting = self.n_known, self.n_known + 1
        self.uninteresting = set(ws.config.experiment.uninteresting)
        self.unlabelled = SeenSample(UNLABELLED_SAMPLE, seed=ws.config.seed)
        self.unlabelled.add(ws.store.load_round(0).images)
        self.has_interesting = False
        self.ws = ws
        self._reference = None  # latents of the labelled non-interesting objects, while needed

    # -- the loop's hooks -------------------------------------------------------------------
    def start_round(self, ws, r: int) -> None:
        self.ws = ws
        self.unlabelled.add(ws.store.load_round(r).images)

    def scores(self, images: np.ndarray) -> np.ndarray:
        probs, latents = score(self.net, images, device=self.device)
        if self.has_interesting:
            return probs[:, self.interesting].astype(np.float64)
        from ahunt.hunt.novelty import nearest_distance, normalise

        if self._reference is None:
            ref_images, labels, _ = self.ws.labelled_set()
            keep = self._targets(self.ws, labels) != self.interesting
            _, ref = score(self.net, ref_images[keep], device=self.device)
            self._reference = normalise(ref)
        return nearest_distance(normalise(latents), self._reference).astype(np.float64)

    def __call__(self, images, latents, exclude, n, rng) -> list[Pick]:
        s = self.scores(images)
        available = np.setdiff1d(np.arange(len(s)), np.asarray(exclude, dtype=np.int64))
        order = available[np.argsort(-s[available], kind="stable")[:n]]
        return [Pick(int(i), "anomaly score", float(s[i])) for i in order]

    def _targets(self, ws, labels: np.ndarray) -> np.ndarray:
        """The labelled set's classes in this network's outputs (round-0 classes keep theirs)."""
        classes = {c.idx: c for c in ws.classes()}
        out = np.empty(len(labels), dtype=np.int64)
        for k, c in enumerate(labels):
            info = classes[int(c)]
            if info.kind == "anomaly":
                out[k] = self.boring if info.name in self.uninteresting else self.interesting
            else:
                out[k] = int(c) if int(c) < self.n_known else self.boring
        return out

    def learn(self, ws, r: int) -> list[float]:
        from ahunt.hunt.session import round_seed
        from ahunt.learn.semi import train_fixmatch

        images, labels, _ = ws.labelled_view()
        y = self._targets(ws, labels)
        self.has_interesting = bool((y == self.interesting).any())
        self._reference = None  # the network moves: the reference is measured again
        cfg = ws.config.train
        seed = round_seed(ws.config.seed, r)
        return train_fixmatch(self.net, images, y, self.unlabelled.sample(), cfg, epochs=cfg.epochs,
                              seed=seed, device=self.device, kinds=self._kinds_batch(ws, seed))

    def _kinds_batch(self, ws, seed: int):
        """(images, kinds, head) of a sample of the pile, the same share of each kind, or None."""
        if self.kinds is None:
            return None
        from ahunt.hunt.session import pile_sample

        return (*pile_sample(ws, self.kinds, seed=seed), self.kinds_head)

    def contamination(self, ws, r: int) -> None:
        return None  # top-score questions: no selection probabilities to weight by
