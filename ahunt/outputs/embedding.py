"""2-D maps of the model's latent space with UMAP (umap-learn), cached per round on disk.

The latent space of round ``r`` is the one of the model trained at the end of round ``r``, or of
the current model while round ``r`` is not trained yet.  A picture of round ``r`` holds:

- a seeded subsample of round 0's labelled objects: the same objects in every round, so
  AlignedUMAP can use them as anchors and clusters keep their places from round to round;
- the standing label answers of earlier rounds;
- the objects of round ``r`` (all of them, or a seeded subsample that keeps every question).

Embeddings are cached as ``WORKSPACE/cache/umap_round_0003_v0003.npz`` (round, model version)
and ``umap_aligned_r0000-0003_<hash>.npz``; a cache file also records a fingerprint of its
points and parameters, so it is recomputed only when the model or the points change.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ahunt.errors import WorkspaceError
from ahunt.hunt.session import score_round
from ahunt.learn.train import resolve_device, score
from ahunt.store.answer_log import ClassInfo
from ahunt.store.workspace import Workspace

__all__ = [
    "LatentView", "model_version_for", "round_view", "aligned_views", "view_images", "cache_dir",
    "SOURCE_ANCHOR", "SOURCE_ANSWER", "SOURCE_ROUND", "COMPILE_NOTE", "MIN_DIST",
]

SOURCE_ANCHOR, SOURCE_ANSWER, SOURCE_ROUND = 0, 1, 2
MIN_DIST = 0.25  # a little above umap-learn's 0.1: tight clusters (a night's mergers) stay legible
COMPILE_NOTE = "the first UMAP of a run compiles with numba: tens of seconds"
_SALT = 0x756D6170  # "umap": the subsample's own random stream, apart from the hunt's

Notify = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


@dataclass
class LatentView:
    """The points of one picture, their UMAP coordinates and what to draw them as."""

    round: int
    version: int  # the model whose latent space this is
    ids: np.ndarray  # (N,) object ids
    xy: np.ndarray  # (N, 2) UMAP coordinates; NaN where UMAP left a point unconnected
    probs: np.ndarray  # (N, C) class probabilities under that model (C = its outputs)
    source: np.ndarray  # (N,) SOURCE_ANCHOR | SOURCE_ANSWER | SOURCE_ROUND
    label: np.ndarray  # (N,) class index of the standing label, -1 when unlabelled
    queried: np.ndarray  # (N,) asked in this round
    where: np.ndarray  # (N, 2) (store round, index), to load images
    classes: list[ClassInfo]
    truth: np.ndarray | None = None  # (N,) true classes, when the store has them
    n_in_round: int = 0  # objects in the round before subsampling
    cached: bool = False
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]


@dataclass
class _Selection:
    ids: np.ndarray
    source: np.ndarray
    label: np.ndarray
    queried: np.ndarray
    where: np.ndarray
    truth: np.ndarray | None
    n_in_round: int


def cache_dir(ws: Workspace) -> Path:
    return ws.root / "cache"


def model_version_for(ws: Workspace, r: int) -> int:
    """The model of round ``r``'s picture: trained at the end of ``r``, else the current one."""
    if not 0 <= r < ws.store.n_rounds():
        raise WorkspaceError(f"round {r} does not exist (the hunt has rounds 0 to {ws.store.n_rounds() - 1})")
    trained = ws.trained_rounds()
    if not trained:
        raise WorkspaceError(f"{ws.root}: no trained model yet; run `ahunt train {ws.root}`")
    return r if r in trained else trained[-1]


