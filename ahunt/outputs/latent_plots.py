"""Figures of the latent space: UMAP maps of one round, or of every round aligned.

What is drawn, from the bottom up:

- labelled objects (round-0 sample and earlier answers): small dots in their class colour;
- the round's unlabelled objects: lighter, ringed in the colour of their predicted class
  (or of their true class with ``truth``); anomaly and reserve colours on top of the others;
- labelled anomalies (classes found during the hunt): stars, and the reserve: diamonds;
- the round's questions: black rings over everything, so no point hides them.

The output format follows the file's extension: .png, .pdf or .svg.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ahunt.errors import AhuntError
from ahunt.outputs.embedding import (
    MIN_DIST, SOURCE_ROUND, LatentView, aligned_views, model_version_for, round_view, view_images,
)
from ahunt.outputs.plots import class_styles, plt
from ahunt.store.workspace import Workspace

__all__ = ["plot_latent", "plot_latent_rounds", "write_umap", "UmapResult", "FORMATS", "MAX_THUMBNAILS"]

FORMATS = (".png", ".pdf", ".svg")
MAX_THUMBNAILS = 200
_RING = "black"


def _lighter(colour, amount: float = 0.55) -> tuple:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def _styles(views: Sequence[LatentView], truth: bool) -> dict:
    classes = views[0].classes
    extra: list[str] = []
    if truth:
        names = {c.name for c in classes}
        for v in views:
            for t in v.truth if v.truth is not None else ():
                if t not in names and t not in extra:
                    extra.append(t)
    return class_styles(classes, extra)


def _point_classes(view: LatentView, truth: bool) -> np.ndarray:
    """The class name each point is coloured by."""
    names = np.array(view.names, dtype=object)
    if truth:
        if view.truth is None:
            raise AhuntError("this hunt's store has no true classes (only simulated data has them); drop --truth")
        return view.truth.astype(object)
    pred = names[: view.probs.shape[1]][view.predicted]
    return np.where(view.label >= 0, names[np.maximum(view.label, 0)], pred)


def _draw(ax, view: LatentView, styles: dict, truth: bool, *, small: bool = False) -> dict[str, int]:
    """Draw one view on ``ax``; returns points per colour class (for the legend)."""
    cls = _point_classes(view, truth)
    xy = view.xy
    labelled = view.label >= 0
    in_round = view.source == SOURCE_ROUND
    kind_of = {n: s[2] for n, s in styles.items()}
    scale = 0.6 if small else 1.0
    used: dict[str, int] = {}
    for n in cls:
        used[n] = used.get(n, 0) + 1

    def colours(mask):
        return [styles[n][0] for n in cls[mask]]

    known = np.array([kind_of.get(n) == "known" for n in cls])
    solid = labelled | ~in_round  # every point outside the round is labelled
    # 1. labelled objects outside the round: small solid dots
    plain = solid & ~in_round & known
    ax.scatter(xy[plain, 0], xy[plain, 1], s=7 * scale, c=colours(plain), alpha=0.55, linewidths=0, zorder=1,
               rasterized=True)
    # 2. unlabelled objects of the round: light fill, ring in the class colour; rare colours on top
    for rare in (False, True):
        sel = in_round & ~labelled & (known != rare)
        if sel.any():
            ax.scatter(xy[sel, 0], xy[sel, 1], s=(26 if rare else 15) * scale,
                       c=[_lighter(c) for c in colours(sel)], edgecolors=colours(sel), linewidths=0.6,
                       zorder=2 + rare, rasterized=True)
    # 3. answered objects of the round in a known class: solid, a little larger
    sel = in_round & labelled & known
    if sel.any():
        ax.scatter(xy[sel, 0], xy[sel, 1], s=20 * scale, c=colours(sel), linewidths=0, zorder=4)
    # 4. labelled reserve or anomaly objects: their class marker (diamond, star), black edge
    for marker in ("*", "D"):
        m = solid & ~known & np.array([styles[n][1] == marker for n in cls])
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=(110 if marker == "*" else 34) * scale, marker=marker,
                       c=colours(m), edgecolors="black", linewidths=0.5, zorder=8)  # above the rings
    # 5. the round's questions: black rings on top of everything
    q = view.queried
    if q.any():
        ax.scatter(xy[q, 0], xy[q, 1], s=45 if small else 110, facecolors="none", edgecolors=_RING,
                   linewidths=0.8 if small else 1.1, zorder=7)
    ax.set_xticks([])
    ax.set_yticks([])
    return used


def _legends(fig_or_ax, styles: dict, used: dict, view: LatentView, truth: bool, *, anchor, fontsize=8.5):
    from matplotlib.lines import Line2D

    handles = []
    for name, (colour, marker, kind) in styles.items():
        if name not in used:
            continue
        label = name + {"reserve": "  (reserve)", "anomaly": "  (anomaly)"}.get(kind, "")
        handles.append(Line2D([], [], ls="", marker=marker, ms={"*": 12, "D": 6.5}.get(marker, 7), mfc=colour,
                              mec="black" if kind != "known" else colour, mew=0.5, label=label))
    colour_by = "true class" if truth else "class"
    first = fig_or_ax.legend(handles=handles, title=f"colour: {colour_by}", loc="upper left", bbox_to_anchor=anchor,
                             frameon=False, fontsize=fontsize, title_fontsize=fontsize + 0.5, alignment="left")
    grey, light = "#555555", _lighter("#555555")
    what = "true class" if truth else "predicted class"
    meaning = [
        Line2D([], [], ls="", marker="o", ms=4, mfc=grey, mec=grey, alpha=0.7,
               label="labelled: round-0 sample,\nearlier answers"),
        Line2D([], [], ls="", marker="o", ms=6, mfc=light, mec=grey, mew=0.6,
               label=f"this round, not labelled\n(light: {what})"),
        Line2D([], [], ls="", marker="o", ms=6.5, mfc=grey, mec=grey, label="this round, answered"),
        Line2D([], [], ls="", marker="*", ms=12, mfc=grey, mec="black", mew=0.5,
               label="anomaly class" + (" (true)" if truth else " (labelled)")),
        Line2D([], [], ls="", marker="o", ms=11, mfc="none", mec=_RING, mew=1.4, label="asked this round"),
    ]
    return first, meaning


def _save(fig, path: Path) -> Path:
    if path.suffix.lower() not in FORMATS:
        raise AhuntError(f"{path}: unknown figure format {path.suffix!r}; use one of {', '.join(FORMATS)}")
    from ahunt.store.atomic import savefig_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        savefig_atomic(fig, path, dpi=120)
    finally:
        plt.close(fig)
    return path


def _counts_line(view: LatentView) -> str:
    n_lab = int((view.source != SOURCE_ROUND).sum())
    n_round = int((view.source == SOURCE_ROUND).sum())
    if view.round == 0:
        return f"{n_lab} labelled round-0 objects (of {view.n_in_round})"
    shown = f"{n_round} objects" if n_round == view.n_in_round else f"{n_round} of {view.n_in_round} objects"
    return f"{shown} of round {view.round} ({int(view.queried.sum())} asked) + {n_lab} labelled"


def _model_words(view: LatentView) -> str:
    return f"model of round {view.version}" + (" (current; round not trained yet)" if view.version < view.round else "")


def plot_latent(view: LatentView, path: str | Path, *, truth: bool = False,
                thumbnails: dict[int, np.ndarray] | None = None, title: str | None = None) -> Path:
    """One round's map; ``thumbnails`` maps point rows to images (C, H, W) drawn at the points."""
    styles = _styles([view], truth)
    fig = plt.figure(figsize=(10.5, 6.8))
    ax = fig.add_axes((0.02, 0.04, 0.66, 0.84))
    used = _draw(ax, view, styles, truth)
    if thumbnails:
        _thumbnails(ax, view, thumbnails, styles, truth)
    first, meaning = _legends(ax, styles, used, view, truth, anchor=(1.02, 1.0))
    ax.add_artist(first)
    ax.legend(handles=meaning, title="points", loc="lower left", bbox_to_anchor=(1.02, 0.0), frameon=False,
              fontsize=8.5, title_fontsize=9, alignment="left", labelspacing=0.9)
    fig.suptitle(title or f"Latent space of round {view.round}: UMAP, {_model_words(view)}", x=0.02, ha="left",
                 fontsize=12)
    fig.text(0.02, 0.905, _counts_line(view), fontsize=9, color="0.3")
    ax.set_xlabel("UMAP 1", fontsize=8, color="0.4")
    ax.set_ylabel("UMAP 2", fontsize=8, color="0.4")
    return _save(fig, Path(path))


