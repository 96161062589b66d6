"""The reserve's novelty score: distance from everything labelled and boring."""

import numpy as np

from ahunt.hunt.novelty import Reference, boring_classes, nearest_distance, normalise, pixel_features
from ahunt.store.answer_log import ClassInfo


def _images(z):
    """Latent-like vectors drawn as 1-band 32x32 images: one bright 8x8 patch per dimension."""
    out = np.zeros((len(z), 1, 32, 32), np.float32)
    for d in range(z.shape[1]):
        row, col = divmod(d, 4)
        out[:, 0, row * 8:(row + 1) * 8, col * 8:(col + 1) * 8] = z[:, d, None, None]
    return out


def test_pixel_features_are_band_means_on_a_16x16_grid():
    x = np.random.default_rng(0).random((3, 3, 64, 64)).astype(np.float32)
    f = pixel_features(x)
    assert f.shape == (3, 3 * 16 * 16) and np.allclose(np.linalg.norm(f, axis=1), 1, atol=1e-5)
    means = x.reshape(3, 3, 16, 4, 16, 4).mean((3, 5)).reshape(3, -1)
    assert np.allclose(f, means / np.linalg.norm(means, axis=1, keepdims=True), atol=1e-5)
    assert pixel_features(x[:, :1, :8, :8]).shape == (3, 64)  # small cutouts keep their own grid


def test_pixel_features_of_a_crop_compare_the_networks_field_only():
    x = np.random.default_rng(1).random((3, 1, 64, 64)).astype(np.float32)
    f = pixel_features(x, 32)
    assert np.allclose(f, pixel_features(x[..., 16:48, 16:48]))
    x[..., :16, :] = 9.0  # sky outside the field: no change
    assert np.allclose(pixel_features(x, 32), f)
    assert not np.allclose(pixel_features(x), pixel_features(x, 32))


def _cluster(rng, centre, n):
    return np.abs(centre + 0.05 * rng.normal(size=(n, len(centre))))


def test_objects_far_from_the_boring_labels_score_highest():
    rng = np.random.default_rng(0)
    a, b, odd = np.eye(8)[0], np.eye(8)[1], np.eye(8)[5]
    labelled = np.vstack([_cluster(rng, a, 30), _cluster(rng, b, 30)])
    labels = np.repeat([0, 1], 30)
    night = np.vstack([_cluster(rng, a, 20), _cluster(rng, b, 20), _cluster(rng, odd, 3)])
    s = Reference(labelled, _images(labelled), labels, [0, 1]).scores(night, _images(night))
    assert set(np.argsort(-s)[:3]) == {40, 41, 42}
    assert 0 < s.min() and s.max() < 1
    assert np.median(s[:40]) < 0.75 < s[40:].min()  # near 0.5 for the known, near 1 for the new


def test_a_boring_answer_silences_its_kind_and_an_interesting_class_does_not():
    rng = np.random.default_rng(1)
    a, art, merger = np.eye(6)[0], np.eye(6)[3], np.eye(6)[4]
    labelled = np.vstack([_cluster(rng, a, 40), _cluster(rng, art, 2), _cluster(rng, merger, 2)])
    labels = np.array([0] * 40 + [2] * 2 + [3] * 2)
    classes = [ClassInfo(0, "a", "known", 0), ClassInfo(1, "reserve", "reserve", 0),
               ClassInfo(2, "artefact", "anomaly", 1), ClassInfo(3, "merger", "anomaly", 1)]
    boring = boring_classes(classes, {"reserve": 0.5, "merger": 0.5})
    assert boring == [0, 2]  # artefacts have no interest weight; mergers do
    night = np.vstack([_cluster(rng, a, 10), _cluster(rng, art, 3), _cluster(rng, merger, 3)])
    s = Reference(labelled, _images(labelled), labels, boring).scores(night, _images(night))
    assert set(np.argsort(-s)[:3]) == {13, 14, 15}  # more mergers, not more artefacts
    # Before anything is labelled but the known class, artefacts were as new as mergers.
    before = Reference(labelled, _images(labelled), labels, [0]).scores(night, _images(night))
    assert before[10:13].min() > before[:10].max()


def test_nearest_distance_in_blocks_and_leave_one_out():
    rng = np.random.default_rng(2)
    z = normalise(rng.random((50, 4)))
    full = np.sqrt(np.maximum(((z[:, None] - z[None]) ** 2).sum(-1), 0))
    assert np.allclose(nearest_distance(z, z, block=7), 0, atol=1e-3)
    np.fill_diagonal(full, np.inf)
    assert np.allclose(nearest_distance(z, z, exclude_self=True, block=7), full.min(1), atol=1e-3)


