"""The answer log's classes: created with the known ones, by an answer, or renamed, merged,
made normal or anomalous, retired and removed (see answer_log.py).

What changes here is the rules of classes: names match ignoring case and spaces; a class made by
an answer and left with no standing label is retired, keeps its row and comes back when named
again; round-0 classes and the reserve keep their kind.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from ahunt.config import RESERVE
from ahunt.errors import WorkspaceError
from ahunt.store._log_file import ClassInfo, LogFile, _now, _writes
from ahunt.store.names import find_name, normalise

__all__ = ["LogClasses"]


class LogClasses(LogFile):
    """The classes of the log."""

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
            with closing(self._connect()) as conn:
                standing = self._standing(conn, None)
            n = sum(1 for a in standing if a.kind == "label" and a.class_idx == c.idx)
            raise WorkspaceError(f"{hit!r} has {n} standing label{'s' if n != 1 else ''}; move them first with "
                                 f"--merge {hit}=OTHER (or undo them), then remove it")
        return c

    @staticmethod
    def _class_idx(conn: sqlite3.Connection, name: str | None, new: bool, round: int, new_kind: str = "anomaly") -> int:
        """The index of the class an answer names; with ``new``, a class made in the answer's
        transaction (``LogAnswers.record``)."""
        name = " ".join((name or "").split())
        if not name:
            raise WorkspaceError("a label needs a class name")
        rows = conn.execute("SELECT idx, name, kind, created_round FROM classes").fetchall()
        existing = find_name(name, [n for _, n, _, _ in rows])
        if existing is not None:
            idx, _, _, created = next(r for r in rows if r[1] == existing)
            if new and (created == 0 or any(a.kind == "label" and a.class_idx == idx
                                                 for a in LogFile._standing(conn, None))):
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
