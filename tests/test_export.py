"""Candidate catalogues from a tiny trained hunt (synthetic images; no simulator needed)."""

import numpy as np
import pytest
from astropy.table import Table
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.errors import AhuntError
from ahunt.hunt.oracle import Label, Skip
from ahunt.hunt.session import ask, prepare_questions, retrain, train_initial
from ahunt.outputs.export import candidate_table, export_candidates, write_table
from ahunt.store.images import RoundData
from ahunt.store.workspace import Workspace
from conftest import tiny_config


def _round(rng, kinds, prefix, labelled):
    n = len(kinds)
    y, x = np.mgrid[:32, :32]
    images = []
    for k in kinds:
        blob = np.exp(-((x - 16) ** 2 + (y - 16) ** 2) / {"round": 20.0, "long": 6.0, "merger": 3.0}[k])
        if k == "long":
            blob = np.exp(-((x - 16) ** 2) / 40.0 - ((y - 16) ** 2) / 4.0)
        if k == "merger":
            blob = blob + np.roll(blob, 8, axis=1)
        images.append(0.1 * rng.random((32, 32)) + 0.8 * blob)
    kinds = np.array(kinds, dtype=object)
    return RoundData(
        images=np.clip(np.array(images, dtype=np.float32)[:, None], 0, 1),
        ids=np.array([f"{prefix}{i}" for i in range(n)], dtype=object),
        labels=kinds if labelled else None,
        truth=kinds,
        ra=np.linspace(10, 11, n),
        dec=np.linspace(-5, -4, n) if labelled else np.r_[np.nan, np.linspace(-5, -4, n - 1)],
    )


@pytest.fixture(scope="module")
def hunt(tmp_path_factory):
    rng = np.random.default_rng(0)
    cfg = tiny_config()
    r0 = _round(rng, ["round"] * 20 + ["long"] * 20, "k", labelled=True)
    ws = Workspace.create(tmp_path_factory.mktemp("export") / "ws", cfg, r0)
    train_initial(ws)
    night = _round(rng, ["round"] * 10 + ["long"] * 10 + ["merger"] * 6, "n", labelled=False)
    r = ws.store.add_round(night)
    prepare_questions(ws, r)
    assert ask(ws, r, Recording(), with_images=False).complete
    retrain(ws, r)
    return ws


class Recording:
    """First answer: a new class 'merger'; second: skip; then the truth.  Keeps what it said."""

    name = "recording"
    said: dict = {}

    def __call__(self, question, classes):
        n = len(Recording.said)
        answer = Label("merger", new=True) if n == 0 else Skip() if n == 1 else Label(_truth(question.object_id))
        Recording.said[question.object_id] = answer.name if isinstance(answer, Label) else ""
        return answer


def _truth(object_id):
    return (["round"] * 10 + ["long"] * 10 + ["merger"] * 6)[int(object_id[1:])]


def test_table_columns_labels_and_ranks(hunt):
    t = candidate_table(hunt)
    names = hunt.class_names()
    assert names == ["round", "long", "reserve", "merger"]
    assert t.colnames[:4] == ["id", "ra", "dec", "round"]
    assert {"p_round", "p_long", "p_reserve", "p_merger", "predicted", "label", "rank_reserve", "rank_merger",
            "rank", "ranked_by"} <= set(t.colnames)
    assert len(t) == 26 and set(t["round"]) == {1}
    p = np.stack([t[f"p_{c}"] for c in names], axis=1)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    assert list(t["predicted"]) == [names[i] for i in p.argmax(axis=1)]
    assert str(t["ra"].unit) == "deg"
    assert len(Recording.said) == 6 and sorted(Recording.said.values()).count("") == 1  # one skip
    for row in t:
        assert row["label"] == Recording.said.get(row["id"], "")
    # rank_merger is 1..N by p_merger, and the table is sorted by the best rank
    order = np.argsort(-np.asarray(t["p_merger"]), kind="stable")
    assert sorted(t["rank_merger"]) == list(range(1, 27))
    assert np.all(np.diff(np.asarray(t["p_merger"])[order]) <= 0)
    assert np.all(np.diff(np.asarray(t["rank"])) >= 0)
    assert np.isnan(t["dec"][list(t["id"]).index("n0")])


