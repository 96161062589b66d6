"""A contact sheet of the top candidates: one row per class of interest, best first.

Thumbnails are the stored images, in colour for three-band hunts, at least pixel for pixel (the
figure's resolution grows with the cutouts).  Each row is ranked by the score its class's
questions use (the reserve by its novelty score); each thumbnail carries the object id, that
score and, when the object was already asked, its answer.  Made to be shared on its own (e.g. in a chat
or an e-mail to colleagues), so the figure names the hunt, the round and the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ahunt.errors import WorkspaceError
from ahunt.hunt.ranking import NEIGHBOURS, NOVELTY, class_scores, neighbour_classes, score_name
from ahunt.hunt.session import score_round
from ahunt.outputs.plots import class_styles, plt
from ahunt.store.atomic import savefig_atomic
from ahunt.store.workspace import Workspace

__all__ = ["write_contact_sheet", "classes_of_interest", "to_display", "sheet_dpi"]


def classes_of_interest(ws: Workspace, r: int | None = None) -> list[str]:
    """Existing classes with an interest weight above 0 (reserve included), in class order."""
    return ws.classes_of_interest(r)


def to_display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) stored image -> (H, W) grey or (H, W, 3) RGB in [0, 1] for imshow."""
    pic = image[0] if image.shape[0] == 1 else np.transpose(image[:3], (1, 2, 0))
    return np.clip(pic, 0.0, 1.0)


#: A thumbnail's side in inches (of its 1.25 in cell), and the sheet's least resolution.
THUMB_INCHES, MIN_DPI = 1.15, 110


def sheet_dpi(side: int) -> int:
    """The sheet's resolution for cutouts of `side` pixels: as on the labelling screen, every
    thumbnail at least pixel for pixel (a 256 px cutout needs 223 dpi), never shrunk."""
    return max(MIN_DPI, int(np.ceil(side / THUMB_INCHES)))


def write_contact_sheet(ws: Workspace, path: str | Path, *, round: int | None = None, top: int = 8,
                        classes: Sequence[str] | None = None) -> Path:
    """Top-``top`` objects of ``round`` (default: the newest) per class, under the current model."""
    n_rounds = ws.store.n_rounds()
    r = n_rounds - 1 if round is None else round
    if not 0 <= r < n_rounds:
        raise WorkspaceError(f"round {r} does not exist (the hunt has rounds 0 to {n_rounds - 1})")
    if top < 1:
        raise WorkspaceError(f"top must be at least 1, got {top}")
    names = ws.class_names()
    rows = list(classes) if classes is not None else classes_of_interest(ws, r)
    unknown = [c for c in rows if c not in names]
    if unknown:
        raise WorkspaceError(f"no class named {', '.join(map(repr, unknown))}; classes: {', '.join(names)}")
    if not rows:
        raise WorkspaceError("no class has an interest weight above 0; name classes to show")
    probs, latents, outputs, version = score_round(ws, r)
    meta = ws.store.load_round(r, images=False)
    answers = {a.object_id: a for a in ws.log.current_labels().values()}
    styles = class_styles(ws.classes())
    model, _ = ws.load_model(version)
    few = neighbour_classes(ws, r, [n for n in rows if n in outputs])
    with ws.store.lazy_images(r) as night:  # each row ranked by the score its questions use
        ranking = class_scores(ws, r, model, probs, latents, night, [n for n in rows if n in outputs], few=few)
    picks: list[tuple[str, np.ndarray]] = []
    for name in rows:
        if name in outputs:
            order = np.argsort(-ranking[name], kind="stable")[:top]
            picks.append((name, order))
        else:
            picks.append((name, np.array([], dtype=np.int64)))
    wanted = np.unique(np.concatenate([o for _, o in picks])) if picks else np.array([], np.int64)
    images = dict(zip(wanted.tolist(), ws.store.load_images(r, wanted))) if len(wanted) else {}

    cell, label_w = 1.25, 1.5
    ncols = max(top, 1)
    side = max((max(img.shape[-2:]) for img in images.values()), default=0)
    fig = plt.figure(figsize=(label_w + ncols * cell, 0.75 + len(rows) * (cell + 0.42)), dpi=sheet_dpi(side))
    W, H = fig.get_size_inches()
    weights = ws.config.hunt.interest_for(r)
    for i, (name, order) in enumerate(picks):
        y0 = H - 0.75 - (i + 1) * (cell + 0.42) + 0.42
        colour = styles.get(name, ("black",))[0]
        fig.text(0.12 / W, (y0 + cell / 2) / H, name, fontsize=11, fontweight="bold", color=colour, va="center")
        w = weights.get(name, 0)
        fig.text(0.12 / W, (y0 + cell / 2 - 0.22) / H, f"interest {w:g}" if w else "", fontsize=8, color="0.35",
                 va="center")
        if not len(order):
            fig.text((label_w + 0.1) / W, (y0 + cell / 2) / H,
                     f"the model of round {version} has no output for '{name}' yet: it appears after the next retrain",
                     fontsize=9, color="0.35", va="center")
            continue
        for j, k in enumerate(order.tolist()):
            ax = fig.add_axes(((label_w + j * cell + 0.05) / W, y0 / H, (cell - 0.1) / W, (cell - 0.1) / H))
            pic = to_display(images[k])
            ax.imshow(pic, cmap="gray" if pic.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_edgecolor(colour)
                side.set_linewidth(1.5)
            oid = str(meta.ids[k])
            p = ranking[name][k]
            what = {NOVELTY: "novelty", NEIGHBOURS: "members"}.get(score_name(ws, name, few), "p")
            caption = f"{oid}\n{what} = {p:.2f}" if p >= 0.01 else f"{oid}\n{what} = {p:.1e}"
            a = answers.get(oid)
            if a is not None:
                caption += "  (skipped)" if a.kind == "skip" else f"  = {names[a.class_idx]}"
            ax.set_xlabel(caption, fontsize=6.5, labelpad=2, linespacing=1.1)
    untrained = version < r
    fig.text(0.12 / W, (H - 0.3) / H, f"Top candidates of round {r} per class of interest", fontsize=12, va="center")
    fig.text(0.12 / W, (H - 0.55) / H,
             f"hunt {ws.root.name}; model of round {version}"
             + (" (current; round not trained yet)" if untrained else "")
             # with the members' score named too, "p" is said shorter: the line must fit the sheet
             + ("; p: the row class's probability; novelty: the reserve's score" if not few
                else "; p: probability; novelty: the reserve's score; members: nearness to its members")
             + "; '= class': answered",
             fontsize=8, color="0.35", va="center")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        savefig_atomic(fig, path)
    finally:
        plt.close(fig)
    return path
