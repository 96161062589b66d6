"""Semi-supervised training on the labelled set and the nights' unlabelled objects.

Each step draws a class-balanced labelled batch (as ``train_model`` does) and an unlabelled
batch of the same size.  The loss is the labelled cross-entropy plus ``weight`` times a loss on
the unlabelled batch, one of:

- ``fixmatch`` (Sohn et al. 2020): the unlabelled images are seen twice, a weakly augmented view
  (the hunt's usual rotations, shifts, zooms and flips) whose confident prediction (maximum
  probability at least ``threshold``) becomes the pseudo-label of a strongly augmented view (the
  same plus noise, a brightness change and a cut-out patch);
- ``rotation``, ``contrastive`` or ``autoencoder``: the self-supervised task of a hunt started
  without labels (``ahunt/learn/pretrain.py``), kept on in every retrain (S4L, Zhai et al. 2019):
  the unlabelled images teach the encoder that task through a head thrown away afterwards.

A hunt started without labels also passes its pile's pseudo-kinds (``ahunt/learn/kinds.py``):
each step then adds the kinds head's cross-entropy on a batch of the pile, the same share of
every kind, with ``method`` "none" or any of the above.

The number of steps is fixed by ``[train] epoch_size``, so a night of a million objects costs
what a night of a thousand does: only the unlabelled sample it draws from is larger.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ahunt.config import TrainConfig
from ahunt.errors import AhuntError
from ahunt.learn.kinds import kinds_loss
from ahunt.learn.model import HuntNet
from ahunt.learn.pretrain import OBJECTIVES, task, task_augmentation, task_views
from ahunt.learn.train import balanced_indices, descend, make_augmentation, make_loss
from ahunt.progress import Track, no_progress

__all__ = ["strong_augment", "train_fixmatch", "train_semi", "THRESHOLD"]

THRESHOLD = 0.95  # FixMatch's confidence for a pseudo-label


def strong_augment(x: torch.Tensor, weak, generator: torch.Generator) -> torch.Tensor:
    """A strong view of a batch (N, C, H, W): the weak augmentation, then a random brightness
    scale, Gaussian noise and a random cut-out square (RandAugment's spirit, for one-band cutouts)."""
    x = torch.stack([weak(img) for img in x])
    n, _, h, w = x.shape
    scale = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=generator)
    noise = 0.05 * torch.randn(x.shape, generator=generator)
    x = x * scale + noise
    side = max(2, h // 4)
    ys = torch.randint(0, h - side + 1, (n,), generator=generator)
    xs = torch.randint(0, w - side + 1, (n,), generator=generator)
    for i in range(n):
        x[i, :, ys[i]:ys[i] + side, xs[i]:xs[i] + side] = 0.0
    return x


def _fixmatch_loss(model: HuntNet, weak, generator: torch.Generator, threshold: float):
    """FixMatch's loss on an unlabelled batch ``u`` (in the network's field, on the CPU)."""

    def loss(u: torch.Tensor, device: torch.device) -> torch.Tensor | None:
        with torch.no_grad():
            weak_u = torch.stack([weak(img) for img in u]).to(device)
            probs = torch.softmax(model(weak_u)[0], dim=1)
            confidence, pseudo = probs.max(dim=1)
            keep = confidence >= threshold
        if not keep.any():
            return None
        strong_u = strong_augment(u[keep.cpu()], weak, generator).to(device)
        u_logits, _ = model(strong_u)
        # averaged over the whole unlabelled batch, as FixMatch does: few confident pseudo-labels weigh little
        return nn.functional.cross_entropy(u_logits, pseudo[keep], reduction="sum") / len(u)

    return loss


def _self_supervised_loss(model: HuntNet, cfg: TrainConfig, objective: str, loss_of, generator: torch.Generator):
    """The self-supervised task's loss on an unlabelled batch ``u``."""
    augment = task_augmentation(cfg, objective)

    def loss(u: torch.Tensor, device: torch.device) -> torch.Tensor:
        turns = [0] * len(u)
        if objective == "rotation":
            turns = torch.randint(0, 4, (len(u),), generator=generator).tolist()
        views = list(zip(*(task_views(img, objective, augment, k) for img, k in zip(u, turns))))
        batch = [torch.stack(v) if isinstance(v[0], torch.Tensor) else torch.tensor(v) for v in views]
        return loss_of(*(b.to(device) for b in batch))

    return loss


def train_semi(
    model: HuntNet,
    images: np.ndarray,
    labels: np.ndarray,
    unlabelled: np.ndarray,
    cfg: TrainConfig,
    *,
    method: str,
    epochs: int,
    seed: int,
    device: torch.device,
    threshold: float = THRESHOLD,
    weight: float = 1.0,
    kinds: tuple[np.ndarray, np.ndarray, nn.Module] | None = None,
    track: Track = no_progress,
    description: str = "training (semi-supervised)",
) -> list[float]:
    """Train ``model`` in place on labelled ``images``/``labels`` and ``unlabelled`` images
    (both (N, C, H, W), arrays or row-indexable array-likes) with ``method`` ("fixmatch", a
    self-supervised task: "rotation", "contrastive", "autoencoder", or "none"); ``kinds``: the
    pile's images, their pseudo-kinds and the kinds head, learnt alongside.  Returns each
    epoch's mean loss."""
    if len(images) == 0:
        raise AhuntError("nothing to train on: no labelled images")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    weak = make_augmentation(cfg)
    loss_fn = make_loss(cfg.loss)
    y_all = np.asarray(labels, dtype=np.int64)
    model.to(device).train()
    parameters = list(model.parameters())
    unlabelled_loss = None
    if method == "fixmatch":
        unlabelled_loss = _fixmatch_loss(model, weak, generator, threshold)
    elif method in OBJECTIVES:
        head, loss_of = task(model, method)
        parameters += list(head.to(device).parameters())
        unlabelled_loss = _self_supervised_loss(model, cfg, method, loss_of, generator)
    elif method != "none":
        raise AhuntError(f"unknown semi-supervised method {method!r}; "
                         f"choose none, fixmatch or one of {', '.join(OBJECTIVES)}")
    if kinds is not None:
        pile, pile_kinds, k_head = kinds
        pile_x = model.field(torch.from_numpy(np.ascontiguousarray(pile, dtype=np.float32)))
        pile_y = torch.from_numpy(np.asarray(pile_kinds, dtype=np.int64))
        parameters += list(k_head.to(device).train().parameters())
    optimizer = torch.optim.Adam(parameters, lr=cfg.learning_rate)
    losses = []
    for epoch in range(epochs):
        order = balanced_indices(y_all, rng, min_total=cfg.min_epoch_size, size=cfg.epoch_size)
        steps = max(1, len(order) // cfg.batch_size)
        u_order = (rng.integers(0, len(unlabelled), size=steps * cfg.batch_size)
                   if unlabelled_loss is not None and len(unlabelled) else None)
        k_order = (balanced_indices(pile_kinds, rng, size=steps * cfg.batch_size)
                   if kinds is not None else None)
        total = 0.0
        for step in track(range(steps), description=f"{description} (epoch {epoch + 1}/{epochs})", total=steps):
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            rows, at = np.unique(idx, return_inverse=True)
            xb = model.field(torch.from_numpy(np.ascontiguousarray(images[rows], dtype=np.float32)))[torch.from_numpy(at)]
            xb = torch.stack([weak(img) for img in xb]).to(device)
            yb = torch.from_numpy(y_all[idx]).to(device)
            logits, _ = model(xb)
            loss = loss_fn(logits, yb)
            if u_order is not None:
                u_idx = u_order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                u_rows, u_at = np.unique(u_idx, return_inverse=True)
                u = model.field(torch.from_numpy(np.ascontiguousarray(unlabelled[u_rows], dtype=np.float32)))[
                    torch.from_numpy(u_at)]
                extra = unlabelled_loss(u, device)
                if extra is not None:
                    loss = loss + weight * extra
            if k_order is not None:
                loss = loss + kinds_loss(model, k_head, pile_x, pile_y,
                                         k_order[step * cfg.batch_size:(step + 1) * cfg.batch_size], weak, device)
            total += descend(optimizer, loss)
        losses.append(total / steps)
    model.eval()
    if kinds is not None:
        k_head.eval()
    return losses


def train_fixmatch(model: HuntNet, images: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray,
                   cfg: TrainConfig, **kwargs) -> list[float]:
    """``train_semi`` with FixMatch's pseudo-labels (the ``fixmatch`` peer's training)."""
    return train_semi(model, images, labels, unlabelled, cfg, method="fixmatch", **kwargs)