def test_the_reserve_ranks_by_the_novelty_its_questions_use(hunt):
    """Not by p_reserve: the reserve output never sees an example, so its probability ranks noise."""
    from ahunt.hunt.session import reserve_scores, score_round

    t = candidate_table(hunt)
    probs, latents, _, version = score_round(hunt, 1)
    model, _ = hunt.load_model(version)
    with hunt.store.lazy_images(1) as images:
        novelty = reserve_scores(hunt, 1, model, probs, latents, images)
    by_id = dict(zip(hunt.store.load_round(1, images=False).ids.tolist(), novelty))
    np.testing.assert_allclose(np.asarray(t["novelty"]), [by_id[i] for i in t["id"]], rtol=1e-5)
    order = np.argsort(-np.asarray(t["novelty"]), kind="stable")
    assert list(np.asarray(t["rank_reserve"])[order]) == list(range(1, len(t) + 1))
    assert not np.array_equal(np.argsort(-np.asarray(t["p_reserve"])), order)  # a different ranking
    assert t.meta["RANKBY"] == "rank_reserve=novelty, rank_merger=p_merger"
    assert t.meta["SCOREBY"] == "reserve=novelty, merger=p_merger"


def test_top_k_and_all_rounds(hunt):
    top = candidate_table(hunt, top=3)
    assert 3 <= len(top) <= 6
    assert all(min(r["rank_reserve"], r["rank_merger"]) <= 3 for r in top)
    everything = candidate_table(hunt, rounds=[0, 1])
    assert len(everything) == 66
    r0 = everything[everything["round"] == 0]
    assert set(r0["label"]) == {"round", "long"}
    with pytest.raises(AhuntError, match="round 7 does not exist"):
        candidate_table(hunt, rounds=[7])


@pytest.mark.parametrize("ext", ["ecsv", "fits", "vot", "csv"])
def test_formats_read_back(hunt, tmp_path, ext):
    path, table = export_candidates(hunt, tmp_path / f"cands.{ext}", top=4)
    back = Table.read(path, format={"ecsv": "ascii.ecsv", "fits": "fits", "vot": "votable", "csv": "ascii.csv"}[ext])
    assert back.colnames == table.colnames and len(back) == len(table)
    assert list(back["id"]) == list(table["id"])
    np.testing.assert_allclose(np.asarray(back["p_merger"], dtype=float), np.asarray(table["p_merger"], dtype=float), rtol=1e-6)
    if ext != "csv":
        assert back["ra"].unit == "deg" and back["dec"].unit == "deg"
    assert [p.name for p in tmp_path.iterdir()] == [f"cands.{ext}"]  # no temporary file left


def test_refuses_to_overwrite(hunt, tmp_path):
    path = tmp_path / "c.ecsv"
    path.write_text("precious")
    with pytest.raises(AhuntError, match="exists; pass --overwrite"):
        export_candidates(hunt, path)
    assert path.read_text() == "precious"
    export_candidates(hunt, path, overwrite=True)
    assert len(Table.read(path)) == 26
    with pytest.raises(AhuntError, match="cannot tell the format"):
        export_candidates(hunt, tmp_path / "c.txt")
    with pytest.raises(AhuntError, match="--format 'xls'"):
        export_candidates(hunt, tmp_path / "c.ecsv", fmt="xls")
    with pytest.raises(AhuntError, match="choose one of"):
        write_table(Table(), tmp_path / "x", fmt="parquet")


