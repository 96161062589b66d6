"""The answer log's answers: each recorded in its own transaction, withdrawn by a 'retract'
row, never deleted (see answer_log.py).

What changes here is how answers are given and taken back, and which of them stand.  An answer
may name a new class, made in the same transaction (``LogClasses._class_idx``), so this part
builds on the classes.
"""

from __future__ import annotations

from contextlib import closing

from ahunt.store._log_classes import LogClasses
from ahunt.store._log_file import AnswerRow, _now, _writes

__all__ = ["LogAnswers"]


class LogAnswers(LogClasses):
    """The answers of the log, and the classes they name."""

    @_writes("the answer")
    def record(
        self,
        *,
        round: int,
        object_id: str,
        kind: str,
        class_name: str | None = None,
        new_class: bool = False,
        class_kind: str = "anomaly",
        strategy: str | None = None,
        model_version: int | None = None,
        oracle: str,
    ) -> AnswerRow:
        """Commit one answer ('label' or 'skip'); with ``new_class`` create the class first, an
        anomaly class or (``class_kind='known'``) a normal kind."""
        if kind not in ("label", "skip"):
            raise ValueError(f"kind must be 'label' or 'skip', got {kind!r}")
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                class_idx = None
                if kind == "label":
                    class_idx = self._class_idx(conn, class_name, new_class, round, class_kind)
                now = _now()
                cur = conn.execute(
                    "INSERT INTO answers (round, object_id, kind, class_idx, strategy, model_version, oracle, answered_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (round, object_id, kind, class_idx, strategy, model_version, oracle, now),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return AnswerRow(cur.lastrowid, round, object_id, kind, class_idx, strategy, model_version, oracle, now)

    @_writes("the undo")
    def retract_last(self, round: int, *, oracle: str) -> AnswerRow | None:
        """Withdraw the newest standing answer of ``round``; None if there is none."""
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            standing = self._standing(conn, round)
            if not standing:
                conn.execute("ROLLBACK")
                return None
            target = standing[-1]
            conn.execute(
                "INSERT INTO answers (round, object_id, kind, retracts, oracle, answered_at)"
                " VALUES (?, ?, 'retract', ?, ?, ?)",
                (round, target.object_id, target.id, oracle, _now()),
            )
            conn.execute("COMMIT")
        return target

    def standing_answers(self, round: int | None = None) -> list[AnswerRow]:
        """Answers not retracted, oldest first (all rounds when ``round`` is None)."""
        with closing(self._connect()) as conn:
            return self._standing(conn, round)

    def current_labels(self) -> dict[str, AnswerRow]:
        """The standing answer per object (the latest wins if an object was answered twice)."""
        return {a.object_id: a for a in self.standing_answers()}

    def history(self) -> list[tuple]:
        """Every row of the answers table, retractions included, for audits and tests."""
        with closing(self._connect()) as conn:
            return conn.execute("SELECT * FROM answers ORDER BY id").fetchall()
