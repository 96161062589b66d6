"""The reserve's novelty score: how far an object lies from everything already known to be boring.

The reserve output of the network never gets a positive example, so its probability is not a
novelty score (it ranked the mergers of a galaxy survey *lowest*).  The reserve's questions
and its MCC use this score instead, a deep nearest-neighbour distance (Sun et al. 2022) in the
network's current latent space:

- the **reference** is every labelled object the astronomer does not want more of: the known
  classes of round 0, and every class with no interest weight tonight (an artefact class made
  from a boring answer, say).  Classes with an interest weight are left out, so their unfound
  members still look new to the reserve;
- an object's **distance** is the Euclidean distance of its L2-normalised latent vector to the
  nearest reference vector;
- the **score** is ``d / (d + m)``, with ``m`` the median nearest-neighbour distance among the
  reference objects themselves (leave-one-out): 0.5 means "as far from the known as known
  objects are from each other", near 1 means far from anything seen.

It learns from the answers twice over: every boring answer joins the reference (so the same
kind of oddity is not asked again and again), and every retrain moves the latent space itself.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ahunt.labels import RESERVE, ClassInfo

__all__ = ["boring_classes", "normalise", "nearest_distance", "novelty_scores", "Reference"]

MAX_PER_CLASS = 2000  # reference objects kept per class: the search stays cheap on big hunts


def boring_classes(classes: Sequence[ClassInfo], weights: Mapping[str, float]) -> list[int]:
    """Class indices whose labelled objects the reserve should look away from."""
    return [c.idx for c in classes
            if c.kind == "known" or (c.kind == "anomaly" and weights.get(c.name, 0.0) <= 0)]


def normalise(latents: np.ndarray) -> np.ndarray:
    z = np.asarray(latents, dtype=np.float32)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-6)


def nearest_distance(z: np.ndarray, reference: np.ndarray, *, exclude_self: bool = False,
                     block: int = 4096) -> np.ndarray:
    """Distance of each row of ``z`` to its nearest row of ``reference`` (both normalised)."""
    out = np.empty(len(z), dtype=np.float32)
    for start in range(0, len(z), block):
        cos = z[start:start + block] @ reference.T
        if exclude_self:
            np.fill_diagonal(cos[:, start:start + block], -np.inf)
        out[start:start + block] = np.sqrt(np.maximum(2.0 - 2.0 * cos.max(axis=1), 0.0))
    return out


class Reference:
    """The boring labelled objects in one model's latent space, with their typical spacing."""

    def __init__(self, latents: np.ndarray, labels: np.ndarray, boring: Sequence[int], *, seed: int = 0):
        rng = np.random.default_rng(seed)
        keep = []
        for c in sorted(set(int(b) for b in boring)):
            members = np.flatnonzero(labels == c)
            if len(members) > MAX_PER_CLASS:
                members = np.sort(rng.choice(members, MAX_PER_CLASS, replace=False))
            keep.append(members)
        idx = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
        self.z = normalise(latents[idx])
        spacing = nearest_distance(self.z, self.z, exclude_self=True) if len(self.z) > 1 else np.ones(1)
        self.scale = float(max(np.median(spacing), 1e-6))

    def scores(self, latents: np.ndarray) -> np.ndarray:
        """Novelty in (0, 1): ``d / (d + m)``; 1 everywhere when nothing is known yet."""
        if not len(self.z):
            return np.ones(len(latents), dtype=np.float32)
        d = nearest_distance(normalise(latents), self.z)
        return d / (d + self.scale)


def novelty_scores(probs: np.ndarray, latents: np.ndarray, class_names: Sequence[str],
                   reference: Reference) -> np.ndarray:
    """``probs`` with the reserve's column replaced by the novelty score (a copy)."""
    out = np.array(probs, dtype=np.float32, copy=True)
    if RESERVE in class_names:
        out[:, list(class_names).index(RESERVE)] = reference.scores(latents)
    return out
