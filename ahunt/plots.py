"""Plots: functions take results and a path, and write one figure."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed (or present over SSH)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

__all__ = ["plot_rounds"]

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
        ax.yaxis.set_major_locator(MaxNLocator(integer=m == "true_candidates", nbins=6))
        ax.grid(alpha=0.3)
    # outside the axes, so it never hides a line
    axes[0, 0].legend(title="anomaly class", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("round (night)")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
