"""FixMatch: the AnomalyMatch-style peer, and AHUNT's semi-supervised retrains (FixMatch, rotation)."""

import dataclasses

import numpy as np
import pytest
import torch

from ahunt.config import TrainConfig
from ahunt.errors import ConfigError
from ahunt.hunt.oracle import TruthOracle
from ahunt.hunt.session import ask, prepare_questions, train_initial, unlabelled_sample
from ahunt.learn.model import HuntNet, ModelArgs
from ahunt.errors import AhuntError
from ahunt.learn.semi import strong_augment, train_fixmatch, train_semi
from ahunt.learn.train import make_augmentation, train_model
from ahunt.methods.fixmatch import FixMatchDetector
from ahunt.sources.streams import make_stream, oracle_truth
from ahunt.store.workspace import Workspace
from conftest import tiny_config, tiny_unlabelled_config, trained_round_0
from test_session import _hunt


def _blobs(n, rng, wide):
    y, x = np.mgrid[:16, :16]
    sigma = 6.0 if wide else 1.5
    return np.array([[np.exp(-((x - 8) ** 2 + (y - 8) ** 2) / sigma) + 0.05 * rng.random((16, 16))]
                     for _ in range(n)], dtype=np.float32)


def test_strong_augment_keeps_shape_and_changes_the_image():
    x = torch.rand(4, 1, 16, 16)
    out = strong_augment(x, make_augmentation(TrainConfig()), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.allclose(out, x)


def _wide_and_narrow_blobs():
    """8 labelled wide and 8 narrow blobs, 80 unlabelled of both, and a small training config."""
    rng = np.random.default_rng(0)
    images = np.concatenate([_blobs(8, rng, True), _blobs(8, rng, False)])
    labels = np.array([0] * 8 + [1] * 8)
    unlabelled = np.concatenate([_blobs(40, rng, True), _blobs(40, rng, False)])
    return images, labels, unlabelled, TrainConfig(batch_size=16, epoch_size=64)


def _small_net() -> HuntNet:
    torch.manual_seed(0)
    return HuntNet(ModelArgs(n_classes=2, image_size=16, channels=1, latent_dim=8, width=4))


def _same_weights(a: HuntNet, b: HuntNet) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_fixmatch_learns_from_pseudo_labels_and_is_seeded():
    images, labels, unlabelled, cfg = _wide_and_narrow_blobs()

    def fit(threshold):
        model = _small_net()
        losses = train_fixmatch(model, images, labels, unlabelled, cfg, epochs=2, seed=1, device=torch.device("cpu"),
                                threshold=threshold)
        return model, losses

    a, la = fit(0.0)
    b, lb = fit(0.0)
    assert la == lb and _same_weights(a, b)
    never, ln = fit(1.01)  # no pseudo-label is ever confident enough: the labelled loss alone
    assert la != ln
    with pytest.raises(ConfigError, match="semi_supervised"):
        TrainConfig(semi_supervised="magic").validate()


def test_a_self_supervised_task_on_unlabelled_images_changes_the_network_and_is_seeded():
    images, labels, unlabelled, cfg = _wide_and_narrow_blobs()

    def fit(method):
        model = _small_net()
        if method == "none":
            losses = train_model(model, images, labels, cfg, epochs=2, seed=1, device=torch.device("cpu"))
        else:
            losses = train_semi(model, images, labels, unlabelled, cfg, method=method, epochs=2, seed=1,
                                device=torch.device("cpu"))
        return model, losses

    alone, _ = fit("none")
    for method in ("rotation", "contrastive", "autoencoder"):
        a, la = fit(method)
        b, lb = fit(method)
        assert la == lb and _same_weights(a, b)
        assert not _same_weights(a, alone)
        assert set(a.state_dict()) == set(alone.state_dict())  # the task's head is thrown away
    with pytest.raises(AhuntError, match="semi-supervised method 'magic'"):
        fit("magic")


@pytest.mark.parametrize("method", ["fixmatch", "contrastive"])
def test_semi_supervised_retrain_reads_a_bounded_sample_of_every_night(tmp_path, sim_cache, method):
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, semi_supervised=method, unlabelled_sample=20))
    ws = _hunt(tmp_path, sim_cache, cfg, nights=2)
    assert ws.current_version() == 2
    sample = unlabelled_sample(ws, 2, 20, seed=0)
    assert sample.shape == (20, 1, 32, 32)
    whole = np.concatenate([ws.store.load_round(1).images, ws.store.load_round(2).images])
    assert all(any(np.array_equal(s, w) for w in whole) for s in sample)  # rows of the nights, not round 0
    assert len(unlabelled_sample(ws, 1, 10_000, seed=0)) == ws.store.round_size(1)