def _thumbnails(ax, view: LatentView, thumbs: dict[int, np.ndarray], styles: dict, truth: bool) -> None:
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    cls = _point_classes(view, truth)
    size = next(iter(thumbs.values())).shape[-1]
    n = len(thumbs)
    zoom = (13 if n > 100 else 18 if n > 40 else 26) / size  # points on the page per image
    for row, img in thumbs.items():
        if not np.isfinite(view.xy[row]).all():
            continue
        pic = np.clip(img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0)), 0, 1)
        box = OffsetImage(pic, zoom=zoom, cmap="gray" if pic.ndim == 2 else None, interpolation="nearest")
        edge = _RING if view.queried[row] else styles[cls[row]][0]
        ab = AnnotationBbox(box, view.xy[row], frameon=True, pad=0.08,
                            bboxprops={"edgecolor": edge, "linewidth": 1.2}, zorder=6)
        ax.add_artist(ab)


def plot_latent_rounds(views: Sequence[LatentView], path: str | Path, *, truth: bool = False,
                       title: str | None = None) -> Path:
    """One panel per round, on the same (aligned) axes."""
    styles = _styles(views, truth)
    n = len(views)
    ncols = min(n, 4 if n <= 8 else 5)
    nrows = -(-n // ncols)
    panel = 3.1
    legend_w = 2.6
    fig = plt.figure(figsize=(ncols * panel + legend_w, nrows * panel + 0.9))
    W, H = fig.get_size_inches()
    allxy = np.concatenate([v.xy for v in views])
    allxy = allxy[np.isfinite(allxy).all(axis=1)]
    lo, hi = np.percentile(allxy, 0.5, axis=0), np.percentile(allxy, 99.5, axis=0)
    pad = (hi - lo) * 0.06
    used: dict[str, int] = {}
    for k, v in enumerate(views):
        row, col = divmod(k, ncols)
        ax = fig.add_axes(((col * panel + 0.08) / W, 1 - ((row + 1) * panel + 0.75) / H + 0.04 / H,
                           (panel - 0.16) / W, (panel - 0.42) / H))
        for name, count in _draw(ax, v, styles, truth, small=True).items():
            used[name] = used.get(name, 0) + count
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        words = "round 0 (labelled)" if v.round == 0 else f"round {v.round}"
        asked = f", {int(v.queried.sum())} asked" if v.round else ""
        model = f"model {v.version}" + ("*" if v.version < v.round else "")
        ax.set_title(f"{words}: {model}{asked}", fontsize=9)
    first, meaning = _legends(fig, styles, used, views[-1], truth, anchor=((ncols * panel + 0.1) / W, 1 - 0.75 / H),
                              fontsize=8)
    fig.legend(handles=meaning, title="points", loc="lower left", bbox_to_anchor=((ncols * panel + 0.1) / W, 0.02),
               frameon=False, fontsize=8, title_fontsize=8.5, alignment="left", labelspacing=0.9)
    untrained = any(v.version < v.round for v in views)
    fig.suptitle(title or "Latent space round by round (AlignedUMAP: clusters keep their places)", x=0.01, ha="left",
                 y=1 - 0.12 / H, va="top", fontsize=12)
    fig.text(0.01, 1 - 0.48 / H, "each panel: the model trained at the end of that round"
             + ("; * round not trained yet, current model" if untrained else "")
             + "; the same round-0 sample in every panel", fontsize=8.5, color="0.3", va="top")
    return _save(fig, Path(path))


@dataclass
class UmapResult:
    path: Path
    views: list[LatentView]
    cached: bool
    note: str = ""  # e.g. why thumbnails were limited


def write_umap(ws: Workspace, path: str | Path, *, round: int | None = None, all_rounds: bool = False,
               truth: bool = False, thumbnails: bool = False, max_points: int = 1500, n_neighbors: int = 15,
               min_dist: float = MIN_DIST,
               notify: Callable[[str], None] = lambda message: None) -> UmapResult:
    """Compute (or read from the cache) and draw the UMAP of one round or of all rounds."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise AhuntError(f"{path}: unknown figure format {path.suffix!r}; use one of {', '.join(FORMATS)}")
    if all_rounds:
        if round is not None:
            raise AhuntError("give either a round or all rounds, not both")
        views = aligned_views(ws, max_points=max_points, n_neighbors=n_neighbors, min_dist=min_dist, notify=notify)
        if truth and any(v.truth is None for v in views):
            raise AhuntError("this hunt's store has no true classes (only simulated data has them); drop --truth")
        notify("drawing")
        plot_latent_rounds(views, path, truth=truth)
        note = "thumbnails are drawn on single-round maps only (drop --all-rounds)" if thumbnails else ""
        return UmapResult(path, views, all(v.cached for v in views), note)
    r = ws.store.n_rounds() - 1 if round is None else round
    model_version_for(ws, r)  # clear error for a missing round or model
    view = round_view(ws, r, max_points=max_points, n_neighbors=n_neighbors, min_dist=min_dist, notify=notify)
    if truth and view.truth is None:
        raise AhuntError("this hunt's store has no true classes (only simulated data has them); drop --truth")
    thumbs = None
    note = ""
    if thumbnails:
        if len(view) <= MAX_THUMBNAILS:
            rows = np.arange(len(view))
        else:
            rows = np.flatnonzero(view.queried)
            note = (f"{len(view)} points: thumbnails only for the {len(rows)} asked objects (thumbnails at every "
                    f"point need at most {MAX_THUMBNAILS} points: --max-points {MAX_THUMBNAILS})")
        if len(rows):
            notify("loading thumbnails")
            thumbs = dict(zip(rows.tolist(), view_images(ws, view, rows)))
    notify("drawing")
    plot_latent(view, path, truth=truth, thumbnails=thumbs)
    return UmapResult(path, [view], view.cached, note)
