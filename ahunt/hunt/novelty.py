"""The reserve's novelty score: how far an object lies from everything already known to be boring.

The reserve output of the network never gets a positive example, so its probability is not a
novelty score (it ranked the mergers of a galaxy survey *lowest*).  The reserve's questions
and its MCC use this score instead, a deep nearest-neighbour distance (Sun et al. 2022) in the
network's current latent space:

- the **reference** is every labelled object the astronomer does not want more of: the known
  classes of round 0, and every class with no interest weight tonight (an artefact class made
  from a boring answer, say).  Classes with an interest weight are left out, so their unfound
  members still look new to the reserve;
- an object's **distance** is measured in each of two or three spaces, each time to the nearest
  reference object: in the network's latent space (L2-normalised), which adapts to the answers
  with every retrain; with ``[hunt] novelty_features = true``, also in the network's last
  convolutional features (what its latent layer is computed from, flattened and L2-normalised),
  which ranked night 1's anomalies better than the latent (``benchmarks/novelty_night1.py``); and in
  its pixels (the network's field, ``[model] crop``) averaged down to 16x16 per band
  (L2-normalised), which the round-0 network has not learnt to ignore yet.  Each distance is
  divided by the median nearest-neighbour distance among the reference objects themselves
  (leave-one-out), and they are averaged into ``D``: 1 means "as far from the known as known
  objects are from each other";
- the **score** is ``D / (1 + D)``: about 0.5 for an ordinary object, near 1 for one far from
  anything seen.

With ``[hunt] novelty_crowd`` above 0, a share such as 0.01, each distance counts a crowd as
well: it is the distance to the k-th nearest among the known classes' reference objects *and the
objects being scored* (the night, or a catalogue), with k that share of the objects scored.  A
kind that makes up that share of the night (an ordinary kind that round 0's few labels miss) is
then not new, while an anomaly at a fraction of a percent has too few lookalikes.  A boring
answer of an anomaly class (an artefact) keeps its veto: ``D`` is the smaller of that crowd
distance and the distance to the nearest such answer, so one answered artefact still keeps its
lookalikes out of the questions.  Sets above ``CROWD`` objects compare with a seeded draw of
``CROWD`` of them (k a share of the draw), so the cost stays linear in the night; sets too small
for a crowd of 2 (under 150 objects at 0.01) are scored by the nearest rule alone.

It learns from the answers twice over: every boring answer joins the reference (so the same
kind of oddity is not asked again and again), and every retrain moves the latent space itself.

The same distances rank a class of interest that has only a few labelled members
(``[hunt] few_members``, ``Reference.member_scores``): ``D_boring / (D_boring + D_member)``, where
``D_member`` is the distance to the class's nearest labelled member, so an object counts for the
class by how much nearer it lies to one of its members than to anything boring.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ahunt.store.answer_log import ClassInfo

__all__ = ["boring_classes", "normalise", "nearest_distance", "kth_distance", "pixel_features", "network_features",
           "Reference", "reference_rows"]

MAX_PER_CLASS = 2000  # reference objects kept per class: the search stays cheap on big hunts
PIXELS = 16  # pixel features: each band averaged down to 16x16
BLOCK = 4096  # objects per block when a night is read from the store
CROWD = 10_000  # scored objects a crowd distance compares against, at most (a seeded draw)


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


def kth_distance(x: np.ndarray, reference: np.ndarray, k: int, *, itself: np.ndarray | None = None,
                 block: int = 4096) -> np.ndarray:
    """Distance of each row of ``x`` to its ``k``-th nearest row of ``reference`` (both
    normalised); the farthest where it has fewer than ``k`` rows, inf where none.  ``itself``:
    for each row of ``x``, the row of ``reference`` that is the same object (-1: none), which
    does not count."""
    out = np.full(len(x), np.inf, dtype=np.float32)
    k = min(k, len(reference) - (itself is not None and bool((itself >= 0).any())))
    if k < 1:
        return out
    for start in range(0, len(x), block):
        cos = x[start:start + block] @ reference.T
        if itself is not None:
            rows = np.flatnonzero(itself[start:start + block] >= 0)
            cos[rows, itself[start:start + block][rows]] = -np.inf
        out[start:start + block] = np.sqrt(np.maximum(2.0 - 2.0 * -np.partition(-cos, k - 1, axis=1)[:, k - 1], 0.0))
    return out


def pixel_features(images, crop: int = 0) -> np.ndarray:
    """(N, C, H, W) images -> (N, C * 16 * 16) band means over a 16x16 grid (fewer for smaller
    cutouts), L2-normalised: coarse morphology, blind to pixel noise.  ``crop``: of the central
    ``crop`` x ``crop`` pixels only, the field the network looks at (0: the whole cutout)."""
    import torch
    import torch.nn.functional as F

    from ahunt.learn.model import centre_crop

    x = torch.from_numpy(np.ascontiguousarray(centre_crop(images, crop), dtype=np.float32))
    n = min(PIXELS, x.shape[-1], x.shape[-2])
    return normalise(F.adaptive_avg_pool2d(x, n).reshape(len(x), -1).numpy())


def network_features(scorer, images, crop: int = 0, *, batch: int = 256) -> np.ndarray:
    """(N, C, H, W) images -> the last convolutional block's output of ``scorer`` (a network's
    ``inference_copy``) in its field, the central ``crop`` pixels: what its latent layer reads,
    flattened and L2-normalised.  One orientation, whatever ``[score] views`` says."""
    import torch

    from ahunt.learn.model import centre_crop

    device = next(scorer.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(centre_crop(images[start:start + batch], crop), dtype=np.float32))
            x = scorer.stem(x.to(device).contiguous()).contiguous(memory_format=torch.channels_last)
            out.append(scorer.features(x).flatten(1).float().cpu().numpy())
    return normalise(np.concatenate(out)) if out else np.zeros((0, 1), np.float32)


def _spacing(z: np.ndarray) -> float:
    """Median nearest-neighbour distance within a reference set (leave-one-out)."""
    if len(z) < 2:
        return 1.0
    return float(max(np.median(nearest_distance(z, z, exclude_self=True)), 1e-6))


def reference_rows(labels: np.ndarray, boring: Sequence[int], *, seed: int = 0) -> np.ndarray:
    """The rows a ``Reference`` keeps: every labelled object of the boring classes, at most
    ``MAX_PER_CLASS`` per class (a seeded uniform draw), class by class in increasing row order.
    Given only these rows (and their labels), a ``Reference`` keeps all of them, in the same
    order: so only they need scoring, whatever the size of the hunt."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in sorted(set(int(b) for b in boring)):
        members = np.flatnonzero(labels == c)
        if len(members) > MAX_PER_CLASS:
            members = np.sort(rng.choice(members, MAX_PER_CLASS, replace=False))
        keep.append(members)
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)


