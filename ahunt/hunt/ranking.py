"""What ranks each class of interest: one score per class, shared by the questions, the
candidate catalogue, the contact sheet and the experiments' catalogue metrics.

- the **reserve** ranks by its novelty score (``ahunt/hunt/novelty.py``), or by the reserve
  output's probability when ``[hunt] reserve_score = "probability"``;
- every **other class** ranks by the network's probability of it.

``score_name`` says which: ``novelty``, or the probability column ``p_<class>``, so a catalogue
can name the score behind each of its ranks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ahunt.store.answer_log import RESERVE

__all__ = ["NOVELTY", "score_name", "class_scores"]

NOVELTY = "novelty"


def score_name(ws, name: str) -> str:
    """The score that ranks class ``name``: ``novelty`` for the reserve (unless the config asks
    for its probability), else the class's probability ``p_<name>``."""
    if name == RESERVE and ws.config.hunt.reserve_score == "novelty":
        return NOVELTY
    return f"p_{name}"


def class_scores(ws, r: int, model, probs: np.ndarray, latents: np.ndarray, images,
                 names: Sequence[str]) -> dict[str, np.ndarray]:
    """Each of ``names``'s ranking score for the objects behind ``probs``/``latents``/``images``
    (a round, or any other set of objects, such as a catalogue pool), under ``model``.  A class
    the model has no output for yet is ranked by the reserve's score: finding it is the
    reserve's job until it exists."""
    from ahunt.hunt.session import reserve_scores

    have = ws.class_names()[: probs.shape[1]]
    out: dict[str, np.ndarray] = {}
    reserve = None  # computed once, for the reserve and every class without an output
    for name in names:
        if name in have and (name != RESERVE or score_name(ws, name) != NOVELTY):
            out[name] = probs[:, have.index(name)]
        else:
            if reserve is None:
                reserve = reserve_scores(ws, r, model, probs, latents, images)
            out[name] = reserve
    return out
