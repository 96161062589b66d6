"""Scoring a round on a Dask cluster: the optional extra ``pip install 'ahunt[dask]'``.

The round's images become a dask array chunked along the image axis only, read where it is
computed (``store.LazyImages``; the store must be on a file system every worker can read).
The network reaches each worker once, in a worker plugin that builds the scorer when the
worker joins; tasks find it there instead of unpickling the model per chunk.

For questions, each chunk is reduced on its worker to its ``question_candidates`` (a few
objects per class of interest), so the client merges small results instead of gathering the
night's scores.  Chunks start at multiples of the batch size, so every batch, and therefore
every score and every chosen question, is the same as on one machine.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ahunt.errors import AhuntError
from ahunt.model import HuntNet, ModelArgs
from ahunt.query import question_candidates
from ahunt.scoring import LATENT_DTYPE, READ_BLOCK, RoundScores, Scorer
from ahunt.store import LazyImages, Store

__all__ = ["Candidates", "connect", "dask_images", "score_round_dask", "candidates_dask"]

INSTALL_HINT = "install the Dask extra: pip install 'ahunt[dask]'"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise AhuntError(f"scoring on a Dask scheduler needs dask.distributed; {INSTALL_HINT}") from None
    return distributed


def connect(address: str, *, timeout: float = 10.0):
    """A ``distributed.Client`` for the scheduler at ``address``; a clear error if unreachable."""
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise AhuntError(f"cannot reach the Dask scheduler at {address!r} ({exc})") from None


def dask_images(images: LazyImages, chunk: int):
    """The store's images as a dask array chunked along the image axis only."""
    import dask.array as da

    if chunk % READ_BLOCK:
        raise AhuntError(f"Dask chunk {chunk} must be a multiple of {READ_BLOCK} images")
    return da.from_array(images, chunks=(chunk, *images.shape[1:]), asarray=True,
                         name=f"ahunt-images-{hashlib.sha1(repr((images.path, images.key)).encode()).hexdigest()}")


def _model_payload(model: HuntNet) -> bytes:
    buf = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model_state": state, "model_args": model.args.to_dict()}, buf)
    return buf.getvalue()


try:  # the extra may be absent: the module still imports, and connect() says what to install
    from distributed import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover - exercised only without the extra
    _PluginBase = object


class _ScorerPlugin(_PluginBase):
    """Builds the scorer once per worker (on the worker's GPU when it has one)."""

    def __init__(self, payload: bytes, token: str, device: str, batch_size: int):
        self.payload, self.token, self.device, self.batch_size = payload, token, device, batch_size
        self.name = f"ahunt-scorer-{token}"

    def setup(self, worker) -> None:
        from ahunt.train import resolve_device

        blob = torch.load(io.BytesIO(self.payload), map_location="cpu", weights_only=True)
        model = HuntNet(ModelArgs(**blob["model_args"]))
        model.load_state_dict(blob["model_state"])
        # One chunk at a time per worker, using all the worker's threads for torch.
        torch.set_num_threads(max(1, int(worker.state.nthreads)))
        scorers = worker.__dict__.setdefault("ahunt_scorers", {})
        scorers[self.token] = (Scorer(model.eval(), resolve_device(self.device), batch_size=self.batch_size or None),
                               threading.Lock())
        worker.__dict__["ahunt_model_loads"] = worker.__dict__.get("ahunt_model_loads", 0) + 1

    def teardown(self, worker) -> None:
        worker.__dict__.get("ahunt_scorers", {}).pop(self.token, None)


def _score_chunk(block: np.ndarray, token: str) -> tuple[np.ndarray, np.ndarray]:
    from distributed import get_worker

    scorer, lock = get_worker().ahunt_scorers[token]
    with lock:
        probs, latents = scorer(np.asarray(block, dtype=np.float32))
    return probs, latents.astype(LATENT_DTYPE)


@dataclass
class Candidates:
    """The objects a strategy could pick: positions in the night, with their scores."""

    index: np.ndarray  # int64 (K,), sorted
    probs: np.ndarray  # float32 (K, n_classes)
    latents: np.ndarray  # float16 (K, latent_dim)


def _chunk_candidates(block: np.ndarray, offset: int, token: str, columns: Sequence[int], n: int,
                      strategy: str, diversity_pool: int, exclude: np.ndarray) -> Candidates:
    probs, latents = _score_chunk(block, token)
    available = np.setdiff1d(np.arange(len(block)), np.asarray(exclude, dtype=np.int64) - offset)
    keep = question_candidates(probs, columns, n, strategy=strategy, diversity_pool=diversity_pool,
                               available=available)
    return Candidates(keep + offset, probs[keep], latents[keep])


class _Session:
    """Registers the model on the cluster for one round's work, and removes it afterwards."""

    def __init__(self, client, model: HuntNet, device: str, batch_size: int):
        payload = _model_payload(model)
        self.token = hashlib.sha1(payload).hexdigest()[:16]
        self.client = client
        self.plugin = _ScorerPlugin(payload, self.token, device, batch_size)

    def __enter__(self) -> str:
        self.client.register_plugin(self.plugin, name=self.plugin.name)
        return self.token

    def __exit__(self, *exc) -> None:
        try:
            self.client.unregister_worker_plugin(self.plugin.name)
        except Exception:  # the cluster may be gone; nothing of ours is left to clean up then
            pass


def score_round_dask(client, store: Store, r: int, model: HuntNet, *, chunk: int, device: str = "auto",
                     batch_size: int = 0) -> RoundScores:
    """Every object's probabilities and float16 latents, computed on the cluster (for the
    catalogues and pictures, which need them all)."""
    import dask

    images = dask_images(store.lazy_array(r), chunk)
    with _Session(client, model, device, batch_size) as token:
        parts = [dask.delayed(_score_chunk)(b, token) for b in images.to_delayed().ravel()]
        results = client.compute(parts, sync=True)
    return RoundScores(np.concatenate([p for p, _ in results]), np.concatenate([z for _, z in results]))


def candidates_dask(client, store: Store, r: int, model: HuntNet, *, columns: Sequence[int], n: int,
                    strategy: str, diversity_pool: int, exclude: Sequence[int], chunk: int,
                    device: str = "auto", batch_size: int = 0) -> Candidates:
    """The night's ``question_candidates``, each chunk reduced on its worker."""
    import dask

    images = dask_images(store.lazy_array(r), chunk)
    exclude = np.asarray(sorted(exclude), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(images.chunks[0])[:-1]]).astype(int)
    with _Session(client, model, device, batch_size) as token:
        parts = []
        for block, offset, size in zip(images.to_delayed().ravel(), offsets, images.chunks[0]):
            mine = exclude[(exclude >= offset) & (exclude < offset + size)]
            parts.append(dask.delayed(_chunk_candidates)(
                block, int(offset), token, list(columns), n, strategy, diversity_pool, mine))
        results = client.compute(parts, sync=True)
    # Merging: the top of the union of each chunk's top lists is the night's top list.
    return Candidates(np.concatenate([c.index for c in results]),
                      np.concatenate([c.probs for c in results]),
                      np.concatenate([c.latents for c in results]))