class Reference:
    """The boring labelled objects, in one model's latent space, in pixels and, given the
    ``model``, in its last convolutional features, with the typical spacing of each.
    ``crowd``: 0 for the distance to the nearest of them; a share of the objects scored for the
    distance to the k-th nearest among the ``known`` classes' objects and the objects scored, k
    that share of them, with the other boring classes' nearest object as a veto (the module's
    docstring)."""

    def __init__(self, latents: np.ndarray, images: np.ndarray, labels: np.ndarray, boring: Sequence[int], *,
                 seed: int = 0, crop: int = 0, model=None, crowd: float = 0.0, known: Sequence[int] = ()):
        idx = reference_rows(labels, boring, seed=seed)
        self.crop = crop  # the pixels are compared in the network's field
        self.seed, self.crowd = seed, crowd
        self.known = np.isin(np.asarray(labels)[idx], list(known))  # the crowd's reference; the rest vetoes
        self.z = normalise(latents[idx])
        self.pixels = pixel_features(images[idx], crop) if len(idx) else np.zeros((0, 1), np.float32)
        self.scale, self.pixel_scale = _spacing(self.z), _spacing(self.pixels)
        self.scorer = None
        if model is not None:  # the third space: the features the latent layer reads
            from ahunt.learn.model import inference_copy

            self.scorer = inference_copy(model)
            self.features = network_features(self.scorer, images[idx], crop)
            self.feature_scale = _spacing(self.features)

    def scores(self, latents: np.ndarray, images) -> np.ndarray:
        """Novelty in (0, 1) of objects with these latents and images (an array or an HDF5
        dataset, read block by block); 1 everywhere when nothing is known yet."""
        if not len(self.z):
            return np.ones(len(latents), dtype=np.float32)
        k = int(round(self.crowd * min(len(latents), CROWD)))
        if k >= 2:
            return self._crowd_scores(normalise(latents), images, k)
        z = normalise(latents)
        d = np.empty(len(z), dtype=np.float32)
        for start in range(0, len(z), BLOCK):
            spaces = self._spaces(z[start:start + BLOCK], images[start:start + BLOCK])
            d[start:start + BLOCK] = sum(nearest_distance(x, ref) / scale
                                         for x, (ref, scale) in zip(spaces, self._references())) / len(spaces)
        return d / (1 + d)

    def member_scores(self, latents: np.ndarray, images, novelty: np.ndarray, member_latents: np.ndarray,
                      member_images: np.ndarray) -> np.ndarray:
        """How much nearer each object lies to a class's nearest labelled member than to the
        nearest boring object, in (0, 1): ``D_boring / (D_boring + D_member)``, each distance in
        the novelty's spaces and units; above 0.5 for an object nearer a member.  ``novelty``:
        these objects' ``scores``, which hold ``D_boring``."""
        if not len(self.z) or not len(member_latents):
            return np.ones(len(latents), dtype=np.float32)
        members = self._spaces(normalise(member_latents), member_images)
        z = normalise(latents)
        d = np.empty(len(z), dtype=np.float32)
        for start in range(0, len(z), BLOCK):
            spaces = self._spaces(z[start:start + BLOCK], images[start:start + BLOCK])
            d[start:start + BLOCK] = sum(nearest_distance(x, m) / scale for x, m, (_, scale)
                                         in zip(spaces, members, self._references())) / len(spaces)
        novelty = np.asarray(novelty, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            boring = novelty / (1 - novelty)  # the score D / (1 + D) back to D; inf: nothing near
            out = np.where(np.isinf(boring), 1.0, boring / (boring + d))
        return np.where(np.isnan(out), 0.5, out).astype(np.float32)  # 0 / 0: a member that is boring too

    def _references(self) -> list[tuple[np.ndarray, float]]:
        """(reference objects, their spacing) in each space: latent, pixels (and conv features)."""
        out = [(self.z, self.scale), (self.pixels, self.pixel_scale)]
        if self.scorer is not None:
            out.append((self.features, self.feature_scale))
        return out

    def _spaces(self, z: np.ndarray, images) -> list[np.ndarray]:
        """The objects ``z``/``images`` in each space, in the order of ``_references``."""
        out = [z, pixel_features(images, self.crop)]
        if self.scorer is not None:
            out.append(network_features(self.scorer, images, self.crop))
        return out

    def _crowd_scores(self, z: np.ndarray, images, k: int) -> np.ndarray:
        n = len(z)
        crowd = np.arange(n) if n <= CROWD else np.sort(np.random.default_rng(self.seed).choice(n, CROWD, replace=False))
        # the crowd in every space, read in blocks (at most CROWD objects are kept)
        parts = [self._spaces(z[crowd[s:s + BLOCK]], _rows(images, crowd[s:s + BLOCK])) for s in range(0, len(crowd), BLOCK)]
        crowd_spaces = [np.concatenate(p) for p in zip(*parts)]
        references = self._references()
        crowd_references = [np.vstack([ref[self.known], c]) for (ref, _), c in zip(references, crowd_spaces)]
        veto = [ref[~self.known] for ref, _ in references] if (~self.known).any() else None
        position = np.full(n, -1)  # each object's row in the crowd reference, if it is there
        position[crowd] = int(self.known.sum()) + np.arange(len(crowd))
        d = np.empty(n, dtype=np.float32)
        for start in range(0, n, BLOCK):
            end = min(start + BLOCK, n)
            spaces = ([c[start:end] for c in crowd_spaces] if n <= CROWD
                      else self._spaces(z[start:end], images[start:end]))
            d[start:end] = sum(kth_distance(x, ref, k, itself=position[start:end]) / scale
                               for x, ref, (_, scale) in zip(spaces, crowd_references, references)) / len(spaces)
            if veto is not None:  # an answered boring anomaly keeps its lookalikes out
                d[start:end] = np.minimum(d[start:end], sum(nearest_distance(x, ref) / scale for x, ref, (_, scale)
                                                            in zip(spaces, veto, references)) / len(spaces))
        with np.errstate(invalid="ignore"):  # inf: too few objects to count k neighbours, so new
            return np.where(np.isinf(d), np.float32(1.0), d / (1 + d))


def _rows(images, rows: np.ndarray):
    """``images[rows]`` for sorted ``rows``, as one slice where they are contiguous (HDF5 reads
    a slice much faster than a list)."""
    if len(rows) and rows[-1] - rows[0] == len(rows) - 1:
        return images[rows[0]:rows[-1] + 1]
    return images[rows]
