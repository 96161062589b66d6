"""Scoring a round on a Dask cluster: the optional extra ``pip install 'ahunt[dask]'``.

The round's images become a dask array chunked along the image axis only, read where it is
computed (``store.LazyImages``; the store must be on a file system every worker can read).
The network reaches each worker once, in a worker plugin that builds the scorer when the
worker joins; tasks find it there instead of unpickling the model per chunk.

For questions, each chunk is reduced on its worker to its ``question_candidates`` (a few
objects per class of interest), and those are merged pairwise on the workers, so the client
receives one short list instead of the night's scores.  Chunks start at multiples of the batch size, so every batch, and therefore
every score and every chosen question, is the same as on one machine.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ahunt.errors import AhuntError
from ahunt.hunt.query import question_candidates
from ahunt.learn.model import HuntNet, ModelArgs
from ahunt.learn.scoring import LATENT_DTYPE, READ_BLOCK, RoundScores, Scorer, should_compile
from ahunt.store.images import LazyImages, Store

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
        distributed.comm.parse_address(address)
        distributed.comm.get_address_host_port(address)
    except ValueError as exc:
        raise AhuntError(f"{address!r} is not a Dask scheduler address ({exc}); give e.g. tcp://host:8786") from None
    try:
        return distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise AhuntError(f"cannot reach the Dask scheduler at {address!r} ({exc})") from None


def dask_images(images: LazyImages, chunk: int):
    """The store's images as a dask array chunked along the image axis only."""
    import dask.array as da

    if chunk % READ_BLOCK:
        raise AhuntError(f"Dask chunk {chunk} must be a multiple of {READ_BLOCK} images")
    # A name that changes with the file, so a scheduler never serves another store's chunks.
    stat = os.stat(images.path)
    token = hashlib.sha1(repr((images.path, images.key, stat.st_size, stat.st_mtime_ns)).encode()).hexdigest()
    return da.from_array(images, chunks=(chunk, *images.shape[1:]), asarray=True, name=f"ahunt-images-{token}")


def _model_payload(model: HuntNet) -> bytes:
    from ahunt.learn.train import cpu_state

    buf = io.BytesIO()
    torch.save({"model_state": cpu_state(model), "model_args": model.args.to_dict()}, buf)
    return buf.getvalue()


try:  # the extra may be absent: the module still imports, and connect() says what to install
    from distributed import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover - exercised only without the extra
    _PluginBase = object


class _ScorerPlugin(_PluginBase):
    """Builds the scorer once per worker (on the worker's GPU when it has one)."""

    def __init__(self, payload: bytes, token: str, device: str, batch_size: int, compile: str, n_images: int):
        self.payload, self.token, self.device, self.batch_size = payload, token, device, batch_size
        self.compile, self.n_images = compile, n_images
        self.name = f"ahunt-scorer-{token}"

    def setup(self, worker) -> None:
        from ahunt.learn.train import resolve_device

        blob = torch.load(io.BytesIO(self.payload), map_location="cpu", weights_only=True)
        model = HuntNet(ModelArgs(**blob["model_args"]))
        model.load_state_dict(blob["model_state"])
        # One chunk at a time per worker, using all the worker's threads for torch.
        torch.set_num_threads(max(1, int(worker.state.nthreads)))
        scorers = worker.__dict__.setdefault("ahunt_scorers", {})
        device = resolve_device(self.device)
        scorer = Scorer(model.eval(), device, batch_size=self.batch_size or None,
                        compile=should_compile(self.compile, self.n_images, device))
        scorers[self.token] = (scorer, threading.Lock())
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
                      strategy: str, diversity_pool: int, spread: int, spread_columns: Sequence[int],
                      exclude: np.ndarray) -> Candidates:
    probs, latents = _score_chunk(block, token)
    mine = exclude[(exclude >= offset) & (exclude < offset + len(block))] - offset
    available = np.setdiff1d(np.arange(len(block)), mine)
    keep = question_candidates(probs, columns, n, strategy=strategy, diversity_pool=diversity_pool,
                               available=available, spread=spread, spread_columns=spread_columns)
    return Candidates(keep + offset, probs[keep], latents[keep])


