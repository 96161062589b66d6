"""The labelled store follows the answer log: retractions, renames, crashes and loss."""

import numpy as np
import pytest

from ahunt.hunt.oracle import Label, Quit, Skip, TruthOracle, Undo
from ahunt.hunt.session import ask, prepare_questions, retrain
from ahunt.store.images import Store
from ahunt.store.labelled import LabelledStore
from ahunt.sources.simulated import SimulatedSurvey
from test_session import Scripted, _hunt


def from_the_image_store(ws):
    """The labelled set as it was read before the labelled store: every night's ids and chunks."""
    index = ws.log.index_by_origin()
    r0 = ws.store.load_round(0)
    images, labels, ids = [r0.images], [np.array([index[n] for n in r0.labels])], list(r0.ids)
    by_round = {}
    for a in ws.log.current_labels().values():
        if a.kind == "label":
            by_round.setdefault(a.round, []).append(a)
    for r, answers in sorted(by_round.items()):
        position = {oid: i for i, oid in enumerate(ws.store.load_round(r, images=False).ids)}
        images.append(ws.store.load_images(r, [position[a.object_id] for a in answers]))
        labels.append(np.array([a.class_idx for a in answers]))
        ids += [a.object_id for a in answers]
    return np.concatenate(images), np.concatenate(labels), ids


def assert_same(ws):
    images, labels, ids = ws.labelled_set()
    want_images, want_labels, want_ids = from_the_image_store(ws)
    assert ids == want_ids
    assert labels.tolist() == want_labels.tolist()
    np.testing.assert_array_equal(images, want_images)


def _two_nights(tmp_path, sim_cache):
    """A hunt of two nights answered by the truth, and its survey (for the nights after)."""
    ws = _hunt(tmp_path, sim_cache, nights=2)
    return ws, SimulatedSurvey(ws.config.survey, image_size=ws.config.model.image_size, cache_dir=sim_cache)


def test_labelled_store_follows_retractions_and_renames(tmp_path, sim_cache):
    ws, survey = _two_nights(tmp_path, sim_cache)
    assert (ws.root / "labelled.sqlite").exists()
    assert_same(ws)
    r = ws.store.add_round(survey.load(3))
    prepare_questions(ws, r)
    ask(ws, r, Scripted([Label("spiral"), Label("edge-on"), Undo(), Label("elliptical"), Skip(), Quit()]))
    assert_same(ws)  # the undone edge-on is left out, its pixels kept unused
    ws.log.rename_class("spiral", "disc")
    assert_same(ws)
    images, labels, ids = ws.labelled_view()
    assert ws.class_names()[labels[0]] in ("elliptical", "disc", "edge-on")
    np.testing.assert_array_equal(images[np.array([3, 1, 3])], ws.labelled_set()[0][[3, 1, 3]])
    assert images[2].shape == images.shape[1:]


def test_a_retrain_reads_no_id_list_and_no_old_night(tmp_path, sim_cache, monkeypatch):
    ws, survey = _two_nights(tmp_path, sim_cache)
    data = survey.load(3)
    r = ws.store.add_round(data)
    prepare_questions(ws, r)
    ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False)
    read = []
    monkeypatch.setattr(Store, "load_round", lambda self, r, **kw: read.append(("round", r)))
    original = Store.load_images
    monkeypatch.setattr(Store, "load_images", lambda self, r, idx: read.append(("images", r)) or original(self, r, idx))
    retrain(ws, r)
    assert read == [("images", 3)]  # tonight's answers, copied once
    read.clear()
    ws.labelled_view()
    assert read == []


def test_a_crash_while_copying_leaves_the_store_as_it_was(tmp_path, sim_cache, monkeypatch):
    ws, survey = _two_nights(tmp_path, sim_cache)
    data = survey.load(3)
    r = ws.store.add_round(data)
    prepare_questions(ws, r)
    ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False)
    before = LabelledStore(ws.root / "labelled.sqlite", ws.store.image_shape()).rows()
    add = LabelledStore.add

    class Killed(str):
        def __str__(self):
            raise KeyboardInterrupt  # mid-transaction, after two rows were written

    def dying_add(self, ids, *args, **kwargs):
        return add(self, [*ids[:2], Killed(ids[2]), *ids[3:]], *args, **kwargs)

    monkeypatch.setattr(LabelledStore, "add", dying_add)
    with pytest.raises(KeyboardInterrupt):
        ws.labelled_view()
    monkeypatch.undo()
    assert LabelledStore(ws.root / "labelled.sqlite", ws.store.image_shape()).rows() == before
    assert_same(ws)


