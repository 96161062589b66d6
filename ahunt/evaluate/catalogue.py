"""The catalogue of the unasked, measured on a fixed pool.

At survey proportions the last night's unasked objects hold only a handful of anomalies, so a
figure on them is mostly noise.  An experiment therefore draws a catalogue pool once per trial
(``[experiment] catalogue_pool`` objects at the nights' proportions), never shows it as a night
and never asks about it; after every night each method ranks it with what it knows by then.
The metrics are what an astronomer reading the catalogue from the top feels:

- ``precision_at_k``: the share of interesting objects among the top k, k the pool's number of
  them (the paper's top-k rule, as a precision);
- ``recall_top1pct``: the share of them in the top 1 % of the pool (at 0.5 % prevalence the
  top 1 % holds twice as many objects as there are anomalies, so recall is the figure to read);
- ``ap``: average precision (the area under the precision-recall curve);
- ``auroc``: the area under the ROC curve.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = ["CATALOGUE_METRICS", "catalogue_metrics"]

CATALOGUE_METRICS = ("precision_at_k", "recall_top1pct", "ap", "auroc")


def catalogue_metrics(scores: np.ndarray, is_class: np.ndarray) -> dict[str, float]:
    """The four catalogue metrics of ranking ``scores`` (higher first) for ``is_class``; NaN for
    each when the pool holds none of the class, or nothing else."""
    scores = np.asarray(scores, dtype=float)
    is_class = np.asarray(is_class, dtype=bool)
    k, n = int(is_class.sum()), len(is_class)
    if k == 0 or k == n:
        return {m: float("nan") for m in CATALOGUE_METRICS}
    # A stable sort of the negated scores: ties keep pool order, never the truth's order.
    order = np.argsort(-scores, kind="stable")
    top = max(1, math.ceil(0.01 * n))
    return {
        "precision_at_k": float(is_class[order[:k]].mean()),
        "recall_top1pct": float(is_class[order[:top]].sum() / k),
        "ap": float(average_precision_score(is_class, scores)),
        "auroc": float(roc_auc_score(is_class, scores)),
    }
