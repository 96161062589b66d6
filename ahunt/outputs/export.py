"""Candidate catalogues: every object of some rounds, scored by the current model, as a table.

Columns (astropy ``Table``):

``id``, ``ra``, ``dec`` (deg; NaN when unknown), ``round``
``p_<class>``      the model's probability of each class, in output order (the class name made
                   safe for FITS/VOTable: characters other than letters, digits and ``_``
                   become ``_``; the column's description keeps the real name)
``predicted``      the class with the highest probability
``label``          the standing oracle answer (a class name), or the round-0 label; empty if none
``novelty``        the reserve's novelty score, when the reserve is a class of interest and
                   ranks by it (the default): about 0.5 for an ordinary object, near 1 for one
                   far from everything known to be boring (``ahunt/hunt/novelty.py``)
``neighbours_<class>``  with ``[hunt] few_members``, for each class of interest with fewer
                   labelled members than that: how much nearer the object lies to one of them
                   than to anything boring (0.5: as near; ``ahunt/hunt/ranking.py``)
``rank_<class>``   for each class of interest (interest weight > 0, reserve included):
                   1 = the top of that class, ranked by the score its questions use: the
                   reserve by ``novelty``, a class with few members by ``neighbours_<class>``,
                   every other class by its ``p_<class>``
``rank``, ``ranked_by``  the best of those ranks and the class it is for

The metadata's ``RANKBY`` names the score behind each rank column (``rank_reserve=novelty,
rank_merger=p_merger``), and ``SCOREBY`` the same per class (``reserve=novelty, merger=p_merger``).

Rows are sorted by ``rank`` when there is a class of interest.  ``top=K`` keeps the objects in
the top K of at least one class of interest.  Files are written atomically (temporary file,
then rename) in ECSV, FITS, VOTable or CSV and never replace an existing file unless asked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ahunt.errors import AhuntError
from ahunt.hunt.ranking import NEIGHBOURS, NOVELTY, class_scores, neighbour_classes, score_name
from ahunt.store.workspace import Workspace

__all__ = [
    "FORMATS", "ExportError", "score_column", "interest_classes", "candidate_table", "resolve_output",
    "write_table", "export_candidates",
]

FORMATS = {"ecsv": "ascii.ecsv", "fits": "fits", "votable": "votable", "csv": "ascii.csv"}
_BY_EXTENSION = {
    ".ecsv": "ecsv", ".fits": "fits", ".fit": "fits", ".fts": "fits",
    ".vot": "votable", ".votable": "votable", ".xml": "votable", ".csv": "csv",
}
_EXTENSION = {"ecsv": ".ecsv", "fits": ".fits", "votable": ".vot", "csv": ".csv"}


class ExportError(AhuntError):
    """A catalogue cannot be made or written as asked."""


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "class"


def _unique_columns(prefix: str, names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        col, k = f"{prefix}{_safe(name)}", 2
        while col in out:
            col, k = f"{prefix}{_safe(name)}_{k}", k + 1
        out.append(col)
    return out


def score_column(name: str) -> str:
    """The score column of a class: ``p_`` and the name made safe for FITS and VOTable."""
    return f"p_{_safe(name)}"


def interest_classes(ws: Workspace, classes: Sequence[str]) -> list[str]:
    """Classes (among ``classes``) with an interest weight above 0, in class order."""
    wanted = set(ws.classes_of_interest())
    return [c for c in classes if c in wanted]


def _labels(ws: Workspace, r: int, ids: np.ndarray, r0_labels: np.ndarray | None) -> list[str]:
    names = ws.class_names()
    if r == 0 and r0_labels is not None:
        index = ws.log.index_by_origin()
        return [names[index[x]] if x in index else str(x) for x in r0_labels.tolist()]
    current = ws.log.current_labels()
    out = []
    for oid in ids.tolist():
        a = current.get(oid)
        out.append(names[a.class_idx] if a is not None and a.kind == "label" and a.class_idx is not None else "")
    return out


def candidate_table(ws: Workspace, *, rounds: Sequence[int] | None = None, top: int | None = None, track=None):
    """The catalogue of ``rounds`` (default: the newest round) as an astropy Table."""
    import astropy.units as u
    from astropy.table import Column, Table

    from ahunt.hunt.session import score_round

    n_rounds = ws.store.n_rounds()
    if n_rounds == 0:
        raise ExportError(f"{ws.root}: the hunt has no rounds")
    rounds = [n_rounds - 1] if rounds is None else list(rounds)
    if not rounds:
        raise ExportError("no rounds to export")
    for r in rounds:
        if not 0 <= r < n_rounds:
            raise ExportError(f"round {r} does not exist; the hunt has rounds 0-{n_rounds - 1}")
    if top is not None and top < 1:
        raise ExportError(f"--top {top}: must be at least 1")

    ids, ras, decs, rnds, probs, labels = [], [], [], [], [], []
    class_names: list[str] = []
    version = None
    kwargs = {} if track is None else {"track": track}
    wanted = set(ws.classes_of_interest())
    rank_scores: dict[str, list[np.ndarray]] = {}
    # one choice for every round exported, so a neighbours column holds one kind of score
    few_members = neighbour_classes(ws, rounds[-1], sorted(wanted))
    for r in rounds:
        p, latents, class_names, version = score_round(ws, r, **kwargs)
        interest_here = [c for c in class_names if c in wanted]
        if interest_here:  # the score each class's questions rank by (the reserve's novelty, say)
            model, _ = ws.load_model(version)
            with ws.store.lazy_images(r) as images:
                for name, s in class_scores(ws, r, model, p, latents, images, interest_here, few=few_members).items():
                    rank_scores.setdefault(name, []).append(s)
        meta = ws.store.load_round(r, images=False)
        n = len(meta.ids)
        ids.append(meta.ids.astype(str))
        ras.append(meta.ra if meta.ra is not None else np.full(n, np.nan))
        decs.append(meta.dec if meta.dec is not None else np.full(n, np.nan))
        rnds.append(np.full(n, r, dtype=np.int32))
        probs.append(p)
        labels += _labels(ws, r, meta.ids, meta.labels)
    prob = np.concatenate(probs).astype(np.float32)
    interest = interest_classes(ws, class_names)
    if top is not None and not interest:
        raise ExportError(f"--top needs a class of interest; none of the model's classes ({', '.join(class_names)}) "
                          f"has an interest weight above 0 (see `ahunt interest {ws.root}`)")

    table = Table()
    table.add_column(Column(np.concatenate(ids).astype(str), name="id", description="object id"))
    table.add_column(Column(np.concatenate(ras).astype(np.float64), name="ra", unit=u.deg, description="right ascension (ICRS)"))
    table.add_column(Column(np.concatenate(decs).astype(np.float64), name="dec", unit=u.deg, description="declination (ICRS)"))
    table.add_column(Column(np.concatenate(rnds), name="round", description="round (night) the object came in"))
    p_cols = _unique_columns("p_", class_names)
    for j, (name, col) in enumerate(zip(class_names, p_cols)):
        table.add_column(Column(prob[:, j], name=col, description=f"model probability of class '{name}'"))
    table.add_column(Column(np.array(class_names, dtype=str)[prob.argmax(axis=1)], name="predicted",
                            description="class with the highest probability"))
    table.add_column(Column(np.array(labels, dtype=str), name="label",
                            description="oracle answer or round-0 label (empty if none)"))
    few = [name for name in interest if name in few_members]
    by = {name: score_name(ws, name, few) for name in interest}
    if NOVELTY in by.values():
        reserve = next(n for n, s in by.items() if s == NOVELTY)
        table.add_column(Column(np.concatenate(rank_scores[reserve]).astype(np.float32), name=NOVELTY,
                                description="the reserve's novelty score: about 0.5 for an ordinary object, near 1 "
                                            "for one far from everything known to be boring"))
    neighbour_cols = dict(zip(few, _unique_columns(f"{NEIGHBOURS}_", few)))
    for name, col in neighbour_cols.items():
        table.add_column(Column(np.concatenate(rank_scores[name]).astype(np.float32), name=col,
                                description=f"how much nearer the nearest labelled '{name}' than anything boring, "
                                            f"0.5 as near: ranks '{name}' while it has fewer than "
                                            f"{ws.config.hunt.few_members} labelled members"))
    rank_by = {}
    if interest:
        ranks = np.empty((len(table), len(interest)), dtype=np.int32)
        rank_cols = _unique_columns("rank_", interest)
        for k, (name, col) in enumerate(zip(interest, rank_cols)):
            s = np.concatenate(rank_scores[name])
            column = (NOVELTY if by[name] == NOVELTY else neighbour_cols[name] if by[name] == NEIGHBOURS
                      else p_cols[class_names.index(name)])
            rank_by[col] = column
            order = np.argsort(-s, kind="stable")
            ranks[order, k] = np.arange(1, len(table) + 1, dtype=np.int32)
            table.add_column(Column(ranks[:, k], name=col, description=f"rank of '{name}' by {column}, 1 = highest"))
        best = ranks.argmin(axis=1)
        table.add_column(Column(ranks[np.arange(len(table)), best], name="rank",
                                description="best rank over the classes of interest"))
        table.add_column(Column(np.array(interest, dtype=str)[best], name="ranked_by",
                                description="class of interest of that rank"))
        if top is not None:
            table = table[(ranks <= top).any(axis=1)]
        table = table[np.argsort(np.asarray(table["rank"]), kind="stable")]
    table.meta.update({
        "MODELRND": int(version),
        "ROUNDS": ",".join(str(r) for r in rounds),
        "INTEREST": ", ".join(f"{k}={v:g}" for k, v in ws.config.hunt.interest.items()),
        "CLASSES": ", ".join(f"{c}={n}" for c, n in zip(p_cols, class_names)),
        "TOPK": int(top) if top is not None else 0,
        "RANKBY": ", ".join(f"{col}={column}" for col, column in rank_by.items()),
        "SCOREBY": ", ".join(f"{name}={column}" for name, column in zip(interest, rank_by.values())),
    })
    return table


def resolve_output(ws: Workspace, out: str | Path | None, fmt: str | None, *, rounds: Sequence[int] | None) -> tuple[Path, str]:
    """(path, format name) from ``--out`` and ``--format``: the format is inferred from the
    extension when not given (ECSV when neither says); the default path is in the workspace."""
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise ExportError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if out is None:
        fmt = fmt or "ecsv"
        n = ws.store.n_rounds()
        which = f"round{(n - 1 if rounds is None else rounds[0]):04d}" if rounds is None or len(rounds) == 1 else "all"
        return ws.root / f"candidates_{which}{_EXTENSION[fmt]}", fmt
    out = Path(out)
    if fmt is None:
        fmt = _BY_EXTENSION.get(out.suffix.lower())
        if fmt is None:
            raise ExportError(f"{out}: cannot tell the format from the extension {out.suffix!r}; "
                              f"give --format ({', '.join(FORMATS)})")
    return out, fmt


def write_table(table, path: str | Path, *, fmt: str = "ecsv", overwrite: bool = False) -> Path:
    """Write ``table`` atomically (temporary file beside it, then rename)."""
    import warnings

    path = Path(path)
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if path.is_dir():
        raise ExportError(f"{path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: file exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. VOTable notes about meta it does not keep
            table.write(tmp, format=FORMATS[fmt], overwrite=True)
        os.replace(tmp, path)
    except OSError as exc:
        from ahunt.store.atomic import disk_problem

        raise ExportError(f"{path}: cannot write the catalogue: {disk_problem(exc) or exc}; no file was "
                          "written (--out writes elsewhere)") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def export_candidates(ws: Workspace, out: str | Path | None = None, *, fmt: str | None = None,
                      rounds: Sequence[int] | None = None, top: int | None = None, overwrite: bool = False,
                      track=None):
    """Build the catalogue and write it; returns (path, table)."""
    path, fmt = resolve_output(ws, out, fmt, rounds=rounds)
    if path.exists() and not overwrite:  # fail before the scoring work
        raise ExportError(f"{path}: file exists; pass --overwrite to replace it")
    table = candidate_table(ws, rounds=rounds, top=top, track=track)
    write_table(table, path, fmt=fmt, overwrite=overwrite)
    return path, table
