"""Memory of ingesting a large night: streamed (what ``ahunt ingest`` does) or read whole.

    python benchmarks/ingest_scale.py                 # ~4 min
    python benchmarks/ingest_scale.py --rows 17736    # the size of the real Galaxy10 DECaLS file

Two temporary nights: a file with the Galaxy10 DECaLS schema (``images`` (N, 256, 256, 3) uint8
of random pixels, ``ans``, ``ra``, ``dec``; ``--rows``, default 8,000: 1.5 GB), and a ``.npy``
of ``--objects`` 64 x 64 uint8 cutouts (default 200,000: 780 MB, 3.1 GB once float32).  Each is
ingested into a new store at 64 x 64 grey, in a fresh subprocess each way so that each peak
RSS (VmHWM) is its own:

  stream  ``stream_batch`` + ``Store.add_round_pieces``: read, resized and written a piece at
          a time (64 Galaxy10 rows, 1,024 objects otherwise), as ``ahunt ingest``
  whole   ``read_batch`` then ``Store.add_round``: the whole night resized in memory first

Files go under the system temp dir (``--tmpdir`` to move it) and are removed afterwards.
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


def _vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_galaxy10(path: Path, rows: int) -> None:
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        images = f.create_dataset("images", shape=(rows, 256, 256, 3), dtype=np.uint8, chunks=(1, 256, 256, 3))
        for s in range(0, rows, 500):
            e = min(rows, s + 500)
            images[s:e] = rng.integers(0, 256, (e - s, 256, 256, 3), dtype=np.uint8)
        f.create_dataset("ans", data=rng.integers(0, 10, rows).astype(np.uint8))
        f.create_dataset("ra", data=rng.uniform(0, 360, rows))
        f.create_dataset("dec", data=rng.uniform(-10, 60, rows))


def write_npy(path: Path, n: int) -> None:
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 64, 64))
    rng = np.random.default_rng(1)
    for s in range(0, n, 20_000):
        images[s : s + 20_000] = rng.integers(0, 256, (min(n, s + 20_000) - s, 64, 64), dtype=np.uint8)
    images.flush()
    del images


def worker(mode: str, source: str, store_path: str) -> dict:
    from ahunt.sources.files import read_batch, stream_batch
    from ahunt.store.images import Store

    base = _vm_hwm_mb()
    t = time.perf_counter()
    store = Store(store_path)
    if mode == "stream":
        _, n = store.add_round_pieces(stream_batch(source, image_size=64, channels=1).pieces)
    else:
        data = read_batch(source, image_size=64, channels=1)
        store.add_round(data)
        n = len(data)
    return {"n": n, "s": time.perf_counter() - t, "base_mb": base, "peak_mb": _vm_hwm_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--objects", type=int, default=200_000)
    parser.add_argument("--tmpdir", default=None)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="ahunt_ingest_scale_", dir=args.tmpdir))
    try:
        g10 = tmp / "Galaxy10_DECals.h5"
        write_galaxy10(g10, args.rows)
        npy = tmp / "night.npy"
        write_npy(npy, args.objects)
        print(f"{'input':>28} {'path':>7} {'objects':>8} {'s':>6} {'peak MB':>8}")
        for source in (g10, npy):
            label = f"{source.name} ({source.stat().st_size / 2**20:,.0f} MB)"
            for mode in ("stream", "whole"):
                store = tmp / f"store_{mode}.h5"
                out = subprocess.run([sys.executable, __file__, "--worker", mode, str(source), str(store)],
                                     check=True, capture_output=True, text=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"{label:>28} {mode:>7} {r['n']:>8,} {r['s']:>6.1f} {r['peak_mb']:>8,.0f}")
                store.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
