"""The demo: a whole simulated hunt driven by the ground-truth oracle.

It goes through the production path night by night (ingest -> questions -> answers ->
retrain) and measures, after each retrain, how well the model isolates each anomaly class.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ahunt.config import Config
from ahunt.evaluate.metrics import auc, top_k_mcc, true_candidates
from ahunt.hunt.oracle import TruthOracle
from ahunt.hunt.query import validate_interest
from ahunt.hunt.ranking import class_scores
from ahunt.hunt.session import ask, prepare_questions, retrain, train_initial
from ahunt.learn.train import resolve_device, score
from ahunt.progress import Track, no_progress
from ahunt.sources.streams import make_stream, oracle_truth
from ahunt.store.answer_log import NORMAL, RESERVE
from ahunt.store.workspace import Workspace

__all__ = [
    "ANY", "ClassMetrics", "RoundReport", "class_rankings", "interesting_score", "round_report", "run_demo", "write_metrics_csv", "summarise_hunt",
    "validate_stream_interest",
]


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    n_true: int  # members of the class in the round
    questions: int  # questions asked in the class's name
    true_candidates: int  # questions that truly were this class
    mcc: float
    auc: float
    own_class: bool  # the model has an output for this class (else reserve was scored)
    # The same on the round's objects that were never asked: the paper's numbers above include
    # the objects just labelled and trained on, which flatters every method that asks well.
    mcc_heldout: float = float("nan")
    auc_heldout: float = float("nan")


@dataclass(frozen=True)
class RoundReport:
    round: int
    questions: dict[str, int]  # class of interest -> questions asked for it
    anomalies_found: int  # questions answered with an anomaly class
    classes: list[ClassMetrics] = field(default_factory=list)


ANY = "any"  # the union of the interesting classes, as one class of the report


def interesting_score(ws: Workspace, probs: np.ndarray) -> np.ndarray:
    """A class-based method's own score for "anything interesting": 1 - the probability of
    every class the hunt knows to be boring (the known classes, and the anomaly classes the
    config names uninteresting), so the reserve and every interesting class count."""
    boring = set(ws.config.experiment.uninteresting)
    cols = [c.idx for c in ws.classes() if c.idx < probs.shape[1] and (c.kind == "known" or c.name in boring)]
    return 1.0 - probs[:, cols].sum(axis=1)


def class_rankings(ws: Workspace, r: int, model, images, names: list[str], *,
                   any_interesting=None) -> dict[str, np.ndarray]:
    """Each class's ranking score for ``images`` under model ``r``, as the hunt ranks it
    (``ahunt/hunt/ranking.py``; an anomaly not met yet is the reserve's to find).  ``any`` ranks
    by ``interesting_score`` once the model has an output for one of ``any_interesting``; until
    then finding anything interesting is the reserve's job, so it ranks by the reserve's score
    (its novelty, by default), as its questions do."""
    probs, latents = score(model, images, device=resolve_device(ws.config.device))
    out = class_scores(ws, r, model, probs, latents, images, [n for n in names if n != ANY])
    if ANY in names and any_interesting:
        have = ws.class_names()[: probs.shape[1]]
        if any(name in have for name in any_interesting):
            out[ANY] = interesting_score(ws, probs)
        else:
            # a class of interest in ``out`` already holds the reserve's score: no second novelty search
            unmet = [name for name in any_interesting if name in out]
            out[ANY] = (out[unmet[0]] if unmet
                        else class_scores(ws, r, model, probs, latents, images, [RESERVE])[RESERVE])
    return out


def round_report(ws: Workspace, r: int, *, anomaly_names=None, scores=None, any_interesting=None) -> RoundReport:
    """Metrics for round ``r`` from the model trained at the end of that round.

    ``anomaly_names`` defaults to every true class absent from round 0; ``scores`` (an array
    per object) replaces the model's class probability, for class-agnostic baselines.  With
    ``any_interesting`` (class names), the report adds the class ``any``: their union, ranked
    by ``scores`` or by ``interesting_score``, which compares a binary detector's single score
    with a class-based method on the same footing.
    """
    model, _ = ws.load_model(r)
    data = ws.store.load_round(r, images=False)
    names = ws.class_names()[: model.n_classes]
    if anomaly_names is None:
        r0 = ws.store.load_round(0, images=False)
        # the true round-0 classes (a hunt started unlabelled has them all as 'normal'), but not
        # the anomalies hidden in its pile
        known = set((r0.truth if r0.truth is not None else r0.labels).tolist()) - set(ws.config.survey.hidden)
        anomaly_names = sorted(set(data.truth.tolist()) - known)
    targets = [n for n in anomaly_names if (data.truth == n).any()] + ([ANY] if any_interesting else [])
    if scores is None:
        with ws.store.lazy_images(r) as images:
            ranking = class_rankings(ws, r, model, images, targets, any_interesting=any_interesting)
    else:
        ranking = {name: scores for name in targets}
    questions = ws.log.questions(r)
    asked = {}
    for q in questions:
        asked[q.interest] = asked.get(q.interest, 0) + 1
    truth_of = dict(zip(data.ids.tolist(), data.truth.tolist()))
    q_truth = np.array([truth_of[q.object_id] for q in questions], dtype=object)
    held_out = np.ones(len(data.ids), dtype=bool)
    held_out[[q.object_index for q in questions]] = False
    out = []
    for name in targets:
        is_class = np.isin(data.truth, list(any_interesting)) if name == ANY else data.truth == name
        if not is_class.any():
            continue
        p = ranking[name]
        out.append(ClassMetrics(
            name=name, n_true=int(is_class.sum()), questions=asked.get(name, 0),
            true_candidates=(int(np.isin(q_truth, list(any_interesting)).sum()) if name == ANY
                             else true_candidates(q_truth, name)),
            mcc=top_k_mcc(p, is_class),
            auc=auc(p, is_class), own_class=name in names,
            # NaN when the questions took every member of the class: nothing of it is held out
            mcc_heldout=top_k_mcc(p[held_out], is_class[held_out]) if is_class[held_out].any() else float("nan"),
            auc_heldout=auc(p[held_out], is_class[held_out]),
        ))
    found = int(sum(np.isin(q_truth, list(anomaly_names)))) if len(q_truth) else 0
    return RoundReport(round=r, questions=asked, anomalies_found=found, classes=out)


def validate_stream_interest(config: Config) -> None:
    """Weights may name classes the stream will deliver; the oracle creates them when met."""
    s = config.survey
    # Started unlabelled, the round-0 kinds are all 'normal': their own names never become classes.
    start = [NORMAL] if s.unlabelled else list(s.initial)
    later = [c for c in [*s.nightly, *s.late, *s.hidden] if not (s.unlabelled and c in s.initial)]
    expected = list(dict.fromkeys([*start, RESERVE, *later]))
    validate_interest(config.hunt.interest, expected)
    for weights in config.hunt.interest_schedule.values():
        validate_interest(weights, expected)


def run_demo(
    config: Config,
    out_dir: str | Path,
    *,
    cache_dir: str | Path | None = None,
    track: Track = no_progress,
    on_round: Callable[[RoundReport], None] = lambda report: None,
) -> list[RoundReport]:
    """Simulate (or read the cached) survey and hunt through every night of it."""
    out_dir = Path(out_dir)
    validate_stream_interest(config)
    survey = make_stream(config.survey, image_size=config.model.image_size, channels=config.model.channels,
                         cache_dir=cache_dir, data_config=config.data)
    survey.ensure(track=track)
    origin = "simulated" if config.survey.source == "simulated" else None
    ws = Workspace.create(out_dir / "workspace", config, survey.load(0), known=survey.known, origin=origin)
    reports = []
    with ws.lock():
        train_initial(ws, track=track)
        for night in range(1, survey.n_rounds):
            data = survey.load(night)
            r = ws.store.add_round(data)
            prepare_questions(ws, r, track=track)
            result = ask(ws, r, TruthOracle(oracle_truth(survey, data)), with_images=False)
            assert result.complete, "the truth oracle answers every question"
            retrain(ws, r, track=track)
            report = round_report(ws, r, anomaly_names=survey.anomalies)
            reports.append(report)
            on_round(report)
    write_metrics_csv(reports, out_dir / "metrics.csv")
    from ahunt.outputs.plots import plot_rounds

    plot_rounds(reports, out_dir / "mcc.png", title=f"AHUNT demo: strategy '{config.hunt.strategy}'"
               + (", started without labels" if config.survey.unlabelled else ""))
    return reports


def write_metrics_csv(reports: list[RoundReport], path: str | Path) -> None:
    """One row per round and anomaly class."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["round", "anomaly_class", "n_in_round", "questions_for_class", "true_candidates",
                         "mcc", "auc", "own_class", "mcc_heldout", "auc_heldout"])
        for rep in reports:
            for c in rep.classes:
                writer.writerow([rep.round, c.name, c.n_true, c.questions, c.true_candidates,
                                 f"{c.mcc:.4f}", f"{c.auc:.4f}", int(c.own_class),
                                 f"{c.mcc_heldout:.4f}", f"{c.auc_heldout:.4f}"])


def summarise_hunt(reports: list[RoundReport], *, last: int = 5) -> list[dict]:
    """Per anomaly class: final MCC, mean MCC over the last ``last`` nights, and how many the
    questions found in all (single nights hold only ~10 of a class, so one night's MCC is noisy)."""
    rows: dict[str, dict] = {}
    for rep in reports:
        for c in rep.classes:
            row = rows.setdefault(c.name, {"class": c.name, "mccs": [], "found": 0, "in_survey": 0})
            row["mccs"].append(c.mcc)
            row["found"] += c.true_candidates
            row["in_survey"] += c.n_true
    return [
        {"class": r["class"], "final_mcc": r["mccs"][-1], f"mean_mcc_last_{last}": float(np.mean(r["mccs"][-last:])),
         "found": r["found"], "in_survey": r["in_survey"]}
        for r in rows.values()
    ]