def test_a_lost_or_damaged_labelled_store_is_rebuilt(tmp_path, sim_cache):
    ws, _ = _two_nights(tmp_path, sim_cache)
    path = ws.root / "labelled.sqlite"
    path.unlink()
    assert_same(ws)
    path.write_bytes(b"garbage" * 1000)
    assert_same(ws)
    # Made for other images (a different store): rebuilt, not mixed.
    other = LabelledStore(path, (3, 8, 8))
    other.add(["x"], np.zeros((1, 3, 8, 8), np.float32))
    assert_same(ws)


def in_the_store(tmp_path, images):
    """``images`` added to a new labelled store, as the array-like a retrain reads."""
    from ahunt.store.labelled import LabelledImages

    store = LabelledStore(tmp_path / "l.sqlite", images.shape[1:])
    store.add([f"o{i}" for i in range(len(images))], images)
    row_of, _ = store.rows()
    return LabelledImages(store, np.array([row_of[f"o{i}"] for i in range(len(images))]))


def test_training_from_the_store_equals_training_from_memory(tmp_path):
    import dataclasses

    import torch

    from ahunt.config import TrainConfig
    from ahunt.learn.model import HuntNet, ModelArgs
    from ahunt.learn.train import train_model

    rng = np.random.default_rng(0)
    images = rng.random((30, 1, 16, 16), dtype=np.float32)
    labels = np.arange(30) % 3
    lazy = in_the_store(tmp_path, images)
    cfg = dataclasses.replace(TrainConfig(), epoch_size=64, batch_size=16)
    losses = []
    for x in (images, lazy):
        torch.manual_seed(0)
        model = HuntNet(ModelArgs(n_classes=3, image_size=16))
        losses.append(train_model(model, x, labels, cfg, epochs=2, seed=1, device=torch.device("cpu")))
    assert losses[0] == losses[1]


def test_round_0_of_a_pile_learns_from_the_store_as_from_memory(tmp_path, monkeypatch):
    """The self-supervised task and the pseudo-kinds read a pile an epoch's draws at a time, and
    learn exactly what they learn from the pile in memory; the store itself is filled a block at
    a time."""
    import dataclasses

    import torch

    import ahunt.store.labelled as labelled
    from ahunt.config import TrainConfig
    from ahunt.learn.kinds import kinds_head, train_kinds
    from ahunt.learn.model import HuntNet, ModelArgs
    from ahunt.learn.pretrain import pretrain_encoder

    class Reads(np.ndarray):
        largest = 0

        def __getitem__(self, key):
            if isinstance(key, slice):
                Reads.largest = max(Reads.largest, len(range(*key.indices(len(self)))))
            return np.asarray(self).__getitem__(key)

    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 16, 16), dtype=np.float32)
    kinds = np.arange(40) % 4
    monkeypatch.setattr(labelled, "_BLOCK", 16)
    lazy = in_the_store(tmp_path, images.view(Reads))
    assert Reads.largest == 16
    cfg = dataclasses.replace(TrainConfig(), epoch_size=64, batch_size=16)
    states = []
    for x in (images, lazy):
        torch.manual_seed(0)
        model = HuntNet(ModelArgs(n_classes=1, image_size=16))
        task = pretrain_encoder(model, x, cfg, objective="rotation", epochs=2, seed=1, device=torch.device("cpu"))
        head = kinds_head(model, 4)
        learnt = train_kinds(model, x, kinds, head, cfg, epochs=2, seed=2, device=torch.device("cpu"))
        states.append((task, learnt, model.state_dict()))
    assert states[0][:2] == states[1][:2]
    assert all(torch.equal(states[0][2][k], states[1][2][k]) for k in states[0][2])
