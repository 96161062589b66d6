"""A hunt's folder on disk and the few facts derived from it.

Layout::

    WORKSPACE/
      config.toml         the config the hunt runs with
      store.h5            images by round (images.py)
      store.ids.sqlite    object id -> round, position (images.py; derived, rebuilt if deleted)
      answers.sqlite      classes, questions and answers (answer_log.py)
      checkpoints/        round_0000.pt, round_0001.pt, ... written atomically
      scores.h5           each round's scores and float16 latents under the newest model
                          that scored it (a cache, safe to delete)
      labelled.sqlite     every labelled object's pixels, for retraining (labelled.py; derived
                          from the store and the log, safe to delete)
      .lock               held by the one process working on the hunt

State is derived rather than recorded twice: the current model is the newest checkpoint, a
round is trained when its checkpoint exists, and its questions are pending while they lack a
standing answer.  So an interrupted retrain simply leaves the previous model current.
"""

from __future__ import annotations

import dataclasses

import os
import re
import shutil
import tempfile
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from ahunt.config import Config, dump_config, load_config
from ahunt.errors import WorkspaceError
from ahunt.store.answer_log import AnswerLog, ClassInfo
from ahunt.store.atomic import disk_problem, umask_mode, write_bytes_atomic
from ahunt.store.folder_lock import folder_lock
from ahunt.store.images import RoundData, ScoreStore, Store
from ahunt.store.labelled import LabelledImages, LabelledStore

if TYPE_CHECKING:  # pragma: no cover
    from ahunt.learn.model import HuntNet

__all__ = ["Workspace"]

_CKPT = re.compile(r"^round_(\d{4})\.pt$")


