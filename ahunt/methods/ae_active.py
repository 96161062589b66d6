"""An autoencoder with an active layer (Pimentel, Monteiro, Veloso & Ziviani, "Deep active
learning for anomaly detection").

- **Autoencoder**: the mirror of AHUNT's CNN.  The encoder is the same 3x3 conv blocks
  (BatchNorm, ReLU, 2x2 max-pool; depth from image size) and a ``latent_dim`` bottleneck; the
  decoder goes back up block by block (resize to the encoder's size at that depth, 3x3 conv,
  BatchNorm, ReLU) to a linear 3x3 conv with the input's channels.  It is trained (MSE, AHUNT's
  augmentation) on round 0 at first (``epochs_initial``), then every night on round 0 plus that
  night's objects (``epochs``), warm-started and seeded, without labels.  With ``[model] crop``
  it sees the central pixels the other methods' networks see, and so do its error features.
- **Error features**: the per-pixel squared reconstruction errors, averaged per channel over a
  coarse ``g x g`` grid, ``g = gcd(side, 8)`` for the side of the field it sees (so every cell
  has the same number of pixels): ``D = channels * g^2`` features.
- **Active layer**: a linear layer ``score = w . e + b`` over those features.  It starts as the
  plain mean (``w = 1/D``, ``b = 0``), which is exactly the mean squared reconstruction error, the
  unsupervised score.  Once the oracle has named anomalies, it is refit each night from that start
  on every label so far (round-0 normals and the answers; known classes normal, anomaly classes
  and the reserve anomalous) with a pairwise logistic ranking loss pushing every labelled anomaly
  above every labelled normal, and an L2 pull towards the plain mean, so it learns which errors
  separate the anomalies the user cares about.  The bias does not change a ranking and stays 0.
- **Questions**: the night's top active-layer scores.  MCC: the same top-k rule on that score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ahunt.hunt.query import Pick
from ahunt.learn.model import centre_crop, conv_depth, field_size
from ahunt.learn.train import descend, make_augmentation

__all__ = ["AeActiveSettings", "ConvAutoencoder", "ActiveLayer", "AeActiveDetector", "error_features"]


@dataclass(frozen=True)
class AeActiveSettings:
    steps: int = 300  # full-batch Adam steps fitting the active layer
    learning_rate: float = 0.05  # for the layer's relative weights u = D w (start at 1)
    l2: float = 0.01  # pull of u towards 1 (the plain mean)
    max_pairs: int = 200_000  # anomaly-normal pairs per fit (subsampled above this, seeded)


class ConvAutoencoder(nn.Module):
    """Encoder: HuntNet's conv blocks and a ``latent_dim`` bottleneck; decoder: their mirror."""

    def __init__(self, image_size: int, channels: int = 1, width: int = 8, latent_dim: int = 64):
        super().__init__()
        enc: list[nn.Module] = []
        c_in, size = channels, image_size
        self.sizes, chans = [image_size], [channels]
        for i in range(conv_depth(image_size)):
            c_out = width * min(2**i, 8)
            enc += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in, size = c_out, max(1, size // 2)
            self.sizes.append(size)
            chans.append(c_out)
        self.encoder = nn.Sequential(*enc)
        self.shape = (c_in, size, size)
        flat = c_in * size * size
        self.bottleneck = nn.Sequential(nn.Flatten(), nn.Linear(flat, latent_dim), nn.ReLU(),
                                        nn.Linear(latent_dim, flat), nn.ReLU())
        self.up = nn.ModuleList()
        depth = len(self.sizes) - 1
        for level in range(depth, 0, -1):  # from the deepest map back to the input size
            c_from, c_to = chans[level], chans[level - 1]
            if level == 1:
                self.up.append(nn.Conv2d(c_from, c_to, 3, padding=1))
            else:
                self.up.append(nn.Sequential(nn.Conv2d(c_from, c_to, 3, padding=1, bias=False),
                                             nn.BatchNorm2d(c_to), nn.ReLU(inplace=True)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bottleneck(self.encoder(x)).view(len(x), *self.shape)
        depth = len(self.sizes) - 1
        for k, layer in enumerate(self.up):
            size = self.sizes[depth - 1 - k]
            h = layer(F.interpolate(h, size=(size, size), mode="nearest"))
        return h


def grid_size(image_size: int) -> int:
    return math.gcd(image_size, 8)


def error_features(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Per-pixel squared errors averaged over a ``g x g`` grid per channel: (N, C g^2)."""
    g = grid_size(x.shape[-1])
    return F.avg_pool2d((x - recon) ** 2, kernel_size=x.shape[-1] // g).flatten(1)


class ActiveLayer:
    """``score = features @ weight + bias``; starts as the plain mean of the features."""

    def __init__(self, n_features: int, settings: AeActiveSettings = AeActiveSettings()):
        self.n_features, self.settings = n_features, settings
        self.reset()

    def reset(self) -> None:
        self.weight = np.full(self.n_features, 1.0 / self.n_features)
        self.bias = 0.0

    def score(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.weight + self.bias

    def fit(self, features: np.ndarray, is_anomaly: np.ndarray, *, seed: int = 0) -> list[float]:
        """Refit from the plain mean: pairwise logistic ranking (anomalies above normals) + L2.

        Score differences are divided by the spread of the plain-mean score over the labelled
        points, so the loss does not depend on the errors' units.  Without both kinds of label
        the layer stays the plain mean.
        """
        self.reset()
        s = self.settings
        f = np.asarray(features, dtype=np.float64)
        y = np.asarray(is_anomaly, dtype=bool)
        a, n = np.flatnonzero(y), np.flatnonzero(~y)
        if not len(a) or not len(n):
            return []
        ia, in_ = np.repeat(a, len(n)), np.tile(n, len(a))
        if len(ia) > s.max_pairs:
            keep = np.random.default_rng(seed).choice(len(ia), s.max_pairs, replace=False)
            ia, in_ = ia[keep], in_[keep]
        tau = float(np.std(self.score(f))) or 1.0
        diff = torch.from_numpy((f[ia] - f[in_]) / (self.n_features * tau))  # per unit of u
        u = torch.ones(self.n_features, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([u], lr=s.learning_rate)
        losses = []
        for _ in range(s.steps):
            loss = F.softplus(-(diff @ u)).mean() + s.l2 * ((u - 1) ** 2).mean()
            losses.append(descend(opt, loss))
        self.weight = u.detach().numpy() / self.n_features
        return losses


class AeActiveDetector:
    """The autoencoder and its active layer, run through the shared experiment loop.

    Per night ``r``: ``start_round(ws, r)`` trains the autoencoder on round 0 plus the night and
    refits the layer on the labels so far; the detector is the question chooser (top scores);
    ``learn(ws, r)`` refits the layer with the night's answers; ``scores`` ranks for the MCC.
    """

    name = "ae-active"

    def __init__(self, ws, *, device: torch.device, settings: AeActiveSettings = AeActiveSettings()):
        from ahunt.hunt.session import round_seed

        self.ws, self.device, self.settings = ws, device, settings
        cfg = ws.config
        torch.manual_seed(round_seed(cfg.seed, 0))
        # the field every method of the run looks at: ``[model] crop``, or the whole cutout
        self.crop, size = cfg.model.crop, field_size(cfg.model.image_size, cfg.model.crop)
        self.ae = ConvAutoencoder(size, cfg.model.channels, cfg.model.width, cfg.model.latent_dim)
        self.layer = ActiveLayer(cfg.model.channels * grid_size(size) ** 2, settings)
        self.round: int | None = None
        r0 = ws.store.load_round(0).images
        self.train_autoencoder(r0, epochs=cfg.train.epochs_initial, seed=round_seed(cfg.seed, 0))

    # -- autoencoder --------------------------------------------------------------------------
    def _field(self, images) -> torch.Tensor:
        """Images as float32, cut to the field the autoencoder sees (``[model] crop``)."""
        return torch.from_numpy(np.ascontiguousarray(centre_crop(images, self.crop), dtype=np.float32))

    def train_autoencoder(self, images: np.ndarray, *, epochs: int, seed: int) -> list[float]:
        cfg = self.ws.config.train
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        augment = make_augmentation(cfg)
        x = self._field(images)
        ae = self.ae.to(self.device).train()
        opt = torch.optim.Adam(ae.parameters(), lr=cfg.learning_rate)
        losses = []
        for _ in range(epochs):
            order = rng.permutation(len(x))
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                if len(idx) < 2:
                    continue  # BatchNorm needs two
                xb = torch.stack([augment(x[j]) for j in idx]).to(self.device)
                loss = F.mse_loss(ae(xb), xb)
                total += descend(opt, loss) * len(idx)
            losses.append(total / len(x))
        ae.eval()
        return losses

    @torch.inference_mode()
    def features(self, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
        self.ae.to(self.device).eval()
        out = []
        for s in range(0, len(images), batch_size):
            xb = self._field(images[s : s + batch_size]).to(self.device)
            out.append(error_features(xb, self.ae(xb)).double().cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, self.layer.n_features))

    @torch.inference_mode()
    def reconstruction_error(self, images: np.ndarray) -> np.ndarray:
        """The plain unsupervised score: mean squared error per object."""
        self.ae.to(self.device).eval()
        x = self._field(images).to(self.device)
        return ((x - self.ae(x)) ** 2).flatten(1).mean(1).double().cpu().numpy()

    # -- active layer -------------------------------------------------------------------------
    def fit_layer(self, ws, *, seed: int) -> list[float]:
        images, labels, _ = ws.labelled_set()
        kind = {c.idx: c.kind for c in ws.classes()}
        y = np.array([kind[int(c)] != "known" for c in labels], dtype=bool)
        return self.layer.fit(self.features(images), y, seed=seed)

    def scores(self, images: np.ndarray) -> np.ndarray:
        return self.layer.score(self.features(images))

    # -- the loop's hooks -----------------------------------------------------------------------
    def start_round(self, ws, r: int) -> None:
        from ahunt.hunt.session import round_seed

        self.ws, self.round = ws, r
        seed = round_seed(ws.config.seed, r)
        night = ws.store.load_round(r).images
        both = np.concatenate([ws.store.load_round(0).images, night])
        self.train_autoencoder(both, epochs=ws.config.train.epochs, seed=seed)
        self.fit_layer(ws, seed=seed)

    def __call__(self, images, latents, exclude, n, rng) -> list[Pick]:
        s = self.scores(images)
        available = np.setdiff1d(np.arange(len(s)), np.asarray(exclude, dtype=np.int64))
        order = available[np.argsort(-s[available], kind="stable")[:n]]
        return [Pick(int(i), "anomaly score", float(s[i])) for i in order]

    def learn(self, ws, r: int) -> list[float]:
        from ahunt.hunt.session import round_seed

        return self.fit_layer(ws, seed=round_seed(ws.config.seed, r))

    def contamination(self, ws, r: int) -> None:
        return None  # top-score questions: no selection probabilities to weight by
