"""Round 0 from unlabelled images: the self-supervised tasks of ahunt/learn/pretrain.py."""

import numpy as np
import pytest
import torch

from ahunt.config import TrainConfig
from ahunt.learn.model import HuntNet, ModelArgs
from ahunt.learn.pretrain import OBJECTIVES, at_chance, nt_xent, pretrain_encoder
from ahunt.learn.train import score


def two_kinds(n: int = 64, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Round blobs and thin bars: two kinds a latent space should keep apart."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    kind = np.arange(n) % 2
    images = np.empty((n, 1, size, size), dtype=np.float32)
    for i in range(n):
        a = rng.uniform(0, np.pi)
        u, v = x * np.cos(a) + y * np.sin(a), -x * np.sin(a) + y * np.cos(a)
        shape = np.exp(-(u**2 + v**2) / 18) if kind[i] == 0 else np.exp(-(u**2 / 40 + v**2 / 0.8))
        images[i, 0] = np.clip(shape + rng.normal(0, 0.03, (size, size)), 0, 1)
    return images, kind


def test_nt_xent_is_low_when_each_view_matches_its_partner():
    a = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    shuffled = a[torch.randperm(16, generator=torch.Generator().manual_seed(1))]
    assert nt_xent(a, a) < nt_xent(a, shuffled) - 1.0


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_task_learns_and_is_seeded(objective):
    images, _ = two_kinds()
    images[:, :, 2:5, 2:5] = 1.0  # an upright mark: rotation prediction needs images with an orientation
    cfg = TrainConfig(batch_size=16, epoch_size=64, learning_rate=3e-3)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = HuntNet(ModelArgs(n_classes=2, image_size=16, latent_dim=16))
        before = [p.detach().clone() for p in model.features.parameters()]
        losses = pretrain_encoder(model, images, cfg, objective=objective, epochs=6, seed=4, device=torch.device("cpu"))
        runs.append(losses)
    assert runs[0] == runs[1]  # seeded: the same images give the same round 0
    assert losses[-1] < losses[0]
    assert any(not torch.equal(b, p) for b, p in zip(before, model.features.parameters()))
    assert not model.training


def test_the_rotation_task_stays_at_chance_on_images_with_no_up_and_learns_on_images_with_one():
    images, _ = two_kinds(n=128)  # blobs and bars at every angle: a quarter turn gives another such image
    marked = images.copy()
    marked[:, :, 2:5, 2:5] = 1.0  # an upright mark
    cfg = TrainConfig(batch_size=16, epoch_size=128, learning_rate=3e-3)
    ends = {}
    for name, x in (("no up", images), ("an up", marked)):
        torch.manual_seed(0)
        model = HuntNet(ModelArgs(n_classes=2, image_size=16, latent_dim=16))
        ends[name] = pretrain_encoder(model, x, cfg, objective="rotation", epochs=6, seed=0, device=torch.device("cpu"))
    assert at_chance("rotation", ends["no up"]) and not at_chance("rotation", ends["an up"])
    assert not at_chance("autoencoder", [2.0]) and not at_chance("rotation", [])


def test_contrastive_latents_keep_the_two_kinds_apart():
    images, kind = two_kinds(n=96)
    model = HuntNet(ModelArgs(n_classes=2, image_size=16, latent_dim=16))
    pretrain_encoder(model, images, TrainConfig(batch_size=32, epoch_size=256, learning_rate=3e-3),
                     objective="contrastive", epochs=6, seed=0, device=torch.device("cpu"))
    _, z = score(model, images, device=torch.device("cpu"))
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-6)
    d = ((z[:, None] - z[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    # nearly every image's nearest neighbour in the latent space is of its own kind
    assert np.mean(kind[d.argmin(1)] == kind) > 0.9


def test_unknown_objective_is_refused():
    with pytest.raises(ValueError, match="contrastive"):
        pretrain_encoder(HuntNet(ModelArgs(n_classes=2, image_size=16)), two_kinds(8)[0], TrainConfig(),
                         objective="jigsaw", epochs=1, seed=0, device=torch.device("cpu"))
