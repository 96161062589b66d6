import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ahunt.config import Config, ExperimentConfig, HuntConfig, SurveyConfig
from ahunt.errors import ConfigError
from ahunt.evaluate.experiment import hunt_summary, read_results, run_experiment, trial_config
from ahunt.hunt.session import retrain, train_initial
from ahunt.methods.baselines import IForestChooser
from ahunt.sources.streams import make_stream
from conftest import tiny_config


def test_iforest_ranks_an_obvious_outlier_first():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    x[17] += 12
    chooser = IForestChooser("raw", seed=0)
    chooser.see(x)
    chooser.grow(None, seed=0, device=None)
    assert int(np.argmax(chooser.scores(x))) == 17
    picks = chooser(x, None, [17], 3, rng)
    assert 17 not in [p.index for p in picks] and len(picks) == 3


def test_an_isolation_forest_grows_on_every_object_seen_so_far():
    """Like the peers, an iforest method's forest knows the earlier nights, not tonight alone: a
    kind of object common in the sample seen so far is not an outlier tonight, however rare
    tonight."""
    rng = np.random.default_rng(1)
    earlier = np.concatenate([rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + 8])
    tonight = np.concatenate([rng.normal(size=(100, 4)), rng.normal(size=(2, 4)) + 8])
    alone = IForestChooser("raw", seed=0)
    alone.see(tonight)
    alone.grow(None, seed=0, device=None)
    seen = IForestChooser("raw", seed=0)
    seen.see(earlier)
    seen.see(tonight)
    assert len(seen.seen.sample()) == len(earlier) + len(tonight)
    seen.grow(None, seed=0, device=None)
    # tonight alone, the two far objects are its top outliers; knowing the earlier nights, they are not
    assert set(np.argsort(-alone.scores(tonight))[:2]) == {100, 101}
    assert not set(np.argsort(-seen.scores(tonight))[:2]) & {100, 101}
    with pytest.raises(RuntimeError, match="not grown"):
        IForestChooser("raw", seed=0).scores(tonight)


def test_the_runners_forests_grow_on_round_0_and_every_night_so_far(tmp_path, sim_cache, monkeypatch):
    """Every isolation-forest method gets what the peers get: round 0 and the nights so far,
    tonight's included; the dynamic one regrows in the latent space of each night's retrain."""
    from ahunt.evaluate.experiment import run_task

    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=2))
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    sizes = [len(stream.load(r).images) for r in range(3)]
    grown = []
    real = IForestChooser.grow

    def grow(self, model, *, seed, device):
        grown.append((self.space, len(self.seen.sample())))
        real(self, model, seed=seed, device=device)

    monkeypatch.setattr(IForestChooser, "grow", grow)
    for method in ("iforest-raw", "iforest-latent-dynamic"):
        run_task(cfg, method, 0, tmp_path, cache_dir=sim_cache)
    seen = [sizes[0] + sizes[1], sum(sizes)]
    assert grown == [("raw", seen[0]), ("raw", seen[1])] + [("latent", n) for n in seen for _ in (0, 1)]


def test_trial_config_shifts_seeds_and_sets_strategy():
    cfg = trial_config(tiny_config(), 2, "random")
    assert cfg.seed == tiny_config().seed + 2 and cfg.survey.seed == tiny_config().survey.seed + 2
    assert cfg.hunt.strategy == "random"
    assert trial_config(tiny_config(), 0, "static").hunt.strategy == tiny_config().hunt.strategy


def test_static_baseline_retrains_only_the_head(tmp_path, sim_cache):
    from ahunt.hunt.oracle import TruthOracle
    from ahunt.hunt.session import ask, prepare_questions
    from ahunt.store.workspace import Workspace

    cfg = tiny_config()
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    data = stream.load(1)
    r = ws.store.add_round(data)
    prepare_questions(ws, r)
    ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False)
    before, _ = ws.load_model(0)
    retrain(ws, r, head_only=True)
    after, _ = ws.load_model(1)
    for (name, a), (_, b) in zip(before.state_dict().items(), after.state_dict().items()):
        if not name.startswith("head"):
            assert torch.equal(a, b), name  # weights and BatchNorm statistics untouched
    assert not torch.equal(before.head.weight, after.head.weight[: before.n_classes])


