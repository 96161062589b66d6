"""Pseudo-kinds: the pile of a hunt started without labels, sorted into kinds by its pixels.

A self-supervised task alone (``ahunt/learn/pretrain.py``) leaves a latent space that does not
tell the pile's kinds of object apart: on the simulated survey, k-means on the rotation task's
latents agreed with the true kinds of galaxy no better than chance (normalised mutual
information 0.01-0.08), while k-means on the coarse pixels that the reserve's novelty score
also uses agreed far better (0.41 with 8 clusters).  Labelled kinds are what make a latent
space in which a subtle anomaly stands out from ordinary objects, so the pile gets stand-in
labels: ``[train] pseudo_kinds`` clusters of its 16x16 pixel features (k-means, seeded).

The encoder learns to tell these kinds apart through a small head of its own (round 0, after
the self-supervised task), and keeps learning it in every nightly retrain, beside the answers,
so the answers' few classes do not wash it out.  The kinds never reach the astronomer: the
class head still says ``normal`` for the whole pile, and the kinds head lives only in the
checkpoints (``KINDS``, ``KINDS_HEAD``).  Measured at survey proportions: docs/benchmarks.md,
"Without labels, at survey proportions".
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ahunt.learn.model import HuntNet
from ahunt.learn.train import balanced_indices, descend, epoch_draws, field_in_memory, make_augmentation
from ahunt.progress import Track, no_progress

__all__ = ["KINDS", "KINDS_HEAD", "FIT_SAMPLE", "pseudo_kinds", "kinds_head", "kinds_loss", "kinds_sample",
           "train_kinds"]

KINDS = "pseudo_kinds"  # checkpoint meta: the kind of every round-0 object, in the store's order
KINDS_HEAD = "pseudo_kinds_head"  # checkpoint meta: the kinds head's weights
FIT_SAMPLE = 20_000  # k-means is fitted on at most this many objects of the pile, then labels all


def pseudo_kinds(features: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """The kind (0..k-1) of every object, from its pixel ``features`` (N, D), the reserve's own
    (``ahunt.hunt.novelty.pixel_features`` of the network's field): k-means, seeded."""
    from sklearn.cluster import KMeans

    k = min(k, len(features))
    rng = np.random.default_rng(seed)
    fit = features if len(features) <= FIT_SAMPLE else features[np.sort(rng.choice(len(features), FIT_SAMPLE,
                                                                                      replace=False))]
    kmeans = KMeans(k, n_init=10, random_state=seed).fit(fit)
    return kmeans.predict(features).astype(np.int64)


def kinds_head(model: HuntNet, k: int, state: dict | None = None) -> nn.Linear:
    """The head that tells the kinds apart from the latent; ``state``: weights kept from before."""
    head = nn.Linear(model.args.latent_dim, k)
    if state is not None:
        head.load_state_dict(state)
    return head


def kinds_loss(model: HuntNet, head: nn.Module, x: torch.Tensor, kinds: torch.Tensor, rows: np.ndarray, augment,
               device: torch.device) -> torch.Tensor:
    """Cross-entropy of the kinds head on the ``rows`` of ``x`` (images in the network's field,
    on the CPU), each augmented, and their ``kinds``."""
    idx = torch.from_numpy(rows)
    xb = torch.stack([augment(img) for img in x[idx]]).to(device)
    return nn.functional.cross_entropy(head(model.encode(xb.contiguous(memory_format=torch.channels_last))),
                                       kinds[idx].to(device))


def kinds_sample(kinds: np.ndarray, size: int, *, seed: int) -> np.ndarray:
    """Sorted rows of at most ``size`` pile objects, the same share of each kind: what one
    retrain reads from the pile, whatever its size."""
    if len(kinds) <= size:
        return np.arange(len(kinds))
    rng = np.random.default_rng(seed)
    return np.unique(balanced_indices(kinds, rng, size=size))


def train_kinds(model: HuntNet, images, kinds: np.ndarray, head: nn.Module, cfg, *, epochs: int,
                seed: int, device: torch.device, track: Track = no_progress,
                description: str = "learning the pile's kinds") -> list[float]:
    """Train the encoder and ``head`` in place to tell the ``kinds`` of ``images`` apart (round 0,
    after the self-supervised task); each epoch draws ``cfg.epoch_size`` images, the same share
    of every kind, augmented as retraining is.  Returns each epoch's mean loss."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    augment = make_augmentation(cfg)
    x = field_in_memory(model, images)
    y = torch.from_numpy(np.asarray(kinds, dtype=np.int64))
    model.to(device).train()
    head.to(device).train()
    optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=cfg.learning_rate)
    losses = []
    for epoch in range(epochs):
        order = balanced_indices(kinds, rng, min_total=cfg.min_epoch_size, size=cfg.epoch_size)
        drawn, at, rows = epoch_draws(model, images, x, order)
        steps = max(1, len(order) // cfg.batch_size)
        total = 0.0
        for step in track(range(steps), description=f"{description} (epoch {epoch + 1}/{epochs})", total=steps):
            loss = kinds_loss(model, head, drawn, y[rows], at[step * cfg.batch_size:(step + 1) * cfg.batch_size],
                              augment, device)
            total += descend(optimizer, loss)
        losses.append(total / steps)
    model.eval()
    head.eval()
    return losses