def test_nothing_known_means_everything_is_new():
    empty = Reference(np.ones((2, 3)), np.ones((2, 1, 8, 8)), np.array([0, 0]), [])
    assert np.all(empty.scores(np.ones((4, 3)), np.ones((4, 1, 8, 8))) == 1)


def test_reserve_questions_are_chosen_by_novelty_in_the_session(tmp_path, sim_cache):
    import dataclasses

    import pytest

    from ahunt.config import ConfigError, HuntConfig
    from ahunt.hunt.ranking import reserve_reference
    from ahunt.hunt.session import prepare_questions, round_scores, train_initial
    from ahunt.sources.streams import make_stream
    from ahunt.store.workspace import Workspace
    from conftest import tiny_config

    with pytest.raises(ConfigError, match="reserve_score"):
        HuntConfig(reserve_score="vibes").validate()
    cfg = tiny_config(interest={"reserve": 1.0})
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    r = ws.store.add_round(stream.load(1))
    questions = prepare_questions(ws, r)
    model, version = ws.load_model(0)
    s = round_scores(ws, r, model, version)
    novelty = reserve_reference(ws, model, {"reserve": 1.0}, seed=cfg.seed).scores(
        s.latents, ws.store.load_round(r).images)
    assert [q.object_index for q in questions] == list(np.argsort(-novelty, kind="stable")[: len(questions)])
    assert np.allclose([q.score for q in questions], np.sort(novelty)[::-1][: len(questions)], atol=1e-5)
    # The paper's reserve probability is still there as an option.
    ws2 = Workspace.create(tmp_path / "ws2", dataclasses.replace(cfg, hunt=dataclasses.replace(
        cfg.hunt, reserve_score="probability")), stream.load(0), known=stream.known)
    train_initial(ws2)
    r2 = ws2.store.add_round(stream.load(1))
    probs = round_scores(ws2, r2, *ws2.load_model(0)).probs[:, ws2.class_names().index("reserve")]
    assert [q.object_index for q in prepare_questions(ws2, r2)] == list(np.argsort(-probs, kind="stable")[:6])


def test_each_question_knows_its_rank_in_the_night_as_when_it_was_chosen(tmp_path, sim_cache):
    from ahunt.hunt.oracle import Label, Quit
    from ahunt.hunt.session import ask, prepare_questions, train_initial
    from ahunt.sources.streams import make_stream
    from ahunt.store.workspace import Workspace
    from conftest import tiny_config

    cfg = tiny_config(interest={"reserve": 1.0})
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    r = ws.store.add_round(stream.load(1))
    prepare_questions(ws, r)
    seen = []

    def oracle(question, classes):
        seen.append((question.score, question.rank, question.n_objects))
        return Label("elliptical", new=False) if len(seen) < 3 else Quit()

    oracle.name = "test"
    ask(ws, r, oracle)
    # the reserve's questions are the night's top novelty scores, in order: ranks 1, 2, 3 ...
    assert [rank for _, rank, _ in seen] == [1, 2, 3]
    assert all(0 < s < 1 and n == ws.store.round_size(r) for s, _, n in seen)
    # ... and stay so once answers were given tonight (they are left out of the reference)
    seen.clear()
    ask(ws, r, oracle)
    assert seen[0][1] == 3


def test_a_reference_made_from_its_own_rows_is_the_same_and_only_they_are_scored(tmp_path, sim_cache, monkeypatch):
    # A hunt's nightly cost must not grow with its labels: the reference keeps at most
    # MAX_PER_CLASS objects per class, and only those are read and scored.
    import ahunt.hunt.novelty as novelty
    import ahunt.hunt.ranking as ranking
    import ahunt.hunt.session as session
    from ahunt.hunt.novelty import reference_rows
    from ahunt.sources.streams import make_stream
    from ahunt.store.workspace import Workspace
    from conftest import tiny_config

    monkeypatch.setattr(novelty, "MAX_PER_CLASS", 5)
    rng = np.random.default_rng(1)
    z = rng.random((40, 16)).astype(np.float32)
    labels = rng.integers(0, 4, 40)
    full = Reference(z, _images(z), labels, [0, 2], seed=3)
    rows = reference_rows(labels, [0, 2], seed=3)
    assert len(rows) == 10 and set(labels[rows]) == {0, 2}
    part = Reference(z[rows], _images(z)[rows], labels[rows], [0, 2], seed=3)
    assert np.array_equal(part.z, full.z) and np.array_equal(part.pixels, full.pixels)
    assert (part.scale, part.pixel_scale) == (full.scale, full.pixel_scale)

    cfg = tiny_config(interest={"reserve": 1.0})
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    session.train_initial(ws)
    scored = []
    real = ranking.score
    monkeypatch.setattr(ranking, "score", lambda model, images, **k: scored.append(len(images)) or real(model, images, **k))
    model, _ = ws.load_model(0)
    ranking.reserve_reference(ws, model, {"reserve": 1.0}, seed=cfg.seed)
    assert scored == [5 * 3]  # three known classes of 30-40 labelled objects, five kept of each