def test_experiment_rows_resume_and_summary(tmp_path, sim_cache, monkeypatch):
    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=2),
                              experiment=ExperimentConfig(trials=2, jobs=1, methods=("ahunt", "iforest-raw")))
    rows = run_experiment(cfg, tmp_path / "exp", cache_dir=sim_cache)
    assert {r["method"] for r in rows} == {"ahunt", "iforest-raw"}
    assert {r["trial"] for r in rows} == {0, 1} and {r["round"] for r in rows} == {1, 2}
    assert {"mcc:merger", "auc:merger", "true_candidates:merger", "anomalies_found"} <= {r["metric"] for r in rows}
    assert repr(read_results(tmp_path / "exp" / "results.csv")) == repr(rows)  # NaN where nothing is held out
    assert not (tmp_path / "exp" / "work" / "ahunt-trial0").exists()  # workspaces removed
    summary = hunt_summary(rows)
    mean, std, n = summary["ahunt"]["final_mcc:merger"]
    assert n == 2 and -1 <= mean <= 1 and std >= 0

    import ahunt.evaluate.experiment as experiment

    def fail(*args, **kwargs):
        raise AssertionError("a finished task was run again")

    monkeypatch.setattr(experiment, "run_task", fail)
    assert repr(run_experiment(cfg, tmp_path / "exp", cache_dir=sim_cache)) == repr(rows)


def test_an_experiment_folder_refuses_to_resume_under_another_config(tmp_path, sim_cache, monkeypatch):
    import ahunt.evaluate.experiment as experiment

    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=1),
                              experiment=ExperimentConfig(trials=1, jobs=1, methods=("iforest-raw",)))
    out = tmp_path / "exp"
    rows = run_experiment(cfg, out, cache_dir=sim_cache)
    assert (out / "config.toml").exists()
    before = {p.name: p.read_bytes() for p in (out / "parts").iterdir()}
    # more trials or methods grow the same experiment
    more = dataclasses.replace(cfg, experiment=ExperimentConfig(trials=2, jobs=1, methods=("iforest-raw", "random")))
    monkeypatch.setattr(experiment, "run_task", lambda config, method, trial, *a, **k: rows[:1])
    run_experiment(more, out, cache_dir=sim_cache)
    # what the experiment measures may not change under it
    other = dataclasses.replace(cfg, hunt=dataclasses.replace(cfg.hunt, questions=cfg.hunt.questions + 1))
    with pytest.raises(ConfigError, match=r"another config \(hunt\.questions = 6 there, 7 now\).*--out"):
        run_experiment(other, out, cache_dir=sim_cache)
    after = {p.name: p.read_bytes() for p in (out / "parts").iterdir()}
    assert {k: after[k] for k in before} == before and (out / "config.toml").read_text() == \
        experiment.dump_config(cfg)
    # a damaged config.toml is one clear line, not a traceback, and nothing is rewritten
    (out / "config.toml").write_text("[hunt\nquestions = ", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.toml cannot be read as the config of this experiment"):
        run_experiment(cfg, out, cache_dir=sim_cache)
    assert (out / "config.toml").read_text() == "[hunt\nquestions = "
    # a folder with finished tasks but no config (an older ahunt's) cannot be checked: refused,
    # and nothing is written; with the config it ran with put back, it resumes
    (out / "config.toml").unlink()
    with pytest.raises(ConfigError, match=r"holds finished tasks but no config\.toml.*--out"):
        run_experiment(other, out, trials=1, methods=["iforest-raw"], cache_dir=sim_cache)
    assert not (out / "config.toml").exists()
    assert {k: v for k, v in ((p.name, p.read_bytes()) for p in (out / "parts").iterdir()) if k in before} == before
    (out / "config.toml").write_text(experiment.dump_config(cfg), encoding="utf-8")
    run_experiment(cfg, out, trials=1, methods=["iforest-raw"], cache_dir=sim_cache)


def test_a_setting_added_after_a_run_was_written_counts_as_its_default(tmp_path, sim_cache, monkeypatch):
    import ahunt.evaluate.experiment as experiment

    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=1),
                              experiment=ExperimentConfig(trials=1, jobs=1, methods=("iforest-raw",)))
    out = tmp_path / "exp"
    rows = run_experiment(cfg, out, cache_dir=sim_cache)
    # the folder's config.toml from before [train] unlabelled_sample existed
    old = "\n".join(line for line in (out / "config.toml").read_text().splitlines()
                    if not line.startswith("unlabelled_sample"))
    (out / "config.toml").write_text(old, encoding="utf-8")
    monkeypatch.setattr(experiment, "run_task", lambda config, method, trial, *a, **k: rows)
    assert len(run_experiment(cfg, out, trials=2, cache_dir=sim_cache)) == 2 * len(rows)
    # ... but a value other than that default is another experiment
    other = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, unlabelled_sample=99))
    with pytest.raises(ConfigError, match=r"train\.unlabelled_sample = 4096 there, 99 now"):
        run_experiment(other, out, cache_dir=sim_cache)
    assert (out / "config.toml").read_text() == old


