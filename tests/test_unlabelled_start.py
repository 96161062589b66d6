"""A hunt started from unlabelled images: one known class 'normal', normal kinds named later."""

import dataclasses
import io

import numpy as np
import torch
import pytest
from rich.console import Console
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.config import dump_config
from ahunt.errors import ConfigError, WorkspaceError
from ahunt.evaluate.experiment import run_task
from ahunt.hunt.oracle import Label
from ahunt.hunt.session import train_initial
from ahunt.hunt.terminal_oracle import StreamKeys, TerminalOracle
from ahunt.sources.streams import make_stream, oracle_truth
from ahunt.store.answer_log import NORMAL, AnswerLog
from ahunt.store.workspace import Workspace
from conftest import tiny_config

runner = CliRunner()


def unlabelled_config(**survey):
    cfg = tiny_config()
    return dataclasses.replace(cfg, survey=dataclasses.replace(cfg.survey, unlabelled=True, **survey)).validate()


def test_the_stream_hides_round_0_labels_and_the_oracle_answers_normal(sim_cache):
    labelled = make_stream(tiny_config().survey, image_size=32, cache_dir=sim_cache)
    stream = make_stream(unlabelled_config().survey, image_size=32, cache_dir=sim_cache)
    assert stream.known == [NORMAL] and stream.anomalies == labelled.anomalies
    r0, truth0 = stream.load(0), labelled.load(0)
    assert set(r0.labels) == {NORMAL} and list(r0.truth) == list(truth0.labels)
    np.testing.assert_array_equal(r0.images, truth0.images)  # the same draws: only the labels differ
    night = stream.load(1)
    answers = oracle_truth(stream, night)
    for oid, t in zip(night.ids, night.truth):
        assert answers[oid] == (NORMAL if t in ("elliptical", "spiral", "edge-on") else t)
    assert oracle_truth(labelled, night) == dict(zip(night.ids.tolist(), night.truth.tolist()))


def test_anomalies_hidden_in_the_pile_are_called_normal_and_left_out_of_a_labelled_start(sim_cache):
    clean = make_stream(unlabelled_config().survey, image_size=32, cache_dir=sim_cache)
    cfg = unlabelled_config(hidden={"merger": 2, "artefact": 1})
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    r0, pile = stream.load(0), clean.load(0)
    assert sorted(r0.truth[len(pile):]) == ["artefact", "merger", "merger"] and set(r0.labels) == {NORMAL}
    np.testing.assert_array_equal(r0.images[: len(pile)], pile.images)  # the same pile, with 3 more
    np.testing.assert_array_equal(stream.load(1).images, clean.load(1).images)  # and the same nights
    assert stream.anomalies == clean.anomalies
    assert stream.stream.cache_path == clean.stream.cache_path  # only round 0 is simulated again, beside the survey
    labelled = make_stream(dataclasses.replace(cfg.survey, unlabelled=False), image_size=32, cache_dir=sim_cache)
    r0 = labelled.load(0)
    assert len(r0) == len(pile) and list(r0.labels) == list(pile.truth)  # ahunt-labelled: no hidden anomaly


def test_an_experiment_with_anomalies_in_its_pile_counts_them_as_anomalies(tmp_path, sim_cache):
    from ahunt.evaluate.demo import round_report

    cfg = unlabelled_config(hidden={"merger": 3})
    run_task(cfg, "ahunt", 0, tmp_path, cache_dir=sim_cache, keep_workspace=True)
    ws = Workspace.open(tmp_path / "ahunt-trial0")
    assert list(ws.store.load_round(0, images=False).truth).count("merger") == 3
    # a report without the stream (ahunt report) still counts mergers as anomalies, not round-0 kinds
    assert "merger" in [c.name for c in round_report(ws, 1).classes]


def test_config_checks():
    with pytest.raises(ConfigError, match="survey.hidden.*survey.initial"):
        dataclasses.replace(tiny_config().survey, hidden={"spiral": 2}).validate()
    with pytest.raises(ConfigError, match="survey.hidden.galaxy.*unknown"):
        dataclasses.replace(tiny_config().survey, hidden={"galaxy": 2}).validate()
    with pytest.raises(ConfigError, match="survey.unlabelled"):
        dataclasses.replace(tiny_config().survey, unlabelled="yes").validate()
    with pytest.raises(ConfigError, match="train.self_supervised.*contrastive"):
        dataclasses.replace(tiny_config().train, self_supervised="jigsaw").validate()


