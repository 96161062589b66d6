"""UMAP maps of the latent space: which points, the on-disk cache, AlignedUMAP's relations."""

import dataclasses
import shutil

import numpy as np
import pytest

from ahunt.errors import WorkspaceError
from ahunt.hunt.oracle import TruthOracle
from ahunt.hunt.session import ask, prepare_questions, retrain, train_initial
from ahunt.outputs import embedding
from ahunt.outputs.embedding import SOURCE_ANCHOR, SOURCE_ANSWER, SOURCE_ROUND, aligned_views, model_version_for, round_view
from ahunt.sources.simulated import SimulatedSurvey
from ahunt.store.workspace import Workspace
from conftest import tiny_config

SMALL = {"max_points": 80, "n_neighbors": 5}  # tiny maps: fast UMAP


def tiny_hunt(root, sim_cache, *, nights=2, pending=True, truth=True):
    """Round 0 plus ``nights`` hunted nights; with ``pending`` one more night asked but not retrained.

    Without ``truth`` the store holds no true classes (like real data); the oracle still knows them.
    """
    config = tiny_config()
    survey = SimulatedSurvey(config.survey, image_size=config.model.image_size, cache_dir=sim_cache)
    first = survey.load(0)
    if not truth:
        first = dataclasses.replace(first, truth=None)
    ws = Workspace.create(root, config, first, known=list(config.survey.initial))
    train_initial(ws)
    for night in range(1, nights + 1 + pending):
        data = survey.load(night)
        oracle = TruthOracle(dict(zip(data.ids, data.truth)))
        r = ws.store.add_round(data if truth else dataclasses.replace(data, truth=None))
        prepare_questions(ws, r)
        assert ask(ws, r, oracle, with_images=False).complete
        if night <= nights:
            retrain(ws, r)
    return ws


@pytest.fixture(scope="module")
def hunt(tmp_path_factory, sim_cache):
    return tiny_hunt(tmp_path_factory.mktemp("emb") / "ws", sim_cache)


def copy_of(ws, tmp_path):
    shutil.copytree(ws.root, tmp_path / "ws")
    return Workspace.open(tmp_path / "ws")


def test_points_of_a_round(hunt):
    # versions: a trained round has its own model; the untrained newest round the current one
    assert [model_version_for(hunt, r) for r in range(4)] == [0, 1, 2, 2]
    sel = embedding._select(hunt, 3, 80, seed=1)
    assert len(sel.ids) <= 80 and len(set(sel.ids)) == len(sel.ids)
    assert (sel.source == SOURCE_ANCHOR).sum() == 40
    # every question of the round is kept, with its answer as label
    asked = {q.object_id for q in hunt.log.questions(3)}
    assert asked <= set(sel.ids[sel.queried]) and sel.queried.sum() == len(asked)
    current = hunt.log.current_labels()
    for oid, lab in zip(sel.ids[sel.queried], sel.label[sel.queried]):
        a = current[oid]
        assert lab == (a.class_idx if a.kind == "label" else -1)
    # earlier answers are labelled points; the round's other objects are not
    earlier = {a.object_id for a in current.values() if a.kind == "label" and a.round < 3}
    assert set(sel.ids[sel.source == SOURCE_ANSWER]) == earlier
    assert (sel.label[sel.source != SOURCE_ROUND] >= 0).all()
    # the anchor sample is the same objects in every round (AlignedUMAP's anchors)
    anchors = [set(embedding._select(hunt, r, 80, seed=1).ids[:40]) for r in range(4)]
    assert all(a == anchors[0] for a in anchors)
    assert sel.truth is not None and len(sel.truth) == len(sel.ids)


def fake_fit(calls):
    """A stand-in for UMAP (real UMAP runs in test_latent_plots): counts calls, seeded output."""

    def fit(latents, *, n_neighbors, min_dist, seed):
        calls.append(len(latents))
        return np.random.default_rng(seed).normal(size=(len(latents), 2)).astype(np.float32)

    return fit


def test_cache_is_reused_and_invalidated_by_a_new_model(hunt, tmp_path, monkeypatch):
    ws = copy_of(hunt, tmp_path)
    calls = []
    monkeypatch.setattr(embedding, "_fit_umap", fake_fit(calls))
    first = round_view(ws, 3, **SMALL)
    assert len(calls) == 1 and not first.cached
    assert first.xy.shape == (len(first), 2) and np.isfinite(first.xy).all()
    # the current model (round 2) scores every class but those tonight's answers created
    assert first.probs.shape[1] == ws.load_model()[0].n_classes
    path = ws.root / "cache" / "umap_round_0003_v0002.npz"
    assert path.exists()
    again = round_view(ws, 3, **SMALL)
    assert len(calls) == 1 and again.cached  # read back, not recomputed
    np.testing.assert_array_equal(again.xy, first.xy)
    np.testing.assert_array_equal(again.probs, first.probs)
    np.testing.assert_array_equal(again.ids, first.ids)
    round_view(ws, 3, max_points=60, n_neighbors=5)  # other points: recomputed
    assert len(calls) == 2
    retrain(ws, 3)  # round 3's model now exists: its map changes
    newer = round_view(ws, 3, **SMALL)
    assert len(calls) == 3 and not newer.cached and newer.version == 3
    assert (ws.root / "cache" / "umap_round_0003_v0003.npz").exists()
    assert not path.exists()  # the stale map is gone
    (ws.root / "cache" / "umap_round_0003_v0003.npz").write_bytes(b"not a zip")  # damaged: recomputed
    assert not round_view(ws, 3, **SMALL).cached and len(calls) == 4


def test_aligned_relations_are_the_shared_objects(hunt, tmp_path, monkeypatch):
    ws = copy_of(hunt, tmp_path)
    seen = []

    def fake(latents, relations, **kw):
        seen.append((latents, relations))
        return [np.random.default_rng(k).normal(size=(len(z), 2)).astype(np.float32) for k, z in enumerate(latents)]

    monkeypatch.setattr(embedding, "_fit_aligned", fake)
    views = aligned_views(ws, **SMALL)
    assert [v.round for v in views] == [0, 1, 2, 3] and [v.version for v in views] == [0, 1, 2, 2]
    (latents, relations), = seen
    assert len(relations) == 3
    for a, b, rel in zip(views[:-1], views[1:], relations):
        shared = set(a.ids) & set(b.ids)
        assert len(rel) == len(shared) >= 40  # at least the anchors
        assert all(a.ids[i] == b.ids[j] for i, j in rel.items())
    assert aligned_views(ws, **SMALL)[0].cached and len(seen) == 1
    with pytest.raises(WorkspaceError, match="two rounds"):
        aligned_views(ws, [2], **SMALL)


def test_errors_are_clear(hunt):
    with pytest.raises(WorkspaceError, match="round 9 does not exist"):
        round_view(hunt, 9)