def test_an_experiment_folder_in_use_is_refused_and_left_as_it_is(tmp_path, sim_cache):
    import os

    from ahunt.errors import WorkspaceError
    from ahunt.store.folder_lock import folder_lock

    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=1),
                              experiment=ExperimentConfig(trials=1, jobs=1, methods=("iforest-raw",)))
    out = tmp_path / "exp"
    out.mkdir()
    with folder_lock(out):  # another `ahunt experiment` running in this folder
        with pytest.raises(WorkspaceError, match=rf"exp is in use by ahunt process {os.getpid()}; wait for it"):
            run_experiment(cfg, out, cache_dir=sim_cache)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # no config, no parts, no workspaces
    run_experiment(cfg, out, cache_dir=sim_cache)  # free again: it runs
    assert (out / "parts" / "iforest-raw-trial0.csv").exists()


def test_interest_schedule():
    hunt = HuntConfig(interest={"reserve": 1.0},
                      interest_schedule={"2": {"reserve": 0.83, "a": 0.17}, "6": {"a": 0.125, "b": 0.75, "reserve": 0.125}})
    hunt.validate()
    assert hunt.interest_for(1) == {"reserve": 1.0}
    assert hunt.interest_for(3)["a"] == 0.17
    assert hunt.interest_for(9)["b"] == 0.75
    with pytest.raises(ConfigError, match="round numbers"):
        HuntConfig(interest_schedule={"x": {"reserve": 1.0}}).validate()


def test_mnist_stream_draws_real_digits_without_repeats():
    survey = SurveyConfig(source="mnist5k", seed=0, nights=3, initial={"0": 50, "1": 40},
                          nightly={"0": 10, "1": 10, "2": 3}, late_from_night=2, late={"3": 2})
    survey.validate()
    stream = make_stream(survey, image_size=32)
    assert stream.known == ["0", "1"] and stream.anomalies == ["2", "3"]
    seen = set()
    for r in range(stream.n_rounds):
        data = stream.load(r)
        assert data.images.shape[1:] == (1, 32, 32) and data.images.max() <= 1.0
        assert not seen & set(data.ids.tolist())
        seen |= set(data.ids.tolist())
    assert stream.load(0).labels.tolist().count("0") == 50
    assert stream.load(3).truth.tolist().count("3") == 2
    too_many = dataclasses.replace(survey, initial={"0": 600})
    with pytest.raises(ConfigError, match=r"mnist5k has too few .*: class '0' needs 630 \(initial 600 \+ nightly 10 x 3 nights\), has 500"):
        make_stream(too_many, image_size=32)