def test_the_networks_features_are_a_third_space_when_the_reference_has_the_model():
    import torch

    from ahunt.hunt.novelty import network_features
    from ahunt.learn.model import HuntNet, ModelArgs, centre_crop, inference_copy

    torch.manual_seed(0)
    model = HuntNet(ModelArgs(n_classes=3, image_size=32, crop=16)).eval()
    rng = np.random.default_rng(3)
    x = rng.random((70, 1, 32, 32)).astype(np.float32)
    f = network_features(inference_copy(model), x, 16, batch=32)  # batches give the same numbers
    with torch.no_grad():
        expected = model.features(centre_crop(torch.from_numpy(x), 16)).flatten(1).numpy()
    assert np.allclose(f, normalise(expected), atol=1e-5)
    # The features come from the network's field: sky outside the crop changes nothing.
    outside = x.copy()
    outside[..., :4, :] = 5.0
    assert np.allclose(network_features(inference_copy(model), outside, 16), f, atol=1e-6)
    a, b, odd = np.eye(8)[0], np.eye(8)[1], np.eye(8)[5]
    labelled = np.vstack([_cluster(rng, a, 30), _cluster(rng, b, 30)])
    labels = np.repeat([0, 1], 30)
    night = np.vstack([_cluster(rng, a, 20), _cluster(rng, b, 20), _cluster(rng, odd, 3)])
    two = Reference(labelled, _images(labelled), labels, [0, 1]).scores(night, _images(night))
    whole = HuntNet(ModelArgs(n_classes=3, image_size=32)).eval()  # these images fill the whole cutout
    with_model = Reference(labelled, _images(labelled), labels, [0, 1], model=whole)
    three = with_model.scores(night, _images(night))
    assert with_model.features.shape == (60, 256) and 0 < three.min() and three.max() < 1  # 64 channels x 2 x 2
    assert not np.allclose(two, three)  # the third distance counts
    # each distance is over its own spacing and the three are averaged: rebuild it by hand
    d_feat = nearest_distance(network_features(with_model.scorer, _images(night)), with_model.features)
    d_two = two / (1 - two) * 2
    by_hand = (d_two + d_feat / with_model.feature_scale) / 3
    assert np.allclose(three / (1 - three), by_hand, rtol=1e-4)


def test_with_novelty_features_the_session_ranks_the_reserve_in_three_spaces(tmp_path, sim_cache):
    import dataclasses

    import pytest

    from ahunt.config import ConfigError, HuntConfig
    from ahunt.hunt.ranking import reserve_reference
    from ahunt.hunt.session import prepare_questions, round_scores
    from conftest import tiny_config, trained_round_0

    with pytest.raises(ConfigError, match="hunt.novelty_features"):
        HuntConfig(novelty_features="yes").validate()
    cfg = tiny_config(interest={"reserve": 1.0})
    cfg = dataclasses.replace(cfg, hunt=dataclasses.replace(cfg.hunt, novelty_features=True))
    stream, ws = trained_round_0(tmp_path / "ws", sim_cache, cfg)
    r = ws.store.add_round(stream.load(1))
    model, version = ws.load_model(0)
    reference = reserve_reference(ws, model, {"reserve": 1.0}, seed=cfg.seed)
    assert reference.scorer is not None and len(reference.features) == len(reference.z)
    novelty = reference.scores(round_scores(ws, r, model, version).latents, ws.store.load_round(r).images)
    questions = prepare_questions(ws, r)
    assert [q.object_index for q in questions] == list(np.argsort(-novelty, kind="stable")[: len(questions)])