# -- which points -------------------------------------------------------------------------------
def _select(ws: Workspace, r: int, max_points: int, seed: int) -> _Selection:
    if max_points < 20:
        raise WorkspaceError(f"max_points must be at least 20, got {max_points}")
    rng = np.random.default_rng([seed, _SALT])
    r0 = ws.store.load_round(0, images=False)
    n0 = len(r0.ids)
    anchors = np.sort(rng.choice(n0, size=min(n0, max_points // 2), replace=False))
    index = ws.log.index_by_origin()
    r0_truth = r0.truth if r0.truth is not None else r0.labels
    ids = [r0.ids[anchors]]
    source = [np.full(len(anchors), SOURCE_ANCHOR)]
    label = [np.array([index[n] for n in r0.labels[anchors]], dtype=np.int64)]
    where = [np.stack([np.zeros(len(anchors), np.int64), anchors], axis=1)]
    truth: list | None = [r0_truth[anchors]]
    queried = [np.zeros(len(anchors), bool)]
    n_in_round = n0 if r == 0 else 0
    if r > 0:
        current = ws.log.current_labels()
        earlier = [a for a in current.values() if a.kind == "label" and 1 <= a.round < r]
        cap = max_points // 4
        if len(earlier) > cap:
            keep = np.sort(rng.choice(len(earlier), size=cap, replace=False))
            earlier = [earlier[i] for i in keep]
        metas: dict[int, object] = {}
        for a in earlier:
            if a.round not in metas:
                metas[a.round] = ws.store.load_round(a.round, images=False)
        if earlier:
            pos = {rr: {oid: i for i, oid in enumerate(m.ids)} for rr, m in metas.items()}
            e_where = np.array([(a.round, pos[a.round][a.object_id]) for a in earlier], dtype=np.int64)
            ids.append(np.array([a.object_id for a in earlier]))
            source.append(np.full(len(earlier), SOURCE_ANSWER))
            label.append(np.array([a.class_idx for a in earlier], dtype=np.int64))
            where.append(e_where)
            queried.append(np.zeros(len(earlier), bool))
            if truth is not None and all(m.truth is not None for m in metas.values()):
                truth.append(np.array([metas[a.round].truth[i] for a, (_, i) in zip(earlier, e_where)]))
            else:
                truth = None
        meta = ws.store.load_round(r, images=False)
        n_in_round = len(meta.ids)
        asked = {q.object_index for q in ws.log.questions(r)}
        budget = max(max_points - sum(len(x) for x in ids), 1)
        if n_in_round > budget:
            must = np.array(sorted(asked), dtype=np.int64)[:budget]
            rest = np.setdiff1d(np.arange(n_in_round), must)
            more = rng.choice(rest, size=max(budget - len(must), 0), replace=False)
            chosen = np.sort(np.concatenate([must, more]))
        else:
            chosen = np.arange(n_in_round)
        answers = {a.object_id: a.class_idx for a in current.values() if a.round == r and a.kind == "label"}
        ids.append(meta.ids[chosen])
        source.append(np.full(len(chosen), SOURCE_ROUND))
        label.append(np.array([answers.get(oid, -1) for oid in meta.ids[chosen]], dtype=np.int64))
        where.append(np.stack([np.full(len(chosen), r, np.int64), chosen], axis=1))
        queried.append(np.isin(chosen, list(asked)))
        if truth is not None and meta.truth is not None:
            truth.append(meta.truth[chosen])
        else:
            truth = None
    return _Selection(
        ids=np.concatenate(ids).astype(str), source=np.concatenate(source).astype(np.int8),
        label=np.concatenate(label), queried=np.concatenate(queried), where=np.concatenate(where),
        truth=np.concatenate(truth).astype(str) if truth is not None else None, n_in_round=n_in_round,
    )


# -- latents and UMAP -------------------------------------------------------------------------
def _latents(ws: Workspace, r: int, sel: _Selection, version: int) -> tuple[np.ndarray, np.ndarray]:
    """(probs, latents) of the selected points under model ``version``."""
    probs = latents = None
    model = None
    for rr in np.unique(sel.where[:, 0]):
        rows = np.flatnonzero(sel.where[:, 0] == rr)
        idx = sel.where[rows, 1]
        if rr == r and r > 0:
            p, z, _, _ = score_round(ws, int(rr), version=version)
            p, z = p[idx], z[idx]
        else:
            if model is None:
                model, _ = ws.load_model(version)
            p, z = score(model, ws.store.load_images(int(rr), idx), device=resolve_device(ws.config.device))
        if probs is None:
            probs = np.zeros((len(sel.ids), p.shape[1]), np.float32)
            latents = np.zeros((len(sel.ids), z.shape[1]), np.float32)
        probs[rows], latents[rows] = p, z
    return probs, latents


def _fit_umap(latents: np.ndarray, *, n_neighbors: int, min_dist: float, seed: int) -> np.ndarray:
    """One UMAP; kept apart so tests can count calls."""
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs forced to 1 by random_state; tiny-graph notes
        mapper = umap.UMAP(n_neighbors=max(2, min(n_neighbors, len(latents) - 1)), min_dist=min_dist,
                           random_state=seed, n_jobs=1)
        return mapper.fit_transform(latents).astype(np.float32)


def _fit_aligned(latents: Sequence[np.ndarray], relations: list[dict[int, int]], *, n_neighbors: int,
                 min_dist: float, seed: int) -> list[np.ndarray]:
    """AlignedUMAP over consecutive rounds; kept apart so tests can count calls."""
    import umap

    k = max(2, min([n_neighbors] + [len(z) - 1 for z in latents]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapper = umap.AlignedUMAP(n_neighbors=k, min_dist=min_dist, random_state=seed,
                                  alignment_regularisation=0.05, alignment_window_size=2)
        mapper.fit(list(latents), relations=relations)
    return [np.asarray(e, dtype=np.float32) for e in mapper.embeddings_]


def _fingerprint(*parts) -> str:
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update("\x1f".join(map(str, p.tolist())).encode())
        else:
            h.update(repr(p).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def _save_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_npz(path: Path, fingerprint: str) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fingerprint:
                return None
            return {k: data[k] for k in data.files}
    except (OSError, KeyError, ValueError):
        return None  # unreadable or from another layout: recompute


def _drop_stale(folder: Path, pattern: str, keep: Path) -> None:
    for p in folder.glob(pattern):
        if p != keep:
            p.unlink(missing_ok=True)


def _view(sel: _Selection, r: int, version: int, xy, probs, classes, cached: bool) -> LatentView:
    return LatentView(round=r, version=version, ids=sel.ids, xy=xy, probs=probs, source=sel.source,
                      label=sel.label, queried=sel.queried, where=sel.where, classes=classes,
                      truth=sel.truth, n_in_round=sel.n_in_round, cached=cached)


def round_view(ws: Workspace, r: int, *, max_points: int = 1500, n_neighbors: int = 15, min_dist: float = MIN_DIST,
               seed: int | None = None, notify: Notify = _quiet) -> LatentView:
    """The 2-D UMAP of round ``r``'s latent space (read from the cache when it is up to date)."""
    version = model_version_for(ws, r)
    seed = ws.config.seed if seed is None else seed
    sel = _select(ws, r, max_points, seed)
    fp = _fingerprint("round", r, version, n_neighbors, min_dist, seed, max_points, sel.ids)
    path = cache_dir(ws) / f"umap_round_{r:04d}_v{version:04d}.npz"
    classes = ws.classes()
    hit = _load_npz(path, fp)
    if hit is not None:
        return _view(sel, r, version, hit["xy"], hit["probs"], classes, True)
    notify(f"scoring {len(sel.ids)} objects with the model of round {version}")
    probs, latents = _latents(ws, r, sel, version)
    notify(f"UMAP of {len(sel.ids)} points (round {r}); {COMPILE_NOTE}")
    xy = _fit_umap(latents, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    _save_npz(path, fingerprint=np.array(fp), ids=sel.ids, xy=xy, probs=probs)
    _drop_stale(path.parent, f"umap_round_{r:04d}_v*.npz", path)
    return _view(sel, r, version, xy, probs, classes, False)


def aligned_views(ws: Workspace, rounds: Sequence[int] | None = None, *, max_points: int = 1500,
                  n_neighbors: int = 15, min_dist: float = MIN_DIST, seed: int | None = None,
                  notify: Notify = _quiet) -> list[LatentView]:
    """One view per round, embedded together with AlignedUMAP so clusters keep their places.

    Consecutive rounds are related through the objects they share: the round-0 anchor
    subsample (the same objects in every round) and the answers of earlier rounds.
    """
    rounds = list(range(ws.store.n_rounds())) if rounds is None else sorted(set(rounds))
    if len(rounds) < 2:
        raise WorkspaceError("aligned maps need at least two rounds; ingest and hunt a night first")
    seed = ws.config.seed if seed is None else seed
    versions = [model_version_for(ws, r) for r in rounds]
    sels = [_select(ws, r, max_points, seed) for r in rounds]
    fp = _fingerprint("aligned", rounds, versions, n_neighbors, min_dist, seed, max_points, *[s.ids for s in sels])
    path = cache_dir(ws) / f"umap_aligned_r{rounds[0]:04d}-{rounds[-1]:04d}_{fp[:10]}.npz"
    classes = ws.classes()
    hit = _load_npz(path, fp)
    if hit is not None:
        return [_view(s, r, v, hit[f"xy_{k}"], hit[f"probs_{k}"], classes, True)
                for k, (s, r, v) in enumerate(zip(sels, rounds, versions))]
    probs, latents = [], []
    for s, r, v in zip(sels, rounds, versions):
        notify(f"scoring round {r} with the model of round {v}")
        p, z = _latents(ws, r, s, v)
        probs.append(p)
        latents.append(z)
    relations = []
    for a, b in zip(sels[:-1], sels[1:]):
        pos = {oid: j for j, oid in enumerate(b.ids)}
        relations.append({i: pos[oid] for i, oid in enumerate(a.ids) if oid in pos})
    notify(f"AlignedUMAP of {len(rounds)} rounds ({sum(len(s.ids) for s in sels)} points); {COMPILE_NOTE}")
    xys = _fit_aligned(latents, relations, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    arrays = {"fingerprint": np.array(fp)}
    for k, (s, xy, p) in enumerate(zip(sels, xys, probs)):
        arrays.update({f"ids_{k}": s.ids, f"xy_{k}": xy, f"probs_{k}": p})
    _save_npz(path, **arrays)
    _drop_stale(path.parent, f"umap_aligned_r{rounds[0]:04d}-{rounds[-1]:04d}_*.npz", path)
    return [_view(s, r, v, xy, p, classes, False) for s, r, v, xy, p in zip(sels, rounds, versions, xys, probs)]


def view_images(ws: Workspace, view: LatentView, rows: Sequence[int]) -> np.ndarray:
    """Stored images (N, C, H, W) of the view's points ``rows``."""
    rows = np.asarray(rows, dtype=np.int64)
    out = None
    for rr in np.unique(view.where[rows, 0]):
        mine = np.flatnonzero(view.where[rows, 0] == rr)
        imgs = ws.store.load_images(int(rr), view.where[rows[mine], 1])
        if out is None:
            out = np.empty((len(rows), *imgs.shape[1:]), np.float32)
        out[mine] = imgs
    if out is None:
        return np.empty((0, *ws.store.image_shape()), np.float32)
    return out
