import pytest

from ahunt.errors import AhuntError
from ahunt.hunt.oracle import AnswersFileOracle, Label, Question, Skip
from ahunt.store.answer_log import ClassInfo

CLASSES = [ClassInfo(0, "elliptical", "known", 0), ClassInfo(1, "spiral", "known", 0),
           ClassInfo(2, "reserve", "reserve", 0), ClassInfo(3, "merger", "anomaly", 1)]


def question(oid: str) -> Question:
    return Question(round=1, position=0, total=1, answered=0, object_id=oid, object_index=0, strategy="anomaly",
                    interest="reserve", probs={})


def write(tmp_path, rows):
    path = tmp_path / "answers.csv"
    path.write_text("id,label\n" + "".join(f"{i},{label}\n" for i, label in rows))
    return AnswersFileOracle.from_csv(path)


def test_answers_file_matches_names_ignoring_case_and_creates_only_new_names(tmp_path):
    oracle = write(tmp_path, [("a", "Spiral"), ("b", " MERGER"), ("c", "Skip"), ("d", "lens"), ("e", "Lens")])
    assert oracle(question("a"), CLASSES) == Label("spiral")
    assert oracle(question("b"), CLASSES) == Label("merger")
    assert oracle(question("c"), CLASSES) == Skip()
    assert oracle(question("d"), CLASSES) == Label("lens", new=True)


@pytest.mark.parametrize("label, words", [("5", "line 2: '5' is a key of the labelling screen"),
                                          ("mergr", "line 2: 'mergr' would create a new class, but it is close to 'merger'")])
def test_answers_file_refuses_legend_digits_and_near_names_before_any_answer(tmp_path, label, words):
    oracle = write(tmp_path, [("a", label), ("b", "spiral")])
    with pytest.raises(AhuntError, match=words) as err:
        oracle(question("b"), CLASSES)  # even a good line is not answered: the whole file is refused
    assert "nothing was recorded" in str(err.value)


def test_answers_file_refuses_two_near_new_names(tmp_path):
    oracle = write(tmp_path, [("a", "interacting"), ("b", "interactng")])
    with pytest.raises(AhuntError, match="line 3: 'interactng' .* close to 'interacting'"):
        oracle.check(CLASSES)


def test_a_digit_that_names_a_class_is_that_class(tmp_path):
    digits = [ClassInfo(0, "0", "known", 0), ClassInfo(1, "1", "known", 0), ClassInfo(2, "reserve", "reserve", 0)]
    assert write(tmp_path, [("a", "1")])(question("a"), digits) == Label("1")
