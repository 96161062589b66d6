"""Oracles: whoever answers the questions.  A person in a terminal and a ground-truth script
are both plain callables ``oracle(question, classes) -> answer``, so simulations run through
exactly the loop a person uses (``session.ask``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

import numpy as np

from ahunt.store.answer_log import ClassInfo

__all__ = ["Question", "Label", "Skip", "Undo", "Quit", "Defer", "Answer", "Oracle", "TruthOracle", "AnswersFileOracle"]


@dataclass(frozen=True)
class Question:
    """What an oracle sees for one object."""

    round: int
    position: int  # 0-based place in the round's question list
    total: int  # questions in the round
    answered: int  # questions of the round with a standing answer
    object_id: str
    object_index: int
    strategy: str
    interest: str  # the class of interest that asked for it
    probs: Mapping[str, float]  # class name -> probability from the current model
    image: np.ndarray | None = None  # (C, H, W) network-ready
    ra: float | None = None
    dec: float | None = None
    neighbours: Sequence[tuple[str, str, np.ndarray]] = field(default_factory=tuple)  # (id, class, image)
    score: float | None = None  # the score the question was chosen by (a reserve question: its novelty)
    rank: int | None = None  # its rank among the night's objects by that score, 1 = highest
    score_name: str | None = None  # what that score is: novelty, neighbours or p_<class> (ahunt/hunt/ranking.py)
    n_objects: int | None = None  # objects in the night


@dataclass(frozen=True)
class Label:
    """The object belongs to ``name``; ``new`` creates that class: an anomaly class, or with
    ``normal`` a normal kind (boring, like the round-0 classes; e.g. 'spiral' in a hunt started
    from unlabelled images)."""

    name: str
    new: bool = False
    normal: bool = False


@dataclass(frozen=True)
class Skip:
    """Unsure or not interesting: recorded, but not a label."""


@dataclass(frozen=True)
class Undo:
    """Withdraw the last standing answer of the round (recorded as a retraction)."""


@dataclass(frozen=True)
class Quit:
    """Stop asking; every answer given so far is kept."""


@dataclass(frozen=True)
class Defer:
    """No answer now: the question stays pending for a later session (nothing is recorded)."""


Answer = Label | Skip | Undo | Quit | Defer


class Oracle(Protocol):
    """``name`` is recorded with each answer.  An oracle may set ``batch_commits = True`` when
    its answers can be given again after a crash (a script): ``session.ask`` then commits them
    together rather than one by one (a person's answers are never batched)."""

    name: str

    def __call__(self, question: Question, classes: Sequence[ClassInfo]) -> Answer: ...


class TruthOracle:
    """Answers from known true labels; creates a class the first time it meets one."""

    name = "truth"
    batch_commits = True

    def __init__(self, truth: Mapping[str, str]):
        self.truth = truth

    def __call__(self, question: Question, classes: Sequence[ClassInfo]) -> Answer:
        true = self.truth.get(question.object_id)
        if true is None:
            return Skip()
        return Label(true, new=true not in {c.name for c in classes})


class AnswersFileOracle:
    """Answers from a CSV file with columns ``id`` and ``label``, for scripts.

    A label naming an existing class (ignoring case and surrounding spaces) labels the object;
    ``skip`` skips it; any other name creates that anomaly class.  A bare digit (a key of the
    labelling screen) or a name close to an existing class ("mergr" next to "merger") is
    refused with the whole file, before any answer is recorded.  Questions whose id is not in
    the file stay unanswered, so the session can be finished later.
    """

    name = "answers-file"
    batch_commits = True

    def __init__(self, answers: Mapping[str, str], *, source: str = "answers", lines: Mapping[str, int] | None = None):
        self.answers = answers
        self.source, self.lines = source, dict(lines or {})
        self._checked = False

    def check(self, classes: Sequence[ClassInfo]) -> None:
        """Refuse the file if any label is a legend digit or a near-duplicate of a class name.

        Raises ``AhuntError`` naming every bad line, so nothing of the file is used.
        """
        from ahunt.errors import AhuntError
        from ahunt.store.names import close_name, find_name, is_legend_key, normalise

        live = [c.name for c in classes if not c.retired]
        every = [c.name for c in classes]
        problems: list[str] = []
        new: dict[str, str] = {}  # normalised new name -> as first written
        for oid, label in self.answers.items():
            where = f"line {self.lines[oid]}" if oid in self.lines else f"id {oid!r}"
            if label.lower() == "skip" or find_name(label, live) or find_name(label, every) or normalise(label) in new:
                continue
            if is_legend_key(label):
                problems.append(f"{where}: {label!r} is a key of the labelling screen, not a class name; "
                                "write the class name")
                continue
            near = close_name(label, live) or close_name(label, list(new.values()))
            if near is not None:
                problems.append(f"{where}: {label!r} would create a new class, but it is close to {near!r}; "
                                f"write {near!r} if you meant it (a new class needs a name not close to another)")
                continue
            new.setdefault(normalise(label), label)
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise AhuntError(f"{self.source}: " + "; ".join(problems[:5]) + more + "; nothing was recorded")
        self._checked = True

    @classmethod
    def from_csv(cls, path) -> "AnswersFileOracle":
        import csv
        from pathlib import Path

        from ahunt.errors import AhuntError

        path = Path(path)
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                missing = {"id", "label"} - set(reader.fieldnames or [])
                if missing:
                    raise AhuntError(f"{path}: missing column(s) {', '.join(sorted(missing))}; need 'id' and 'label'")
                answers: dict[str, str] = {}
                lines: dict[str, int] = {}
                for line, row in enumerate(reader, start=2):
                    oid, label = (row["id"] or "").strip(), (row["label"] or "").strip()
                    if not oid or not label:
                        raise AhuntError(f"{path}, line {line}: empty id or label")
                    if oid in answers and answers[oid] != label:
                        raise AhuntError(f"{path}, line {line}: id {oid!r} is answered twice, differently")
                    answers[oid] = label
                    lines.setdefault(oid, line)
        except FileNotFoundError:
            raise AhuntError(f"{path}: answers file not found") from None
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise AhuntError(f"{path}: cannot read answers ({exc})") from None
        return cls(answers, source=str(path), lines=lines)

    def __call__(self, question: Question, classes: Sequence[ClassInfo]) -> Answer:
        from ahunt.store.names import find_name

        if not self._checked:
            self.check(classes)
        label = self.answers.get(question.object_id)
        if label is None:
            return Defer()  # stays pending for a later session
        if label.lower() == "skip":
            return Skip()
        # a live class first: after a merge of 'Spiral' into 'spiral', 'Spiral' means 'spiral'
        existing = find_name(label, [c.name for c in classes if not c.retired]) or find_name(label, [c.name for c in classes])
        return Label(existing) if existing else Label(label, new=True)
