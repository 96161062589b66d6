"""The answer log: one SQLite file holding classes, chosen questions and oracle answers.

Answers are append-only.  Each one is its own committed transaction, made before the next
question is shown, so a crash loses nothing already answered.  Scripted oracles, whose answers
can simply be given again, record inside ``AnswerLog.batch()``: one transaction for many answers
(a commit with fsync costs 15-35 ms, 15-35 s for a thousand answers).  An undo is a new 'retract' row
that points at the answer it withdraws; nothing is ever deleted.  A class created by an answer
is inserted in the same transaction as that answer.

Class names match ignoring case and surrounding spaces, so "Spiral" answers with "spiral".
An anomaly class with no standing label is *retired*: its creating answer was undone, or its
answers were merged into another class.  It keeps its row (old answers point at it) but gets
no questions and, from the next retrain, no network output; a new label with its name revives it.
"""

from __future__ import annotations

from ahunt.config import NORMAL, RESERVE
from ahunt.store._log_answers import LogAnswers
from ahunt.store._log_file import SCHEMA_VERSION, AnswerRow, ClassInfo, QuestionRow  # noqa: F401
from ahunt.store._log_questions import LogQuestions

__all__ = ["RESERVE", "NORMAL", "ClassInfo", "QuestionRow", "AnswerRow", "AnswerLog"]


class AnswerLog(LogAnswers, LogQuestions):
    """Access to the SQLite log; every write commits before returning.

    One class made of the log's parts, each in its own module because each changes for its own
    reasons: the file (schema, connections, batches: ``_log_file``), the classes
    (``_log_classes``), the questions (``_log_questions``) and the answers (``_log_answers``).
    """
