"""Pseudo-kinds of the pile of a hunt started without labels (ahunt/learn/kinds.py)."""

import dataclasses

import numpy as np
import pytest
import torch

from ahunt.config import ConfigError
from ahunt.hunt.session import retrain
from ahunt.hunt.novelty import pixel_features
from ahunt.learn.kinds import KINDS, KINDS_HEAD, kinds_head, kinds_sample, pseudo_kinds
from ahunt.learn.model import HuntNet, ModelArgs
from ahunt.learn.semi import train_semi
from ahunt.learn.train import load_checkpoint
from ahunt.store.workspace import Workspace
from conftest import tiny_config, tiny_unlabelled_config, trained_round_0


def two_populations(n=40, size=16, seed=0):
    """Half the images a bright blob on the left, half on the right, with noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.05, (2 * n, 1, size, size)).astype(np.float32)
    x[:n, :, 6:10, 2:6] += 1.0
    x[n:, :, 6:10, 10:14] += 1.0
    return x, np.repeat([0, 1], n)


def test_kinds_follow_the_pixels_and_are_seeded():
    x, truth = two_populations()
    features = pixel_features(x)
    kinds = pseudo_kinds(features, 2, seed=3)
    assert sorted(np.bincount(kinds)) == [40, 40]
    assert len(set(zip(kinds.tolist(), truth.tolist()))) == 2  # each kind is one population
    np.testing.assert_array_equal(kinds, pseudo_kinds(features, 2, seed=3))
    assert pseudo_kinds(features[:3], 8).max() < 3  # never more kinds than objects


def test_a_retrain_sample_takes_every_kind_alike():
    kinds = np.repeat([0, 1, 2], [500, 30, 70])
    rows = kinds_sample(kinds, 90, seed=0)
    assert np.all(np.diff(rows) > 0)  # sorted rows: read in order from the store
    counts = np.bincount(kinds[rows])
    assert counts.min() >= 25 and counts.max() <= 30
    np.testing.assert_array_equal(kinds_sample(kinds, 1000, seed=0), np.arange(600))


def test_config_check():
    with pytest.raises(ConfigError, match="train.pseudo_kinds = 1: must be 0"):
        dataclasses.replace(tiny_config().train, pseudo_kinds=1).validate()


def test_the_kinds_loss_trains_the_encoder_and_its_head_beside_the_labels():
    x, truth = two_populations()
    torch.manual_seed(0)
    model = HuntNet(ModelArgs(n_classes=2, image_size=16, channels=1, latent_dim=8, width=4))
    head = kinds_head(model, 2)
    before = [p.detach().clone() for p in (*model.parameters(), *head.parameters())]
    cfg = dataclasses.replace(tiny_config().train, epoch_size=64, batch_size=16)
    labels = np.zeros(len(x), dtype=np.int64)  # one class: only the kinds can move the encoder usefully
    train_semi(model, x, labels, None, cfg, method="none", kinds=(x, truth, head), epochs=2, seed=0,
               device=torch.device("cpu"))
    after = [*model.parameters(), *head.parameters()]
    assert all(not torch.equal(b, a) for b, a in zip(before, after))


def test_an_unlabelled_hunt_keeps_its_pile_kinds_in_every_checkpoint(tmp_path, sim_cache):
    cfg = tiny_unlabelled_config(pseudo_kinds=3)
    stream, ws = trained_round_0(tmp_path / "ws", sim_cache, cfg)
    r0 = stream.load(0)
    _, meta0 = load_checkpoint(ws.checkpoint_path(0))
    kinds = meta0[KINDS].numpy()
    assert len(kinds) == len(r0) and set(kinds.tolist()) == {0, 1, 2}
    assert meta0[KINDS_HEAD]["weight"].shape == (3, cfg.model.latent_dim)
    ws.store.add_round(stream.load(1))
    retrain(ws, 1)
    _, meta1 = load_checkpoint(ws.checkpoint_path(1))
    np.testing.assert_array_equal(meta1[KINDS].numpy(), kinds)  # the kinds are the pile's for good
    assert not torch.equal(meta1[KINDS_HEAD]["weight"], meta0[KINDS_HEAD]["weight"])  # its head kept learning
    ws.save_config(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, pseudo_kinds=0)))
    ws = Workspace.open(ws.root)
    ws.store.add_round(stream.load(2))
    retrain(ws, 2)
    assert KINDS not in load_checkpoint(ws.checkpoint_path(2))[1]  # set to 0 mid-hunt: off from then on


def test_without_kinds_round_0_is_the_self_supervised_task_alone(tmp_path, sim_cache):
    _, ws = trained_round_0(tmp_path / "ws", sim_cache, tiny_unlabelled_config(pseudo_kinds=0))
    assert KINDS not in load_checkpoint(ws.checkpoint_path(0))[1]
    _, labelled = trained_round_0(tmp_path / "labelled", sim_cache)
    assert KINDS not in load_checkpoint(labelled.checkpoint_path(0))[1]  # labelled hunts have real kinds
