"""The round loop on a tiny simulated survey, through the same functions the CLI uses."""

import numpy as np
import pytest
import torch

from ahunt.errors import WorkspaceError
from ahunt.evaluate.demo import ANY, class_rankings, interesting_score, round_report
from ahunt.hunt.oracle import Label, Quit, Skip, TruthOracle, Undo
from ahunt.hunt.session import ask, prepare_questions, reserve_scores, retrain, train_initial
from ahunt.learn.train import score
from ahunt.sources.simulated import SimulatedSurvey
from ahunt.store.workspace import Workspace
from conftest import tiny_config


def _workspace(tmp_path, sim_cache, config=None):
    config = config or tiny_config()
    survey = SimulatedSurvey(config.survey, image_size=config.model.image_size, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", config, survey.load(0), known=list(config.survey.initial))
    return ws, survey


def _hunt(tmp_path, sim_cache, config=None, nights=2):
    ws, survey = _workspace(tmp_path, sim_cache, config)
    train_initial(ws)
    for night in range(1, nights + 1):
        data = survey.load(night)
        r = ws.store.add_round(data)
        prepare_questions(ws, r)
        assert ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False).complete
        retrain(ws, r)
    return ws


def test_same_seed_same_questions_and_metrics(tmp_path, sim_cache):
    a = _hunt(tmp_path / "a", sim_cache)
    b = _hunt(tmp_path / "b", sim_cache)
    assert [(q.object_id, q.interest) for q in a.log.questions()] == [(q.object_id, q.interest) for q in b.log.questions()]
    assert round_report(a, 2) == round_report(b, 2)
    assert a.class_names() == b.class_names()


def test_hunt_grows_classes_and_never_asks_twice(tmp_path, sim_cache):
    ws = _hunt(tmp_path, sim_cache, nights=3)
    ids = [q.object_id for q in ws.log.questions()]
    assert len(ids) == len(set(ids)) == 3 * ws.config.hunt.questions
    assert ws.trained_rounds() == [0, 1, 2, 3]
    names = ws.class_names()
    assert names[:4] == ["elliptical", "spiral", "edge-on", "reserve"]
    model, version = ws.load_model()
    assert version == 3 and model.n_classes == len(names)
    # answers that created classes are in the labelled set with their class
    images, labels, lab_ids = ws.labelled_set()
    assert len(images) == 100 + len(ws.log.standing_answers())


class Scripted:
    """An oracle that replays a list of answers, then quits."""

    name = "scripted"

    def __init__(self, answers):
        self.answers = list(answers)
        self.seen = []
        self.questions = []

    def __call__(self, question, classes):
        self.seen.append(question.object_id)
        self.questions.append(question)
        return self.answers.pop(0) if self.answers else Quit()


def test_undo_skip_quit_and_resume_from_same_list(tmp_path, sim_cache):
    ws, survey = _workspace(tmp_path, sim_cache)
    train_initial(ws)
    r = ws.store.add_round(survey.load(1))
    questions = prepare_questions(ws, r)
    assert prepare_questions(ws, r) == questions  # stored: the same list comes back
    first = Scripted([Label("spiral"), Skip(), Undo(), Label("merger", new=True), Quit()])
    result = ask(ws, r, first)
    assert not result.complete and result.answered == 2
    q = [x.object_id for x in questions]
    # the undo, given at q2, withdraws the skip of q1, which is asked again
    assert first.seen == [q[0], q[1], q[2], q[1], q[2]]
    # why it asks: the score it was chosen by, and its rank among the night's objects
    asked = first.questions[0]
    assert asked.score == questions[0].score and asked.n_objects == ws.store.round_size(r) and asked.rank == 1
    standing = ws.log.standing_answers(r)
    assert [(a.object_id, a.kind) for a in standing] == [(q[0], "label"), (q[1], "label")]
    assert "merger" in ws.class_names()
    second = Scripted([Skip()] * 10)
    assert ask(ws, r, second).complete
    assert second.seen == q[2:]  # resumed at the first unanswered question