def test_round_0_with_one_known_class_is_self_supervised_and_says_normal(tmp_path, sim_cache):
    cfg = unlabelled_config()
    stream = make_stream(cfg.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", cfg, stream.load(0), known=stream.known)
    assert [(c.name, c.kind) for c in ws.classes()] == [(NORMAL, "known"), ("reserve", "reserve")]
    losses = train_initial(ws)
    assert len(losses) == cfg.train.epochs_initial
    model, _ = ws.load_model(0)
    from ahunt.learn.train import score

    probs, _ = score(model, stream.load(1).images, device=torch.device("cpu"))
    assert (probs[:, 0] > 0.5).mean() > 0.9  # round 0 knows only 'normal'


def test_an_experiment_started_unlabelled_never_names_the_round_0_kinds(tmp_path, sim_cache):
    cfg = unlabelled_config()
    rows = run_task(cfg, "ahunt", 0, tmp_path, cache_dir=sim_cache, keep_workspace=True)
    ws = Workspace.open(tmp_path / "ahunt-trial0")
    names = ws.class_names()
    assert names[:2] == [NORMAL, "reserve"]
    assert not {"elliptical", "spiral", "edge-on"} & set(names)
    assert any(r["metric"] == "interesting_found" for r in rows)


def test_normal_kinds_are_known_classes_made_by_answers(tmp_path):
    log = AnswerLog(tmp_path / "answers.sqlite")
    log.create([NORMAL])
    log.record(round=1, object_id="a", kind="label", class_name="spiral", new_class=True, class_kind="known",
               oracle="t")
    log.record(round=1, object_id="b", kind="label", class_name="merger", new_class=True, oracle="t")
    kinds = {c.name: (c.kind, c.created_round) for c in log.classes()}
    assert kinds["spiral"] == ("known", 1) and kinds["merger"] == ("anomaly", 1)
    assert log.set_kind("Merger", "known") == ("merger", "anomaly")
    assert {c.name: c.kind for c in log.classes()}["merger"] == "known"
    with pytest.raises(WorkspaceError, match="round-0 class"):
        log.set_kind(NORMAL, "anomaly")
    with pytest.raises(WorkspaceError, match="reserve"):
        log.set_kind("reserve", "known")
    # a normal kind made by an answer can be merged away, and is retired once it has no labels
    log.merge_class("spiral", NORMAL)
    assert next(c for c in log.classes() if c.name == "spiral").retired
    assert not next(c for c in log.classes() if c.name == NORMAL).retired


def test_k_names_a_new_normal_kind_at_the_terminal():
    from test_terminal_oracle import CLASSES, question

    console = Console(file=io.StringIO(), width=100, color_system=None)
    oracle = TerminalOracle(console, StreamKeys(io.StringIO("k\nbarred spiral\n"), console), clear=False)
    assert oracle(question(answered=1), CLASSES) == Label("barred spiral", new=True, normal=True)
    assert "New normal kind" in console.file.getvalue()


def test_init_unlabelled_then_hunt_and_name_a_normal_kind(tmp_path):
    rng = np.random.default_rng(0)
    pile = tmp_path / "pile.npz"
    np.savez(pile, images=rng.random((48, 20, 20), dtype=np.float32))
    config = tmp_path / "c.toml"
    config.write_text(dump_config(tiny_config(interest={"reserve": 1.0})))
    ws_path = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws_path), "--unlabelled", str(pile), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "48 unlabelled images, all of the known class 'normal'" in result.output and "press k" in result.output
    ws = Workspace.open(ws_path)
    assert ws.class_names() == [NORMAL, "reserve"]
    night = tmp_path / "night.npz"
    np.savez(night, images=rng.random((20, 20, 20), dtype=np.float32), ids=np.array([f"n{i}" for i in range(20)]))
    assert runner.invoke(app, ["ingest", str(ws_path), str(night)]).exit_code == 0
    result = runner.invoke(app, ["hunt", str(ws_path), "--keys-from-stdin"], input="1 n\nspiral\n" + "1 " * 10 + "q")
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["classes", str(ws_path), "--normal", "spiral"])
    assert result.exit_code == 0, result.output
    assert "'spiral' is a normal kind" in result.output
    assert {c.name: c.kind for c in Workspace.open(ws_path).classes()}["spiral"] == "known"
    result = runner.invoke(app, ["classes", str(ws_path), "--normal", NORMAL])
    assert result.exit_code != 0 and "round-0 class" in result.output
    # --classes is for labelled data only; exactly one source
    result = runner.invoke(app, ["init", str(tmp_path / "w2"), "--unlabelled", str(pile), "--classes", "a"])
    assert result.exit_code != 0 and "--classes applies to --known" in result.output
    result = runner.invoke(app, ["init", str(tmp_path / "w3"), "--unlabelled", str(pile), "--simulated"])
    assert result.exit_code != 0 and "exactly one of" in result.output
    assert not (tmp_path / "w2").exists() and not (tmp_path / "w3").exists()


