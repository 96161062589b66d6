"""How the current scoring path scales with round size; prints numbers, asserts nothing.

    python benchmarks/score_scale.py                               # N = 10k, 100k (~2.5 min)
    python benchmarks/score_scale.py --sizes 10000 100000 200000   # adds 200k (+2.5-6 min)

200k is not in the default: on 2 CPU cores the scorer ran at 1,200-3,700 images/s between
runs (a noisy shared machine), so 200k scored twice (current + chunked) plus writing its
3.1 GB store can take up to ~6 minutes and push the run past ~10 minutes.

A baseline for a future streaming scorer.  For each N a temporary image store is written
directly with h5py, in slices of 10,000, into the layout ``ahunt.store.Store`` uses
(``/rounds/0000/images`` float32 (N, 1, 64, 64), chunks of 256 images, lzf; ``/rounds/0000/ids``
utf-8), so generating it never holds more than one slice in memory.  Then, each in a fresh
subprocess so that its peak RSS belongs to that measurement alone:

  current   ``Store.load_round(0)`` (reads the whole round into memory) then
            ``ahunt.train.score(model, images, device=cpu)``
  chunked   reads the HDF5 in slices of 4,096 images, calls ``score`` per slice, and keeps only
            probabilities and latents, as float16 (what streaming would give)
  lazy      ``Store.lazy_images`` handed to ``score``, which reads one batch of 512 at a time:
            the path ahunt's questions, ``score_round`` and round metrics now take

Times include reading and decompressing the HDF5.  Also printed: the model's FLOPs per image
(multiply-adds of every Conv2d/Linear, counted from their shapes with forward hooks, x2), this
machine's measured float32 matmul FLOP/s (2048x2048 torch.matmul), and the fraction of that
rate the scorer achieves.  The store for 200k images is ~3.3 GB on disk (random pixels do
not compress) under the system temp dir (``--tmpdir`` to move it); it is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
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
READ_SLICE = 4_096


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _model():
    from ahunt.model import HuntNet, ModelArgs

    torch.manual_seed(0)
    return HuntNet(ModelArgs(n_classes=N_CLASSES, image_size=IMAGE_SIZE)).eval()


def flops_per_image(model: torch.nn.Module) -> float:
    """2 x multiply-adds of every Conv2d and Linear for one image."""
    macs = [0]

    def hook(module, inputs, output):
        per_item = output[0].numel()  # one image's outputs
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            macs[0] += per_item * (module.in_channels // module.groups) * kh * kw
        else:
            macs[0] += per_item * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    with torch.no_grad():
        model(torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE))
    for h in handles:
        h.remove()
    return 2.0 * macs[0]


def matmul_flops(n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)  # warm up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def write_store(path: Path, n: int) -> None:
    """The layout Store.add_round writes, filled slice by slice."""
    import h5py

    from ahunt.store import _STR

    rng = np.random.default_rng(n)
    shape = (n, 1, IMAGE_SIZE, IMAGE_SIZE)
    with h5py.File(path, "w") as f:
        g = f.create_group("rounds/0000")
        images = g.create_dataset(
            "images", shape=shape, dtype=np.float32, chunks=(min(n, 256), *shape[1:]),
            compression="lzf",
        )
        ids = g.create_dataset("ids", shape=(n,), dtype=_STR)
        for s in range(0, n, WRITE_SLICE):
            e = min(n, s + WRITE_SLICE)
            images[s:e] = rng.standard_normal((e - s, *shape[1:]), dtype=np.float32)
            ids[s:e] = np.array([f"obj{i:07d}" for i in range(s, e)], dtype=object)


def worker(mode: str, path: str) -> None:
    from ahunt.store import Store
    from ahunt.train import score

    device = torch.device("cpu")
    model = _model()
    # Warm up (thread pools, first-call allocations) before the baseline RSS and the clock.
    score(model, np.zeros((64, 1, IMAGE_SIZE, IMAGE_SIZE), np.float32), device=device)
    base = _rss_mb()
    t0 = time.perf_counter()
    if mode == "lazy":  # ahunt's own path: score straight from the open HDF5 dataset
        t_load = 0.0
        with Store(path).lazy_images(0) as ds:
            probs, latents = score(model, ds, device=device)
            n = len(ds)
    elif mode == "current":
        images = Store(path).load_round(0).images
        t_load = time.perf_counter() - t0
        probs, latents = score(model, images, device=device)
        n = len(images)
    else:
        import h5py

        t_load = 0.0
        probs_parts, latent_parts = [], []
        with h5py.File(path, "r") as f:
            ds = f["rounds/0000/images"]
            n = len(ds)
            for s in range(0, n, READ_SLICE):
                t = time.perf_counter()
                block = ds[s : s + READ_SLICE]
                t_load += time.perf_counter() - t
                p, z = score(model, block, device=device)
                probs_parts.append(p.astype(np.float16))
                latent_parts.append(z.astype(np.float16))
        probs, latents = np.concatenate(probs_parts), np.concatenate(latent_parts)
    total = time.perf_counter() - t0
    assert len(probs) == len(latents) == n
    print(json.dumps({
        "n": n, "total_s": total, "load_s": t_load, "base_mb": base, "peak_mb": _peak_rss_mb(),
    }))


def run_worker(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", mode, "--path", str(path)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--tmpdir", default=None, help="where the temporary stores go")
    parser.add_argument("--worker", choices=["current", "chunked", "lazy"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.path)
        return

    fpi = flops_per_image(_model())
    peak = matmul_flops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"HuntNet(n_classes={N_CLASSES}, image_size={IMAGE_SIZE}): "
          f"{fpi / 1e6:.1f} MFLOP/image")
    print(f"matmul 2048^2 float32: {peak / 1e9:.1f} GFLOP/s  "
          f"-> implied ceiling {peak / fpi:,.0f} images/s")
    print(f"{'N':>8} {'path':>8} {'img/s':>8} {'load s':>7} {'total s':>8} "
          f"{'base MB':>8} {'peak MB':>8} {'+MB':>7} {'of peak':>8}")
    tmp = Path(tempfile.mkdtemp(prefix="ahunt_score_scale_", dir=args.tmpdir))
    try:
        for n in args.sizes:
            path = tmp / f"store_{n}.h5"
            t = time.perf_counter()
            write_store(path, n)
            gen_s = time.perf_counter() - t
            size_mb = path.stat().st_size / 2**20
            for mode in ("current", "chunked", "lazy"):
                r = run_worker(mode, path)
                rate = r["n"] / r["total_s"]
                print(f"{n:>8} {mode:>8} {rate:>8,.0f} {r['load_s']:>7.1f} {r['total_s']:>8.1f} "
                      f"{r['base_mb']:>8.0f} {r['peak_mb']:>8.0f} "
                      f"{r['peak_mb'] - r['base_mb']:>7.0f} {rate * fpi / peak:>8.1%}")
            print(f"{'':>8} (store {size_mb:,.0f} MB on disk, written in {gen_s:.1f} s)")
            path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
