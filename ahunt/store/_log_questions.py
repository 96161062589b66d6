"""The answer log's questions: each round's chosen list, stored once (see answer_log.py).

What changes here is what is kept of a question: its round and position, the object, the
strategy and class of interest that chose it, its score and the model that scored it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Iterable

from ahunt.errors import WorkspaceError
from ahunt.store._log_file import LogFile, QuestionRow, _now, _writes

__all__ = ["LogQuestions"]


class LogQuestions(LogFile):
    """The chosen questions of the log."""

    @_writes("the questions")
    def add_questions(self, rows: Iterable[QuestionRow]) -> None:
        """Store a round's chosen questions in one transaction, so a resume sees the same list."""
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (q.round, q.position, q.object_id, q.object_index, q.strategy, q.interest,
                         q.score, q.model_version, _now())
                        for q in rows
                    ],
                )
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK")
                raise WorkspaceError(f"questions already stored or asked twice: {exc}") from None
            conn.execute("COMMIT")

    def questions(self, round: int | None = None) -> list[QuestionRow]:
        sql = "SELECT round, position, object_id, object_index, strategy, interest, score, model_version FROM questions"
        args: tuple = ()
        if round is not None:
            sql += " WHERE round = ?"
            args = (round,)
        with closing(self._connect()) as conn:
            rows = conn.execute(sql + " ORDER BY round, position", args).fetchall()
        return [QuestionRow(*row) for row in rows]

    def asked_ids(self) -> set[str]:
        with closing(self._connect()) as conn:
            return {i for (i,) in conn.execute("SELECT object_id FROM questions")}