def test_experiment_config_rejects_unknown_method():
    with pytest.raises(ConfigError, match="unknown method"):
        Config(experiment=ExperimentConfig(methods=("ahunt", "magic"))).validate()


def test_deep_detector_methods_are_known_and_leave_the_others_alone():
    from ahunt.config import METHODS
    from ahunt.methods.baselines import METHOD_SPECS, make_detector

    Config(experiment=ExperimentConfig(methods=("aloe", "ae-active"))).validate()
    assert {"aloe", "ae-active"} <= set(METHODS) and set(METHOD_SPECS) == set(METHODS)
    assert {m for m, spec in METHOD_SPECS.items() if spec.detector} == {"aloe", "ae-active", "fixmatch", "fixmatch-kinds"}
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("magic", None, device=None)


def test_experiment_records_the_sessions_estimate_with_a_random_share(tmp_path, sim_cache):
    cfg = tiny_config()
    cfg = dataclasses.replace(
        cfg, survey=dataclasses.replace(cfg.survey, nights=1),
        hunt=dataclasses.replace(cfg.hunt, random_share=0.34),
        experiment=ExperimentConfig(trials=1, jobs=1, methods=("ahunt",)),
    )
    rows = run_experiment(cfg, tmp_path / "exp", cache_dir=sim_cache)
    metrics = {r["metric"]: r["value"] for r in rows}
    assert {"contamination_estimate", "contamination_se", "contamination_true"} <= set(metrics)
    assert 0 <= metrics["contamination_estimate"] <= 1


def test_loss_variants_are_methods():
    assert trial_config(tiny_config(), 0, "ahunt-isomax").train.loss == "isomax"
    assert trial_config(tiny_config(), 0, "ahunt-focal").train.loss == "focal"
    assert trial_config(tiny_config(), 0, "ahunt").train.loss == "cross_entropy"


def test_hunt_summary_counts_over_the_hunt_and_the_first_find():
    from ahunt.evaluate.experiment import hunt_summary

    rows = []
    for trial, found in enumerate(([0, 2, 3], [0, 0, 0])):
        for r, f in enumerate(found, start=1):
            rows += [
                {"trial": trial, "method": "m", "round": r, "metric": "interesting_found", "value": f},
                {"trial": trial, "method": "m", "round": r, "metric": "true_candidates:a", "value": f},
                {"trial": trial, "method": "m", "round": r, "metric": "mcc:a", "value": 0.1 * r},
            ]
    s = hunt_summary(rows)["m"]
    # the sample std over the trials (ddof=1): 5 and 0 spread by 3.54, not the population's 2.5
    assert s["found_total:a"] == pytest.approx((2.5, np.sqrt(12.5), 2)) and s["interesting_found_total"][0] == 2.5
    assert s["first_find_night"] == pytest.approx((3.0, np.sqrt(2), 2))  # night 2, and never (= one past the 3 nights)
    assert np.isclose(s["mean_mcc:a"][0], 0.2) and np.isclose(s["final_mcc:a"][0], 0.3)


