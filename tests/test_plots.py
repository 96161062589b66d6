"""Figures of a hunt (issue 15): whole rounds on the x axis, and no two series in one colour."""

from types import SimpleNamespace

import pytest

import ahunt.outputs.plots as plots
from ahunt.store.answer_log import ClassInfo


@pytest.fixture
def figures(monkeypatch):
    """Every figure the plots write, kept open for inspection instead of saved."""
    kept = []
    monkeypatch.setattr(plots, "savefig_atomic", lambda fig, path, **kw: kept.append(fig) or path)
    monkeypatch.setattr(plots.plt, "close", lambda fig=None: None)
    return kept


def test_one_night_gets_a_whole_round_tick(figures, tmp_path):
    cls = SimpleNamespace(name="merger", mcc=0.5, true_candidates=2)
    plots.plot_rounds([SimpleNamespace(round=1, classes=[cls])], tmp_path / "mcc.png")
    plots.plot_round_bars({1: {"reserve": 3}}, tmp_path / "questions.png", rounds=[1])
    for fig in figures:
        ax = fig.axes[-1]
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks == [1.0], ticks


def test_random_share_and_reserve_have_different_colours(figures, tmp_path):
    from matplotlib.colors import to_hex

    from ahunt.hunt.query import RANDOM_SHARE

    classes = [ClassInfo(0, "spiral", "known", 0), ClassInfo(1, "reserve", "reserve", 0)]
    styles = {**plots.class_styles(classes), RANDOM_SHARE: (plots.RANDOM_SHARE_COLOUR, "s", "random")}
    plots.plot_round_bars({1: {"reserve": 3, RANDOM_SHARE: 2}, 2: {"spiral": 1, RANDOM_SHARE: 2}},
                          tmp_path / "questions.png", styles=styles)
    ax = figures[-1].axes[0]
    colours = {text.get_text(): to_hex(handle.get_facecolor())
               for text, handle in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)}
    assert len(set(colours.values())) == 3, colours


def test_experiment_bands_stay_inside_what_the_metric_can_take(figures, tmp_path):
    """Three trials at MCC 1.0, 1.0 and 0.4: the mean ± 1σ band would pass 1.0; it stops there."""
    import numpy as np

    rows = [{"method": "ahunt", "round": r, "metric": "mcc:merger", "value": v}
            for r in (1, 2) for v in (1.0, 1.0, 0.4)]
    rows += [{"method": "ahunt", "round": r, "metric": "interesting_found", "value": v}
             for r in (1, 2) for v in (0.0, 0.0, 3.0)]
    plots.plot_experiment(rows, "mcc:merger", tmp_path / "mcc.png")
    plots.plot_experiment(rows, "interesting_found", tmp_path / "found.png")
    (mcc_band,), (found_band,) = (fig.axes[0].collections for fig in figures)
    mcc_y = np.concatenate([p.vertices[:, 1] for p in mcc_band.get_paths()])
    found_y = np.concatenate([p.vertices[:, 1] for p in found_band.get_paths()])
    assert mcc_y.max() == 1.0 and mcc_y.min() > 0  # clipped above only
    assert found_y.min() == 0.0  # no negative counts
