"""Scoring images with a trained network: arrays in memory, or a whole round streamed from the store.

A CPU scores fastest (``benchmarks/score_scale.py``) with an inference copy of the network
(BatchNorm folded into the convolutions, the first block computed at the pooled resolution,
see ``model.inference_copy``), channels-last tensors after the first block, small batches of
64 whose activations stay in cache, and freed buffers kept for the next batch
(``keep_freed_buffers``).  ``torch.compile`` makes it ~1.2x faster again, but compiling
costs 2-20 s per network shape, so it is used only for rounds large enough to win that back
(``COMPILE_FROM``, ``[score] compile``).  A round is read from the store in blocks of ``READ_BLOCK`` images through a
DataLoader, whose worker processes (``[score] workers``) can overlap reading with the network;
only a few blocks are in memory at once.  What is kept per object is what question selection
and the catalogues need: class probabilities (float32) and the latent vector (float16, 128
bytes at 64 dimensions).

Every batch starts at a multiple of the batch size from the start of the round, however the
round is cut into blocks or Dask chunks, so every path computes exactly the same numbers.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from ahunt.errors import AhuntWarning
from ahunt.learn.model import HuntNet, inference_copy
from ahunt.progress import Track, no_progress
from ahunt.store.images import ImageBlocks, Store

__all__ = ["READ_BLOCK", "COMPILE_FROM", "RoundScores", "Scorer", "default_batch_size", "score_images",
           "score_store", "should_compile"]

READ_BLOCK = 1024  # images per read: four of the store's 256-image HDF5 chunks
COMPILE_FROM = 1_000_000  # images: compile = "auto" compiles for rounds this large (break-even: docs/survey-scale.md)
LATENT_DTYPE = np.float16


def default_batch_size(device: torch.device) -> int:
    """64 on a CPU (fastest measured: activations fit in cache), 1024 on a GPU."""
    return 64 if device.type == "cpu" else 1024


@dataclass
class RoundScores:
    """What scoring keeps of a round: probabilities and latents, one row per object."""

    probs: np.ndarray  # float32 (N, n_classes), in the model's output order
    latents: np.ndarray  # float16 (N, latent_dim)

    def __len__(self) -> int:
        return len(self.probs)


def keep_freed_buffers() -> None:
    """Let glibc's malloc keep freed buffers of up to 32 MiB for reuse (process-wide).

    By default glibc maps large blocks afresh from the kernel and trims freed memory back,
    and how large "large" is drifts with what the process did before.  Each batch's
    activations (up to 8 MiB at 64 images of 64x64) are then often new pages that the kernel
    must fault in: measured here, that made the first block 5-8x slower and whole-network
    scoring 2x slower, depending on what ran before (Dask's nanny even pins the thresholds low
    with ``MALLOC_TRIM_THRESHOLD_``).  With both thresholds raised the process keeps up to
    64 MiB more than it uses.  Nothing to do where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 64 << 20)


