import subprocess
import sys
import textwrap

import pytest

from ahunt.errors import WorkspaceError
from ahunt.store.answer_log import AnswerLog, QuestionRow


@pytest.fixture
def log(tmp_path):
    log = AnswerLog(tmp_path / "answers.sqlite")
    log.create(["elliptical", "spiral"])
    return log


def test_classes_start_with_known_then_reserve(log):
    assert [(c.idx, c.name, c.kind) for c in log.classes()] == [
        (0, "elliptical", "known"), (1, "spiral", "known"), (2, "reserve", "reserve")]


def test_new_class_created_with_its_answer(log):
    log.record(round=1, object_id="x1", kind="label", class_name="merger", new_class=True, oracle="t")
    assert log.classes()[-1].name == "merger" and log.classes()[-1].idx == 3
    log.record(round=1, object_id="x2", kind="label", class_name="merger", oracle="t")
    with pytest.raises(WorkspaceError, match="already exists"):
        log.record(round=1, object_id="x3", kind="label", class_name="merger", new_class=True, oracle="t")
    with pytest.raises(WorkspaceError, match="no class named 'lens'"):
        log.record(round=1, object_id="x4", kind="label", class_name="lens", oracle="t")
    assert [a.object_id for a in log.standing_answers()] == ["x1", "x2"]


def test_undo_is_a_retraction_never_a_delete(log):
    log.record(round=1, object_id="a", kind="label", class_name="spiral", oracle="t")
    log.record(round=1, object_id="b", kind="skip", oracle="t")
    log.record(round=2, object_id="c", kind="label", class_name="spiral", oracle="t")
    assert log.retract_last(1, oracle="t").object_id == "b"
    assert log.retract_last(1, oracle="t").object_id == "a"
    assert log.retract_last(1, oracle="t") is None
    assert [a.object_id for a in log.standing_answers()] == ["c"]
    kinds = [row[3] for row in log.history()]
    assert kinds == ["label", "skip", "label", "retract", "retract"]
    log.record(round=1, object_id="a", kind="label", class_name="elliptical", oracle="t")
    assert log.current_labels()["a"].class_idx == 0


def test_questions_are_unique_per_object(log):
    q = QuestionRow(1, 0, "a", 5, "anomaly", "reserve", 0.9, 0)
    log.add_questions([q, QuestionRow(1, 1, "b", 6, "anomaly", "reserve", 0.8, 0)])
    assert [x.object_id for x in log.questions(1)] == ["a", "b"]
    with pytest.raises(WorkspaceError, match="asked twice"):
        log.add_questions([QuestionRow(2, 0, "a", 5, "anomaly", "reserve", 0.9, 1)])
    assert len(log.questions()) == 2


def test_rename_class(log):
    log.rename_class("spiral", "face-on spiral")
    assert "face-on spiral" in [c.name for c in log.classes()]
    with pytest.raises(WorkspaceError, match="already exists"):
        log.rename_class("elliptical", "face-on spiral")
    with pytest.raises(WorkspaceError, match="keeps its name"):
        log.rename_class("reserve", "x")