class _Session:
    """Registers the model on the cluster for one round's work, and removes it afterwards."""

    def __init__(self, client, model: HuntNet, device: str, batch_size: int, compile: str, n_images: int):
        payload = _model_payload(model)
        self.token = hashlib.sha1(payload).hexdigest()[:16]
        self.client = client
        self.plugin = _ScorerPlugin(payload, self.token, device, batch_size, compile, n_images)

    def __enter__(self) -> str:
        self.client.register_plugin(self.plugin, name=self.plugin.name)
        return self.token

    def __exit__(self, *exc) -> None:
        try:
            self.client.unregister_worker_plugin(self.plugin.name)
        except Exception:  # the cluster may be gone; nothing of ours is left to clean up then
            pass


def _per_chunk(images, func, *args):
    """``func(block, offset, *args)`` for every chunk, as a 1-D object array of the results.

    ``map_blocks`` keeps each chunk's read and its scoring in one task on one worker (the
    reader is fused into it), so no chunk of images ever travels between processes.
    """
    n_chunks = len(images.chunks[0])
    return images.map_blocks(_call_on_block, func, *args, dtype=object, drop_axis=[1, 2, 3],
                             chunks=((1,) * n_chunks,), meta=np.empty((0,), dtype=object))


def _call_on_block(block: np.ndarray, func, *args, block_info=None) -> np.ndarray:
    offset = int(block_info[0]["array-location"][0][0])
    out = np.empty(1, dtype=object)
    out[0] = func(block, offset, *args)
    return out


def _scores_of_chunk(block: np.ndarray, offset: int, token: str) -> tuple[np.ndarray, np.ndarray]:
    return _score_chunk(block, token)


def score_round_dask(client, store: Store, r: int, model: HuntNet, *, chunk: int, device: str = "auto",
                     batch_size: int = 0, compile: str = "auto") -> RoundScores:
    """Every object's probabilities and float16 latents, computed on the cluster (for the
    catalogues and pictures, which need them all)."""
    images = dask_images(store.lazy_array(r), chunk)
    with _Session(client, model, device, batch_size, compile, images.shape[0]) as token:
        results = client.compute(_per_chunk(images, _scores_of_chunk, token), sync=True)
    return RoundScores(np.concatenate([p for p, _ in results]), np.concatenate([z for _, z in results]))


def _only(one: np.ndarray):
    return one[0]


def _merge_candidates(a: Candidates, b: Candidates, columns: Sequence[int], n: int, strategy: str,
                      diversity_pool: int, spread: int, spread_columns: Sequence[int]) -> Candidates:
    """The candidates of two neighbouring stretches of the night (``a`` before ``b``).

    The night's top lists lie within the union of the parts' top lists and are its top lists,
    so reducing the union again loses nothing the strategy could pick.
    """
    index = np.concatenate([a.index, b.index])
    probs = np.concatenate([a.probs, b.probs])
    latents = np.concatenate([a.latents, b.latents])
    keep = question_candidates(probs, columns, n, strategy=strategy, diversity_pool=diversity_pool,
                               available=np.arange(len(index)), spread=spread, spread_columns=spread_columns)
    return Candidates(index[keep], probs[keep], latents[keep])


def candidates_dask(client, store: Store, r: int, model: HuntNet, *, columns: Sequence[int], n: int,
                    strategy: str, diversity_pool: int, exclude: Sequence[int], chunk: int,
                    spread: int = 0, spread_columns: Sequence[int] = (),
                    device: str = "auto", batch_size: int = 0, compile: str = "auto") -> Candidates:
    """The night's ``question_candidates``: each chunk reduced on its worker, then merged in a
    tree on the workers, so the client receives one small list."""
    import dask

    images = dask_images(store.lazy_array(r), chunk)
    exclude = np.asarray(sorted(exclude), dtype=np.int64)
    options = (list(columns), n, strategy, diversity_pool, spread, list(spread_columns))
    with _Session(client, model, device, batch_size, compile, images.shape[0]) as token:
        per_chunk = _per_chunk(images, _chunk_candidates, token, *options, exclude)
        parts = [dask.delayed(_only)(p) for p in per_chunk.to_delayed().ravel()]
        while len(parts) > 1:  # pairwise, keeping night order: a tree of depth log2(chunks)
            parts = [dask.delayed(_merge_candidates)(parts[i], parts[i + 1], *options) if i + 1 < len(parts)
                     else parts[i] for i in range(0, len(parts), 2)]
        return client.compute(parts[0], sync=True)
