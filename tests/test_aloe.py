import dataclasses
import math

import numpy as np
import pytest
import torch

from ahunt.config import ExperimentConfig
from ahunt.evaluate.experiment import run_experiment
from ahunt.hunt.oracle import TruthOracle
from ahunt.hunt.session import ask, prepare_questions, train_initial
from ahunt.methods.aloe import AloeDetector, anomaly_loss, kmeanspp_draws, loe_losses, normal_loss
from ahunt.sources.streams import make_stream
from ahunt.store.workspace import Workspace
from conftest import seeded_part, tiny_config


def test_hypersphere_losses_by_hand():
    d = torch.tensor([0.1, 1.0, 5.0])
    assert torch.allclose(normal_loss(d), d)
    expected = [-math.log(1 - math.exp(-0.1)), -math.log(1 - math.exp(-1.0)), -math.log(1 - math.exp(-5.0))]
    assert torch.allclose(anomaly_loss(d), torch.tensor(expected), rtol=1e-6)
    assert expected == pytest.approx([2.35216, 0.458675, 0.0067607], rel=1e-4)
    at_centre = anomaly_loss(torch.tensor([0.0]))
    assert torch.isfinite(at_centre).all() and float(at_centre) == pytest.approx(-math.log(1e-6), rel=1e-4)
    # large distances stay finite and tend to 0 without cancellation
    assert float(anomaly_loss(torch.tensor([40.0], dtype=torch.float64))) == pytest.approx(math.exp(-40), rel=1e-6)


def test_latent_outlier_exposure_soft_and_hard():
    d = torch.tensor([0.5, 3.0, 1.0, 2.0], requires_grad=True)
    la = lambda x: -math.log(1 - math.exp(-x))  # noqa: E731
    soft, mask = loe_losses(d, 0.5, "soft")
    assert mask.tolist() == [False, True, False, True]  # the top half by score
    assert soft.tolist() == pytest.approx([0.5, 0.5 * 3 + 0.5 * la(3.0), 1.0, 0.5 * 2 + 0.5 * la(2.0)], rel=1e-6)
    hard, _ = loe_losses(d, 0.5, "hard")
    assert hard.tolist() == pytest.approx([0.5, la(3.0), 1.0, la(2.0)], rel=1e-6)
    none, mask = loe_losses(d, 0.0)
    assert not mask.any() and torch.equal(none, d)
    assert loe_losses(d, 0.3)[1].sum() == 1  # round(0.3 * 4) = 1
    soft.sum().backward()  # soft: gradient 1/2 - 1/2 e^-d / (1 - e^-d) on the flagged ones
    assert d.grad.tolist() == pytest.approx([1.0, 0.5 - 0.5 / math.expm1(3.0), 1.0, 0.5 - 0.5 / math.expm1(2.0)], rel=1e-5)
    with pytest.raises(ValueError):
        loe_losses(d, 0.5, "medium")


def test_kmeanspp_draws_record_their_probabilities():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 3))
    available = np.arange(2, 30)
    picks, probs = kmeanspp_draws(z, available, 6, np.random.default_rng(1))
    assert len(set(picks.tolist())) == 6 and set(picks) <= set(available)
    x = z[available]
    d2 = ((x - x.mean(0)) ** 2).sum(1)
    first = int(np.flatnonzero(available == picks[0])[0])
    assert probs[0] == pytest.approx(d2[first] / d2.sum())
    d2 = np.minimum(d2, ((x - x[first]) ** 2).sum(1))
    d2[first] = 0
    second = int(np.flatnonzero(available == picks[1])[0])
    assert probs[1] == pytest.approx(d2[second] / d2.sum())
    assert np.all((probs > 0) & (probs <= 1))
    same = kmeanspp_draws(z, available, 6, np.random.default_rng(1))
    assert np.array_equal(same[0], picks) and np.allclose(same[1], probs)
    all_, p_all = kmeanspp_draws(z, np.arange(4), 10, rng)
    assert sorted(all_.tolist()) == [0, 1, 2, 3] and p_all[-1] == 1.0


def test_detector_starts_at_the_normal_centre_and_learns_the_answers(tmp_path, sim_cache):
    cfg = tiny_config()
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    det = AloeDetector(ws, device=torch.device("cpu"))
    r0 = ws.store.load_round(0).images
    assert det.scores(r0).mean() == pytest.approx(1.0, rel=1e-4)  # scaled squared distance from the centre
    data = stream.load(1)
    r = ws.store.add_round(data)
    det.start_round(ws, r)
    questions = prepare_questions(ws, r, chooser=det)
    assert [q.object_index for q in questions] == det.draws[r]["indices"]
    assert len(det.draws[r]["probabilities"]) == cfg.hunt.questions
    ask(ws, r, TruthOracle(dict(zip(data.ids.tolist(), data.truth.tolist()))), with_images=False)
    y = np.array([t not in stream.known for t in data.truth[[q.object_index for q in questions]]], dtype=float)
    assert y.any()
    losses = det.learn(ws, r)
    assert len(losses) == cfg.train.epochs and all(np.isfinite(losses))
    est, se = det.contamination(ws, r)
    assert est >= 0 and se >= 0
    n = cfg.hunt.questions
    assert det.alpha == pytest.approx(min(0.5, (n * 0.1 + n * est) / (2 * n)))  # prior worth one night
    s = det.scores(data.images)
    asked = np.array([q.object_index for q in questions])
    anomalies, normals = asked[y == 1], asked[y == 0]
    assert s[anomalies].mean() > s[normals].mean()


def test_aloe_runs_in_the_experiment_with_contamination_rows(tmp_path, sim_cache):
    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=2),
                              experiment=ExperimentConfig(trials=1, jobs=1, methods=("aloe",)))
    rows = run_experiment(cfg, tmp_path / "exp", cache_dir=sim_cache)
    metrics = {r["metric"] for r in rows}
    assert {"mcc:merger", "true_candidates:merger", "anomalies_found",
            "contamination_estimate", "contamination_se", "contamination_true"} <= metrics
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    for r in (1, 2):
        truth = stream.load(r).truth
        true = [x["value"] for x in rows if x["round"] == r and x["metric"] == "contamination_true"]
        assert true == [pytest.approx(np.mean([t not in stream.known for t in truth]))]
        (est,) = [x["value"] for x in rows if x["round"] == r and x["metric"] == "contamination_estimate"]
        assert 0 <= est <= 1
    again = run_experiment(cfg, tmp_path / "exp2", cache_dir=sim_cache)
    assert seeded_part(again) == seeded_part(rows)  # seeded
