"""Plots: functions take results and a path, and write one figure."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed (or present over SSH)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ahunt.store.atomic import savefig_atomic  # noqa: E402

__all__ = ["plot_rounds", "plot_experiment", "class_styles", "plot_round_bars", "plot_class_counts"]

def _round_axis(ax, rounds: Sequence[int]) -> None:
    """Whole rounds on the x axis, also for a single night (MaxNLocator alone gave 0.945 ... 1.050)."""
    rounds = sorted(set(rounds))
    if rounds and len(rounds) <= 12:
        ax.set_xticks(rounds)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(rounds) == 1:
        ax.set_xlim(rounds[0] - 0.6, rounds[0] + 0.6)


def _save(fig, path: str | Path, *, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Path:
    """Lay out (within ``rect`` of the figure), write and close a figure (a closed figure frees
    its memory in long runs)."""
    fig.tight_layout(rect=rect)
    path = Path(path)
    try:
        savefig_atomic(fig, path)
    finally:
        plt.close(fig)
    return path


_LABELS = {"mcc": "MCC (top-k rule)", "auc": "ROC AUC", "true_candidates": "true candidates\namong questions"}


def plot_rounds(reports: Sequence, path: str | Path, *, metrics=("mcc", "true_candidates"), title: str = "") -> Path:
    """One panel per metric, one line per anomaly class, against round."""
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {m: {} for m in metrics}
    for rep in reports:
        for c in rep.classes:
            for m in metrics:
                xs, ys = series[m].setdefault(c.name, ([], []))
                xs.append(rep.round)
                ys.append(getattr(c, m))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8.2, 2.6 * len(metrics) + 0.6), dpi=120, sharex=True, squeeze=False)
    for ax, m in zip(axes[:, 0], metrics):
        for name, (xs, ys) in series[m].items():
            ax.plot(xs, ys, marker="o", ms=4, lw=1.6, label=name)
        ax.set_ylabel(_LABELS.get(m, m))
        if m in ("mcc", "auc"):
            low = min([0.0] + [min(ys) for _, ys in series[m].values()])
            ax.set_ylim(low - 0.05, 1.02)
        if m == "true_candidates":  # counts: from 0, whole numbers, also when every count is 0
            top = max([1.0] + [max(ys) for _, ys in series[m].values()])
            ax.set_ylim(-0.05 * top, top * 1.1)
        ax.yaxis.set_major_locator(MaxNLocator(integer=m == "true_candidates", nbins=6))
        ax.grid(alpha=0.3)
    # outside the axes, so it never hides a line
    axes[0, 0].legend(title="anomaly class", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("round (night)")
    _round_axis(axes[-1, 0], [rep.round for rep in reports])
    if title:
        axes[0, 0].set_title(title)
    return _save(fig, path)


def _metric_range(metric: str) -> tuple[float, float]:
    """The values a summary metric can take: MCC in [-1, 1]; AUC, AP, precision and recall in
    [0, 1]; counts and CPU seconds from 0."""
    name = metric.partition(":")[0]
    if name.startswith("mcc"):
        return -1.0, 1.0
    if name.startswith(("auc", "catalogue_")):
        return 0.0, 1.0
    return 0.0, float("inf")


def plot_experiment(rows: Sequence[dict], metric: str, path: str | Path, *, title: str = "") -> Path:
    """``metric`` against round, one line per method: the mean over trials and a 68% band (±1σ)."""
    import numpy as np

    by_method: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r["metric"] == metric:
            by_method.setdefault(r["method"], {}).setdefault(r["round"], []).append(r["value"])
    fig, ax = plt.subplots(figsize=(8.2, 4.2), dpi=120)
    colours = plt.get_cmap("tab10")
    for i, (method, per_round) in enumerate(by_method.items()):
        rounds = sorted(per_round)
        values = [np.asarray(per_round[k], dtype=float) for k in rounds]
        mean = np.array([np.nanmean(v) for v in values])
        # the sample std, as the tables use (0 where a night has one defined value)
        std = np.array([np.nanstd(v, ddof=1) if np.sum(~np.isnan(v)) > 1 else 0.0 for v in values])
        n = max(len(v) for v in values)
        style = "-" if not method.startswith("iforest") else "--"
        ax.plot(rounds, mean, style, color=colours(i), lw=1.8, label=method)
        if n > 1:  # clipped to the values the metric can take: an MCC band never passes 1
            low, high = _metric_range(metric)
            ax.fill_between(rounds, np.clip(mean - std, low, high), np.clip(mean + std, low, high),
                            color=colours(i), alpha=0.15, lw=0)
    name, _, cls = metric.partition(":")
    ax.set_ylabel(f"{_LABELS.get(name, name)}{f' ({cls})' if cls else ''}")
    ax.set_xlabel("round (night)")
    _round_axis(ax, sorted({k for per in by_method.values() for k in per}))
    ax.grid(alpha=0.3)
    ax.legend(title="method (mean, ±1σ band)", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    return _save(fig, path)


# -- class colours shared by every figure of a hunt ------------------------------------------
# Known classes take calm colours, the reserve orange, anomaly classes strong ones (and stars in
# the latent maps), so anomalies stand out in every figure.
_KNOWN_COLOURS = ("#1f77b4", "#2ca02c", "#17becf", "#8c564b", "#7f7f7f", "#bcbd22", "#393b79", "#637939")
_RESERVE_COLOUR = "#ff7f0e"
_ANOMALY_COLOURS = ("#d62728", "#9467bd", "#e7298a", "#8b0000", "#ffd92f", "#a65628", "#f781bf", "#4d004b")
_MARKER = {"known": "o", "reserve": "D", "anomaly": "*"}
# Questions of the uniform random share are no class: a neutral colour no class takes.
RANDOM_SHARE_COLOUR = "#c7c7c7"


def class_styles(classes: Sequence, extra: Sequence[str] = ()) -> dict[str, tuple[str, str, str]]:
    """Class name -> (colour, marker, kind) for objects with ``.name`` and ``.kind`` (ClassInfo).

    ``extra`` names (e.g. true classes of a simulation not found yet) are styled as anomalies.
    """
    styles: dict[str, tuple[str, str, str]] = {}
    n_known = n_anomaly = 0
    items = [(c.name, c.kind) for c in classes] + [(n, "anomaly") for n in extra]
    for name, kind in items:
        if name in styles:
            continue
        if kind == "known":
            colour = _KNOWN_COLOURS[n_known % len(_KNOWN_COLOURS)]
            n_known += 1
        elif kind == "reserve":
            colour = _RESERVE_COLOUR
        else:
            colour = _ANOMALY_COLOURS[n_anomaly % len(_ANOMALY_COLOURS)]
            n_anomaly += 1
        styles[name] = (colour, _MARKER.get(kind, "o"), kind)
    return styles


def _colour_of(name: str, styles: dict | None, k: int) -> str:
    if styles and name in styles:
        return styles[name][0]
    return plt.get_cmap("tab10")(k % 10)


def plot_round_bars(counts: dict[int, dict[str, int]], path: str | Path, *, rounds: Sequence[int] | None = None,
                    styles: dict | None = None, ylabel: str = "", legend_title: str = "", title: str = "",
                    note: str = "") -> Path:
    """Stacked bars against round: ``counts[round][name]``, one colour per name."""
    rounds = sorted(counts) if rounds is None else list(rounds)
    names: list[str] = []
    for r in rounds:
        for name in counts.get(r, {}):
            if name not in names:
                names.append(name)
    if styles:  # legend in class order
        order = {n: i for i, n in enumerate(styles)}
        names.sort(key=lambda n: order.get(n, len(order)))
    fig, ax = plt.subplots(figsize=(8.2, 3.4), dpi=120)
    bottom = [0] * len(rounds)
    for k, name in enumerate(names):
        heights = [counts.get(r, {}).get(name, 0) for r in rounds]
        ax.bar(rounds, heights, bottom=bottom, width=0.75, color=_colour_of(name, styles, k), label=name,
               edgecolor="white", linewidth=0.5)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xlabel("round (night)")
    ax.set_ylabel(ylabel)
    _round_axis(ax, rounds)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    if rounds:
        ax.set_xlim(min(rounds) - 0.6, max(rounds) + 0.6)
    if names:
        ax.legend(title=legend_title or None, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.text(0.5, 0.5, note or "nothing to show yet", transform=ax.transAxes, ha="center", va="center", color="0.4")
    if title:
        ax.set_title(title)
    if note and names:
        fig.text(0.01, 0.01, note, fontsize=8, color="0.35")
    return _save(fig, path, rect=(0, 0.04 if note and names else 0, 1, 1))


def plot_class_counts(counts: dict[str, tuple[int, int]], path: str | Path, *, styles: dict | None = None,
                      title: str = "labelled objects per class") -> Path:
    """Horizontal bars (log scale): ``counts[name] = (round-0 labels, answers)``, with the numbers."""
    names = list(counts)
    fig, ax = plt.subplots(figsize=(8.2, 0.42 * max(len(names), 3) + 1.1), dpi=120)
    totals = [sum(counts[n]) for n in names]
    ys = list(range(len(names)))[::-1]
    colours = [_colour_of(n, styles, k) for k, n in enumerate(names)]
    ax.barh(ys, [max(t, 0.8) if t else 0 for t in totals], color=colours, height=0.65)
    ax.set_xscale("log")
    top = max(totals + [1])
    ax.set_xlim(0.8, top * 12)
    for y, n, t in zip(ys, names, totals):
        r0, answers = counts[n]
        parts = [f"{r0} round 0"] if r0 else []
        if answers:
            parts.append(f"{answers} answered")
        text = f"{t}  ({' + '.join(parts)})" if len(parts) > 1 else (parts[0] if parts else "none yet")
        ax.text(max(t, 0.8) * 1.08, y, text, va="center", fontsize=9)
    ax.set_yticks(ys, names)
    ax.set_xlabel("labelled objects (log scale)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    return _save(fig, path)

