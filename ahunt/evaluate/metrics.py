"""Per-round metrics for one anomaly class, following the paper's code.

MCC uses the paper's top-k rule: rank the round's objects by the probability of the class,
flag the top k where k is the true number of that class in the round, and take the
Matthews correlation of those flags with the truth.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import matthews_corrcoef, roc_auc_score

__all__ = ["top_k_mcc", "auc", "true_candidates"]


def top_k_mcc(scores: np.ndarray, is_class: np.ndarray) -> float:
    """MCC of flagging the top-k scores, k = number of true members (0.0 if k is 0 or N)."""
    is_class = np.asarray(is_class, dtype=bool)
    k = int(is_class.sum())
    if k == 0 or k == len(is_class):
        return 0.0
    flags = np.zeros(len(scores), dtype=bool)
    flags[np.argsort(-np.asarray(scores), kind="stable")[:k]] = True
    return float(matthews_corrcoef(is_class, flags))


def auc(scores: np.ndarray, is_class: np.ndarray) -> float:
    """ROC AUC; NaN when the round holds only one kind of object."""
    is_class = np.asarray(is_class, dtype=bool)
    if is_class.all() or not is_class.any():
        return float("nan")
    return float(roc_auc_score(is_class, scores))


def true_candidates(question_truth: np.ndarray, name: str) -> int:
    """How many of the round's questions were truly of class ``name``."""
    return int(np.sum(np.asarray(question_truth) == name))
