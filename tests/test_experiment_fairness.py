"""What a reviewer checks first in a comparison: every method of the runner asks exactly the
question budget, and none of them learns anything from the truth of an object never asked."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import ahunt.evaluate.experiment as experiment
from ahunt.config import ExperimentConfig
from ahunt.methods.baselines import METHOD_SPECS
from ahunt.sources.rounds import RoundData
from ahunt.store.workspace import Workspace
from conftest import tiny_config

pytestmark = pytest.mark.slow

METHODS = sorted(METHOD_SPECS)
# Started without labels, the methods that learn from the pile's pseudo-kinds, checked again.
UNLABELLED = ["ahunt", "fixmatch-kinds"]


def _config(unlabelled: bool = False):
    cfg = tiny_config()
    return dataclasses.replace(
        cfg, hunt=dataclasses.replace(cfg.hunt, questions=3),  # fewer than the mergers: some stay unasked
        survey=dataclasses.replace(cfg.survey, nights=2, late_from_night=2, unlabelled=unlabelled),
        experiment=ExperimentConfig(trials=1, jobs=1, methods=tuple(METHODS), uninteresting=("artefact",),
                                    catalogue_pool=120),
    ).validate()


class _Recorder:
    """Everything a method decides with, as the runner sees it: the scores it hands to the
    night's report and every ranking of the catalogue pool."""

    def __init__(self, monkeypatch):
        self.seen: list[np.ndarray] = []
        report, metrics = experiment.round_report, experiment.catalogue_metrics

        def round_report(ws, r, **kw):
            if kw.get("scores") is not None:
                self.seen.append(np.asarray(kw["scores"]).copy())
            return report(ws, r, **kw)

        def catalogue_metrics(scores, is_class):
            self.seen.append(np.asarray(scores).copy())
            return metrics(scores, is_class)

        monkeypatch.setattr(experiment, "round_report", round_report)
        monkeypatch.setattr(experiment, "catalogue_metrics", catalogue_metrics)


def _hunt_record(root, nights: int) -> dict:
    ws = Workspace.open(root)
    questions = {r: [(q.object_id, q.interest, round(q.score, 6)) for q in ws.log.questions(r)]
                 for r in range(1, nights + 1)}
    answers = {r: sorted((a.object_id, a.kind, a.class_idx) for a in ws.log.standing_answers(r))
               for r in range(1, nights + 1)}
    models = {r: {k: v.clone() for k, v in ws.load_model(r)[0].state_dict().items()} for r in range(nights + 1)}
    return {"questions": questions, "answers": answers, "models": models, "classes": ws.class_names()}


def _first_runs(cfg, methods, work, sim_cache):
    """Each method once, workspaces kept: the questions, answers and models of each."""
    out = {}
    mp = pytest.MonkeyPatch()
    try:
        for method in methods:
            rec = _Recorder(mp)
            experiment.run_task(cfg, method, 0, work / "a", cache_dir=sim_cache, keep_workspace=True)
            out[method] = (_hunt_record(work / "a" / f"{method}-trial0", cfg.survey.nights), rec.seen)
            mp.undo()
    finally:
        mp.undo()
    return cfg, work, out


@pytest.fixture(scope="module")
def first_runs(tmp_path_factory, sim_cache):
    return _first_runs(_config(), METHODS, tmp_path_factory.mktemp("fair"), sim_cache)


@pytest.fixture(scope="module")
def first_unlabelled_runs(tmp_path_factory, sim_cache):
    return _first_runs(_config(unlabelled=True), UNLABELLED, tmp_path_factory.mktemp("fair-unlabelled"), sim_cache)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_asks_exactly_the_question_budget(first_runs, method):
    cfg, _, out = first_runs
    record, _ = out[method]
    for r in range(1, cfg.survey.nights + 1):
        assert len(record["questions"][r]) == cfg.hunt.questions, (method, r)
        assert len({oid for oid, _, _ in record["questions"][r]}) == cfg.hunt.questions  # no object twice
        assert len(record["answers"][r]) == cfg.hunt.questions  # every question answered, none extra


class _ShuffledUnasked:
    """The same stream, with the true classes of the objects never asked shuffled among them
    (in every night and in the catalogue pool); the asked objects keep theirs."""

    def __init__(self, stream, asked: set[str], seed: int):
        self.stream, self.asked, self.seed = stream, asked, seed
        self.n_rounds, self.known, self.anomalies = stream.n_rounds, stream.known, stream.anomalies
        if hasattr(stream, "normal_kinds"):  # started without labels: the astronomer's "normal"
            self.normal_kinds = stream.normal_kinds

    def _shuffled(self, data: RoundData, key: int) -> RoundData:
        truth = data.truth.copy()
        free = np.flatnonzero([oid not in self.asked for oid in data.ids.tolist()])
        truth[free] = truth[np.random.default_rng([self.seed, key]).permutation(free)]
        assert (truth != data.truth).any(), "the shuffle must change something"
        return dataclasses.replace(data, truth=truth)

    def ensure(self, **kw):
        return self.stream.ensure(**kw)

    def load(self, r: int, **kw) -> RoundData:
        data = self.stream.load(r, **kw)
        return data if r == 0 else self._shuffled(data, r)  # round 0's labels are given, not hidden

    def pool(self, size: int, **kw) -> RoundData:
        return self._shuffled(self.stream.pool(size, **kw), 10**6)


@pytest.mark.parametrize("method", METHODS)
def test_no_leakage_shuffling_the_truth_of_unasked_objects_changes_nothing(first_runs, method, monkeypatch, sim_cache):
    _check_no_leakage(first_runs, method, monkeypatch, sim_cache)


@pytest.mark.parametrize("method", UNLABELLED)
def test_no_leakage_started_without_labels(first_unlabelled_runs, method, monkeypatch, sim_cache):
    _check_no_leakage(first_unlabelled_runs, method, monkeypatch, sim_cache)


def _check_no_leakage(runs, method, monkeypatch, sim_cache):
    cfg, work, out = runs
    record, seen = out[method]
    asked = {oid for qs in record["questions"].values() for oid, _, _ in qs}
    make_stream = experiment.make_stream
    monkeypatch.setattr(experiment, "make_stream",
                        lambda *a, **kw: _ShuffledUnasked(make_stream(*a, **kw), asked, seed=1))
    rec = _Recorder(monkeypatch)
    experiment.run_task(cfg, method, 0, work / "b", cache_dir=sim_cache, keep_workspace=True)
    again = _hunt_record(work / "b" / f"{method}-trial0", cfg.survey.nights)
    assert again["questions"] == record["questions"]
    assert again["answers"] == record["answers"] and again["classes"] == record["classes"]
    for r, state in record["models"].items():
        for name, tensor in state.items():
            assert torch.equal(tensor, again["models"][r][name]), (method, r, name)
    assert len(rec.seen) == len(seen)
    for a, b in zip(seen, rec.seen):
        np.testing.assert_array_equal(a, b)
