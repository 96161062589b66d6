"""Training, scoring and checkpoints.  Knows nothing of rounds, classes' meaning or oracles.

Retraining is balanced: every epoch draws a fixed budget of samples (``[train] epoch_size``),
the same share from every class that has examples, with replacement and augmentation, so three
answered mergers weigh as much as 500 ellipticals and an epoch costs the same on the first
night as on the hundredth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from ahunt.config import TrainConfig
from ahunt.errors import AhuntError
from ahunt.learn.model import HuntNet, ModelArgs
from ahunt.learn.scoring import score_images
from ahunt.progress import Track, no_progress

__all__ = [
    "resolve_device",
    "make_augmentation",
    "balanced_indices",
    "train_model",
    "score",
    "cpu_state",
    "save_checkpoint",
    "load_checkpoint",
    "Track",
    "FocalLoss",
    "make_loss",
    "descend",
]

def resolve_device(name: str = "auto") -> torch.device:
    """'auto' takes the GPU when one is present; 'cuda' without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise AhuntError("--device cuda was asked for, but no CUDA GPU is available; use auto or cpu")
    if name not in ("cpu", "cuda"):
        raise AhuntError(f"unknown device {name!r}; choose auto, cpu or cuda")
    return torch.device(name)


def make_augmentation(cfg: TrainConfig) -> v2.Compose:
    """Rotations, shifts, zooms and flips: a galaxy's class does not depend on any of them."""
    steps: list[nn.Module] = [
        v2.RandomAffine(degrees=cfg.rotation, translate=(cfg.shift, cfg.shift), scale=(1 - cfg.zoom, 1 + cfg.zoom))
    ]
    if cfg.flip:
        steps += [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]
    return v2.Compose(steps)


def balanced_indices(
    labels: np.ndarray, rng: np.random.Generator, *, min_total: int = 0, size: int = 0
) -> np.ndarray:
    """Shuffled indices drawing the same number of samples from every present class.

    ``size`` > 0: a fixed budget of ``size`` samples (the remainder of ``size / classes`` goes
    to randomly chosen classes, one each).  A class with fewer members than its share has
    each member repeated as evenly as possible; a larger class gives a random subset, a
    different one every epoch.  ``size`` = 0: every class is up-sampled to the largest class's
    count, every original kept (the epoch grows with the labelled set).  Either way ``min_total``
    raises the epoch to at least that many.
    """
    classes, counts = np.unique(labels, return_counts=True)
    k = len(classes)
    parts = []
    if size > 0:
        total = max(size, min_total)
        shares = np.full(k, total // k)
        shares[rng.choice(k, size=total % k, replace=False)] += 1
        for c, share in zip(classes, shares):
            parts.append(_draw(np.flatnonzero(labels == c), int(share), rng))
    else:  # as before the budget existed, draw for draw
        target = max(int(counts.max()), -(-min_total // k))
        for c, n in zip(classes, counts):
            members = np.flatnonzero(labels == c)
            extra = rng.choice(members, size=target - n, replace=True) if target > n else members[:0]
            parts += [members, extra]
    out = np.concatenate(parts)
    rng.shuffle(out)
    return out


def _draw(members: np.ndarray, share: int, rng: np.random.Generator) -> np.ndarray:
    """``share`` of ``members``: each repeated share // n times, plus a random subset of the rest
    without replacement (stratified, so no member of a small class is left out by chance)."""
    whole, rest = divmod(share, len(members))
    return np.concatenate([np.tile(members, whole), rng.choice(members, size=rest, replace=False)])


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross-entropy down-weighted by (1 - p_true)^gamma, so
    well-classified examples count less and the rare, hard ones more."""

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits, dim=1).gather(1, target[:, None])[:, 0]
        return (-((1 - log_p.exp()) ** self.gamma) * log_p).mean()


def make_loss(name: str) -> nn.Module:
    """cross_entropy and isomax (whose head already makes distance logits) use cross-entropy."""
    return FocalLoss() if name == "focal" else nn.CrossEntropyLoss()


class _AugmentedSet(Dataset):
    """Serves (augmented image, label) for a precomputed balanced index list."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, order: np.ndarray, augment):
        self.images, self.labels, self.order, self.augment = images, labels, order, augment

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int):
        j = int(self.order[i])
        return self.augment(self.images[j]), self.labels[j]


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One optimiser step down ``loss``; returns the loss's value (every training loop's step)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def field_in_memory(model: HuntNet, images) -> torch.Tensor | None:
    """Every image in the network's field, when ``images`` is an array in memory; None for an
    array-like (``labelled.LabelledImages``), which ``epoch_draws`` reads an epoch at a time.
    The field is cut out before augmenting, so shifts and zooms are relative to it."""
    if not isinstance(images, np.ndarray):
        return None
    return model.field(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)))