class Scorer:
    """A model made ready to score on one device: built once, used for many blocks (a Dask
    worker keeps one for the whole round).  Building one calls ``keep_freed_buffers``.

    ``compile`` runs the inference copy through ``torch.compile``, which specialises on the
    input shape, so the last batch of a block is then padded to the full batch size (images
    are scored independently in eval mode).  Compiling happens on the first batch and needs a
    working C++ compiler on a CPU; if it fails, the scorer warns (``AhuntWarning``) and scores
    without it: the eager network computes the same function (to float32 rounding).
    """

    def __init__(self, model: HuntNet, device: torch.device, *, batch_size: int | None = None,
                 compile: bool = False):
        keep_freed_buffers()
        self.device = device
        self.batch_size = batch_size or default_batch_size(device)
        if READ_BLOCK % self.batch_size:
            raise ValueError(f"batch size {self.batch_size} must divide the read block {READ_BLOCK}")
        self.n_classes, self.latent_dim = model.n_classes, model.args.latent_dim
        net = inference_copy(model).to(device)
        net.features.to(memory_format=torch.channels_last)  # the first block stays NCHW (model._Scorer)
        self.net = net
        self._compiled = torch.compile(net, dynamic=False) if compile else None
        self._compiled_once = False  # compiling happens on the first call

    @property
    def fixed_shape(self) -> bool:
        return self._compiled is not None

    def _forward(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._compiled is None:
            return self.net(xb)
        if self._compiled_once:
            return self._compiled(xb)
        try:
            out = self._compiled(xb)
            self._compiled_once = True
            return out
        except Exception as exc:  # noqa: BLE001 - whatever failed, the eager network computes the same
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {first}); scoring without it. "
                          "Set compile = \"never\" in the [score] section of the hunt's config.toml to skip trying.",
                          AhuntWarning, stacklevel=2)
            self._compiled = None
            return self.net(xb)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(probs float32, latents float32) for a block of images (N, C, H, W)."""
        n, bs = len(images), self.batch_size
        probs = np.empty((n, self.n_classes), np.float32)
        latents = np.empty((n, self.latent_dim), np.float32)
        x_all = torch.as_tensor(images, dtype=torch.float32)
        for s in range(0, n, bs):
            xb = x_all[s : s + bs]
            k = len(xb)
            if self.fixed_shape and k < bs:
                xb = torch.cat([xb, xb.new_zeros((bs - k, *xb.shape[1:]))])
            xb = xb.to(self.device)  # NCHW: the first block wants it so (model._Scorer)
            logits, z = self._forward(xb)
            probs[s : s + k] = torch.softmax(logits[:k].float(), dim=1).cpu().numpy()
            latents[s : s + k] = z[:k].float().cpu().numpy()
        return probs, latents


def score_images(model: HuntNet, images: Sequence | np.ndarray, *, device: torch.device,
                 batch_size: int | None = None, track: Track = no_progress,
                 description: str = "scoring") -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N, n_classes) and latents (N, latent_dim), both float32.

    ``images`` is anything sliceable with a length: an array, or an open HDF5 dataset, which is
    then read one block at a time.
    """
    scorer = Scorer(model, device, batch_size=batch_size)
    n = len(images)
    probs = np.empty((n, scorer.n_classes), np.float32)
    latents = np.empty((n, scorer.latent_dim), np.float32)
    starts = range(0, n, READ_BLOCK)
    for s in track(starts, description=description, total=len(starts)):
        probs[s : s + READ_BLOCK], latents[s : s + READ_BLOCK] = scorer(
            np.asarray(images[s : s + READ_BLOCK], dtype=np.float32))
    return probs, latents


def should_compile(setting: str, n: int, device: torch.device) -> bool:
    if setting not in ("auto", "always", "never"):
        raise ValueError(f"compile must be auto, always or never, not {setting!r}")
    return setting == "always" or (setting == "auto" and device.type == "cpu" and n >= COMPILE_FROM)


def _loader_workers(requested: int, n_blocks: int) -> int:
    # Starting a worker process costs ~0.1-0.5 s: not worth it for a few blocks.  Daemonic
    # processes (some pools) may not start children.
    if n_blocks < 4 or multiprocessing.current_process().daemon:
        return 0
    return requested


def score_store(store: Store, r: int, model: HuntNet, *, device: torch.device, workers: int = 0,
                batch_size: int | None = None, compile: str = "auto", track: Track = no_progress,
                description: str = "scoring", latent_dtype=LATENT_DTYPE) -> RoundScores:
    """Score every object of round ``r``, reading the store block by block.

    Memory holds the model, a few blocks of images (``workers`` + 1 in flight) and the result:
    4 bytes per class probability and 2 per latent dimension for each object.  ``compile``:
    "always", "never", or "auto" (on a CPU, for rounds of ``COMPILE_FROM`` images or more).
    ``latent_dtype``: float16 by default; float32 for detectors that fit on the latents.
    """
    blocks = ImageBlocks(store.lazy_array(r), READ_BLOCK)
    n = len(blocks.images)
    scorer = Scorer(model, device, batch_size=batch_size, compile=should_compile(compile, n, device))
    out = RoundScores(np.empty((n, scorer.n_classes), np.float32),
                      np.empty((n, scorer.latent_dim), latent_dtype))
    workers = _loader_workers(workers, len(blocks))
    loader = DataLoader(blocks, batch_size=None, num_workers=workers,
                        prefetch_factor=2 if workers else None, pin_memory=device.type == "cuda")
    s = 0
    try:
        for block in track(loader, description=description, total=len(blocks)):
            p, z = scorer(block)
            out.probs[s : s + len(p)], out.latents[s : s + len(p)] = p, z
            s += len(p)
    finally:
        blocks.images.close()
    return out
