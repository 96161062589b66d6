"""How scoring a night scales with its size; prints numbers, asserts nothing.

    python benchmarks/score_scale.py                              # N = 10k, 100k, 200k (~6 min)
    python benchmarks/score_scale.py --sizes 10000 --no-dask      # a quick look
    python benchmarks/score_scale.py --sizes 100000 --workers 1   # with a DataLoader worker

First, what the network itself can do, on images already in memory: this machine's float32
matmul rate (2048 x 2048 ``torch.matmul``, best of 10), the model's FLOPs per image
(2 x multiply-adds of every Conv2d and Linear), hence the images/s a matmul-bound scorer would
reach, and the ``ahunt.learn.scoring.Scorer`` rate, eager and with ``torch.compile`` (compile time
printed apart), then where the eager time goes: each block of the network timed on its own.

Then, for each N, a temporary store of N random 64 x 64 cutouts is written in the layout
``ahunt.store.images.Store`` uses (written in slices, so the writer never holds the night; random
pixels do not compress: ~16 KB per image on disk), and scored end to end, each path in a
fresh subprocess so that its peak memory is its own:

  single  ``ahunt.learn.scoring.score_store`` reading the HDF5 store a block at a time (``--workers``
          DataLoader processes, default 0 as ahunt's default) and the questions chosen from
          the scores (``query.choose_questions``), as ``ahunt hunt``
  dask    ``ahunt.hunt.distributed.candidates_dask`` on a ``LocalCluster`` of 2 worker processes
          with 1 thread each, in chunks of ``[score] dask_chunk`` images, then
          ``choose_from_candidates``: what ``--dask-scheduler`` does

Times cover reading, decompressing, scoring and choosing (not starting the cluster). Peak
memory is the high-water RSS (VmHWM) of every process involved, added up: the scoring process
and its DataLoader workers, or the client and both Dask workers (forked DataLoader workers
share pages with their parent, so the sum over-counts them).  Stores go under the system
temp dir (``--tmpdir`` to move it; 200k needs ~3.3 GB) and are removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

IMAGE_SIZE = 64
N_CLASSES = 6
WRITE_SLICE = 10_000
QUESTIONS = 20


def _vm_hwm_mb(pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _model():
    from ahunt.learn.model import HuntNet, ModelArgs

    torch.manual_seed(0)
    return HuntNet(ModelArgs(n_classes=N_CLASSES, image_size=IMAGE_SIZE)).eval()


def layer_flops(model: torch.nn.Module) -> list[float]:
    """2 x multiply-adds of each Conv2d and Linear for one image, in the order they run."""
    flops: list[float] = []

    def hook(module, inputs, output):
        per_item = output[0].numel()  # one image's outputs
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            flops.append(2.0 * per_item * (module.in_channels // module.groups) * kh * kw)
        else:
            flops.append(2.0 * per_item * module.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE))
    for h in handles:
        h.remove()
    return flops


def flops_per_image(model: torch.nn.Module) -> float:
    return sum(layer_flops(model))


def time_per_block(n: int = 4096, batch: int = 64, reps: int = 3) -> list[tuple[str, float, float]]:
    """(stage, MFLOP per image, microseconds per image) of the eager ``Scorer`` network, each
    stage timed on its own inputs (the previous stage's outputs), in the Scorer's batches."""
    from ahunt.learn.scoring import Scorer

    model = _model()
    net = Scorer(model, torch.device("cpu")).net
    stages = [("block 1 (phase stem)",
               lambda x: net.stem(x.contiguous()).contiguous(memory_format=torch.channels_last))]
    stages += [(f"block {i // 3 + 2}", net.features[i : i + 3]) for i in range(0, len(net.features), 3)]
    stages += [("latent + head", lambda x: net.head(net.to_latent(x)))]
    flops = layer_flops(model)
    stage_flops = flops[: len(stages) - 1] + [sum(flops[len(stages) - 1 :])]
    # For comparison: block 1 as trained (conv, BatchNorm, ReLU, max-pool; eval mode).
    stages.append(("block 1 as trained", model.features[:4]))
    stage_flops.append(flops[0])
    x = torch.randn(n, 1, IMAGE_SIZE, IMAGE_SIZE)
    rows = []
    with torch.inference_mode():
        for (name, fn), f in zip(stages, stage_flops):
            best = float("inf")
            for _ in range(reps + 1):
                t = time.perf_counter()
                for s in range(0, n, batch):
                    fn(x[s : s + batch])  # dropped at once, as in the Scorer, so buffers are reused
                best = min(best, time.perf_counter() - t)
            rows.append((name, f / 1e6, best / n * 1e6))
            x = torch.cat([fn(x[s : s + batch]) for s in range(0, n, batch)])
            if name == "latent + head":
                x = torch.randn(n, 1, IMAGE_SIZE, IMAGE_SIZE)  # the comparison starts from images again
    return rows


def matmul_flops(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)  # warm up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def compute_rate(compile: bool, n: int = 8192, reps: int = 3) -> tuple[float, float]:
    """(images/s of Scorer on in-memory images, seconds to build it incl. compiling)."""
    from ahunt.learn.scoring import Scorer

    x = np.random.default_rng(0).standard_normal((n, 1, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    t = time.perf_counter()
    scorer = Scorer(_model(), torch.device("cpu"), compile=compile)
    scorer(x[:1024])  # compiling happens on the first call
    setup = time.perf_counter() - t
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for s in range(0, n, 1024):
            scorer(x[s : s + 1024])
        best = min(best, time.perf_counter() - t)
    return n / best, setup


def write_store(path: Path, n: int) -> None:
    """The layout Store writes, filled slice by slice."""
    import h5py

    from ahunt.store.images import _STR

    rng = np.random.default_rng(n)
    shape = (n, 1, IMAGE_SIZE, IMAGE_SIZE)
    with h5py.File(path, "w") as f:
        g = f.create_group("rounds/0000")
        images = g.create_dataset("images", shape=shape, dtype=np.float32, chunks=(256, *shape[1:]),
                                  compression="lzf")
        ids = g.create_dataset("ids", shape=(n,), dtype=_STR)
        for s in range(0, n, WRITE_SLICE):
            e = min(n, s + WRITE_SLICE)
            images[s:e] = rng.standard_normal((e - s, *shape[1:]), dtype=np.float32)
            ids[s:e] = np.array([f"obj{i:07d}" for i in range(s, e)], dtype=object)


NAMES = [f"c{i}" for i in range(N_CLASSES - 1)] + ["reserve"]
WEIGHTS = {"c4": 1.0, "reserve": 1.0}


def worker_single(path: str, workers: int) -> dict:
    import resource

    from ahunt.hunt.query import choose_questions
    from ahunt.learn.scoring import score_store
    from ahunt.store.images import Store

    model = _model()
    t = time.perf_counter()
    scores = score_store(Store(path), 0, model, device=torch.device("cpu"), workers=workers, compile="never")
    picks = choose_questions(scores.probs, scores.latents, NAMES, WEIGHTS, QUESTIONS, strategy="anomaly",
                             rng=np.random.default_rng(0))
    total = time.perf_counter() - t
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * workers  # DataLoader workers (max each)
    return {"n": len(scores), "total_s": total, "peak_mb": _vm_hwm_mb() + child_kb / 1024,
            "picks": [p.index for p in picks]}


def worker_dask(path: str) -> dict:
    from distributed import Client, LocalCluster

    from ahunt.config import ScoreConfig
    from ahunt.hunt.distributed import candidates_dask
    from ahunt.hunt.query import choose_from_candidates
    from ahunt.store.images import Store

    model = _model()
    store = Store(path)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("ahunt.learn.scoring") and None)  # import torch on the workers before the clock
        startup = time.perf_counter() - t0
        t = time.perf_counter()
        cand = candidates_dask(client, store, 0, model, columns=[4, 5], n=QUESTIONS, strategy="anomaly",
                               diversity_pool=5, exclude=[], chunk=ScoreConfig().dask_chunk, compile="never")
        picks = choose_from_candidates(cand.index, cand.probs, cand.latents, NAMES, WEIGHTS, QUESTIONS,
                                       strategy="anomaly", rng=np.random.default_rng(0),
                                       n_objects=store.round_size(0))
        total = time.perf_counter() - t
        workers = client.run(lambda: _vm_hwm_mb())
    return {"n": store.round_size(0), "total_s": total, "startup_s": startup,
            "peak_mb": _vm_hwm_mb() + sum(workers.values()), "picks": [p.index for p in picks],
            "candidates": len(cand.index)}


def run_worker(mode: str, path: Path, workers: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", mode, "--path", str(path), "--workers", str(workers)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 200_000])
    parser.add_argument("--no-dask", action="store_true", help="skip the LocalCluster runs")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the single path")
    parser.add_argument("--tmpdir", default=None, help="where the temporary stores go")
    parser.add_argument("--worker", choices=["single", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker_single(args.path, args.workers) if args.worker == "single" else worker_dask(args.path)
        print(json.dumps(result))
        return

    fpi = flops_per_image(_model())
    peak = matmul_flops()
    ceiling = peak / fpi
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"HuntNet(n_classes={N_CLASSES}, image_size={IMAGE_SIZE}): {fpi / 1e6:.2f} MFLOP/image")
    print(f"matmul 2048^2 float32: {peak / 1e9:.1f} GFLOP/s -> a matmul-bound scorer: {ceiling:,.0f} images/s")
    for compile in (False, True):
        rate, setup = compute_rate(compile)
        label = "torch.compile" if compile else "eager"
        print(f"Scorer in memory, {label:>13}: {rate:>8,.0f} images/s = {rate / ceiling:.0%} of that "
              f"(setup {setup:.1f} s)")
    print(f"Where the eager time goes (per image, batches of 64; a matmul-bound scorer needs "
          f"{1e6 / ceiling:.1f} us):")
    for name, mflop, us in time_per_block():
        print(f"  {name:<21} {mflop:5.2f} MFLOP {us:6.1f} us {mflop * 1e3 / us:6.0f} GFLOP/s")
    print()
    print(f"{'N':>8} {'path':>7} {'img/s':>8} {'total s':>8} {'s/100k':>7} {'peak MB':>8} {'of matmul':>9}")
    tmp = Path(tempfile.mkdtemp(prefix="ahunt_score_scale_", dir=args.tmpdir))
    try:
        for n in args.sizes:
            path = tmp / f"store_{n}.h5"
            t = time.perf_counter()
            write_store(path, n)
            gen_s = time.perf_counter() - t
            size_mb = path.stat().st_size / 2**20
            picks = {}
            for mode in ("single",) + (() if args.no_dask else ("dask",)):
                r = run_worker(mode, path, args.workers)
                rate = r["n"] / r["total_s"]
                extra = (f"  (cluster start {r['startup_s']:.1f} s, {r['candidates']} candidates sent)"
                         if mode == "dask" else "")
                print(f"{n:>8} {mode:>7} {rate:>8,.0f} {r['total_s']:>8.1f} {r['total_s'] / n * 1e5:>7.1f} "
                      f"{r['peak_mb']:>8,.0f} {rate / ceiling:>9.0%}{extra}")
                picks[mode] = r["picks"]
            same = "" if len(picks) < 2 else f"; same questions: {picks['single'] == picks['dask']}"
            print(f"{'':>8} store {size_mb:,.0f} MB on disk, written in {gen_s:.1f} s{same}")
            path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