def test_fixmatch_peer_asks_by_novelty_until_it_meets_an_interesting_object(tmp_path, sim_cache):
    cfg = dataclasses.replace(tiny_config(), experiment=dataclasses.replace(tiny_config().experiment,
                                                                            uninteresting=("artefact",)))
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    detector = FixMatchDetector(ws, device=torch.device("cpu"))
    assert detector.net.n_classes == len(ws.classes()) + 2  # + boring, + interesting
    data = stream.load(1)
    r = ws.store.add_round(data)
    detector.start_round(ws, r)
    assert not detector.has_interesting
    cold = detector.scores(data.images)
    assert cold.shape == (len(data.ids),) and (cold >= 0).all()
    prepare_questions(ws, r, chooser=detector)
    ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False)
    detector.learn(ws, r)
    _, labels, _ = ws.labelled_view()
    targets = detector._targets(ws, labels)
    names = ws.class_names()
    for label, target in zip(labels, targets):
        name = names[int(label)]
        expected = {"merger": detector.interesting, "lens": detector.interesting, "artefact": detector.boring}
        assert target == expected.get(name, int(label))
    if detector.has_interesting:  # then it ranks by p(interesting)
        probs, _ = __import__("ahunt.learn.train", fromlist=["score"]).score(detector.net, data.images,
                                                                              device=torch.device("cpu"))
        np.testing.assert_allclose(detector.scores(data.images), probs[:, detector.interesting], rtol=1e-6)


def test_fixmatch_kinds_learns_the_pile_kinds_beside_fixmatch_and_is_fixmatch_with_labels(tmp_path, sim_cache):
    stream, ws = trained_round_0(tmp_path / "ws", sim_cache, tiny_unlabelled_config(pseudo_kinds=3))
    cpu = torch.device("cpu")
    plain, with_kinds = FixMatchDetector(ws, device=cpu), FixMatchDetector(ws, device=cpu, kinds=True)
    assert (plain.name, with_kinds.name) == ("fixmatch", "fixmatch-kinds") and plain.kinds is None
    assert len(with_kinds.kinds) == ws.store.round_size(0) and set(with_kinds.kinds.tolist()) == {0, 1, 2}
    head_before = with_kinds.kinds_head.weight.detach().clone()
    data = stream.load(1)
    r = ws.store.add_round(data)
    for detector in (plain, with_kinds):
        detector.start_round(ws, r)
    prepare_questions(ws, r, chooser=plain)
    ask(ws, r, TruthOracle(oracle_truth(stream, data)), with_images=False)
    plain.learn(ws, r)
    with_kinds.learn(ws, r)  # the same answers, the same FixMatch draws, and the kinds beside them
    assert not torch.equal(with_kinds.kinds_head.weight, head_before)
    assert not np.allclose(plain.scores(data.images), with_kinds.scores(data.images))

    _, labelled = trained_round_0(tmp_path / "labelled", sim_cache)
    assert FixMatchDetector(labelled, device=cpu, kinds=True).kinds is None  # no pile kinds: it is fixmatch
