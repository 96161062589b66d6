import pytest

from ahunt.store.answer_log import ClassInfo
from ahunt.store.names import check_new_name, close_name, find_name, is_legend_key, waiting_weights

NAMES = ["elliptical", "spiral", "edge-on", "reserve", "merger"]


def test_find_name_ignores_case_and_spaces():
    assert find_name("  Spiral ", NAMES) == "spiral"
    assert find_name("EDGE-ON", NAMES) == "edge-on"
    assert find_name("lens", NAMES) is None
    assert find_name("Spiral", ["Spiral", "spiral"]) == "Spiral"  # exact wins
    assert find_name("SPIRAL", ["Spiral", "spiral"]) is None  # ambiguous


@pytest.mark.parametrize("typed, close", [("mergr", "merger"), ("Merger", "merger"), ("spirals", "spiral"),
                                          ("lens", None), ("artefact", None), ("merger", None)])
def test_close_name(typed, close):
    assert close_name(typed, NAMES) == close


def test_legend_digits_and_new_names():
    assert is_legend_key("5") and is_legend_key(" 12 ") and not is_legend_key("5a")
    classes = [ClassInfo(i, n, "known", 0) for i, n in enumerate(NAMES)]
    assert check_new_name("Spiral", classes) == ("spiral", None, None)
    assert check_new_name("mergr", classes) == (None, "merger", None)
    assert check_new_name("lens", classes) == (None, None, None)
    assert "key of the legend" in check_new_name("5", classes)[2]
    retired = [*classes[:4], ClassInfo(4, "merger", "anomaly", 1, retired=True)]
    assert check_new_name("mergr", retired) == (None, None, None)


def test_waiting_weights_name_the_close_class():
    assert waiting_weights(["reserve", "mergr", "lens"], NAMES) == [("mergr", "merger"), ("lens", None)]
