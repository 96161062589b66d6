"""The pile of a hunt started without labels, and what each retrain learns as ``normal``.

A hunt started without labels learns its whole round 0, the pile, as ``normal``.  A real pile
holds some anomalies, and every retrain then teaches the network that they are ordinary, against
the astronomer's answers: with 5 % mergers in the pile, the simulated survey's hunts found a
quarter to two fifths fewer (docs/benchmarks.md, "A pile that holds anomalies").

Once the answers hold objects of a class of interest, the network's own latent space shows which
pile objects look like them: a pile object whose nearest answered object is of a class of
interest, rather than a normal or a boring answer, is left out of that night's ``normal`` set
(``[train] pile_lookalikes = "leave-out"``), up to a tenth of the pile.  It is not labelled as the
class: nobody has said what it is.  The pseudo-kinds task still sees it, and the next night judges
it afresh.

On one trial of the simulated survey (32 px) with 24 mergers hidden in the pile, the rule left
out 4 to 31 pile objects a night, 3 to 15 of them mergers; on a clean pile of 480 it left out 0
to 9 ordinary galaxies.  Nearness to the answered mergers alone (a radius), or to any answered
anomaly (boring artefacts included), left out far more ordinary galaxies of a clean pile.  Over
12 trials it won back few finds, inside the noise (docs/benchmarks.md, "A pile that holds
anomalies"), so it is off by default.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["MAX_SHARE", "lookalikes"]

BLOCK = 4096  # pile objects per block of the distance search
# A pile is drawn from ordinary nights, where anomalies are a few per cent at most.  With only a
# few answers, their nearest-answer regions are coarse, and one answered merger can claim most of
# a pile (three quarters of a tiny test's pile, under a barely trained network): no night leaves
# out more than this share, the pile objects nearest an answer of interest first.
MAX_SHARE = 0.1


def lookalikes(pile: np.ndarray, answered: np.ndarray, interesting: Sequence[bool], *,
               max_share: float = MAX_SHARE) -> np.ndarray:
    """Which rows of ``pile`` (N, D latents) have, as their nearest row of ``answered`` (A, D
    latents of answered objects), one of a class of interest (``interesting``, A flags); at
    most ``max_share`` of the pile, those nearest to it relative to the other answers.  None
    of them while the answers lack either side: with no answered object of a class of
    interest nothing looks like one, and with no other answer there is nothing to weigh it
    against."""
    flags = np.asarray(interesting, dtype=bool)
    out = np.zeros(len(pile), dtype=bool)
    if not flags.any() or flags.all():
        return out
    pile = np.asarray(pile, dtype=np.float32)
    ours, others = (np.asarray(answered, dtype=np.float32)[f] for f in (flags, ~flags))
    ratio = np.empty(len(pile), dtype=np.float64)  # < 1: nearer an answer of interest
    for start in range(0, len(pile), BLOCK):
        z = pile[start:start + BLOCK]
        ratio[start:start + BLOCK] = np.sqrt(_nearest_sq(z, ours) / np.maximum(_nearest_sq(z, others), 1e-12))
    suspects = np.flatnonzero(ratio < 1)
    most = int(max_share * len(pile))
    if len(suspects) > most:
        suspects = suspects[np.argsort(ratio[suspects], kind="stable")[:most]]
    out[suspects] = True
    return out


def _nearest_sq(z: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of each row of ``z`` to its nearest row of ``reference``."""
    d2 = (z * z).sum(1)[:, None] - 2 * z @ reference.T + (reference * reference).sum(1)[None, :]
    return np.maximum(d2.min(1), 0.0)
