"""Round 0 without labels: a latent space learnt from the images alone.

A hunt started from a pile of unlabelled cutouts has one known class, ``normal``, so
cross-entropy has nothing to tell apart at round 0.  The encoder (everything up to the latent)
learns a self-supervised task on the same images instead, with the augmentations retraining
uses (rotations, shifts, zooms, flips):

- ``contrastive`` (SimCLR, Chen et al. 2020): two augmented views of an image are pulled
  together in the latent space and pushed away from the batch's other images (the NT-Xent loss,
  through a small projection head that is dropped afterwards);
- ``autoencoder`` (what the AHUNT paper's conclusion suggests): a decoder rebuilds the image
  from its latent;
- ``rotation`` (Gidaris et al. 2018): a small head tells by how many quarter turns the image
  was rotated.

``benchmarks/unlabelled_round0.py`` measures which gives the better first nights (docs/benchmarks.md,
"Which self-supervised task").  The task's head or decoder is thrown away; the class head is then
fitted on the frozen latents with every image as ``normal``, so the round-0 model says
"normal" everywhere, and the reserve's questions come from its novelty score.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from ahunt.config import SELF_SUPERVISED, TrainConfig
from ahunt.learn.model import HuntNet, conv_depth
from ahunt.learn.train import balanced_indices, descend, epoch_draws, field_in_memory, make_augmentation, score
from ahunt.progress import Track, no_progress

__all__ = ["OBJECTIVES", "ROTATION_CHANCE", "at_chance", "pretrain_encoder", "train_unlabelled", "nt_xent", "task",
           "task_augmentation", "task_views"]

OBJECTIVES = SELF_SUPERVISED
TEMPERATURE = 0.2  # NT-Xent's; SimCLR's small-batch choice
ROTATION_CHANCE = math.log(4)  # the rotation task's loss when it guesses: one of four quarter turns


def at_chance(objective: str, losses: Sequence[float]) -> bool:
    """Whether the task ended no better than a guess.  Only the rotation task has such a floor,
    and a pile with no preferred orientation leaves it there: galaxies on the sky (the simulated
    ones end at 1.387-1.391), unlike digits (about 0.5)."""
    return objective == "rotation" and len(losses) > 0 and losses[-1] > 0.97 * ROTATION_CHANCE


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SimCLR's loss: row i of ``a`` must pick row i of ``b`` (and vice versa) out of every
    other view in the batch."""
    z = nn.functional.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # a view is not its own partner
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return nn.functional.cross_entropy(sim, target)


class _Decoder(nn.Module):
    """Latent -> image: the encoder's blocks in reverse (upsample, 3x3 conv)."""

    def __init__(self, model: HuntNet):
        super().__init__()
        a = model.args
        depth = conv_depth(a.input_size)  # it draws the network's field, the crop when there is one
        self.size, self.image_size = max(1, a.input_size // 2**depth), a.input_size
        self.c = a.width * min(2 ** (depth - 1), 8)
        self.fc = nn.Linear(a.latent_dim, self.c * self.size * self.size)
        blocks: list[nn.Module] = []
        c_in = self.c
        for i in reversed(range(depth - 1)):
            c_out = a.width * min(2**i, 8)
            blocks += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
            c_in = c_out
        blocks += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, a.channels, 3, padding=1)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.fc(z).view(len(z), self.c, self.size, self.size))
        if x.shape[-1] != self.image_size:  # sizes that are not a power of two
            x = nn.functional.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear")
        return torch.sigmoid(x)


class _Views(Dataset):
    """Serves each drawn image as the objective needs it: two views, one view, or a rotated view
    with its number of quarter turns."""

    def __init__(self, images: torch.Tensor, order: np.ndarray, augment, objective: str, rng: np.random.Generator):
        self.images, self.order, self.augment, self.objective = images, order, augment, objective
        self.turns = rng.integers(0, 4, size=len(order))

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int):
        return task_views(self.images[int(self.order[i])], self.objective, self.augment, int(self.turns[i]))


def task_views(x: torch.Tensor, objective: str, augment, turns: int = 0) -> tuple:
    """What the objective's loss takes for one image ``x`` (C, H, W): two augmented views
    (contrastive), one (autoencoder), or one turned by ``turns`` quarter turns, and ``turns``
    (rotation)."""
    if objective == "contrastive":
        return augment(x), augment(x)
    if objective == "autoencoder":
        return (augment(x),)
    return torch.rot90(augment(x), turns, dims=(-2, -1)), turns


