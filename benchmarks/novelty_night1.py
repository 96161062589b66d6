"""How well does each candidate reserve score rank night 1's anomalies under the round-0 model?

    python benchmarks/novelty_night1.py configs/galaxy-close.toml --trials 3

Night 1 is the hardest: the network has seen only the normal classes.  For each trial (the
experiment's own stream and seeds) it trains round 0, scores night 1 and prints, per score,
the AUC for the interesting anomalies and how many of them (and of the boring ones, e.g.
artefacts) the top ``questions`` would show.  Scores: the reserve output's probability (the
paper's), the nearest-neighbour novelty in the latent space only, in 16x16 pixels only, both
(ahunt's default, ``ahunt/hunt/novelty.py``), and both with the network's last convolutional
features as a third space (``+ conv features``: ``[hunt] novelty_features = true``).  ``+ the
night's neighbours`` (``[hunt] novelty_crowd = 0.01``) uses the night's own objects, which the
labelled reference lacks: it measures each distance to the k-th nearest of the reference and the
rest of the night together, k 1 % of the night (10 for a night of 1,000).  An ordinary kind that
round 0's few labels miss has many neighbours among a night of 1,000; an anomaly at 0.5 % has a
handful.  ``local outlier factor`` is scikit-learn's LOF (10 neighbours) fitted on the
reference, in the latent space and in the pixels, each over its median.  ``5th nearest`` is the default's two distances each to the 5th nearest reference object
instead of the nearest, over the reference's own median 5th-nearest spacing: a lone odd
labelled object no longer vouches for its neighbours.  A last row, "asked one by one", is the
default score re-ranked after every answer, as AAD does: the questions are asked one at a
time, and each answer that is not an interesting anomaly joins the reference before the next
is chosen (the AUC is the default's; only the questions differ).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor

from ahunt.config import load_config
from ahunt.evaluate.experiment import trial_config
from ahunt.hunt.novelty import Reference, boring_classes, kth_distance, nearest_distance, normalise, pixel_features
from ahunt.hunt.session import train_initial
from ahunt.learn.train import score
from ahunt.sources.streams import make_stream
from ahunt.store.workspace import Workspace


def one_space(z_night: np.ndarray, z_ref: np.ndarray) -> np.ndarray:
    """Nearest-neighbour distance over the reference's own median spacing (one space alone)."""
    spacing = np.median(nearest_distance(z_ref, z_ref, exclude_self=True))
    return nearest_distance(z_night, z_ref) / spacing


def kth_nearest(z_night: np.ndarray, z_ref: np.ndarray, k: int = 5) -> np.ndarray:
    """Distance to the ``k``-th nearest reference object, over the median of the same within
    the reference (each object's own distance left out)."""
    return kth_distance(z_night, z_ref, k) / np.median(kth_distance(z_ref, z_ref, k, itself=np.arange(len(z_ref))))


def outlier_factor(x_night: np.ndarray, x_ref: np.ndarray, k: int = 10) -> np.ndarray:
    """Local outlier factor of each night object against the reference, over its median."""
    lof = -LocalOutlierFactor(n_neighbors=k, novelty=True).fit(x_ref).score_samples(x_night)
    return lof / np.median(lof)


