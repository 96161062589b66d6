"""What the reserve's novelty costs a night, by rule and night size; prints numbers, asserts nothing.

    OMP_NUM_THREADS=1 python benchmarks/novelty_cost.py                      # N = 10k, 30k, 100k
    OMP_NUM_THREADS=1 python benchmarks/novelty_cost.py --sizes 10000        # a quick look

A ``Reference`` as a long hunt has it (``ahunt/hunt/novelty.py``): three known classes of
``MAX_PER_CLASS`` objects each and 20 answered artefacts, in a 64-unit latent space and in
64 x 64 single-band cutouts (random: the cost does not depend on what the pixels show).  For
each night size N it times ``Reference.scores`` on N such objects, in memory, under each rule:

  nearest      ``[hunt] novelty_crowd = 0`` (the default): the nearest boring object
  crowd        ``[hunt] novelty_crowd = 0.01``: the k-th nearest among the known classes'
               objects and the night itself (a seeded draw of ``CROWD`` objects above that size),
               k 1 % of them, with the artefacts' nearest as a veto

CPU seconds (``time.process_time``, one thread, the better of two runs) and objects per CPU
second; the scoring pass of the network itself is not included (``benchmarks/score_scale.py``
measures it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ahunt.hunt.novelty import CROWD, MAX_PER_CLASS, Reference


def _cpu(reference: Reference, z: np.ndarray, night: np.ndarray) -> float:
    start = time.process_time()
    reference.scores(z, night)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n_ref = 3 * MAX_PER_CLASS + 20
    labels = np.r_[np.repeat([0, 1, 2], MAX_PER_CLASS), np.full(20, 3)]
    latents = rng.normal(size=(n_ref, 64)).astype(np.float32)
    images = rng.random((n_ref, 1, 64, 64), dtype=np.float32)
    rules = {"nearest": Reference(latents, images, labels, [0, 1, 2, 3]),
             "crowd": Reference(latents, images, labels, [0, 1, 2, 3], crowd=0.01, known=[0, 1, 2])}
    for reference in rules.values():  # warm up: the first call pays for loading PyTorch's kernels
        reference.scores(latents[:300], images[:300])
    print(f"reference: {n_ref} objects (3 known classes of {MAX_PER_CLASS}, 20 artefacts); crowd at most {CROWD}")
    for n in args.sizes:
        z = rng.normal(size=(n, 64)).astype(np.float32)
        night = rng.random((n, 1, 64, 64), dtype=np.float32)
        for name, reference in rules.items():
            cpu = min(_cpu(reference, z, night) for _ in range(2))  # the better of two: a shared machine
            print(f"N = {n:>7,}  {name:10s}  {cpu:7.1f} CPU s  {n / cpu:9,.0f} objects per CPU s")


if __name__ == "__main__":
    main()