def test_kth_distance_leaves_each_object_itself_out_in_blocks():
    from ahunt.hunt.novelty import kth_distance

    rng = np.random.default_rng(4)
    x, ref = normalise(rng.random((30, 5))), normalise(rng.random((20, 5)))
    both = np.vstack([ref, x])
    full = np.sqrt(np.maximum(((x[:, None] - both[None]) ** 2).sum(-1), 0))
    full[np.arange(30), 20 + np.arange(30)] = np.inf  # itself does not count
    itself = 20 + np.arange(30)
    itself[::3] = -1  # ... where it is there; these rows keep their own zero distance
    full[np.arange(0, 30, 3), 20 + np.arange(0, 30, 3)] = 0
    expected = np.sort(full, axis=1)[:, 3]
    assert np.allclose(kth_distance(x, both, 4, itself=itself, block=7), expected, atol=1e-3)
    few = np.sqrt(np.maximum(((x[:, None] - both[None, :3]) ** 2).sum(-1), 0)).max(1)
    assert np.allclose(kth_distance(x, both[:3], 4), few, atol=1e-3)  # too few for four: the farthest
    assert np.isinf(kth_distance(x, both[:0], 4)).all()  # none at all


def test_with_a_crowd_a_kind_that_fills_the_night_is_not_new_but_a_boring_answer_still_vetoes():
    rng = np.random.default_rng(5)
    a, unlabelled_kind, art, merger = np.eye(8)[0], np.eye(8)[2], np.eye(8)[3], np.eye(8)[4]
    labelled = np.vstack([_cluster(rng, a, 40), _cluster(rng, art, 2), _cluster(rng, merger, 2)])
    labels = np.array([0] * 40 + [2] * 2 + [3] * 2)
    boring = [0, 2]  # the known class and the answered artefacts; mergers have interest
    # a night of the known kind, 60 of a kind no label covers, 3 artefacts and 3 mergers
    night = np.vstack([_cluster(rng, a, 40), _cluster(rng, unlabelled_kind, 60), _cluster(rng, art, 3),
                       _cluster(rng, merger, 3)])
    nearest = Reference(labelled, _images(labelled), labels, boring).scores(night, _images(night))
    crowd = Reference(labelled, _images(labelled), labels, boring, crowd=0.1, known=[0])  # k = 11
    s = crowd.scores(night, _images(night))
    # the nearest rule finds the unlabelled kind as new as the mergers ...
    assert nearest[40:100].min() > nearest[103:].min() - 0.05
    # ... the crowd rule puts the three mergers first: the unlabelled kind has its crowd, and the
    # answered artefacts still keep their lookalikes out
    assert set(np.argsort(-s)[:3]) == {103, 104, 105}
    assert s[100:103].max() < s[103:].min() - 0.1 and np.median(s[40:100]) < s[103:].min() - 0.1
    # a night too small for a crowd of 2 (k = 0.01 x 106 rounds to 1) keeps the nearest rule, exactly
    small = Reference(labelled, _images(labelled), labels, boring, crowd=0.01, known=[0])
    assert np.array_equal(small.scores(night, _images(night)), nearest)
    # without the veto (the artefacts counted as a known class), three artefacts look as rare as mergers
    no_veto = Reference(labelled, _images(labelled), labels, boring, crowd=0.1, known=[0, 2])
    assert no_veto.scores(night, _images(night))[100:103].min() > s[100:103].max()


def by_hand(reference, night, images, crowd, k):
    """The crowd rule's scores, spelt out: the k-th nearest among the known reference objects and
    the ``crowd`` rows of the night (each object not counting itself), or the nearest veto object."""
    from ahunt.hunt.novelty import kth_distance

    itself = np.full(len(night), -1)
    itself[crowd] = int(reference.known.sum()) + np.arange(len(crowd))
    known = reference.known
    spaces = [(normalise(night), reference.z, reference.scale),
              (pixel_features(images), reference.pixels, reference.pixel_scale)]
    d = sum(kth_distance(x, np.vstack([ref[known], x[crowd]]), k, itself=itself) / scale
            for x, ref, scale in spaces) / 2
    d = np.minimum(d, sum(nearest_distance(x, ref[~known]) / scale for x, ref, scale in spaces) / 2)
    return d / (1 + d)


