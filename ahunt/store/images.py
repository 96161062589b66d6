"""The image store: one HDF5 file, one group per round.  The only module that touches h5py.

Layout::

    /rounds/0000/images   float32 (N, C, H, W), network-ready, chunked + compressed
    /rounds/0000/ids      utf-8 object ids, unique across the whole store
    /rounds/0000/labels   optional utf-8 class names given with the data (round 0)
    /rounds/0000/truth    optional utf-8 true classes (simulations; used by the truth oracle
                          and by metrics, never by the model)
    /rounds/0000/ra, dec  optional float64 degrees
    attribute "origin"    where round 0 came from: "simulated" (the embedded simulator) or
                          "file"; absent in stores written before it was kept

Beside it, ``<store>.ids.sqlite`` indexes every object id (id -> round, position), so that an
ingest's duplicate check and ``find`` cost the same with 10 M ids stored as with none.  It is
derived from the store: a round missing from it (an older store, a crash between the two
writes) is indexed from the round's ids on the next use, and entries of rounds the store lacks
are dropped; deleted, it is rebuilt.

A round is written under a staging name and renamed into place only once complete, so a failed
ingest leaves the store as it was.  It can be written piece by piece (``Store.writing_round``),
so a night of any size is ingested with one piece in memory.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import h5py
import numpy as np

from ahunt.errors import StoreError
from ahunt.sources.rounds import RoundData
from ahunt.store.atomic import disk_problem, require_space

__all__ = ["RoundData", "RoundWriter", "Store", "IdIndex", "ScoreStore", "LazyImages", "ImageBlocks"]

_STR = h5py.string_dtype(encoding="utf-8")


def _round_key(r: int) -> str:
    return f"rounds/{r:04d}"


class Store:
    """Read and append rounds of images.  Opens the file per call so nothing stays locked."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- writing ------------------------------------------------------------------------
    def add_round(self, data: RoundData) -> int:
        """Append ``data`` as the next round and return its number."""
        with self.writing_round() as writer:
            writer.append(data)
        return writer.round

    def add_round_pieces(self, pieces: Iterable[RoundData]) -> tuple[int, int]:
        """Append consecutive pieces as one round; (round number, objects).  All or nothing."""
        with self.writing_round() as writer:
            for piece in pieces:
                writer.append(piece)
        return writer.round, writer.count

    @contextmanager
    def writing_round(self) -> Iterator["RoundWriter"]:
        """A writer for the next round: ``append`` pieces, and the round appears when the block
        ends without an error.  On any error (or Ctrl-C) the store is left as it was."""
        with self._open("a") as f:
            rounds = f.require_group("rounds")
            r = len(rounds)
            staging = f"staging_{r:04d}"
            if staging in f:
                del f[staging]
            shape = tuple(f[_round_key(0)]["images"].shape[1:]) if r else None
            index = self._index(f)
            writer = RoundWriter(self.path, f.create_group(staging), r, index, shape)
            try:
                yield writer
                if writer.count == 0:
                    raise StoreError("a round needs at least one image")
                f.move(staging, _round_key(r))
            except BaseException:
                if staging in f:
                    del f[staging]
                raise
            # After the round: a crash in between leaves it unindexed, and the next use indexes it.
            index.add_round(r, writer.ids)

    def mark_origin(self, origin: str) -> None:
        """Record where round 0 came from ("simulated" or "file"), for the hints of what comes next."""
        with self._open("a") as f:
            f.attrs["origin"] = origin

    # -- reading ------------------------------------------------------------------------
    def origin(self) -> str | None:
        """Where round 0 came from, as ``mark_origin`` recorded it; None when it was not recorded."""
        with self._open("r") as f:
            value = f.attrs.get("origin")
        return None if value is None else str(value)

    def n_rounds(self) -> int:
        if not self.path.exists():
            return 0
        with self._open("r") as f:
            return len(f["rounds"]) if "rounds" in f else 0

    def image_shape(self) -> tuple[int, int, int]:
        with self._open("r") as f:
            return tuple(f[_round_key(0)]["images"].shape[1:])

    def round_size(self, r: int) -> int:
        with self._open("r") as f:
            return len(self._group(f, r)["ids"])

    def load_round(self, r: int, *, images: bool = True) -> RoundData:
        with self._open("r") as f:
            g = self._group(f, r)
            strings = {
                name: g[name].asstr()[...].astype(str) if name in g else None
                for name in ("ids", "labels", "truth")
            }
            return RoundData(
                images=g["images"][...] if images else np.empty((0,)),
                ids=strings["ids"],
                labels=strings["labels"],
                truth=strings["truth"],
                ra=g["ra"][...] if "ra" in g else None,
                dec=g["dec"][...] if "dec" in g else None,
            )

    @contextmanager
    def lazy_images(self, r: int) -> Iterator[h5py.Dataset]:
        """Round ``r``'s images as an open, unread HDF5 dataset: slices are read on demand, so
        a caller that walks it in batches (``train.score``) holds one batch in memory, not the night."""
        with self._open("r") as f:
            yield self._group(f, r)["images"]

    def lazy_array(self, r: int) -> "LazyImages":
        """Round ``r``'s images as a picklable array-like that opens the file where it is read
        (DataLoader worker processes, Dask workers); nothing is read until it is sliced."""
        with self._open("r") as f:
            ds = self._group(f, r)["images"]
            return LazyImages(str(self.path), _round_key(r) + "/images", tuple(ds.shape), ds.dtype)

    def load_images(self, r: int, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Images at ``indices`` (any order) of round ``r``."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size == 0:
            return np.empty((0, *self.image_shape()), dtype=np.float32)
        order = np.argsort(idx)
        with self._open("r") as f:
            # h5py fancy indexing wants increasing, unique indices.
            uniq, inverse = np.unique(idx[order], return_inverse=True)
            block = self._group(f, r)["images"][uniq]
        out = np.empty((len(idx), *block.shape[1:]), dtype=np.float32)
        out[order] = block[inverse]
        return out

    def find(self, object_id: str) -> tuple[int, int]:
        """(round, index) of an object id; StoreError if absent."""
        where = self.locate([object_id])
        if object_id not in where:
            raise StoreError(f"object id {object_id!r} is not in the store")
        return where[object_id]

    def locate(self, object_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(round, index) of each of ``object_ids`` that is in the store, from the id index."""
        with self._open("r") as f:
            return self._index(f).locate(object_ids)

    @property
    def index_path(self) -> Path:
        """The id index beside the store (``store.h5`` -> ``store.ids.sqlite``)."""
        return self.path.with_suffix(".ids.sqlite")

    # -- helpers ------------------------------------------------------------------------
    def _open(self, mode: str) -> h5py.File:
        if mode == "r" and not self.path.exists():
            raise StoreError(f"{self.path}: image store not found")
        try:
            if mode != "r":
                require_space(self.path, 0)
            return h5py.File(self.path, mode)
        except OSError as exc:
            problem = disk_problem(exc) if mode != "r" else None
            if problem is not None:
                raise StoreError(f"{self.path}: cannot write to the image store: {problem}; it is unchanged") from None
            raise StoreError(f"{self.path}: cannot open image store ({exc})") from None

    def _group(self, f: h5py.File, r: int) -> h5py.Group:
        key = _round_key(r)
        if key not in f:
            n = len(f["rounds"]) if "rounds" in f else 0
            raise StoreError(f"{self.path}: round {r} does not exist (store has {n} rounds)")
        return f[key]

    def _index(self, f: h5py.File) -> "IdIndex":
        """The id index, brought in line with the open store ``f`` first."""
        index = IdIndex(self.index_path)
        sizes = [len(self._group(f, r)["ids"]) for r in range(len(f.get("rounds", {})))]
        index.reconcile(sizes, lambda r: self._group(f, r)["ids"].asstr()[...].tolist())
        return index


class IdIndex:
    """Every object id of a store -> (round, position), in SQLite: a lookup is a B-tree search,
    so checking a night's ids costs the same however many the store holds.

    ``rounds`` records each indexed round with its size, written in the same transaction as its
    ids, so the index knows exactly which rounds it covers.
    """

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS ids (id TEXT PRIMARY KEY, round INTEGER NOT NULL, idx INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, size INTEGER NOT NULL);
    """
    _BATCH = 500  # ids per lookup query (SQLite bounds the parameters of one statement)

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.executescript(self._SCHEMA)
        except sqlite3.DatabaseError:
            # Damaged (it is derived data): start again, and the reconcile re-indexes every round.
            self.path.unlink(missing_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.executescript(self._SCHEMA)
        return conn

    def reconcile(self, sizes: Sequence[int], ids_of) -> None:
        """Match the store, whose round ``r`` holds ``sizes[r]`` ids (``ids_of(r)`` lists them):
        drop rounds it lacks or whose size differs, index the rounds missing here."""
        with closing(self._connect()) as conn:
            have = dict(conn.execute("SELECT round, size FROM rounds"))
            stale = [r for r, n in have.items() if r >= len(sizes) or sizes[r] != n]
            missing = [r for r, n in enumerate(sizes) if have.get(r) != n]
            if not stale and not missing:
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                for r in stale:
                    conn.execute("DELETE FROM ids WHERE round = ?", (r,))
                    conn.execute("DELETE FROM rounds WHERE round = ?", (r,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        for r in missing:
            self.add_round(r, ids_of(r))

    def add_round(self, r: int, ids: Sequence[str]) -> None:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM ids WHERE round = ?", (r,))
                conn.executemany("INSERT INTO ids VALUES (?, ?, ?)", ((oid, r, i) for i, oid in enumerate(ids)))
                conn.execute("INSERT OR REPLACE INTO rounds VALUES (?, ?)", (r, len(ids)))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def locate(self, object_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
        ids = list(object_ids)
        out: dict[str, tuple[int, int]] = {}
        with closing(self._connect()) as conn:
            for s in range(0, len(ids), self._BATCH):
                part = ids[s : s + self._BATCH]
                rows = conn.execute(
                    f"SELECT id, round, idx FROM ids WHERE id IN ({','.join('?' * len(part))})", part
                )
                out.update((oid, (r, i)) for oid, r, i in rows)
        return out


class RoundWriter:
    """Appends pieces of one round to its staging group (see ``Store.writing_round``).

    Every piece is checked before it is written: image shape, finite pixels, ids unique within
    the round and the store, and the same optional columns as the first piece.
    """

    CHUNK = 256  # images per HDF5 chunk: what a read decompresses at once

    def __init__(self, path: Path, group: h5py.Group, r: int, index: IdIndex, shape):
        self.path, self.group, self.round = path, group, r
        self.index, self.seen = index, set()
        self.ids: list[str] = []  # the round's ids in order, for the id index
        self.shape = shape  # (C, H, W) of the store's images, None for the first round
        self.columns: tuple[str, ...] | None = None
        self.count = 0

    def append(self, data: RoundData) -> None:
        data.validate(allow_empty=True)
        if len(data) == 0:
            return
        if self.shape is not None and data.images.shape[1:] != self.shape:
            raise StoreError(f"{self.path}: images of shape {data.images.shape[1:]} do not match the "
                             f"store's {self.shape}")
        ids = [str(i) for i in data.ids.tolist()]
        stored = self.index.locate(ids)
        clash = next((i for i in ids if i in stored), None)
        if clash is not None:
            raise StoreError(f"object id {clash!r} is already in the store")
        dup = next((i for i in ids if i in self.seen), None)
        if dup is not None:
            raise StoreError(f"duplicate object id {dup!r} within the round")
        columns = tuple(name for name in ("labels", "truth", "ra", "dec") if getattr(data, name) is not None)
        if self.columns is None:
            self._create(data.images.shape[1:], columns)
        elif columns != self.columns:
            raise StoreError(f"a piece of the round has columns {columns}, the first had {self.columns}")
        try:  # before HDF5 writes a byte: it must never meet a full disk (see atomic.MARGIN)
            require_space(self.path, data.images.size * 4 + 64 * len(data))
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot store the round: {disk_problem(exc)} ({exc.strerror}); "
                             "nothing of it was stored") from None
        n0, n1 = self.count, self.count + len(data)
        for name in ("images", "ids", *columns):
            self.group[name].resize(n1, axis=0)
        self.group["images"][n0:n1] = data.images.astype(np.float32, copy=False)
        self.group["ids"][n0:n1] = np.asarray(ids, dtype=object)
        for name in columns:
            values = getattr(data, name)
            is_str = name in ("labels", "truth")
            self.group[name][n0:n1] = np.asarray(values, dtype=object if is_str else np.float64)
        self.seen.update(ids)
        self.ids += ids
        self.count = n1
        self.shape = data.images.shape[1:]

    def _create(self, shape: tuple[int, ...], columns: tuple[str, ...]) -> None:
        g = self.group
        g.create_dataset("images", shape=(0, *shape), maxshape=(None, *shape), dtype=np.float32,
                         chunks=(self.CHUNK, *shape), compression="lzf")
        g.create_dataset("ids", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(4096,))
        for name in columns:
            dtype = _STR if name in ("labels", "truth") else np.float64
            g.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))
        self.columns = columns


class ScoreStore:
    """Every object's scores under one model, kept so later commands need not score again.

    Layout: ``/rounds/0001/probs`` float32 (N, n_classes) and ``latents`` float16 (N, D), with
    attributes ``version`` and ``model`` (what identifies the checkpoint).  One entry per round:
    the newest model's.  It is a cache: unreadable, busy or stale, it is simply not used.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self, r: int, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.path.exists():
            return None
        try:
            with h5py.File(self.path, "r") as f:
                g = f.get(f"rounds/{r:04d}")
                if g is None or g.attrs.get("model") != model_id:
                    return None
                return g["probs"][...], g["latents"][...]
        except (OSError, KeyError):  # written by another process just now, or damaged
            return None

    def save(self, r: int, model_id: str, probs: np.ndarray, latents: np.ndarray) -> bool:
        """Replace round ``r``'s entry; False (and nothing changed) if the file is busy."""
        key, staging = f"rounds/{r:04d}", f"staging/{r:04d}"
        try:
            require_space(self.path, np.asarray(probs).size * 4 + np.asarray(latents).size * 2)
            with h5py.File(self.path, "a") as f:
                if staging in f:
                    del f[staging]
                g = f.create_group(staging)
                g.create_dataset("probs", data=np.asarray(probs, np.float32))
                g.create_dataset("latents", data=np.asarray(latents, np.float16))
                g.attrs["model"] = model_id
                if key in f:
                    del f[key]
                f.move(staging, key)
            return True
        except OSError:
            return False


class LazyImages:
    """An HDF5 image dataset addressed by file path, for other processes to read.

    Has ``shape``, ``dtype``, ``ndim`` and ``__getitem__``, which is all ``dask.array.from_array``
    needs.  Each process opens the file on its first read and keeps it open; pickling drops the
    handle, so a copy sent to a worker opens its own.
    """

    def __init__(self, path: str, key: str, shape: tuple[int, ...], dtype):
        self.path, self.key, self.shape, self.dtype = path, key, shape, np.dtype(dtype)
        self.ndim = len(shape)
        self._ds: h5py.Dataset | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if self._ds is None:
            try:
                self._ds = h5py.File(self.path, "r")[self.key]
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot open image store ({exc})") from None
        return self._ds[key]

    def close(self) -> None:
        """Close this process's handle (the store can then be opened for writing again)."""
        if self._ds is not None:
            self._ds.file.close()
            self._ds = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_ds": None}


class ImageBlocks:
    """Consecutive blocks of ``block`` images from a ``LazyImages``: a map-style dataset for
    torch's DataLoader (no torch needed here).  Blocks should be whole HDF5 chunks (256
    images), so no chunk is decompressed twice."""

    def __init__(self, images: LazyImages, block: int):
        self.images, self.block = images, block

    def __len__(self) -> int:
        return -(-len(self.images) // self.block)

    def __getitem__(self, k: int) -> np.ndarray:
        s = k * self.block
        return np.asarray(self.images[s : s + self.block], dtype=np.float32)
