"""ALOE: active latent outlier exposure (Li, Qiu, Kloft, Smyth, Mandt & Rudolph, ICML 2023).

A one-class detector on AHUNT's CNN backbone: the round-0 network's conv blocks and latent
layer (trained on the known classes) feed a linear projection ``phi``; the anomaly score is
``s(x) = ||phi(x)||^2``.  The projection starts as ``phi(x) = (z - c) / r`` with ``c`` the mean
latent of the round-0 normals and ``r`` their root-mean-square distance from it, so before any
answer the score is the (scaled) squared distance from the normal centre, about 1 for normals.

Loss (the hypersphere classifier of Ruff et al., "Rethinking assumptions in deep anomaly
detection"): a normal costs ``L_n = d`` and an anomaly ``L_a = -log(1 - exp(-d))``, with
``d = ||phi(x)||^2``.  Each night the whole detector is trained (warm-started from the night
before) on two equally weighted terms:

(a) the labelled points, each with the loss of its label: the round-0 normals and every
    answer so far (a known class is normal; an anomaly class, or the reserve, anomalous;
    skips are ignored).  Normals and anomalies are up-sampled to equal numbers with the same
    augmentation as AHUNT (``balance``), else the few answered anomalies would weigh nothing
    against hundreds of round-0 normals;
(b) the night's unlabelled objects with latent outlier exposure: in each mini-batch the top
    ``alpha`` fraction by score count as anomalous, with ``0.5 L_n + 0.5 L_a`` (soft, the
    default) or ``L_a`` (hard), the rest as normal.

The backbone's dropout is left out (zeroing latent units throws phi far from the centre).
BatchNorm trains on batch statistics; its running statistics are then recomputed over the
round's images (and over round 0 before the first scores), so scoring normalises as training
did.  (Keeping the round-0 statistics frozen instead let the scores blow up by 10^3 on a short
round-0 training: the latent spread is small and every update is magnified.)

Questions are diverse: k-means++ seeding in the embedding ``phi``.  The first pick is drawn with
probability proportional to the squared distance from the embedding mean of the night; each
next one proportionally to the squared distance to the nearest of {the mean, the picks so far}
(the mean stays a centre, so the bulk of normals stays unlikely).  The probability of every
pick at its draw is recorded, so ``alpha`` is estimated from the answers rather than guessed:
the night's anomalous fraction by importance weighting (Des Raj, ``contamination.py``), pooled
over the nights so far with a prior of ``prior`` (0.1) worth ``prior_questions`` answers (one
night's questions by default), and clipped to ``[0, alpha_max]``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ahunt.hunt.contamination import importance_weighted_fraction
from ahunt.hunt.query import Pick
from ahunt.learn.model import HuntNet
from ahunt.learn.train import balanced_indices, descend, make_augmentation

__all__ = [
    "AloeSettings", "AloeNet", "AloeDetector", "normal_loss", "anomaly_loss", "loe_losses",
    "kmeanspp_draws", "answer_flags",
]

LOE_MODES = ("soft", "hard")


@dataclass(frozen=True)
class AloeSettings:
    loe: str = "soft"  # soft | hard latent outlier exposure
    prior: float = 0.1  # contamination assumed before any answer
    prior_questions: int | None = None  # the prior's weight in answers; None = one night's questions
    alpha_max: float = 0.5
    balance: bool = True  # up-sample labelled normals and anomalies to equal numbers
    clamp: float = 1e-6  # L_a uses max(d, clamp): finite at the centre
    batchnorm: str = "train"  # train (batch statistics, then recomputed) | frozen (round-0 statistics)
    train_backbone: bool = True  # False: only the projection learns (a static latent space)

    def __post_init__(self):
        if self.loe not in LOE_MODES:
            raise ValueError(f"loe must be one of {LOE_MODES}, got {self.loe!r}")
        if self.batchnorm not in ("train", "frozen"):
            raise ValueError(f"batchnorm must be train or frozen, got {self.batchnorm!r}")
        if not 0 <= self.prior <= self.alpha_max <= 1:
            raise ValueError("need 0 <= prior <= alpha_max <= 1")


# -- losses -----------------------------------------------------------------------------------
def normal_loss(d: torch.Tensor) -> torch.Tensor:
    """L_n(x) = ||phi(x)||^2 = d."""
    return d


def anomaly_loss(d: torch.Tensor, clamp: float = 1e-6) -> torch.Tensor:
    """L_a(x) = -log(1 - exp(-d)), computed as -log(-expm1(-d)) with d clamped at ``clamp``."""
    return -torch.log(-torch.expm1(-d.clamp_min(clamp)))


def loe_losses(d: torch.Tensor, alpha: float, mode: str = "soft", clamp: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-object latent-outlier-exposure losses of unlabelled objects, and the anomalous mask.

    The ``round(alpha * len(d))`` highest scores (ties by position) are taken as anomalous:
    soft gives them ``0.5 L_n + 0.5 L_a``, hard ``L_a``; the rest get ``L_n``.
    """
    if mode not in LOE_MODES:
        raise ValueError(f"mode must be one of {LOE_MODES}, got {mode!r}")
    k = int(np.floor(alpha * len(d) + 0.5))
    mask = torch.zeros(len(d), dtype=torch.bool, device=d.device)
    if k > 0:
        order = torch.from_numpy(np.argsort(-d.detach().cpu().numpy(), kind="stable")[:k]).to(d.device)
        mask[order] = True
    ln, la = normal_loss(d), anomaly_loss(d, clamp)
    flagged = 0.5 * ln + 0.5 * la if mode == "soft" else la
    return torch.where(mask, flagged, ln), mask