def test_demo_and_experiment_start_unlabelled_from_the_command_line(tmp_path, sim_cache):
    config = tmp_path / "tiny.toml"
    cfg = tiny_config()
    config.write_text(dump_config(dataclasses.replace(cfg, survey=dataclasses.replace(cfg.survey, nights=1))))
    result = runner.invoke(app, ["demo", "--unlabelled", "--config", str(config), "--out", str(tmp_path / "demo"),
                                 "--cache-dir", str(sim_cache)])
    assert result.exit_code == 0, result.output
    assert "started without labels" in result.output
    assert Workspace.open(tmp_path / "demo" / "workspace").class_names()[:2] == [NORMAL, "reserve"]
    result = runner.invoke(app, ["experiment", str(config), "--unlabelled", "--trials", "1", "--jobs", "1",
                                 "--methods", "ahunt,ahunt-labelled", "--out", str(tmp_path / "exp"),
                                 "--cache-dir", str(sim_cache), "--keep-workspaces"])
    assert result.exit_code == 0, result.output
    assert "started without labels" in result.output and "ahunt-labelled" in result.output
    starts = {m: Workspace.open(tmp_path / "exp" / "work" / f"{m}-trial0").class_names()[0]
              for m in ("ahunt", "ahunt-labelled")}
    assert starts == {"ahunt": NORMAL, "ahunt-labelled": "elliptical"}


def test_an_experiment_started_without_labels_has_its_own_default_folder(tmp_path, sim_cache, monkeypatch):
    # Otherwise the unlabelled run would resume the labelled run's finished tasks and print them.
    config = tmp_path / "tiny.toml"
    cfg = tiny_config()
    config.write_text(dump_config(dataclasses.replace(cfg, survey=dataclasses.replace(cfg.survey, nights=1))))
    monkeypatch.chdir(tmp_path)
    common = ["--trials", "1", "--jobs", "1", "--methods", "ahunt", "--cache-dir", str(sim_cache)]
    assert runner.invoke(app, ["experiment", str(config), *common]).exit_code == 0
    result = runner.invoke(app, ["experiment", str(config), "--unlabelled", *common, "--keep-workspaces"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "experiment-tiny" / "parts" / "ahunt-trial0.csv").exists()
    folder = tmp_path / "runs" / "experiment-tiny-unlabelled"
    assert Workspace.open(folder / "work" / "ahunt-trial0").class_names()[0] == NORMAL


def test_init_streams_the_pile_into_the_store_and_a_bad_piece_leaves_nothing(tmp_path, monkeypatch):
    """A pile is written to the store a piece at a time, never read whole; a bad image in a
    later piece leaves no hunt behind and names the file."""
    import ahunt.sources.files as files

    def whole(*args, **kwargs):
        raise AssertionError("the pile was read whole")

    monkeypatch.setattr(files, "read_input", whole)
    rng = np.random.default_rng(0)
    images = rng.random((files.PIECE + 40, 20, 20), dtype=np.float32)
    pile = tmp_path / "pile.npy"
    np.save(pile, images)
    config = tmp_path / "c.toml"
    config.write_text(dump_config(tiny_config(interest={"reserve": 1.0})))
    result = runner.invoke(app, ["init", str(tmp_path / "ws"), "--unlabelled", str(pile), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"{files.PIECE + 40} unlabelled images" in result.output
    ws = Workspace.open(tmp_path / "ws")
    assert ws.store.round_size(0) == files.PIECE + 40 and set(ws.store.load_round(0, images=False).labels) == {NORMAL}
    images[files.PIECE + 5] = np.nan
    np.save(pile, images)
    result = runner.invoke(app, ["init", str(tmp_path / "bad"), "--unlabelled", str(pile), "--config", str(config)])
    assert result.exit_code != 0
    assert "pile.npy" in result.output and "NaN" in result.output and "no hunt was created" in result.output
    assert not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bad.building-*"))


def test_an_interrupted_init_says_no_hunt_was_created(tmp_path, monkeypatch):
    import ahunt.hunt.session as session

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "train_initial", interrupted)
    pile = tmp_path / "pile.npy"
    np.save(pile, np.random.default_rng(0).random((12, 20, 20), dtype=np.float32))
    result = runner.invoke(app, ["init", str(tmp_path / "ws"), "--unlabelled", str(pile)])
    assert result.exit_code == 130 and "No hunt was created" in result.output
    assert not (tmp_path / "ws").exists() and not list(tmp_path.glob(".ws.building-*"))