def test_a_person_s_answers_are_committed_one_by_one_a_script_s_together(tmp_path, sim_cache):
    from ahunt.store.answer_log import AnswerLog

    ws, survey = _workspace(tmp_path, sim_cache)
    train_initial(ws)
    r = ws.store.add_round(survey.load(1))
    prepare_questions(ws, r)
    outside = AnswerLog(ws.log.path)
    committed = []

    class Watched(Scripted):
        def __call__(self, question, classes):
            committed.append(len(outside.standing_answers(r)))
            return super().__call__(question, classes)

    person = Watched([Label("spiral"), Skip(), Quit()])
    ask(ws, r, person)
    assert committed == [0, 1, 2]  # each answer committed before the next question
    script = Watched([Label("spiral"), Label("merger", new=True), Label("merger"), Skip()])
    script.batch_commits = True
    assert ask(ws, r, script).complete
    assert committed[3:] == [2, 2, 2, 2]  # held until the night's answers are in
    assert len(outside.standing_answers(r)) == 6 and "merger" in ws.class_names()


def test_retrain_needs_previous_model_and_interrupted_retrain_keeps_it(tmp_path, sim_cache, monkeypatch):
    ws, survey = _workspace(tmp_path, sim_cache)
    r = ws.store.add_round(survey.load(1))
    with pytest.raises(WorkspaceError, match="run `ahunt train"):
        prepare_questions(ws, r)
    train_initial(ws)
    prepare_questions(ws, r)
    ask(ws, r, TruthOracle(dict(zip(survey.load(1).ids, survey.load(1).truth))), with_images=False)

    import ahunt.hunt.session as session

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "train_model", crash)
    with pytest.raises(KeyboardInterrupt):
        retrain(ws, r)
    assert ws.current_version() == 0
    assert not list((ws.root / "checkpoints").glob("*.tmp"))
    monkeypatch.undo()
    retrain(ws, r)
    assert ws.current_version() == 1
    with pytest.raises(WorkspaceError, match="already trained"):
        retrain(ws, r)


def test_workspace_lock_refuses_second_session(tmp_path, sim_cache):
    ws, _ = _workspace(tmp_path, sim_cache)
    with ws.lock():
        with pytest.raises(WorkspaceError, match="in use by ahunt process"):
            with Workspace.open(ws.root).lock():
                pass
    with ws.lock():
        pass


def test_interest_weights_split_questions_by_class(tmp_path, sim_cache):
    import dataclasses

    config = tiny_config()
    config = dataclasses.replace(config, hunt=dataclasses.replace(config.hunt, interest={"reserve": 0.5, "spiral": 0.5}))
    ws, survey = _workspace(tmp_path, sim_cache, config)
    train_initial(ws)
    r = ws.store.add_round(survey.load(1))
    questions = prepare_questions(ws, r)
    assert sorted(q.interest for q in questions) == ["reserve"] * 3 + ["spiral"] * 3
    spiral = [q.score for q in questions if q.interest == "spiral"]
    assert np.all(np.diff(spiral) <= 0)  # anomaly strategy: highest p first


def test_focal_loss_hand_computed():
    from ahunt.learn.train import FocalLoss

    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    target = torch.tensor([0, 1])
    p0 = np.exp(2) / (np.exp(2) + 1)  # 0.8808
    expected = (-(1 - p0) ** 2 * np.log(p0) + -(0.5**2) * np.log(0.5)) / 2
    assert float(FocalLoss(2.0)(logits, target)) == pytest.approx(expected, rel=1e-5)
    assert float(FocalLoss(0.0)(logits, target)) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, target)), rel=1e-6)


@pytest.mark.parametrize("loss", ["focal", "isomax"])
def test_hunt_runs_with_each_loss(tmp_path, sim_cache, loss):
    import dataclasses

    config = tiny_config()
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, loss=loss))
    ws = _hunt(tmp_path, sim_cache, config, nights=1)
    model, _ = ws.load_model()
    assert model.args.head == ("isomax" if loss == "isomax" else "linear")
    assert model.n_classes == len(ws.class_names())


def test_balanced_indices_upsample_to_the_largest_class_and_a_minimum():
    from ahunt.learn.train import balanced_indices

    labels = np.array([0] * 10 + [1] * 3 + [2] * 1)
    idx = balanced_indices(labels, np.random.default_rng(0))
    assert np.bincount(labels[idx]).tolist() == [10, 10, 10]
    assert set(idx[labels[idx] == 0]) == set(range(10))  # every original kept
    big = balanced_indices(labels, np.random.default_rng(0), min_total=100)
    assert np.bincount(labels[big]).tolist() == [34, 34, 34]