def asked_one_by_one(reference: Reference, z: np.ndarray, images: np.ndarray, wanted: np.ndarray,
                     q: int) -> np.ndarray:
    """The ``q`` questions the default score asks when it is re-ranked after each answer: an
    object that is not an interesting anomaly joins the reference (with the reference's own
    spacing kept, as within one night)."""
    zn, px = normalise(z), pixel_features(images, reference.crop)
    ref_z, ref_px = reference.z, reference.pixels
    asked: list[int] = []
    for _ in range(q):
        d = (nearest_distance(zn, ref_z) / reference.scale + nearest_distance(px, ref_px) / reference.pixel_scale) / 2
        d[asked] = -np.inf
        j = int(np.argmax(d))
        asked.append(j)
        if not wanted[j]:
            ref_z, ref_px = np.vstack([ref_z, zn[j:j + 1]]), np.vstack([ref_px, px[j:j + 1]])
    return np.array(asked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    totals: dict[str, list[tuple]] = {}
    for trial in range(args.trials):
        cfg = trial_config(config, trial, "ahunt")
        stream = make_stream(cfg.survey, image_size=cfg.model.image_size, channels=cfg.model.channels)
        root = Path(tempfile.mkdtemp()) / "ws"
        ws = Workspace.create(root, cfg, stream.load(0), known=stream.known)
        train_initial(ws)
        model, _ = ws.load_model(0)
        night = stream.load(1)
        images, labels, _ = ws.labelled_set()
        _, lab_z = score(model, images, device=torch.device("cpu"))
        probs, z = score(model, night.images, device=torch.device("cpu"))
        boring = boring_classes(ws.classes(), cfg.hunt.interest_for(1))
        keep = np.isin(labels, boring)
        names = ws.class_names()
        crop = model.args.crop  # the pixels are compared in the network's field, as in a hunt
        reference = Reference(lab_z, images, labels, boring, seed=cfg.seed, crop=crop)
        # (night, reference) in each space of the default score, computed once for every row
        spaces = [(normalise(z), normalise(lab_z[keep])),
                  (pixel_features(night.images, crop), pixel_features(images[keep], crop))]
        scores = {
            "reserve probability": probs[:, names.index("reserve")],
            "latent only": one_space(*spaces[0]),
            "pixels only": one_space(*spaces[1]),
            "latent + pixels": reference.scores(z, night.images),
            # [hunt] novelty_features = true: the network's last convolutional features too
            "+ conv features": Reference(lab_z, images, labels, boring, seed=cfg.seed, crop=crop,
                                         model=model).scores(z, night.images),
        }
        # [hunt] novelty_crowd = 0.01 (night 1 has no boring answer yet, so no veto)
        known = [c.idx for c in ws.classes() if c.kind == "known"]
        scores["+ the night's neighbours"] = Reference(lab_z, images, labels, boring, seed=cfg.seed, crop=crop,
                                                       crowd=0.01, known=known).scores(z, night.images)
        scores["local outlier factor"] = sum(outlier_factor(x, ref) for x, ref in spaces) / 2
        scores["5th nearest"] = sum(kth_nearest(x, ref) for x, ref in spaces) / 2
        uninteresting = set(cfg.experiment.uninteresting)
        # a hunt started without labels knows its round-0 kinds as `normal`: they are not anomalies
        normal = set(stream.known) | set(getattr(stream, "normal_kinds", ()))
        wanted = np.array([t not in normal and t not in uninteresting for t in night.truth])
        dull = np.array([t in uninteresting for t in night.truth])
        q = cfg.hunt.questions
        print(f"{args.config.stem}, trial {trial}, night 1: {wanted.sum()} interesting anomalies, "
              f"{dull.sum()} boring ones, {len(wanted)} objects; top {q}")
        tops = {name: np.argsort(-s, kind="stable")[:q] for name, s in scores.items()}
        tops["asked one by one"] = asked_one_by_one(reference, z, night.images, wanted, q)
        for name, top in tops.items():
            auc = roc_auc_score(wanted, scores.get(name, scores["latent + pixels"]))
            print(f"  {name:24s} AUC {auc:.2f}   top {q}: {wanted[top].sum()} interesting, {dull[top].sum()} boring")
            totals.setdefault(name, []).append((auc, wanted[top].sum(), dull[top].sum()))
        shutil.rmtree(root.parent)
    print(f"{args.config.stem}, night 1, mean over {args.trials} trials")
    for name, rows in totals.items():
        auc, found, boring = np.array(rows, dtype=float).T
        print(f"  {name:24s} AUC {auc.mean():.2f}   top {q}: {found.mean():.2f} ± {found.std():.2f} interesting, "
              f"{boring.mean():.2f} boring")


if __name__ == "__main__":
    main()