class Workspace:
    """Paths and accessors for one hunt."""

    def __init__(self, root: str | Path, config: Config):
        self.root = Path(root)
        self.config = config
        self.store = Store(self.root / "store.h5")
        self.scores = ScoreStore(self.root / "scores.h5")
        self.log = AnswerLog(self.root / "answers.sqlite")

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, root: str | Path, config: Config, initial: RoundData, known: list[str] | None = None, *,
               origin: str | None = None) -> "Workspace":
        """Make a new workspace whose round 0 is ``initial`` (which must carry labels)."""
        with cls.building(root, config, initial, known, origin=origin):
            pass
        return cls(root, config)

    @classmethod
    @contextmanager
    def building(cls, root: str | Path, config: Config, initial: RoundData | Iterable[RoundData],
                 known: list[str] | None = None, *, origin: str | None = None) -> Iterator["Workspace"]:
        """A new workspace, built in a temporary sibling folder and renamed to ``root`` only when
        the block ends without an error (round 0 trained there too, say), so a full disk or an
        interrupt never leaves a half-built workspace; the temporary folder is removed then.
        ``initial`` is round 0: one ``RoundData``, or its pieces, each written as it comes, so
        that a pile of any size is never held whole (``known`` must then name the classes).
        ``origin`` ("simulated" or "file") is where round 0 came from, kept in the store."""
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise WorkspaceError(f"{root}: folder exists and is not empty; choose a new workspace path")
        if isinstance(initial, RoundData):
            if initial.labels is None:
                raise WorkspaceError("round 0 needs labelled images of the known classes")
            known = known or list(dict.fromkeys(initial.labels.tolist()))
            initial = [initial]
        elif not known:
            raise ValueError("a round 0 given in pieces needs its known classes")
        try:
            root.parent.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
        except OSError as exc:
            raise WorkspaceError(f"{root}: cannot create the workspace: {disk_problem(exc) or exc}") from None
        try:
            building.chmod(umask_mode(0o777))  # mkdtemp's folder is private; a hunt can be shared
            (building / "checkpoints").mkdir()
            (building / "config.toml").write_text(dump_config(config), encoding="utf-8")
            ws = cls(building, config)
            ws.log.create(known)
            ws.store.add_round_pieces(_of_known_classes(initial, known))
            if origin is not None:
                ws.store.mark_origin(origin)
            yield ws
            os.replace(building, root)  # onto an empty folder too: a rename, all or nothing
        except BaseException as exc:
            shutil.rmtree(building, ignore_errors=True)
            problem = disk_problem(exc) if isinstance(exc, Exception) else None
            if problem is not None:
                raise WorkspaceError(f"{root}: cannot create the workspace: {problem}; nothing was "
                                     "left behind") from None
            raise
        ws.root = root
        ws.store, ws.scores, ws.log = Store(root / "store.h5"), ScoreStore(root / "scores.h5"), AnswerLog(root / "answers.sqlite")

    @classmethod
    def open(cls, root: str | Path) -> "Workspace":
        root = Path(root)
        for name in ("config.toml", "store.h5", "answers.sqlite"):
            if not (root / name).exists():
                raise WorkspaceError(f"{root}: not an ahunt workspace ({name} missing); create one with `ahunt init`")
        return cls(root, load_config(root / "config.toml"))

    def save_config(self, config: Config) -> None:
        """Replace the stored config atomically."""
        path = self.root / "config.toml"
        try:
            write_bytes_atomic(path, dump_config(config).encode("utf-8"))
        except OSError as exc:
            raise WorkspaceError(f"{path}: cannot write the config: {disk_problem(exc) or exc}; "
                                 "it is unchanged") from None
        self.config = config

    # -- locking ----------------------------------------------------------------------------
    def lock(self) -> AbstractContextManager[None]:
        """Exclusive lock for the duration of a command; a second session gets a clear error."""
        return folder_lock(self.root)

    # -- classes and labels -------------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        return self.log.classes()

    def class_names(self) -> list[str]:
        """Every class in output order, retired ones included (outputs keep their index)."""
        return [c.name for c in self.classes()]

    def live_class_names(self) -> list[str]:
        """The classes that can be asked for and answered with: every class but retired ones."""
        return [c.name for c in self.classes() if not c.retired]

    def labelled_set(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(images, class indices, object ids) of round 0's labels plus every standing label
        answer, all images in memory (``labelled_view`` reads only the rows asked for)."""
        images, labels, ids = self.labelled_view()
        return np.asarray(images), labels, ids

    def labelled_view(self) -> tuple[LabelledImages, np.ndarray, list[str]]:
        """Like ``labelled_set``, with the images an array-like over the labelled store.

        The objects and their classes come from the answer log (round 0's given labels through
        the classes' origin names); the store only supplies pixels.  Objects answered since the
        last call are copied into it first, from their own nights only (found by the id index).
        """
        index = self.log.index_by_origin()  # round-0 labels keep their names through renames
        answers = [a for a in self.log.current_labels().values() if a.kind == "label"]
        answers.sort(key=lambda a: a.round)  # night by night, as the set has always been ordered
        store = LabelledStore(self.root / "labelled.sqlite", self.store.image_shape())
        if not store.has_round0():
            r0 = self.store.load_round(0, images=False)
            with self.store.lazy_images(0) as images:  # read a block at a time: a pile may be large
                store.add(r0.ids.tolist(), images, r0.labels.tolist(), round0=True)
        row_of, round0 = store.rows()
        new = [a.object_id for a in answers if a.object_id not in row_of]
        if new:
            where = self.store.locate(new)
            lost = [oid for oid in new if oid not in where]
            if lost:
                raise WorkspaceError(f"{self.root}: labelled object {lost[0]!r} is not in the image store")
            by_round: dict[int, list[str]] = {}
            for oid in new:
                by_round.setdefault(where[oid][0], []).append(oid)
            for r, oids in sorted(by_round.items()):
                store.add(oids, self.store.load_images(r, [where[oid][1] for oid in oids]))
            row_of, round0 = store.rows()
        rows = [row for _, _, row in round0] + [row_of[a.object_id] for a in answers]
        labels = [index[given] for _, given, _ in round0] + [a.class_idx for a in answers]
        ids = [oid for oid, _, _ in round0] + [a.object_id for a in answers]
        return LabelledImages(store, np.array(rows, dtype=np.int64)), np.array(labels, dtype=np.int64), ids

    def label_counts(self) -> dict[str, tuple[int, int]]:
        """Per live class name: (labelled at round 0, standing label answers), without reading images."""
        names = self.class_names()
        origin = self.log.index_by_origin()
        initial = {n: 0 for n in names}
        # counted per distinct label: a pile of 10^6 is one pass in NumPy, not 10^6 in Python
        values, counts = np.unique(self.store.load_round(0, images=False).labels, return_counts=True)
        for label, count in zip(values.tolist(), counts.tolist()):
            initial[names[origin[label]]] += count
        answered = {n: 0 for n in names}
        for a in self.log.current_labels().values():
            if a.kind == "label":
                answered[names[a.class_idx]] += 1
        return {n: (initial[n], answered[n]) for n in self.live_class_names()}

    def classes_of_interest(self, r: int | None = None) -> list[str]:
        """Existing classes with an interest weight above 0 at round ``r`` (default: the newest),
        reserve included, in class order; retired classes have none."""
        r = self.store.n_rounds() - 1 if r is None else r
        weights = self.config.hunt.interest_for(r)
        return [name for name in self.live_class_names() if weights.get(name, 0) > 0]

    # -- checkpoints --------------------------------------------------------------------------
    def model_id(self, version: int) -> str:
        """What identifies checkpoint ``version`` on disk and how it scores: a retrain replaces
        the file, and so changes its size or modification time; ``[score] views`` changes the scores."""
        st = self.checkpoint_path(version).stat()
        views = self.config.scoring_views
        return f"v{version}:{st.st_size}:{st.st_mtime_ns}" + (f":views{views}" if views != 1 else "")

    def checkpoint_path(self, r: int) -> Path:
        return self.root / "checkpoints" / f"round_{r:04d}.pt"

    def trained_rounds(self) -> list[int]:
        found = (_CKPT.match(p.name) for p in (self.root / "checkpoints").iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def current_version(self) -> int | None:
        """Round of the current (newest) model, or None before round 0 is trained."""
        rounds = self.trained_rounds()
        return rounds[-1] if rounds else None

    def load_model(self, version: int | None = None) -> tuple[HuntNet, int]:
        # The network is the next step's (learn/): imported when a model is asked for, so that
        # opening a workspace needs no torch.
        from ahunt.learn.train import load_checkpoint

        version = self.current_version() if version is None else version
        if version is None:
            raise WorkspaceError(f"{self.root}: no trained model yet; run `ahunt train {self.root}`")
        model, _ = load_checkpoint(self.checkpoint_path(version))
        model.args = dataclasses.replace(model.args, views=self.config.scoring_views)  # the config says how to score
        return model, version


def _of_known_classes(pieces: Iterable[RoundData], known: list[str]) -> Iterator[RoundData]:
    """Round 0's pieces, each checked as it comes: labelled, and only with the known classes."""
    for piece in pieces:
        if piece.labels is None:
            raise WorkspaceError("round 0 needs labelled images of the known classes")
        outside = sorted(set(piece.labels.tolist()) - set(known))
        if outside:
            raise WorkspaceError(f"round-0 labels {outside} are not among the known classes {known}")
        yield piece