def test_balanced_indices_draw_a_fixed_budget_the_same_share_per_class():
    from ahunt.learn.train import balanced_indices

    labels = np.array([0] * 1000 + [1] * 5 + [2] * 1)
    idx = balanced_indices(labels, np.random.default_rng(0), size=30)
    assert np.bincount(labels[idx]).tolist() == [10, 10, 10]
    assert len(set(idx[labels[idx] == 0])) == 10  # a large class: a subset, no repeats
    assert np.bincount(idx[labels[idx] == 1]).tolist()[1000:] == [2] * 5  # a small one: evenly
    assert set(idx[labels[idx] == 2]) == {1005}
    odd = balanced_indices(labels, np.random.default_rng(1), size=31)
    assert sorted(np.bincount(labels[odd]).tolist()) == [10, 10, 11]
    # The budget does not grow with the labelled set, nor with a new class.
    more = np.concatenate([labels, [0] * 5000, [3] * 2])
    assert len(balanced_indices(more, np.random.default_rng(0), size=30)) == 30
    assert len(balanced_indices(labels, np.random.default_rng(0), size=30, min_total=60)) == 60
    other = balanced_indices(labels, np.random.default_rng(2), size=30)
    assert set(idx[labels[idx] == 0]) != set(other[labels[other] == 0])  # a new subset per epoch


def test_an_epoch_holds_the_budget_however_many_labels(monkeypatch):
    import dataclasses

    from ahunt.config import TrainConfig
    from ahunt.learn.model import HuntNet, ModelArgs
    from ahunt.learn.train import train_model

    cfg = dataclasses.replace(TrainConfig(), epoch_size=96, batch_size=32)
    batches = []

    def track(iterable, description="", total=None):
        batches.append(total)
        return iterable

    rng = np.random.default_rng(0)
    for n in (20, 400):
        images = rng.random((n, 1, 16, 16), dtype=np.float32)
        labels = np.arange(n) % 3
        model = HuntNet(ModelArgs(n_classes=3, image_size=16))
        train_model(model, images, labels, cfg, epochs=1, seed=0, device=torch.device("cpu"), track=track)
    assert batches == [3, 3]


def test_night_contamination_from_a_random_share(tmp_path, sim_cache):
    import dataclasses

    from ahunt.hunt.query import RANDOM_SHARE
    from ahunt.hunt.session import night_contamination

    config = tiny_config()
    config = dataclasses.replace(config, hunt=dataclasses.replace(config.hunt, random_share=0.34))
    ws, survey = _workspace(tmp_path, sim_cache, config)
    train_initial(ws)
    data = survey.load(1)
    r = ws.store.add_round(data)
    questions = prepare_questions(ws, r)
    assert sum(q.interest == RANDOM_SHARE for q in questions) == 2
    assert night_contamination(ws, r).too_few  # nothing answered yet
    ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False)
    c = night_contamination(ws, r)
    truth = dict(zip(data.ids, data.truth))
    anomalous = {"merger", "artefact", "lens"}
    top = sum(truth[q.object_id] in anomalous for q in questions if q.interest != RANDOM_SHARE)
    rand = [truth[q.object_id] in anomalous for q in questions if q.interest == RANDOM_SHARE]
    n, k = len(data.ids), len(questions) - 2
    assert c.random_questions == 2
    assert c.estimate == pytest.approx((top + (n - k) * np.mean(rand)) / n)
    assert c.se >= 0 and c.low <= c.estimate <= c.high