def test_answers_committed_one_by_one_survive_a_kill(log, tmp_path):
    """A process killed by SIGKILL between answers loses none of those already recorded."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from ahunt.store.answer_log import AnswerLog
        log = AnswerLog({str(log.path)!r})
        for i in range(3):
            log.record(round=1, object_id=f"o{{i}}", kind="label", class_name="spiral", oracle="t")
            print(i, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9
    assert proc.stdout.split() == ["0", "1", "2"]
    assert [a.object_id for a in AnswerLog(log.path).standing_answers()] == ["o0", "o1", "o2"]


def test_a_batch_commits_together_and_keeps_what_was_answered(log):
    other = AnswerLog(log.path)  # another connection: sees only what is committed
    with pytest.raises(KeyboardInterrupt):
        with log.batch(every=3):
            log.record(round=1, object_id="o0", kind="label", class_name="merger", new_class=True, oracle="t")
            log.record(round=1, object_id="o1", kind="label", class_name="merger", oracle="t")  # sees its class
            assert [a.object_id for a in log.standing_answers()] == ["o0", "o1"]
            assert other.standing_answers() == []  # not committed yet
            with pytest.raises(WorkspaceError, match="no class named 'lens'"):
                log.record(round=1, object_id="o2", kind="label", class_name="lens", oracle="t")
            log.record(round=1, object_id="o3", kind="skip", oracle="t")
            assert [a.object_id for a in other.standing_answers()] == ["o0", "o1", "o3"]  # every 3 writes
            log.record(round=1, object_id="o4", kind="skip", oracle="t")
            assert log.retract_last(1, oracle="t").object_id == "o4"
            assert log.retract_last(7, oracle="t") is None
            raise KeyboardInterrupt
    assert [a.object_id for a in other.standing_answers()] == ["o0", "o1", "o3"]
    assert [row[3] for row in other.history()] == ["label", "label", "skip", "skip", "retract"]
    assert "merger" in [c.name for c in other.classes()]
    log.record(round=2, object_id="o5", kind="skip", oracle="t")  # one by one again
    assert other.standing_answers()[-1].object_id == "o5"


def test_log_from_another_schema_version_is_refused(log):
    import sqlite3

    conn = sqlite3.connect(log.path)
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    with pytest.raises(WorkspaceError, match="schema version 0"):
        log.classes()


# -- class names: case, typos, merges (issue 15) ----------------------------------------------
def test_class_names_match_ignoring_case_and_spaces(log):
    log.record(round=1, object_id="a", kind="label", class_name="  Spiral ", oracle="t")
    assert log.current_labels()["a"].class_idx == 1
    with pytest.raises(WorkspaceError, match="already exists"):
        log.record(round=1, object_id="b", kind="label", class_name="SPIRAL", new_class=True, oracle="t")
    assert [c.name for c in log.classes()] == ["elliptical", "spiral", "reserve"]
    with pytest.raises(WorkspaceError, match="already exists.*--merge"):
        log.rename_class("elliptical", "Spiral")
    log.rename_class("spiral", "Spiral")  # a class may change its own case
    assert log.classes()[1].name == "Spiral"


def test_a_class_whose_creating_answer_is_undone_retires_and_comes_back(log):
    log.record(round=1, object_id="a", kind="label", class_name="merger", new_class=True, oracle="t")
    assert not log.classes()[-1].retired
    log.retract_last(1, oracle="t")
    merger = log.classes()[-1]
    assert merger.name == "merger" and merger.retired
    assert not any(c.retired for c in log.classes()[:-1])  # the reserve has no labels but never retires
    log.record(round=1, object_id="b", kind="label", class_name="Merger", new_class=True, oracle="t")
    assert [c.name for c in log.classes()] == ["elliptical", "spiral", "reserve", "merger"]
    assert not log.classes()[-1].retired and log.current_labels()["b"].class_idx == 3


def test_merge_moves_every_answer_and_keeps_the_history(log):
    log.record(round=1, object_id="a", kind="label", class_name="Spiral2", new_class=True, oracle="t")
    log.record(round=2, object_id="b", kind="label", class_name="spiral2", oracle="t")
    log.record(round=2, object_id="c", kind="label", class_name="elliptical", oracle="t")
    before = log.history()
    assert log.merge_class("SPIRAL2", "spiral") == ("Spiral2", "spiral", 2)
    labels = log.current_labels()
    assert {o: a.class_idx for o, a in labels.items()} == {"a": 1, "b": 1, "c": 0}
    assert (labels["a"].round, labels["b"].round) == (1, 2)
    assert log.history()[: len(before)] == before  # nothing rewritten, only appended
    assert [r[3] for r in log.history()[len(before):]] == ["retract", "label", "retract", "label"]
    assert log.classes()[-1].retired
    with pytest.raises(WorkspaceError, match="nothing to merge"):
        log.merge_class("Spiral2", "spiral")
    with pytest.raises(WorkspaceError, match="known class"):
        log.merge_class("spiral", "elliptical")
    with pytest.raises(WorkspaceError, match="no class named 'lens'"):
        log.merge_class("lens", "spiral")


def test_remove_only_a_class_without_standing_labels(log):
    log.record(round=1, object_id="a", kind="label", class_name="merger", new_class=True, oracle="t")
    with pytest.raises(WorkspaceError, match="1 standing label; move them first with --merge"):
        log.check_removable("merger")
    with pytest.raises(WorkspaceError, match="known class"):
        log.check_removable("spiral")
    with pytest.raises(WorkspaceError, match="reserve"):
        log.check_removable("reserve")
    log.retract_last(1, oracle="t")
    assert log.check_removable("MERGER").name == "merger"
