"""The CNN: conv blocks -> 64-d latent -> a class head that can grow.

Output index layout: the known classes first, then the reserve output, then each anomaly class
in the order the oracle created it.  Growing the head appends a row, so every existing index
and weight keeps its meaning.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["ModelArgs", "HuntNet", "IsoMaxHead", "centre_crop", "conv_depth", "field_size", "inference_copy", "oriented"]


def conv_depth(image_size: int) -> int:
    """Conv blocks for an image size: 4 for 28-32 px, 5 for 64 px, 6 for 128 px (as the paper).

    Each block halves the image, so this leaves a 2x2 map (or smaller, never below 1 px).
    """
    return max(2, min(8, round(math.log2(image_size)) - 1))


def centre_crop(x, size: int):
    """The central ``size`` x ``size`` pixels of a batch (..., H, W), array or tensor (a view); the
    batch itself when ``size`` is 0 or not smaller than the images."""
    h, w = x.shape[-2], x.shape[-1]
    if not size or (size >= h and size >= w):
        return x
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return x[..., top:top + size, left:left + size]


def field_size(image_size: int, crop: int) -> int:
    """The side of the field ``centre_crop`` leaves of an ``image_size`` cutout."""
    return min(crop, image_size) if crop else image_size


@dataclass(frozen=True)
class ModelArgs:
    """Everything needed to rebuild the network from a checkpoint."""

    n_classes: int
    image_size: int = 64
    channels: int = 1
    latent_dim: int = 64
    width: int = 8
    head: str = "linear"  # linear | isomax
    # Scoring averages the network over this many orientations of each image (``oriented``): the
    # symmetries its training augmentation taught it to ignore.  1: the image as it is.
    views: int = 1
    # The network looks at the central ``crop`` x ``crop`` pixels of each image (0: all of it):
    # for cutouts much larger than their objects (``[model] crop``, docs/how-it-works.md).
    crop: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def input_size(self) -> int:
        """The side of what the convolutions see: the crop, or the whole image."""
        return field_size(self.image_size, self.crop)


class IsoMaxHead(nn.Module):
    """IsoMax (Macedo et al. 2019): logits are minus the distance to one prototype per class,
    times an entropic scale.  Prototypes start at zero, as in the paper.  The scale is kept at
    inference too, so class probabilities stay sharp enough for question strategies.
    """

    def __init__(self, in_features: int, out_features: int, scale: float = 10.0):
        super().__init__()
        self.in_features, self.out_features, self.scale = in_features, out_features, scale
        self.prototypes = nn.Parameter(torch.zeros(out_features, in_features))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return -self.scale * torch.cdist(z, self.prototypes)

    def grown(self, n_new: int) -> "IsoMaxHead":
        new = IsoMaxHead(self.in_features, self.out_features + n_new, self.scale).to(self.prototypes.device)
        with torch.no_grad():
            new.prototypes[: self.out_features] = self.prototypes
        return new


class HuntNet(nn.Module):
    """Small CNN; ``forward`` returns ``(logits, latent)``.

    Widths double with depth from ``width`` (capped at 8x), with 3x3 kernels and a max-pool
    after every block.  BatchNorm lets the whole network retrain quickly each round.
    """

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        blocks: list[nn.Module] = []
        c_in, size = args.channels, args.input_size
        for i in range(conv_depth(args.input_size)):
            c_out = args.width * min(2**i, 8)
            blocks += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c_in, size = c_out, max(1, size // 2)
        self.features = nn.Sequential(*blocks)
        self.to_latent = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(c_in * size * size, args.latent_dim), nn.ReLU()
        )
        if args.head == "isomax":
            self.head: nn.Module = IsoMaxHead(args.latent_dim, args.n_classes)
        elif args.head == "linear":
            self.head = nn.Linear(args.latent_dim, args.n_classes)
        else:
            raise ValueError(f"unknown head {args.head!r}; choose linear or isomax")

    @property
    def n_classes(self) -> int:
        return self.head.out_features

    def field(self, x):
        """What the network looks at in a batch of images: its central crop, or all of it.
        Training crops before augmenting, so shifts and zooms are relative to this field."""
        return centre_crop(x, self.args.crop)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent alone (self-supervised round 0 trains this part)."""
        return self.to_latent(self.features(self.field(x)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.encode(x)
        return self.head(latent), latent

    def grow_head(self, n_new: int = 1, *, generator: torch.Generator | None = None) -> None:
        """Append ``n_new`` outputs, keeping every existing weight and bias unchanged."""
        if n_new < 1:
            raise ValueError(f"n_new must be >= 1, got {n_new}")
        old = self.head
        if isinstance(old, IsoMaxHead):
            self.head = old.grown(n_new)
            self.args = ModelArgs(**{**self.args.to_dict(), "n_classes": self.head.out_features})
            return
        new = nn.Linear(old.in_features, old.out_features + n_new).to(old.weight.device)
        with torch.no_grad():
            bound = 1 / math.sqrt(old.in_features)
            new.weight.uniform_(-bound, bound, generator=generator)
            # A new class starts a little below the rest, so it claims objects only once trained.
            new.bias.fill_(float(old.bias.min()) - 1.0)
            new.weight[: old.out_features] = old.weight
            new.bias[: old.out_features] = old.bias
        self.head = new
        self.args = ModelArgs(**{**self.args.to_dict(), "n_classes": new.out_features})

    # A retired class (no labels left) keeps its output index, so class indices stay stable, but
    # the output is silenced: its probability is 0 and it never draws a question or a candidate.
    _SILENT = 1e4

    @torch.no_grad()
    def silence_outputs(self, indices: list[int]) -> None:
        """Make outputs ``indices`` predict nothing (linear: bias far below; IsoMax: prototype far away)."""
        if not indices:
            return
        if isinstance(self.head, IsoMaxHead):
            self.head.prototypes[indices] = self._SILENT
        else:
            self.head.weight[indices] = 0.0
            self.head.bias[indices] = -self._SILENT

    @torch.no_grad()
    def reset_outputs(self, indices: list[int], *, generator: torch.Generator | None = None) -> None:
        """Start silenced outputs afresh, as a new class's (a retired class named again)."""
        if not indices:
            return
        if isinstance(self.head, IsoMaxHead):
            self.head.prototypes[indices] = 0.0
            return
        live = [i for i in range(self.n_classes) if i not in indices]
        bound = 1 / math.sqrt(self.head.in_features)
        rows = torch.empty(len(indices), self.head.in_features).uniform_(-bound, bound, generator=generator)
        self.head.weight[indices] = rows.to(self.head.weight.device)
        self.head.bias[indices] = float(self.head.bias[live].min()) - 1.0 if live else 0.0


def oriented(x: torch.Tensor, views: int) -> torch.Tensor:
    """A batch (N, C, H, W) as ``views`` orientations stacked: (views * N, C, H, W), view-major.
    1: as it is; 2 adds the half turn; 4 every quarter turn; 8 their mirror images too."""
    turns = {1: (0,), 2: (0, 2), 4: (0, 1, 2, 3), 8: (0, 1, 2, 3)}[views]
    out = [torch.rot90(x, k, dims=(2, 3)) for k in turns]
    if views == 8:
        out += [torch.flip(v, dims=(3,)) for v in out]
    return torch.cat(out)


@torch.no_grad()
def inference_copy(model: HuntNet) -> nn.Module:
    """A copy of ``model`` for scoring: the same function, about 4x faster on a CPU.

    Each block's BatchNorm is folded into its convolution (eval mode uses fixed statistics,
    so ``bn(conv(x))`` is one convolution with scaled weights and a bias), and the max-pool
    moves before the ReLU (both are monotone, so they commute), which makes the ReLU act on a
    quarter of the pixels, and pools with element-wise maxima (``_Max2x2``); the first block
    becomes a ``_PhaseStem``.  Outputs agree with
    ``model.eval()`` to float32 rounding (~1e-7).  Returns a module with the same
    ``(logits, latent)`` outputs; training still uses ``model``.  With ``model.args.views`` > 1
    the copy scores every orientation: its logits are the log of the mean probability (so a
    softmax gives the average over orientations) and its latent is the mean latent.
    """
    layers: list[nn.Module] = []
    mods = list(model.features)
    for conv, bn in zip(mods[0::4], mods[1::4]):
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, bias=True)
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        layers += [fused, _Max2x2(), nn.ReLU(inplace=True)]
    fast = _Scorer(_PhaseStem(layers[0]), nn.Sequential(*layers[3:]), copy.deepcopy(model.to_latent),
                   copy.deepcopy(model.head), views=model.args.views, crop=model.args.crop)
    return fast.to(next(model.parameters()).device).eval()


class _PhaseStem(nn.Module):
    """The first block, ``relu(max_pool2d(conv3x3(x), 2))``, computed at the pooled resolution.

    With 1-3 input channels a 3x3 convolution over the full image runs at a tenth of the
    CPU's matmul rate and takes ~40 % of scoring time.  Each pooled pixel is the maximum of
    four convolution outputs (the four phases of its 2x2 window), and all four only see the
    4x4 input patch around the window.  So one 4x4 convolution with stride 2 and four times
    the output channels (each 3x3 kernel placed at the four offsets of a zero 4x4 kernel)
    computes every phase, and a maximum over each channel's four phases gives the pooled map:
    ~80 % more multiply-adds, ~2x faster, and the same sums (the zeros add exactly 0).
    The bias and ReLU come after the maximum (both commute with it).
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        c_out, c_in = conv.out_channels, conv.in_channels
        weight = conv.weight.new_zeros(c_out, 4, c_in, 4, 4)
        for a in range(2):
            for b in range(2):
                weight[:, 2 * a + b, :, a : a + 3, b : b + 3] = conv.weight
        self.weight = nn.Parameter(weight.reshape(4 * c_out, c_in, 4, 4), requires_grad=False)
        self.bias = nn.Parameter(conv.bias.detach().clone()[:, None, None], requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.conv2d(x, self.weight, stride=2, padding=1)  # (N, 4 C, H/2, W/2)
        y = y.view(y.shape[0], -1, 4, *y.shape[-2:]).amax(2)
        return torch.relu_(y + self.bias)


class _Max2x2(nn.Module):
    """``MaxPool2d(2)`` as three element-wise maxima of strided views: the same numbers, about
    twice as fast on a CPU as the pooling kernel, which also computes indices nobody uses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        x = x[..., :h, :w]
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class _Scorer(nn.Module):
    """``inference_copy``'s network.  The first block runs on NCHW tensors and the rest
    channels-last: with 1-3 input channels the first block is faster NCHW on a CPU, the wider
    later ones faster channels-last."""

    def __init__(self, stem: nn.Module, features: nn.Module, to_latent: nn.Module, head: nn.Module,
                 views: int = 1, crop: int = 0):
        super().__init__()
        self.stem, self.features, self.to_latent, self.head = stem, features, to_latent, head
        self.views, self.crop = views, crop

    def _one(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x.contiguous()).contiguous(memory_format=torch.channels_last)
        latent = self.to_latent(self.features(x))
        return self.head(latent), latent

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = centre_crop(x, self.crop)
        if self.views == 1:
            return self._one(x)
        n = len(x)
        logits, latent = self._one(oriented(x, self.views))
        log_p = torch.log_softmax(logits.float(), dim=1).reshape(self.views, n, -1)
        mean_log_p = torch.logsumexp(log_p, dim=0) - math.log(self.views)
        return mean_log_p, latent.reshape(self.views, n, -1).mean(dim=0)