def task_augmentation(cfg: TrainConfig, objective: str):
    """The retraining augmentation, except for the rotation task: shifts and zooms only, since
    the quarter turns are the task and no rotation or flip may blur them."""
    if objective == "rotation":
        return v2.RandomAffine(degrees=0, translate=(cfg.shift, cfg.shift), scale=(1 - cfg.zoom, 1 + cfg.zoom))
    return make_augmentation(cfg)


def task(model: HuntNet, objective: str) -> tuple[nn.Module, Callable]:
    """The objective's throw-away head and its loss on one batch."""
    d = model.args.latent_dim
    encode = lambda x: model.encode(x.contiguous(memory_format=torch.channels_last))  # noqa: E731
    if objective == "contrastive":
        head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 32))
        return head, lambda a, b: nt_xent(head(encode(a)), head(encode(b)))
    if objective == "autoencoder":
        head = _Decoder(model)
        return head, lambda x: nn.functional.mse_loss(head(encode(x)), x)
    if objective == "rotation":
        head = nn.Linear(d, 4)
        return head, lambda x, k: nn.functional.cross_entropy(head(encode(x)), k)
    raise ValueError(f"unknown self-supervised objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def pretrain_encoder(
    model: HuntNet,
    images,
    cfg: TrainConfig,
    *,
    objective: str,
    epochs: int,
    seed: int,
    device: torch.device,
    track: Track = no_progress,
    description: str = "learning round 0 from the images",
) -> list[float]:
    """Train ``model``'s encoder in place on unlabelled ``images`` (N, C, H, W): an array, or an
    array-like over the labelled store that each epoch reads only the rows it draws.  Returns
    epoch losses.

    Each epoch draws ``cfg.epoch_size`` images (or all of them when it is 0), as retraining
    does, so round 0 costs about what a labelled round 0 costs.  Seeded.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head, loss_of = task(model, objective)
    augment = task_augmentation(cfg, objective)
    x = field_in_memory(model, images)
    model.to(device).train()
    head.to(device).train()
    optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=cfg.learning_rate)
    losses = []
    same = np.zeros(len(images), dtype=np.int64)  # one class: the balanced draw is a plain draw
    for epoch in range(epochs):
        order = balanced_indices(same, rng, min_total=cfg.min_epoch_size, size=cfg.epoch_size)
        drawn, at, _ = epoch_draws(model, images, x, order)
        loader = DataLoader(_Views(drawn, at, augment, objective, rng), batch_size=cfg.batch_size, shuffle=False,
                            drop_last=len(order) > cfg.batch_size)
        total, count = 0.0, 0
        for batch in track(loader, description=f"{description} (epoch {epoch + 1}/{epochs})", total=len(loader)):
            loss = loss_of(*(b.to(device) for b in batch))
            total += descend(optimizer, loss) * len(batch[0])
            count += len(batch[0])
        losses.append(total / max(count, 1))
    model.eval()
    return losses


def train_unlabelled(model: HuntNet, images, labels: np.ndarray, cfg: TrainConfig, *, seed: int,
                     device: torch.device, track: Track = no_progress,
                     kinds: tuple[np.ndarray, np.ndarray, nn.Module] | None = None) -> list[float]:
    """Round 0 of a hunt with one known class: the encoder learns ``cfg.self_supervised`` on the
    images, then (given ``kinds``: the pile's images, their pseudo-kinds and a kinds head) to tell
    the pile's kinds apart (``ahunt/learn/kinds.py``), then the head alone learns that all of them
    are that class.  Returns the task's losses."""
    losses = pretrain_encoder(model, images, cfg, objective=cfg.self_supervised, epochs=cfg.epochs_initial,
                              seed=seed, device=device, track=track)
    if kinds is not None:
        from ahunt.learn.kinds import train_kinds

        train_kinds(model, *kinds, cfg, epochs=cfg.epochs_initial, seed=seed, device=device, track=track)
    _fit_head(model, score(model, images, device=device)[1], np.asarray(labels), device=device)
    return losses


def _fit_head(model: HuntNet, latents: np.ndarray, labels: np.ndarray, *, device: torch.device,
              steps: int = 200) -> None:
    """The class head alone on fixed latents (full batch, cheap: one linear layer)."""
    z = torch.from_numpy(latents).to(device)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-2)
    for _ in range(steps):
        descend(optimizer, nn.functional.cross_entropy(model.head(z), y))