def test_streams_and_experiments_do_not_depend_on_the_hash_seed(tmp_path):
    """The same trial draws the same objects, and gives the same results, in every process."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import dataclasses, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import tiny_config
        from ahunt.config import ExperimentConfig, ModelConfig, SurveyConfig
        from ahunt.evaluate.experiment import run_experiment
        from ahunt.sources.streams import make_stream
        survey = SurveyConfig(source="mnist5k", seed=0, nights=1, initial={{"0": 30, "1": 30, "7": 30}},
                              nightly={{"0": 8, "1": 8, "7": 8, "2": 3, "3": 2}}, late={{}})
        stream = make_stream(survey, image_size=16)
        print(" ".join(stream.load(1).ids.tolist()))
        cfg = dataclasses.replace(tiny_config(), model=ModelConfig(image_size=16, width=4), survey=survey,
                                  experiment=ExperimentConfig(trials=1, jobs=1, methods=("ahunt", "aad-raw")))
        from ahunt.config import HuntConfig
        cfg = dataclasses.replace(cfg, hunt=dataclasses.replace(cfg.hunt, interest={{"reserve": 1.0}}))
        run_experiment(cfg, sys.argv[1])
    """)
    outputs = []
    for seed in ("0", "12345"):
        out = tmp_path / f"exp{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed, "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-c", script, str(out)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        rows = [line.split(",") for line in (out / "results.csv").read_text().splitlines()]
        # every column but the CPU seconds, which no two runs share
        outputs.append((done.stdout, [row for row in rows if row[3] != "cpu_seconds"]))
    assert outputs[0] == outputs[1]


def test_mean_std_is_the_sample_std_and_counts_the_trials_with_a_value():
    from ahunt.cli.experiment import _cell
    from ahunt.evaluate.experiment import mean_std

    assert mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0, 3))
    mean, std, n = mean_std([0.49, float("nan"), float("nan")])
    assert (mean, n) == (0.49, 1) and np.isnan(std)  # one trial: no spread to show, never "± 0.00"
    assert np.isnan(mean_std([float("nan")])[0]) and mean_std([float("nan")])[2] == 0
    by = {"x": mean_std([0.49, float("nan"), float("nan")]), "y": mean_std([1.0, 3.0, float("nan")]),
          "z": mean_std([1.0, 2.0, 3.0])}
    assert _cell(by, "x", 2, 3) == "0.49 (n=1)"
    assert _cell(by, "y", 2, 3) == "2.00 ± 1.41 (n=2)"
    assert _cell(by, "z", 1, 3) == "2.0 ± 1.0"
    assert _cell(by, "missing", 2, 3) == "–"


def test_a_raw_pixel_forest_sees_the_networks_field():
    """With ``[model] crop`` the raw-pixel forest grows on the central pixels the network sees:
    the sky around them changes nothing."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1, 32, 32)).astype(np.float32)
    x[17, :, 8:24, 8:24] += 6.0  # odd in the centre
    x[5, :, :4, :] += 50.0  # odd only outside the central 16 x 16
    chooser = IForestChooser("raw", seed=0, crop=16)
    assert chooser.features(x, None).shape == (60, 1, 16, 16)
    chooser.see(x)
    chooser.grow(None, seed=0, device=None)
    s = chooser.scores(chooser.features(x, None))
    assert int(np.argmax(s)) == 17 and np.argsort(-s).tolist().index(5) > 5


def test_trials_surveys_are_simulated_side_by_side_before_the_tasks(tmp_path):
    """On two cores the trials' surveys are simulated in two processes, into the same cache a
    task then reads, and they are the surveys one process would simulate."""
    from ahunt.evaluate.experiment import _prepare_streams
    from ahunt.sources.simulated import SimulatedSurvey, simulate_round

    cfg = dataclasses.replace(tiny_config(), survey=dataclasses.replace(tiny_config().survey, nights=1))
    _prepare_streams(cfg, [0, 1], "ahunt", 2, tmp_path)
    for trial in (0, 1):
        survey = trial_config(cfg, trial, "ahunt").survey
        cached = SimulatedSurvey(survey, image_size=32, cache_dir=tmp_path)
        assert cached.cache_path.exists()
        night = make_stream(survey, image_size=32, cache_dir=tmp_path).load(1)
        assert np.array_equal(night.images, simulate_round(survey, 1, image_size=32).images)
    assert len(list(tmp_path.glob("survey-*.h5"))) == 2