def test_a_night_above_the_crowd_size_compares_with_a_seeded_draw_of_itself(tmp_path, monkeypatch):
    import h5py

    import ahunt.hunt.novelty as novelty

    rng = np.random.default_rng(6)
    labelled = rng.random((30, 16)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 10)
    night = rng.random((90, 16)).astype(np.float32)
    images = _images(night)
    reference = Reference(labelled, _images(labelled), labels, [0, 1, 2], crowd=0.06, known=[0, 1], seed=7)
    whole = reference.scores(night, images)
    monkeypatch.setattr(novelty, "BLOCK", 16)  # blocks give the same numbers ...
    assert np.allclose(reference.scores(night, images), whole, atol=1e-6)
    assert np.allclose(whole, by_hand(reference, night, images, np.arange(90), 5), atol=1e-5)  # k = 0.06 x 90
    monkeypatch.setattr(novelty, "CROWD", 40)  # ... a draw of 40 is another crowd, k = 0.06 x 40, rebuilt by hand
    drawn = reference.scores(night, images)
    crowd = np.sort(np.random.default_rng(7).choice(90, 40, replace=False))
    assert np.allclose(drawn, by_hand(reference, night, images, crowd, 2), atol=1e-5) and not np.allclose(drawn, whole)
    with h5py.File(tmp_path / "night.h5", "w") as f:  # a night read lazily from the store: the same
        f["images"] = images
        assert np.allclose(reference.scores(night, f["images"]), drawn, atol=1e-6)


def test_with_novelty_crowd_the_session_ranks_the_reserve_by_the_crowd_rule(tmp_path, sim_cache):
    import dataclasses

    import pytest

    from ahunt.config import ConfigError, HuntConfig
    from ahunt.hunt.ranking import reserve_reference
    from ahunt.hunt.session import prepare_questions, round_scores
    from conftest import tiny_config, trained_round_0

    for bad in (-0.1, 0.6, "1 %", True):
        with pytest.raises(ConfigError, match="hunt.novelty_crowd"):
            HuntConfig(novelty_crowd=bad).validate()
    cfg = tiny_config(interest={"reserve": 1.0})
    cfg = dataclasses.replace(cfg, hunt=dataclasses.replace(cfg.hunt, novelty_crowd=0.05))
    stream, ws = trained_round_0(tmp_path / "ws", sim_cache, cfg)
    r = ws.store.add_round(stream.load(1))
    model, version = ws.load_model(0)
    reference = reserve_reference(ws, model, {"reserve": 1.0}, seed=cfg.seed)
    assert reference.crowd == 0.05 and reference.known.all()  # round 0: only the known classes
    latents, images = round_scores(ws, r, model, version).latents, ws.store.load_round(r).images
    novelty = reference.scores(latents, images)
    assert round(0.05 * ws.store.round_size(r)) >= 2  # a crowd, not the nearest rule ...
    reference.crowd = 0.0
    assert not np.allclose(reference.scores(latents, images), novelty)  # ... which ranks otherwise
    questions = prepare_questions(ws, r)
    assert [q.object_index for q in questions] == list(np.argsort(-novelty, kind="stable")[: len(questions)])


def test_a_class_with_few_members_ranks_by_how_much_nearer_a_member_than_anything_boring():
    rng = np.random.default_rng(3)
    a, b, merger, odd = np.eye(8)[0], np.eye(8)[1], np.eye(8)[4], np.eye(8)[6]
    labelled = np.vstack([_cluster(rng, a, 30), _cluster(rng, b, 30)])
    reference = Reference(labelled, _images(labelled), np.repeat([0, 1], 30), [0, 1])
    members = _cluster(rng, merger, 2)
    night = np.vstack([_cluster(rng, a, 10), _cluster(rng, b, 10), _cluster(rng, merger, 3), _cluster(rng, odd, 2)])
    novelty = reference.scores(night, _images(night))
    s = reference.member_scores(night, _images(night), novelty, members, _images(members))
    assert set(np.argsort(-s)[:3]) == {20, 21, 22}  # the members' kind, not merely anything new
    assert s[20:23].min() > 0.5 > s[:20].max()  # nearer a member than anything boring, or not
    assert set(np.argsort(-novelty)[:5]) == set(range(20, 25))  # the novelty cannot tell them apart
    # an object that is a member itself is as near as can be; nothing boring known: all ones
    np.testing.assert_allclose(reference.member_scores(members, _images(members), reference.scores(
        members, _images(members)), members, _images(members)), 1.0, atol=2e-3)
    empty = Reference(labelled, _images(labelled), np.repeat([0, 1], 30), [])
    assert np.all(empty.member_scores(night, _images(night), empty.scores(night, _images(night)), members,
                                      _images(members)) == 1)
