"""Memory and time of starting a hunt from a large unlabelled pile (``ahunt init --unlabelled``).

    python benchmarks/pile_start_scale.py                      # piles of 50,000 and 100,000 (~8 min)
    python benchmarks/pile_start_scale.py --objects 20000      # a quick look

For each size, a temporary ``.npy`` pile of 64 x 64 uint8 cutouts (random pixels: 4 KB each,
16 KB once float32) is given to ``ahunt init --unlabelled`` with the built-in config, in a
fresh subprocess, and its peak RSS (the child's ``ru_maxrss``), CPU seconds and wall time are
printed.  Round 0 is streamed: the pile is written to the store a piece at a time, copied into
the labelled store a block at a time, its pixel features are computed a block at a time, and
the self-supervised task and the pseudo-kinds read only each epoch's draws, so the peak stays
near PyTorch's own footprint whatever the pile's size.  Nothing is asserted.  Files go under
the system temp dir (``--tmpdir`` to move it; a pile of 100,000 needs ~4 GB: the store and the
labelled store each keep it) and are removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest_scale import write_npy  # the same random 64 x 64 uint8 cutouts (this folder is on the path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[50_000, 100_000])
    parser.add_argument("--tmpdir", type=Path, default=None)
    args = parser.parse_args()
    ahunt = [sys.executable, "-m", "ahunt"]
    print(f"{'pile':>9} {'file MB':>8} {'float32 MB':>10} {'peak MB':>8} {'CPU s':>7} {'wall s':>7}")
    for n in sorted(args.objects):
        folder = Path(tempfile.mkdtemp(prefix="ahunt-pile-", dir=args.tmpdir))
        try:
            pile = folder / "pile.npy"
            write_npy(pile, n)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run([*ahunt, "init", str(folder / "hunt"), "--unlabelled", str(pile), "--image-size", "64"],
                                  capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                sys.exit(f"ahunt init failed on a pile of {n}:\n{done.stdout}{done.stderr}")
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            # ru_maxrss of the children is the largest of any one child so far: sizes run smallest first
            print(f"{n:>9,} {pile.stat().st_size / 2**20:>8,.0f} {n * 64 * 64 * 4 / 2**20:>10,.0f} "
                  f"{after.ru_maxrss / 1024:>8,.0f} {cpu:>7.0f} {wall:>7.0f}", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
