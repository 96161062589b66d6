"""Streams drawn from labelled pools: the schedule's needs, and your own labelled data."""

from __future__ import annotations

import pytest

from ahunt.config import SurveyConfig
from ahunt.errors import ConfigError
from ahunt.sources.simulated import round_kinds
from ahunt.sources.streams import SampledStream, schedule_needs


def _survey(**changes) -> SurveyConfig:
    base = dict(source="mnist5k", seed=1, nights=4, initial={"0": 6, "1": 5}, nightly={"0": 2, "1": 2, "2": 1},
                late_from_night=3, late={"3": 2, "2": 1})
    return SurveyConfig(**{**base, **changes})


def test_schedule_needs_is_what_the_rounds_draw():
    cfg = _survey()
    drawn = {c: sum(round_kinds(cfg, r).count(c) for r in range(cfg.nights + 1)) for c in "0123"}
    needs = schedule_needs(cfg)
    assert {c: n for c, (n, _) in needs.items()} == drawn == {"0": 14, "1": 13, "2": 6, "3": 4}
    assert needs["2"][1] == "nightly 1 x 4 nights + late 1 x 2 nights"
    assert schedule_needs(_survey(late_from_night=9))["3"][0] == 0  # the late classes never come


def test_every_short_class_is_named_up_front():
    import numpy as np

    labels = np.array(["0"] * 14 + ["1"] * 10 + ["2"] * 6 + ["3"] * 1, dtype=object)
    with pytest.raises(ConfigError) as info:
        SampledStream(_survey(), labels, read=None, name="pool")
    message = str(info.value)
    assert "class '1' needs 13 (initial 5 + nightly 2 x 4 nights), has 10" in message
    assert "class '3' needs 4 (late 2 x 2 nights), has 1" in message
    assert "'0'" not in message and "'2'" not in message  # enough of those
    exact = SampledStream(_survey(), np.array(["0"] * 14 + ["1"] * 13 + ["2"] * 6 + ["3"] * 4, dtype=object),
                          read=None, name="pool")
    assert sorted(np.concatenate(exact.indices).tolist()) == list(range(37))  # every image, once