def epoch_draws(model: HuntNet, images, x: torch.Tensor | None, order: np.ndarray):
    """(images in the network's field, each draw's index into them, the rows they are) for an
    epoch that draws the rows ``order``: ``x`` itself when it holds every image, else only the
    rows drawn, read from ``images``, so that a large set is never held whole.  Either way the
    same samples in the same order."""
    if x is not None:
        return x, order, slice(None)
    rows, at = np.unique(order, return_inverse=True)
    return model.field(torch.from_numpy(np.ascontiguousarray(images[rows], dtype=np.float32))), at.reshape(-1), rows


def train_model(
    model: HuntNet,
    images: np.ndarray,
    labels: np.ndarray,
    cfg: TrainConfig,
    *,
    epochs: int,
    seed: int,
    device: torch.device,
    track: Track = no_progress,
    description: str = "training",
    trainable: Callable[[HuntNet], Iterable[nn.Parameter]] | None = None,
) -> list[float]:
    """Train in place on ``images`` (N, C, H, W) with integer ``labels``; returns epoch losses.

    ``images`` is an array, or an array-like whose integer-array indexing reads just those
    rows (``labelled.LabelledImages``): then each epoch reads only the rows it draws.
    ``trainable`` selects the parameters to update (default: all of them, the AHUNT way;
    the static baseline passes only the head).  Seeded: the same inputs give the same model.
    """
    if len(images) == 0:
        raise AhuntError("nothing to train on: no labelled images")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    augment = make_augmentation(cfg)
    x = field_in_memory(model, images)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    model.to(device).train()
    params = list(trainable(model) if trainable else model.parameters())
    if trainable is not None:
        # Frozen layers stay exactly as they are: no gradient, no BatchNorm statistics drift and
        # no dropout (eval mode), so the latent space is truly static.
        chosen = {id(p) for p in params}
        for p in model.parameters():
            p.requires_grad_(id(p) in chosen)
        model.eval()
    optimizer = torch.optim.Adam(params, lr=cfg.learning_rate)
    loss_fn = make_loss(cfg.loss)
    losses = []
    for epoch in range(epochs):
        order = balanced_indices(labels, rng, min_total=cfg.min_epoch_size, size=cfg.epoch_size)
        drawn, at, rows = epoch_draws(model, images, x, order)
        data = _AugmentedSet(drawn, y[rows], at, augment)
        loader = DataLoader(data, batch_size=cfg.batch_size, shuffle=False, drop_last=len(order) > cfg.batch_size)
        total, count = 0.0, 0
        for xb, yb in track(loader, description=f"{description} (epoch {epoch + 1}/{epochs})", total=len(loader)):
            xb = xb.to(device, memory_format=torch.channels_last)
            yb = yb.to(device)
            logits, _ = model(xb)
            loss = loss_fn(logits, yb)
            total += descend(optimizer, loss) * len(yb)
            count += len(yb)
        losses.append(total / max(count, 1))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return losses


def score(
    model: HuntNet,
    images: np.ndarray,
    *,
    device: torch.device,
    batch_size: int | None = None,
    track: Track = no_progress,
    description: str = "scoring",
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N, n_classes) and latents (N, latent_dim), both float32.

    ``images`` is anything sliceable with a length: an array, or an open HDF5 dataset, read one
    block at a time.  See ``ahunt.learn.scoring`` for how (and for whole rounds from the store).
    """
    return score_images(model, images, device=device, batch_size=batch_size, track=track,
                        description=description)


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's weights as CPU tensors, detached: what a checkpoint stores."""
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save_checkpoint(path: str | Path, model: HuntNet, meta: dict[str, Any]) -> None:
    """Write {model state, model args, meta} atomically: temp file, fsync, rename.

    Serialised in memory first (a checkpoint is a few MB), so that a full disk is an ``OSError``
    that says so, not torch's "unexpected pos"; it becomes an ``AhuntError`` naming the file.
    """
    import io

    from ahunt.store.atomic import disk_problem, write_bytes_atomic

    path = Path(path)
    payload = {"model_state": cpu_state(model), "model_args": model.args.to_dict(), **meta}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buffer.getvalue())
    except OSError as exc:
        problem = disk_problem(exc)
        if problem is None:
            raise
        raise AhuntError(f"{path}: cannot write the checkpoint: {problem}; the previous model stays "
                         "current and every answer is kept") from None


def load_checkpoint(path: str | Path) -> tuple[HuntNet, dict[str, Any]]:
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AhuntError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # a truncated or foreign file
        raise AhuntError(f"{path}: not a readable ahunt checkpoint ({exc})") from None
    model = HuntNet(ModelArgs(**payload["model_args"]))
    model.load_state_dict(payload["model_state"])
    model.eval()
    meta = {k: v for k, v in payload.items() if k not in ("model_state", "model_args")}
    return model, meta