def test_cli_export(hunt, tmp_path):
    runner = CliRunner()
    out = tmp_path / "mergers.fits"
    result = runner.invoke(app, ["export", str(hunt.root), "--top", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and "best candidates" in result.output
    t = Table.read(out)
    assert len(t) <= 4
    # the preview shows the score behind each rank: the reserve's novelty, not p_reserve ~ 0
    reserve = [row for row in t if row["ranked_by"] == "reserve"]
    assert reserve and f"{float(reserve[0]['novelty']):.3f}" in result.output
    result = runner.invoke(app, ["export", str(hunt.root), "--top", "2", "--out", str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = runner.invoke(app, ["export", str(hunt.root), "--all-rounds", "--format", "votable", "--out", str(tmp_path / "all")])
    assert result.exit_code == 0, result.output
    assert len(Table.read(tmp_path / "all", format="votable")) == 66
    result = runner.invoke(app, ["export", str(hunt.root), "--round", "0", "--all-rounds"])
    assert result.exit_code == 2 and "at most one" in result.output
    result = runner.invoke(app, ["export", str(hunt.root)])  # default: into the workspace, ECSV
    assert result.exit_code == 0, result.output
    assert (hunt.root / "candidates_round0001.ecsv").exists()


def test_export_writes_a_contact_sheet_for_sharing(tmp_path, sim_cache, monkeypatch):
    from typer.testing import CliRunner

    from ahunt.cli import app

    ws_path = _trained_workspace_for_sheet(tmp_path, sim_cache)
    sheet = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["export", str(ws_path), "--out", str(tmp_path / "c.ecsv"),
                                      "--top", "3", "--contact-sheet", str(sheet)])
    assert result.exit_code == 0, result.output
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = CliRunner().invoke(app, ["export", str(ws_path), "--out", str(tmp_path / "d.ecsv"),
                                     "--contact-sheet", str(sheet)])
    assert again.exit_code == 2 and "--overwrite" in again.output


def _trained_workspace_for_sheet(tmp_path, sim_cache):
    from ahunt.hunt.oracle import TruthOracle
    from ahunt.hunt.session import ask, prepare_questions, retrain, train_initial
    from ahunt.sources.simulated import SimulatedSurvey
    from ahunt.store.workspace import Workspace
    from conftest import tiny_config

    config = tiny_config()
    survey = SimulatedSurvey(config.survey, image_size=32, cache_dir=sim_cache)
    ws = Workspace.create(tmp_path / "ws", config, survey.load(0), known=list(config.survey.initial))
    train_initial(ws)
    data = survey.load(1)
    r = ws.store.add_round(data)
    prepare_questions(ws, r)
    ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False)
    retrain(ws, r)
    return ws.root


def test_a_class_with_few_members_ranks_by_its_members_neighbours(hunt):
    """``[hunt] few_members``: the catalogue ranks such a class by the score its questions use,
    names that score in a column of its own and says so in the metadata."""
    import dataclasses

    from ahunt.hunt.ranking import class_scores, neighbour_classes
    from ahunt.hunt.session import score_round

    members = hunt.label_counts()["merger"][1]
    assert 1 <= members < 20
    few = Workspace(hunt.root, dataclasses.replace(hunt.config, hunt=dataclasses.replace(hunt.config.hunt,
                                                                                         few_members=20)))
    assert neighbour_classes(few, 1, ["reserve", "merger", "round"]) == ["merger"]  # interest, not the reserve
    assert neighbour_classes(hunt, 1, ["merger"]) == []  # off by default
    limit = Workspace(hunt.root, dataclasses.replace(few.config, hunt=dataclasses.replace(few.config.hunt,
                                                                                          few_members=members)))
    assert neighbour_classes(limit, 1, ["merger"]) == []  # fewer than the limit, not as many
    asked = {q.object_id for q in hunt.log.questions(1)}
    assert neighbour_classes(limit, 1, ["merger"], leave_out=asked) == []  # none left: no members to rank by

    t = candidate_table(few)
    assert t.meta["RANKBY"] == "rank_reserve=novelty, rank_merger=neighbours_merger"
    assert t.meta["SCOREBY"] == "reserve=novelty, merger=neighbours_merger"
    s = np.asarray(t["neighbours_merger"])
    assert 0 < s.min() and s.max() <= 1
    order = np.argsort(-s, kind="stable")
    assert list(np.asarray(t["rank_merger"])[order]) == list(range(1, len(t) + 1))
    probs, latents, _, version = score_round(few, 1)
    model, _ = few.load_model(version)
    with few.store.lazy_images(1) as images:
        direct = class_scores(few, 1, model, probs, latents, images, ["merger"])["merger"]
    by_id = dict(zip(few.store.load_round(1, images=False).ids.tolist(), direct))
    np.testing.assert_allclose(s, [by_id[i] for i in t["id"]], rtol=1e-5)
    mergers = np.array([_truth(i) == "merger" for i in t["id"]])
    assert s[mergers].mean() > 0.5 > s[~mergers].mean()  # nearer a merger, or nearer something boring
    assert "neighbours_merger" not in candidate_table(hunt).colnames


def test_questions_of_a_class_with_few_members_come_from_its_neighbours(hunt, tmp_path):
    import dataclasses
    import shutil

    from ahunt.hunt.ranking import class_scores
    from ahunt.hunt.session import score_round

    shutil.copytree(hunt.root, tmp_path / "ws")
    saved = Workspace.open(tmp_path / "ws")
    ws = Workspace(saved.root, dataclasses.replace(saved.config, hunt=dataclasses.replace(saved.config.hunt,
                                                                                          few_members=20)))
    r = ws.store.add_round(_round(np.random.default_rng(5), ["round"] * 10 + ["long"] * 10 + ["merger"] * 4,
                                  "m", labelled=False))
    questions = prepare_questions(ws, r)
    probs, latents, _, version = score_round(ws, r)
    model, _ = ws.load_model(version)
    with ws.store.lazy_images(r) as images:
        neighbours = class_scores(ws, r, model, probs, latents, images, ["merger"])["merger"]
    asked = [q for q in questions if q.interest == "merger"]
    assert asked and all(np.isclose(q.score, neighbours[q.object_index]) for q in asked)
    seen = []

    class Seeing:
        name = "seeing"

        def __call__(self, question, classes):
            seen.append((question.interest, question.score_name, question.rank))
            return Skip()

    ask(ws, r, Seeing())
    assert {(i, s) for i, s, _ in seen} >= {("merger", "neighbours"), ("reserve", "novelty")}
    assert all(rank is not None and rank >= 1 for _, _, rank in seen)
