"""The labelled store: every labelled object's model-ready pixels, at hand for retraining.

One SQLite file, ``labelled.sqlite`` in the workspace: a row per object (its id, the label
given with the data for round-0 objects, its float32 pixels).  An answered object's pixels are
copied from the image store once, at the first retrain after its answer, so a retrain reads only
the rows its epochs draw: no night's id list, no compressed chunk of an old night.

It holds pixels, never classes.  Which objects are labelled, and as what, is read from the
answer log every time (``Workspace.labelled_view``), so retractions, renames and merges apply
without touching it; a row whose label was withdrawn is simply not used.  Every write is one
SQLite transaction, so a crash leaves it as it was before or after the write, and it is derived
data: deleted or damaged, it is rebuilt from the image store and the log on the next retrain.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["LabelledStore", "LabelledImages"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pixels (
    row       INTEGER PRIMARY KEY,
    object_id TEXT NOT NULL UNIQUE,
    given     TEXT,                 -- the label given with round-0 data (class origin name), else NULL
    data      BLOB NOT NULL         -- float32 (C, H, W), C order
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_BATCH = 500  # rows per read query (SQLite bounds the parameters of one statement)
_BLOCK = 4096  # rows of pixels read at a time when adding


class LabelledStore:
    """Pixels of labelled objects by id, for images of one shape (C, H, W)."""

    def __init__(self, path: str | Path, shape: Sequence[int]):
        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)

    def _connect(self) -> sqlite3.Connection:
        conn = None
        try:
            conn = self._open()
            shape = conn.execute("SELECT value FROM meta WHERE key = 'shape'").fetchone()
        except sqlite3.DatabaseError:
            shape = ("damaged",)
        if shape is not None and shape[0] != self._shape_text():
            # Damaged, or made for other images: it is derived data, so start again.
            if conn is not None:
                conn.close()
            self.path.unlink(missing_ok=True)
            conn, shape = self._open(), None
        if shape is None:
            conn.execute("INSERT INTO meta VALUES ('shape', ?)", (self._shape_text(),))
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.executescript(_SCHEMA)
        return conn

    def _shape_text(self) -> str:
        return ",".join(map(str, self.shape))

    def has_round0(self) -> bool:
        """Whether round 0's labelled objects are all here (they are added in one transaction)."""
        with closing(self._connect()) as conn:
            return conn.execute("SELECT 1 FROM meta WHERE key = 'round0'").fetchone() is not None

    def add(self, ids: Sequence[str], images, given: Sequence[str] | None = None, *,
            round0: bool = False) -> None:
        """Store the pixels of ``ids`` in one transaction; ids already here are left as they are.
        ``images``: an array, or anything sliceable with a shape (an open HDF5 dataset), read
        ``_BLOCK`` rows at a time, so that a round 0 of any size is never held whole."""
        if tuple(images.shape[1:]) != self.shape:
            raise ValueError(f"images of shape {tuple(images.shape[1:])} for a labelled store of {self.shape}")
        given = [None] * len(ids) if given is None else [str(g) for g in given]

        def pixels():
            for start in range(0, len(ids), _BLOCK):
                block = np.ascontiguousarray(images[start:start + _BLOCK], dtype=np.float32)
                for i, g, x in zip(ids[start:start + _BLOCK], given[start:start + _BLOCK], block):
                    yield str(i), g, x.tobytes()

        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR IGNORE INTO pixels (object_id, given, data) VALUES (?, ?, ?)", pixels())
                if round0:
                    conn.execute("INSERT OR REPLACE INTO meta VALUES ('round0', 'complete')")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def rows(self) -> tuple[dict[str, int], list[tuple[str, str, int]]]:
        """(row by object id for every object, (id, given label, row) of round 0's objects)."""
        with closing(self._connect()) as conn:
            found = conn.execute("SELECT object_id, given, row FROM pixels ORDER BY row").fetchall()
        return {oid: row for oid, _, row in found}, [f for f in found if f[1] is not None]

    def read(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Pixels of ``rows`` (any order, repeats allowed), float32 (N, C, H, W)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.shape), dtype=np.float32)
        uniq, inverse = np.unique(rows, return_inverse=True)
        where = {int(r): k for k, r in enumerate(uniq)}
        block = np.empty((len(uniq), *self.shape), dtype=np.float32)
        with closing(self._connect()) as conn:
            for s in range(0, len(uniq), _BATCH):
                part = uniq[s : s + _BATCH].tolist()
                query = f"SELECT row, data FROM pixels WHERE row IN ({','.join('?' * len(part))})"
                for row, data in conn.execute(query, part):
                    block[where[row]] = np.frombuffer(data, dtype=np.float32).reshape(self.shape)
        out[:] = block[inverse.reshape(-1)]
        return out


class LabelledImages:
    """The labelled set's images as an array-like over the labelled store: ``len``, ``shape``
    and indexing by an integer array read only those rows (what ``train.train_model`` needs)."""

    def __init__(self, store: LabelledStore, rows: np.ndarray):
        self.store, self.rows = store, np.asarray(rows, dtype=np.int64)
        self.shape = (len(self.rows), *store.shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> np.ndarray:
        rows = self.rows[key]
        return self.store.read(rows.reshape(-1)) if np.ndim(rows) else self.store.read([rows])[0]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        images = self.store.read(self.rows)
        return images if dtype is None else images.astype(dtype, copy=False)
