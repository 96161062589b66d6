"""The answer log's file: its schema, how it is opened, and batches of writes (see answer_log.py).

What changes here is how the log is kept: the SQLite schema and its version, the connection's
settings, one transaction per write or one for many (``LogFile.batch``), and the rows it reads
back.  The classes, questions and answers kept in it are the other parts of ``AnswerLog``.
"""

from __future__ import annotations

import functools
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from ahunt.config import RESERVE
from ahunt.errors import WorkspaceError
from ahunt.store.atomic import disk_problem

__all__ = ["SCHEMA_VERSION", "ClassInfo", "QuestionRow", "AnswerRow", "LogFile"]

SCHEMA_VERSION = 1  # stored as SQLite's user_version; bump with every schema change

_SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    idx           INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    origin        TEXT NOT NULL UNIQUE,  -- the name it was created with; round-0 labels use it
    kind          TEXT NOT NULL CHECK (kind IN ('known', 'reserve', 'anomaly')),
    created_round INTEGER NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS questions (
    round         INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    object_id     TEXT NOT NULL UNIQUE,
    object_index  INTEGER NOT NULL,
    strategy      TEXT NOT NULL,
    interest      TEXT NOT NULL,
    score         REAL NOT NULL,
    model_version INTEGER NOT NULL,
    chosen_at     TEXT NOT NULL,
    PRIMARY KEY (round, position)
);
CREATE TABLE IF NOT EXISTS answers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    round         INTEGER NOT NULL,
    object_id     TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('label', 'skip', 'retract')),
    class_idx     INTEGER REFERENCES classes (idx),
    retracts      INTEGER REFERENCES answers (id),
    strategy      TEXT,
    model_version INTEGER,
    oracle        TEXT NOT NULL,
    answered_at   TEXT NOT NULL
);
"""


def _writes(what: str):
    """Turn a full or read-only disk under a write into one clear WorkspaceError (SQLite has
    rolled the transaction back, so nothing of it is stored)."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                problem = disk_problem(exc)
                if problem is None:
                    raise
                raise WorkspaceError(f"{self.path}: cannot record {what}: {problem}; everything recorded "
                                     "before is kept") from None

        return wrapper

    return decorate


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ClassInfo:
    idx: int
    name: str
    kind: str  # 'known' (normal, boring) | 'reserve' | 'anomaly'
    created_round: int  # 0: a round-0 class; later: made by an answer (an anomaly, or a normal kind)
    retired: bool = False  # a class made by an answer, left without any standing label


@dataclass(frozen=True)
class QuestionRow:
    round: int
    position: int
    object_id: str
    object_index: int
    strategy: str
    interest: str
    score: float
    model_version: int


@dataclass(frozen=True)
class AnswerRow:
    id: int
    round: int
    object_id: str
    kind: str
    class_idx: int | None
    strategy: str | None
    model_version: int | None
    oracle: str
    answered_at: str


class LogFile:
    """The log's SQLite file: opened per call (or held by a batch), created with its schema."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._held: _HeldConnection | None = None  # inside batch()

    def _connect(self, *, check: bool = True) -> sqlite3.Connection:
        if self._held is not None:
            return self._held  # type: ignore[return-value]
        try:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            (version,) = conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            raise WorkspaceError(f"{self.path}: cannot open the answer log ({exc})") from None
        if check and version != SCHEMA_VERSION:
            conn.close()
            raise WorkspaceError(
                f"{self.path}: answer log has schema version {version}, this ahunt reads version "
                f"{SCHEMA_VERSION}; open the workspace with the ahunt version that made it"
            )
        return conn

    @_writes("the new answer log")
    def create(self, known: Sequence[str]) -> None:
        """Create the schema with the known classes, then the reserve class."""
        if len(set(known)) != len(known) or RESERVE in known:
            raise WorkspaceError(f"known class names must be unique and not {RESERVE!r}: {list(known)}")
        with closing(self._connect(check=False)) as conn:
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            names = [*known, RESERVE]
            kinds = ["known"] * len(known) + ["reserve"]
            conn.executemany(
                "INSERT INTO classes (idx, name, origin, kind, created_round, created_at) VALUES (?, ?, ?, ?, 0, ?)",
                [(i, n, n, k, _now()) for i, (n, k) in enumerate(zip(names, kinds))],
            )
            conn.execute("COMMIT")

    @contextmanager
    def batch(self, every: int = 1000) -> Iterator[None]:
        """Record many answers in one transaction, committed every ``every`` writes and at the
        end, also when the block ends with an error (every answer given so far is kept).

        For scripted oracles only (an answers file, the truth oracle, experiments): a crash
        loses the answers since the last commit, which the script gives again.  Inside the
        block every method of this log reads and writes through the batch's connection, so
        it sees the uncommitted answers and classes; each write is a savepoint of the batch,
        so a failed one still leaves nothing of itself.
        """
        if self._held is not None:
            yield
            return
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        self._held = _HeldConnection(conn, every)
        try:
            yield
        finally:
            self._held = None
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()

    @staticmethod
    def _standing(conn: sqlite3.Connection, round: int | None) -> list[AnswerRow]:
        """Answers not retracted, oldest first: what the classes and the answers both read."""
        where, args = ("", ()) if round is None else (" AND round = ?", (round,))
        rows = conn.execute(
            "SELECT id, round, object_id, kind, class_idx, strategy, model_version, oracle, answered_at"
            " FROM answers WHERE kind != 'retract'"
            " AND id NOT IN (SELECT retracts FROM answers WHERE kind = 'retract')" + where + " ORDER BY id",
            args,
        ).fetchall()
        return [AnswerRow(*row) for row in rows]


class _HeldConnection:
    """The connection of ``AnswerLog.batch``, lent to the log's methods.  Their own
    transactions become savepoints of the batch's, and closing it is left to the batch."""

    def __init__(self, conn: sqlite3.Connection, every: int):
        self.conn, self.every, self.writes = conn, every, 0

    def execute(self, sql: str, *args):
        verb = sql.split(None, 1)[0].upper()
        if verb == "BEGIN":
            return self.conn.execute("SAVEPOINT write")
        if verb == "ROLLBACK":
            self.conn.execute("ROLLBACK TO write")
            return self.conn.execute("RELEASE write")
        if verb == "COMMIT":
            cursor = self.conn.execute("RELEASE write")
            self.writes += 1
            if self.writes % self.every == 0:
                self.conn.execute("COMMIT")
                self.conn.execute("BEGIN IMMEDIATE")
            return cursor
        return self.conn.execute(sql, *args)

    def executemany(self, sql: str, rows):
        return self.conn.executemany(sql, rows)

    def close(self) -> None:
        pass
