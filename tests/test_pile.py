"""A hunt started without labels leaves the pile's lookalikes of answered anomalies out of `normal`."""

import dataclasses

import numpy as np
import pytest

from ahunt.errors import ConfigError
from ahunt.hunt.pile import MAX_SHARE, lookalikes
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.hunt.session import retrain, started_without_labels, summarise_round
from ahunt.learn.train import load_checkpoint
from ahunt.sources.rounds import RoundData
from conftest import tiny_config, trained_round_0

runner = CliRunner()


def test_a_pile_object_is_a_lookalike_when_its_nearest_answer_is_of_a_class_of_interest():
    pile = np.array([[0.0, 0.0], [5.0, 5.0], [4.9, 5.2], [10.0, 0.0]])
    answered = np.array([[5.0, 5.1], [0.0, 0.2], [9.0, 0.0]])
    assert lookalikes(pile, answered, [True, False, False], max_share=1).tolist() == [False, True, True, False]
    # the boring answer at (9, 0) is what (10, 0) looks like, not the merger
    assert lookalikes(pile, answered, [False, False, True], max_share=1).tolist() == [False, False, False, True]
    # nothing to weigh: no answer of interest, or nothing else answered
    assert not lookalikes(pile, answered, [False, False, False], max_share=1).any()
    assert not lookalikes(pile, answered, [True, True, True], max_share=1).any()


def test_no_more_than_a_share_of_the_pile_is_left_out_the_nearest_first():
    rng = np.random.default_rng(0)
    pile = rng.normal(size=(200, 4))
    answered = np.vstack([pile[17] + 1e-3, rng.normal(size=(2, 4)) + 20])  # a merger, two far normals
    out = lookalikes(pile, answered, [True, False, False], max_share=0.05)
    assert out.sum() == 10 and out[17]  # all 200 are nearer the merger; the 10 nearest are left out


def night_with_a_copy_of_the_pile(ws, stream, copied: int) -> tuple[int, str]:
    """Night 1 of the stream plus a copy of pile object ``copied``; its round and the copy's id."""
    night = stream.load(1)
    pile = ws.store.load_round(0)
    copy = RoundData(images=pile.images[[copied]], ids=np.array(["copy-of-pile"]), truth=np.array(["merger"]))
    fields = {name: getattr(night, name) for name in ("images", "ids", "truth")}
    both = RoundData.concat([RoundData(**fields), copy])
    return ws.store.add_round(both), "copy-of-pile"


@pytest.mark.parametrize("setting, left_out", [("leave-out", True), ("keep", False)])
def test_a_retrain_leaves_out_the_pile_object_an_answered_merger_copies(tmp_path, sim_cache, setting, left_out):
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, survey=dataclasses.replace(cfg.survey, unlabelled=True),
                              train=dataclasses.replace(cfg.train, pseudo_kinds=0, pile_lookalikes=setting)).validate()
    stream, ws = trained_round_0(tmp_path / "ws", sim_cache, cfg)
    assert started_without_labels(ws)
    r, copy_id = night_with_a_copy_of_the_pile(ws, stream, copied=7)
    night = ws.store.load_round(r)
    ws.log.record(round=r, object_id=copy_id, kind="label", class_name="merger", new_class=True, oracle="t")
    for oid in night.ids[:3]:
        ws.log.record(round=r, object_id=str(oid), kind="label", class_name="normal", new_class=False,
                      class_kind="known", oracle="t")
    result = runner.invoke(app, ["train", str(ws.root)])  # what `ahunt train` does, and says
    assert result.exit_code == 0, result.output
    _, meta = load_checkpoint(ws.checkpoint_path(r))
    said = summarise_round(ws, r, complete=True, retrained=True).pile_left_out
    if left_out:
        assert 1 <= meta["pile_left_out"] <= MAX_SHARE * ws.store.round_size(0)
        assert said == meta["pile_left_out"]
        assert f"{said} pile objects that look like answered anomalies left out of normal" in " ".join(result.output.split())
    else:
        assert meta["pile_left_out"] == said == 0
        assert "left out" not in result.output


def test_a_labelled_hunt_keeps_its_round_0_whole(tmp_path, sim_cache):
    cfg = tiny_config()
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, pile_lookalikes="leave-out")).validate()
    stream, ws = trained_round_0(tmp_path / "ws", sim_cache, cfg)
    assert not started_without_labels(ws)
    r = ws.store.add_round(stream.load(1))
    night = ws.store.load_round(r)
    merger = str(night.ids[list(night.truth).index("merger")])
    ws.log.record(round=r, object_id=merger, kind="label", class_name="merger", new_class=True, oracle="t")
    ws.log.record(round=r, object_id=str(night.ids[0]), kind="label", class_name=str(night.truth[0]),
                  new_class=False, class_kind="known", oracle="t")
    retrain(ws, r)
    _, meta = load_checkpoint(ws.checkpoint_path(r))
    assert meta["pile_left_out"] == 0


def test_an_unknown_setting_is_refused_with_its_key():
    cfg = tiny_config()
    with pytest.raises(ConfigError, match="train.pile_lookalikes"):
        dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, pile_lookalikes="drop")).validate()