def test_round_scores_are_cached_per_model_and_recomputed_after_a_retrain(tmp_path, sim_cache, monkeypatch):
    import ahunt.hunt.session as session
    from ahunt.hunt.session import score_round

    ws = _hunt(tmp_path, sim_cache, nights=1)
    first = score_round(ws, 1)  # model of round 1; the hunt itself scored round 1 with round 0's
    assert (ws.root / "scores.h5").exists()
    calls = []
    real = session.score_store
    monkeypatch.setattr(session, "score_store", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = score_round(ws, 1)
    assert calls == [] and np.array_equal(again[0], first[0]) and np.array_equal(again[1], first[1])
    assert again[1].dtype == np.float16
    # A replaced checkpoint (same round, other weights) makes the cached scores stale.

    from ahunt.learn.train import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(ws.checkpoint_path(1))
    with torch.no_grad():
        model.head.bias.add_(1.0)
    save_checkpoint(ws.checkpoint_path(1), model, meta)
    score_round(ws, 1)
    assert calls == [1]
    # A damaged cache is not an error, only a miss.
    (ws.root / "scores.h5").write_bytes(b"not hdf5")
    assert np.allclose(score_round(ws, 1)[0], score_round(ws, 1)[0])
    assert len(calls) >= 2
    # Scoring in other orientations ([score] views) gives other scores: the cache does not stand in.
    import dataclasses

    before, n = score_round(ws, 1), len(calls)
    views = 1 if ws.config.scoring_views != 1 else 4
    ws.save_config(dataclasses.replace(ws.config, score=dataclasses.replace(ws.config.score, views=views)))
    after = score_round(ws, 1)
    assert len(calls) == n + 1 and not np.allclose(after[0], before[0])


def test_a_latent_forest_chooses_from_streamed_latents_without_loading_the_night(tmp_path, sim_cache, monkeypatch):
    from ahunt.methods.baselines import IForestChooser
    from ahunt.store.images import Store

    ws, survey = _workspace(tmp_path, sim_cache)
    train_initial(ws)
    r = ws.store.add_round(survey.load(1))
    model, _ = ws.load_model(0)
    chooser = IForestChooser("latent", seed=11)
    for rr in (0, r):
        chooser.see(ws.store.load_round(rr).images)
    chooser.grow(model, seed=11, device=torch.device("cpu"))
    _, latents = score(model, ws.store.load_round(r).images, device=torch.device("cpu"))
    want = np.argsort(-chooser.scores(latents), kind="stable")[:6].tolist()
    real = Store.load_round
    monkeypatch.setattr(Store, "load_round", lambda self, rr, images=True: (
        pytest.fail("the night's pixels were loaded") if images and rr == r else real(self, rr, images=images)))
    rows = prepare_questions(ws, r, chooser=chooser)
    assert [q.object_index for q in rows] == want



def test_a_merged_class_gets_no_questions_and_leaves_the_head_at_the_next_retrain(tmp_path, sim_cache):
    """Issue 15: a typo class ('Spiral2') merged into 'spiral' stops drawing questions and
    probability; a class that is named again gets its output back."""
    import dataclasses

    from ahunt.hunt.session import score_round
    from ahunt.learn.train import load_checkpoint

    config = tiny_config()
    config = dataclasses.replace(config, hunt=dataclasses.replace(config.hunt, interest={"reserve": 0.5, "typo": 0.5}))
    ws, survey = _workspace(tmp_path, sim_cache, config)
    train_initial(ws)
    for night in (1, 2, 3):
        ws.store.add_round(survey.load(night))
    prepare_questions(ws, 1)
    # the first answer creates 'typo'; the rest say spiral
    answers = [Label("typo", new=True)] + [Label("spiral")] * (ws.config.hunt.questions - 1)
    assert ask(ws, 1, Scripted(answers), with_images=False).complete
    retrain(ws, 1)
    typo = ws.class_names().index("typo")
    assert any(q.interest == "typo" for q in prepare_questions(ws, 2))  # alive: it gets questions
    ws.log.merge_class("typo", "spiral")
    assert ws.classes()[typo].retired and "typo" not in ws.classes_of_interest()
    assert "typo" not in ws.label_counts()
    assert ask(ws, 2, Scripted([Label("spiral")] * ws.config.hunt.questions), with_images=False).complete
    retrain(ws, 2)
    probs, _, names, version = score_round(ws, 3)
    assert version == 2 and names[typo] == "typo"
    assert probs[:, typo].max() < 1e-6  # silenced: out of the head, index kept
    assert not any(q.interest == "typo" for q in prepare_questions(ws, 3))
    # named again, it comes back with a fresh output
    ws.log.record(round=3, object_id=ws.log.questions(3)[0].object_id, kind="label", class_name="Typo",
                  new_class=True, oracle="t")
    assert not ws.classes()[typo].retired
    assert load_checkpoint(ws.checkpoint_path(2))[1]["retired"] == [typo]
    answers = [Label("spiral")] * (ws.config.hunt.questions - 1)
    assert ask(ws, 3, Scripted(answers), with_images=False).complete
    retrain(ws, 3)
    assert score_round(ws, 3)[0][:, typo].max() > 1e-3


def test_any_interesting_ranks_by_the_reserve_until_an_interesting_class_exists(tmp_path, sim_cache):
    cpu = torch.device("cpu")
    ws, survey = _workspace(tmp_path, sim_cache)
    train_initial(ws)
    r = ws.store.add_round(survey.load(1))
    images = ws.store.load_round(r).images
    model, _ = ws.load_model(0)
    before = class_rankings(ws, r, model, images, ["merger", ANY], any_interesting=["merger"])
    probs, latents = score(model, images, device=cpu)
    novelty = reserve_scores(ws, r, model, probs, latents, images)
    # no class of interest yet: 'any' ranks as the reserve's questions do (its novelty), not by
    # 1 - p(boring), which would be the reserve output's probability alone
    np.testing.assert_allclose(before[ANY], novelty, rtol=1e-5)
    np.testing.assert_allclose(before["merger"], novelty, rtol=1e-5)
    assert not np.allclose(before[ANY], interesting_score(ws, probs))
    alone = class_rankings(ws, r, model, images, [ANY], any_interesting=["merger"])  # without a class column
    np.testing.assert_allclose(alone[ANY], novelty, rtol=1e-5)

    prepare_questions(ws, r)
    ask(ws, r, Scripted([Label("merger", new=True)] + [Skip()] * 10))
    retrain(ws, r)
    model, _ = ws.load_model(r)
    after = class_rankings(ws, r, model, images, [ANY], any_interesting=["merger"])
    np.testing.assert_allclose(after[ANY], interesting_score(ws, score(model, images, device=cpu)[0]), rtol=1e-5)


def test_a_hunt_with_a_crop_trains_scores_and_asks_on_the_central_field(tmp_path, sim_cache, monkeypatch):
    """``[model] crop``: every round's network keeps it, training augments the cropped field
    (so shifts are relative to what the network sees), and the reserve's novelty compares the
    pixels of that field too."""
    import dataclasses

    import ahunt.learn.train as train_module
    from ahunt.config import ConfigError, ModelConfig
    from ahunt.hunt.ranking import reserve_reference

    with pytest.raises(ConfigError, match=r"model\.crop.*8\.\.32"):
        ModelConfig(image_size=32, crop=48).validate()
    base = tiny_config()
    config = dataclasses.replace(base, model=dataclasses.replace(base.model, crop=16)).validate()
    augmented: set[tuple[int, ...]] = set()
    make = train_module.make_augmentation

    def recording(cfg):
        augment = make(cfg)

        def apply(img):
            augmented.add(tuple(img.shape))
            return augment(img)
        return apply

    monkeypatch.setattr(train_module, "make_augmentation", recording)
    ws = _hunt(tmp_path, sim_cache, config, nights=1)
    assert augmented == {(1, 16, 16)}
    model, _ = ws.load_model(1)
    assert model.args.crop == 16 and model.args.image_size == 32
    assert len(ws.log.standing_answers(1)) == config.hunt.questions
    reference = reserve_reference(ws, model, {"reserve": 1.0}, seed=config.seed)
    assert reference.crop == 16 and reference.pixels.shape[1] == 16 * 16


def test_editing_the_networks_shape_after_round_0_warns_and_changes_nothing(tmp_path, sim_cache):
    import dataclasses

    from ahunt.errors import AhuntWarning

    ws, survey = _workspace(tmp_path, sim_cache)
    train_initial(ws)
    ws.save_config(dataclasses.replace(ws.config, model=dataclasses.replace(ws.config.model, crop=16)))
    data = survey.load(1)
    r = ws.store.add_round(data)
    prepare_questions(ws, r)
    assert ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False).complete
    with pytest.warns(AhuntWarning, match=r"config\.toml: \[model\] crop = 16 \(the network has 0\)"):
        retrain(ws, r)
    assert ws.load_model(r)[0].args.crop == 0


def test_with_spread_a_named_classs_questions_are_logged_as_spread_picks(tmp_path, sim_cache):
    """The log and the question screen say how each question was chosen: a named class's picks
    under [hunt] spread are "spread", the reserve's stay "anomaly"."""
    ws = _hunt(tmp_path, sim_cache, tiny_config(spread=5), nights=2)
    by = {(q.interest, q.strategy) for q in ws.log.questions()}
    assert ("reserve", "anomaly") in by
    named = {s for i, s in by if i != "reserve"}
    assert named == {"spread"}, by
