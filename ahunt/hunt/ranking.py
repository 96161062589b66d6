"""What ranks each class of interest: one score per class, shared by the questions, the
candidate catalogue, the contact sheet and the experiments' catalogue metrics.

- the **reserve** ranks by its novelty score (``ahunt/hunt/novelty.py``), or by the reserve
  output's probability when ``[hunt] reserve_score = "probability"``;
- a class of interest with fewer labelled members than ``[hunt] few_members`` ranks by its
  members' **neighbours** (``Reference.member_scores``): after a night or two it has one or two
  members, and the network's probability, learnt from so few, often ranks an ordinary object at
  the class's top (off by default: it found no more over whole hunts, docs/benchmarks.md);
- every **other class** ranks by the network's probability of it.

``score_name`` says which: ``novelty``, ``neighbours``, or the probability column ``p_<class>``,
so a catalogue can name the score behind each of its ranks.
"""

from __future__ import annotations

from typing import Collection, Sequence

import numpy as np

from ahunt.hunt.novelty import Reference, boring_classes, reference_rows
from ahunt.learn.train import resolve_device, score
from ahunt.store.answer_log import RESERVE

__all__ = ["NOVELTY", "NEIGHBOURS", "score_name", "neighbour_classes", "class_scores", "reserve_reference",
           "class_members"]

NOVELTY = "novelty"
NEIGHBOURS = "neighbours"


def score_name(ws, name: str, neighbours: Collection[str] = ()) -> str:
    """The score that ranks class ``name``: ``novelty`` for the reserve (unless the config asks
    for its probability), ``neighbours`` for a class in ``neighbours`` (``neighbour_classes``),
    else the class's probability ``p_<name>``."""
    if name == RESERVE and ws.config.hunt.reserve_score == "novelty":
        return NOVELTY
    if name in neighbours:
        return NEIGHBOURS
    return f"p_{name}"


def neighbour_classes(ws, r: int, names: Sequence[str], *, leave_out: Collection[str] = frozenset()) -> list[str]:
    """The classes of ``names`` that rank by their members' neighbours at round ``r``: a class
    with an interest weight, other than the reserve, with at least one and fewer than ``[hunt]
    few_members`` labelled members (``leave_out``: object ids not to count, such as tonight's
    answers when ranking as at choosing)."""
    limit = ws.config.hunt.few_members
    weights = ws.config.hunt.interest_for(r)
    wanted = [n for n in names if n != RESERVE and weights.get(n, 0) > 0]
    if not limit or not wanted:
        return []
    counts = ws.label_counts()  # no images read
    if leave_out:
        answers = ws.log.current_labels()
        index = {c.idx: c.name for c in ws.classes()}
        for oid in leave_out:
            a = answers.get(oid)
            if a is not None and a.kind == "label" and index.get(a.class_idx) in counts:
                n0, n1 = counts[index[a.class_idx]]
                counts[index[a.class_idx]] = (n0, n1 - 1)
    return [n for n in wanted if 0 < sum(counts.get(n, (0, 0))) < limit]


def class_scores(ws, r: int, model, probs: np.ndarray, latents: np.ndarray, images,
                 names: Sequence[str], *, leave_out: Collection[str] = frozenset(),
                 few: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Each of ``names``'s ranking score for the objects behind ``probs``/``latents``/``images``
    (a round, or any other set of objects, such as a catalogue pool), under ``model``.  A class
    the model has no output for yet is ranked by the reserve's score: finding it is the
    reserve's job until it exists.  ``leave_out``: labelled object ids to rank without (tonight's
    answers, to rank as when the questions were chosen).  ``few``: the classes that rank by their
    members' neighbours, when the caller has ``neighbour_classes`` already."""
    cfg = ws.config.hunt
    have = ws.class_names()[: probs.shape[1]]
    if few is None:
        few = neighbour_classes(ws, r, [n for n in names if n in have], leave_out=leave_out)
    few = [n for n in few if n in have]
    reference = novelty = None  # computed once, for the reserve, its stand-ins and the few-member classes

    def novelty_now() -> np.ndarray:
        nonlocal reference, novelty
        if novelty is None:
            reference = reserve_reference(ws, model, cfg.interest_for(r), seed=ws.config.seed, leave_out=set(leave_out))
            novelty = reference.scores(latents, images)
        return novelty

    out: dict[str, np.ndarray] = {}
    for name in names:
        if name in few:
            boring = novelty_now()
            members = class_members(ws, model, name, leave_out=leave_out)
            out[name] = reference.member_scores(latents, images, boring, *members)
        elif name in have and (name != RESERVE or cfg.reserve_score != "novelty"):
            out[name] = probs[:, have.index(name)]
        elif cfg.reserve_score == "probability" and RESERVE in have:
            out[name] = probs[:, have.index(RESERVE)]
        else:
            out[name] = novelty_now()
    return out


def reserve_reference(ws, model, weights, *, seed: int,
                      leave_out: set[str] = frozenset()) -> Reference:
    """The labelled objects of classes without interest, in ``model``'s latent space
    (``leave_out``: object ids to leave out, e.g. tonight's answers when ranking as at choosing)."""
    images, labels, ids = ws.labelled_view()  # pixels from the labelled store, no old night re-read
    if leave_out:
        labels = np.where(np.isin(np.asarray(ids, dtype=object), list(leave_out)), -1, labels)
    boring = boring_classes(ws.classes(), weights)
    # Only the rows the reference keeps are read and scored: the cost is bounded by the
    # reference's size, not by how many objects the hunt has labelled.
    rows = reference_rows(labels, boring, seed=seed)
    latents, kept = _scored_rows(ws, model, images, rows)
    return Reference(latents, kept, labels[rows], boring, seed=seed, crop=model.args.crop,
                     model=model if ws.config.hunt.novelty_features else None,
                     crowd=ws.config.hunt.novelty_crowd,
                     known=[c.idx for c in ws.classes() if c.kind == "known"])


def class_members(ws, model, name: str, *,
                  leave_out: Collection[str] = frozenset()) -> tuple[np.ndarray, np.ndarray]:
    """(latents under ``model``, images) of class ``name``'s labelled objects, but those in
    ``leave_out``: what its members' neighbours are measured from."""
    images, labels, ids = ws.labelled_view()
    keep = labels == ws.class_names().index(name)
    if leave_out:
        keep &= ~np.isin(np.asarray(ids, dtype=object), list(leave_out))
    return _scored_rows(ws, model, images, np.flatnonzero(keep))


def _scored_rows(ws, model, images, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(latents under ``model``, float32 images) of ``rows`` of the labelled view ``images``:
    only those rows are read."""
    kept = np.asarray(images[rows], dtype=np.float32) if len(rows) else np.zeros((0, *images.shape[1:]), np.float32)
    _, latents = score(model, kept, device=resolve_device(ws.config.device))
    return latents, kept