# -- queries --------------------------------------------------------------------------------------
def kmeanspp_draws(z: np.ndarray, available: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding over ``available`` rows of ``z``: (chosen row indices, draw probabilities).

    The first draw is proportional to the squared distance from the mean of the available rows;
    each next one to the squared distance from the nearest of the mean and the picks so far.
    The probability is that of the pick at its draw, given the earlier draws.  If every
    remaining distance is 0, the draw is uniform over the remaining rows.
    """
    available = np.asarray(available, dtype=np.int64)
    n = min(n, len(available))
    if n <= 0:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    x = z[available].astype(np.float64)
    d2 = np.sum((x - x.mean(axis=0)) ** 2, axis=1)
    taken = np.zeros(len(x), dtype=bool)
    picks, probs = [], []
    for _ in range(n):
        d2[taken] = 0.0
        total = d2.sum()
        if total > 0:
            p = d2 / total
        else:
            p = (~taken).astype(np.float64) / (~taken).sum()
        k = int(rng.choice(len(x), p=p))
        picks.append(k)
        probs.append(float(p[k]))
        taken[k] = True
        d2 = np.minimum(d2, np.sum((x - x[k]) ** 2, axis=1))
    return available[np.asarray(picks)], np.asarray(probs)


def answer_flags(ws, r: int | None = None) -> dict[str, int | None]:
    """Standing answers (of round ``r``, or all) as object id -> 1 anomalous, 0 normal, None skipped.

    A known class is normal; an anomaly class or the reserve is anomalous.
    """
    kind = {c.idx: c.kind for c in ws.classes()}
    out: dict[str, int | None] = {}
    for a in ws.log.standing_answers(r):
        out[a.object_id] = None if a.kind == "skip" else int(kind[a.class_idx] != "known")
    return out


# -- the network ----------------------------------------------------------------------------------
class AloeNet(nn.Module):
    """HuntNet's conv blocks and latent layer (without its dropout), then a linear projection:
    ``forward`` gives phi(x)."""

    def __init__(self, base: HuntNet):
        super().__init__()
        self.features = copy.deepcopy(base.features)
        # No dropout: zeroing latent units moves phi far from the centre and swamps the loss.
        self.to_latent = nn.Sequential(*(nn.Identity() if isinstance(m, nn.Dropout) else m
                                         for m in copy.deepcopy(base.to_latent)))
        dim = base.args.latent_dim
        self.project = nn.Linear(dim, dim)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.latent(x))


@torch.inference_mode()
def _batched(fn, images: np.ndarray, device, batch_size: int = 512) -> np.ndarray:
    out = []
    for s in range(0, len(images), batch_size):
        xb = torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size], dtype=np.float32)).to(device)
        out.append(fn(xb).float().cpu().numpy())
    return np.concatenate(out) if out else np.empty((0,), np.float32)


class AloeDetector:
    """ALOE run through the shared experiment loop (see ``baselines.make_detector``).

    Per night ``r``: ``start_round(ws, r)``; the loop calls the detector as the question chooser;
    after the oracle, ``learn(ws, r)`` estimates the contamination and trains; ``scores``
    ranks the night for the MCC; ``contamination(ws, r)`` gives the night's estimate.
    """

    name = "aloe"

    def __init__(self, ws, *, device: torch.device, settings: AloeSettings = AloeSettings()):
        self.ws, self.device, self.settings = ws, device, settings
        cfg = ws.config
        base, _ = ws.load_model(0)
        self.net = AloeNet(base).to(device).eval()
        images, _, _ = ws.labelled_set()  # round 0: the known classes only
        if settings.batchnorm == "train":
            _recalibrate(self.net, images, device)
        z = _batched(self.net.latent, images, device).astype(np.float64)
        centre = z.mean(axis=0)
        scale = float(np.sqrt(np.mean(np.sum((z - centre) ** 2, axis=1)))) or 1.0
        with torch.no_grad():
            self.net.project.weight.copy_(torch.eye(z.shape[1]) / scale)
            self.net.project.bias.copy_(torch.from_numpy(-centre / scale).float())
        self.prior_questions = settings.prior_questions if settings.prior_questions is not None else cfg.hunt.questions
        self.round: int | None = None
        self.draws: dict[int, dict] = {}  # round -> object ids, indices, probabilities, pool size
        self.estimates: dict[int, tuple[float, float, int]] = {}  # round -> (estimate, se, answers)
        self.alpha = settings.prior
        self.alphas: dict[int, float] = {}

    # -- the loop's hooks -------------------------------------------------------------------
    def start_round(self, ws, r: int) -> None:
        self.ws, self.round = ws, r

    def embed(self, images: np.ndarray) -> np.ndarray:
        self.net.eval()
        return _batched(self.net, images, self.device)

    def scores(self, images: np.ndarray) -> np.ndarray:
        """s(x) = ||phi(x)||^2."""
        return np.sum(self.embed(images).astype(np.float64) ** 2, axis=1)

    def __call__(self, images, latents, exclude, n, rng) -> list[Pick]:
        z = self.embed(images)
        s = np.sum(z.astype(np.float64) ** 2, axis=1)
        available = np.setdiff1d(np.arange(len(images)), np.asarray(exclude, dtype=np.int64))
        chosen, probs = kmeanspp_draws(z, available, n, rng)
        if self.round is not None:
            ids = self.ws.store.load_round(self.round, images=False).ids
            self.draws[self.round] = {
                "object_ids": [str(ids[i]) for i in chosen], "indices": chosen.tolist(),
                "probabilities": probs.tolist(), "pool": len(available),
            }
            path = self.ws.root / "aloe" / f"round_{self.round:04d}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(self.draws[self.round]), encoding="utf-8")
        return [Pick(int(i), "aloe k-means++", float(s[i])) for i in chosen]

    def contamination(self, ws, r: int) -> tuple[float, float] | None:
        """The night's importance-weighted anomalous fraction and its standard error."""
        if r not in self.estimates:
            self._estimate(ws, r)
        est = self.estimates.get(r)
        return None if est is None else est[:2]

    def _estimate(self, ws, r: int) -> None:
        draw = self.draws.get(r)
        if not draw or not draw["object_ids"]:
            return
        flags = answer_flags(ws, r)
        # a skipped question counts as normal here (the truth oracle never skips)
        y = [flags.get(oid) or 0 for oid in draw["object_ids"]]
        answered = sum(flags.get(oid) is not None for oid in draw["object_ids"])
        est, se = importance_weighted_fraction(y, draw["probabilities"], draw["pool"], sequential=True)
        self.estimates[r] = (est, se, answered)

    def _pooled_alpha(self) -> float:
        s = self.settings
        num = self.prior_questions * s.prior + sum(n * e for e, _, n in self.estimates.values())
        den = self.prior_questions + sum(n for _, _, n in self.estimates.values())
        return float(np.clip(num / den if den > 0 else s.prior, 0.0, s.alpha_max))

    def learn(self, ws, r: int) -> list[float]:
        """Estimate alpha from the answers so far, then train on labelled + LOE terms."""
        if r not in self.estimates:
            self._estimate(ws, r)
        self.alpha = self.alphas[r] = self._pooled_alpha()
        from ahunt.hunt.session import round_seed

        lab_x, lab_idx, ids = ws.labelled_set()
        kind = {c.idx: c.kind for c in ws.classes()}
        lab_y = np.array([int(kind[int(c)] != "known") for c in lab_idx], dtype=np.int64)
        night = ws.store.load_round(r)
        labelled = set(ids)
        unl_x = night.images[[i for i, oid in enumerate(night.ids) if oid not in labelled]]
        return self._train(lab_x, lab_y, unl_x, seed=round_seed(ws.config.seed, r))

    # -- training ---------------------------------------------------------------------------------
    def _train(self, lab_x: np.ndarray, lab_y: np.ndarray, unl_x: np.ndarray, *, seed: int) -> list[float]:
        cfg, s = self.ws.config, self.settings
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        augment = make_augmentation(cfg.train)
        lx, ux = torch.from_numpy(np.ascontiguousarray(lab_x)), torch.from_numpy(np.ascontiguousarray(unl_x))
        ly = torch.from_numpy(lab_y)
        net = self.net.to(self.device).train()
        if s.batchnorm == "frozen":
            for m in net.modules():  # BatchNorm keeps the round-0 statistics: train and score alike
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        params = net.parameters() if s.train_backbone else net.project.parameters()
        opt = torch.optim.Adam(params, lr=cfg.train.learning_rate)
        bs = cfg.train.batch_size
        u_order, u_pos = rng.permutation(len(ux)), 0
        losses = []
        for _ in range(cfg.train.epochs):
            order = balanced_indices(lab_y, rng) if s.balance else rng.permutation(len(lab_y))
            total, steps = 0.0, 0
            for start in range(0, len(order), bs):
                lb = order[start : start + bs]
                ub = []
                while len(ub) < min(bs, len(ux)):
                    if u_pos == len(u_order):
                        u_order, u_pos = rng.permutation(len(ux)), 0
                    ub.append(u_order[u_pos])
                    u_pos += 1
                xb = torch.stack([augment(lx[j]) for j in lb] + [augment(ux[j]) for j in ub]).to(self.device)
                d = (net(xb) ** 2).sum(dim=1)
                d_lab, d_unl = d[: len(lb)], d[len(lb) :]
                yb = ly[lb].to(self.device).bool()
                loss = torch.where(yb, anomaly_loss(d_lab, s.clamp), normal_loss(d_lab)).mean()
                if len(ub):
                    loss = loss + loe_losses(d_unl, self.alpha, s.loe, s.clamp)[0].mean()
                total, steps = total + descend(opt, loss), steps + 1
            losses.append(total / max(steps, 1))
        if s.batchnorm == "train":
            _recalibrate(net, np.concatenate([lab_x, unl_x]), self.device)
        net.eval()
        return losses


@torch.no_grad()
def _recalibrate(net: nn.Module, images: np.ndarray, device, batch_size: int = 256) -> None:
    """BatchNorm running statistics recomputed (cumulative average) over ``images``."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    for s in range(0, len(images), batch_size):
        net(torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size], dtype=np.float32)).to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    net.eval()
