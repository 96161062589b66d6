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

import functools
import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ahunt.config import NORMAL, RESERVE
from ahunt.errors import WorkspaceError
from ahunt.store.atomic import disk_problem
from ahunt.store.names import find_name, normalise

__all__ = ["RESERVE", "NORMAL", "ClassInfo", "QuestionRow", "AnswerRow", "AnswerLog"]

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


class AnswerLog:
    """Access to the SQLite log; every write commits before returning."""

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

    # -- classes --------------------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT idx, name, kind, created_round FROM classes ORDER BY idx").fetchall()
            labelled = {a.class_idx for a in self._standing(conn, None) if a.kind == "label"}
        return [ClassInfo(*row, retired=row[2] != "reserve" and row[3] > 0 and row[0] not in labelled) for row in rows]

    def index_by_origin(self) -> dict[str, int]:
        """Class index by the name a class was created with (labels stored with data use it)."""
        with closing(self._connect()) as conn:
            return dict(conn.execute("SELECT origin, idx FROM classes"))

    @_writes("the new class name")
    def rename_class(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise WorkspaceError("a class name cannot be empty")
        with closing(self._connect()) as conn:
            names = {n for (n,) in conn.execute("SELECT name FROM classes")}
            if old not in names:
                raise WorkspaceError(f"no class named {old!r}; classes: {', '.join(sorted(names))}")
            if old == RESERVE:
                raise WorkspaceError("the reserve class keeps its name")
            same = [n for n in names if n != old and normalise(n) == normalise(new)]
            if same:
                raise WorkspaceError(f"a class named {same[0]!r} already exists; to move the answers of "
                                     f"{old!r} into it, use --merge {old}={same[0]}")
            conn.execute("UPDATE classes SET name = ? WHERE name = ?", (new, old))

    @_writes("the merge")
    def merge_class(self, source: str, target: str, *, oracle: str = "merge") -> tuple[str, str, int]:
        """Move every standing label of ``source`` to ``target``; returns both exact names and
        how many answers moved.

        Each moved answer is retracted and answered again with ``target`` (same round, object,
        strategy and model), all in one transaction, so the history keeps both.  ``source`` is
        then retired: it loses its network output at the next retrain.
        """
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute("SELECT idx, name, kind, created_round FROM classes").fetchall()
                by_name = {name: (idx, kind, created) for idx, name, kind, created in rows}
                names = [name for _, name, _, _ in rows]
                found = {}
                for role, name in (("merge", source), ("into", target)):
                    hit = find_name(name, names)
                    if hit is None:
                        raise WorkspaceError(f"no class named {name!r}; classes: {', '.join(names)}")
                    found[role] = hit
                (src, src_kind, src_round), (dst, _, _) = by_name[found["merge"]], by_name[found["into"]]
                if src == dst:
                    raise WorkspaceError(f"{source!r} and {target!r} are the same class")
                if RESERVE in (found["merge"], found["into"]):
                    raise WorkspaceError("the reserve class cannot be merged, nor merged into")
                if src_kind == "known" and src_round == 0:
                    raise WorkspaceError(f"{found['merge']!r} is a known class of round 0: its labels stay in the "
                                         "image store; only classes made by answers can be merged into another")
                moved = [a for a in self._standing(conn, None) if a.kind == "label" and a.class_idx == src]
                if not moved:
                    raise WorkspaceError(f"{found['merge']!r} has no standing labels: there is nothing to merge")
                now = _now()
                for a in moved:
                    conn.execute(
                        "INSERT INTO answers (round, object_id, kind, retracts, oracle, answered_at)"
                        " VALUES (?, ?, 'retract', ?, ?, ?)", (a.round, a.object_id, a.id, oracle, now))
                    conn.execute(
                        "INSERT INTO answers (round, object_id, kind, class_idx, strategy, model_version, oracle,"
                        " answered_at) VALUES (?, ?, 'label', ?, ?, ?, ?, ?)",
                        (a.round, a.object_id, dst, a.strategy, a.model_version, oracle, now))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return found["merge"], found["into"], len(moved)

    @_writes("the class's kind")
    def set_kind(self, name: str, kind: str) -> tuple[str, str]:
        """Make a class created by an answer a normal kind (``'known'``: boring, like the round-0
        classes) or an anomaly class; returns its exact name and its kind before."""
        if kind not in ("known", "anomaly"):
            raise ValueError(f"kind must be 'known' or 'anomaly', got {kind!r}")
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT name, kind, created_round FROM classes").fetchall()
            hit = find_name(name, [n for n, _, _ in rows])
            if hit is None:
                raise WorkspaceError(f"no class named {name!r}; classes: {', '.join(n for n, _, _ in rows)}")
            _, old, created = next(r for r in rows if r[0] == hit)
            if old == "reserve":
                raise WorkspaceError("the reserve class stands for anything new; it is neither normal nor an anomaly")
            if created == 0:
                raise WorkspaceError(f"{hit!r} is a round-0 class: it stays a known normal class")
            conn.execute("UPDATE classes SET kind = ? WHERE name = ?", (kind, hit))
        return hit, old

    def check_removable(self, name: str) -> ClassInfo:
        """The class ``name`` if it may be removed (an anomaly class without standing labels).

        Removal writes nothing: such a class is already retired (no questions, and no network
        output from the next retrain), and an answer that names it again brings it back.
        """
        classes = self.classes()
        hit = find_name(name, [c.name for c in classes])
        if hit is None:
            raise WorkspaceError(f"no class named {name!r}; classes: {', '.join(c.name for c in classes)}")
        c = next(c for c in classes if c.name == hit)
        if c.kind == "reserve":
            raise WorkspaceError("the reserve class stands for anything new and cannot be removed")
        if c.kind == "known" and c.created_round == 0:
            raise WorkspaceError(f"{hit!r} is a known class with round-0 labels; it cannot be removed")
        if not c.retired:
            n = sum(1 for a in self.standing_answers() if a.kind == "label" and a.class_idx == c.idx)
            raise WorkspaceError(f"{hit!r} has {n} standing label{'s' if n != 1 else ''}; move them first with "
                                 f"--merge {hit}=OTHER (or undo them), then remove it")
        return c

    # -- questions ------------------------------------------------------------------------
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

    # -- answers --------------------------------------------------------------------------
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

    @staticmethod
    def _class_idx(conn: sqlite3.Connection, name: str | None, new: bool, round: int, new_kind: str = "anomaly") -> int:
        name = " ".join((name or "").split())
        if not name:
            raise WorkspaceError("a label needs a class name")
        rows = conn.execute("SELECT idx, name, kind, created_round FROM classes").fetchall()
        existing = find_name(name, [n for _, n, _, _ in rows])
        if existing is not None:
            idx, _, _, created = next(r for r in rows if r[1] == existing)
            if new and (created == 0 or any(a.kind == "label" and a.class_idx == idx
                                                 for a in AnswerLog._standing(conn, None))):
                raise WorkspaceError(f"class {existing!r} already exists; answer with it instead of a new one")
            return idx  # a retired class named again comes back
        same = [n for _, n, _, _ in rows if normalise(n) == normalise(name)]
        if same:  # several classes differ from it only in case (made before names matched so)
            raise WorkspaceError(f"{name!r} could mean any of {', '.join(map(repr, same))}; answer with the exact name")
        if not new:
            raise WorkspaceError(f"no class named {name!r}")
        (idx,) = conn.execute("SELECT COALESCE(MAX(idx), -1) + 1 FROM classes").fetchone()
        conn.execute(
            "INSERT INTO classes (idx, name, origin, kind, created_round, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (idx, name, f"{name}#{idx}", new_kind, round, _now()),
        )
        return idx

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

    @staticmethod
    def _standing(conn: sqlite3.Connection, round: int | None) -> list[AnswerRow]:
        where, args = ("", ()) if round is None else (" AND round = ?", (round,))
        rows = conn.execute(
            "SELECT id, round, object_id, kind, class_idx, strategy, model_version, oracle, answered_at"
            " FROM answers WHERE kind != 'retract'"
            " AND id NOT IN (SELECT retracts FROM answers WHERE kind = 'retract')" + where + " ORDER BY id",
            args,
        ).fetchall()
        return [AnswerRow(*row) for row in rows]

    def current_labels(self) -> dict[str, AnswerRow]:
        """The standing answer per object (the latest wins if an object was answered twice)."""
        return {a.object_id: a for a in self.standing_answers()}

    def history(self) -> list[tuple]:
        """Every row of the answers table, retractions included, for audits and tests."""
        with closing(self._connect()) as conn:
            return conn.execute("SELECT * FROM answers ORDER BY id").fetchall()


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
