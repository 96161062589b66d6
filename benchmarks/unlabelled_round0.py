"""Which self-supervised round 0 gives the better first nights of a hunt started without labels?

    python benchmarks/unlabelled_round0.py configs/experiment-sim.toml configs/mnist5k.toml \\
        configs/rare-anomaly.toml --nights 4 --trials 3

For each scenario the round-0 images are given without their labels (``[survey] unlabelled =
true``: one known class, ``normal``), and AHUNT hunts the first ``--nights`` nights once per
self-supervised objective of ``[train] self_supervised`` (ahunt/learn/pretrain.py), on the same
streams and seeds.  It prints, per scenario and objective, mean ± std over the trials of the
interesting anomalies the questions found, the night of the first find, the interesting
classes' MCC averaged over the nights (held out too) and the CPU seconds of a trial.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from ahunt.config import SELF_SUPERVISED, load_config
from ahunt.evaluate.experiment import format_mean_std, hunt_summary, run_experiment


def interesting_mean(summary: dict, prefix: str, classes: list[str]) -> tuple[float, float, int]:
    """Mean over the interesting classes of one per-class metric (each already mean, std and n
    over trials); n is the fewest trials behind any of them."""
    values = [summary[f"{prefix}:{c}"] for c in classes if f"{prefix}:{c}" in summary and summary[f"{prefix}:{c}"][2]]
    if not values:
        return float("nan"), float("nan"), 0
    n = min(v[2] for v in values)
    std = float(np.mean([v[1] for v in values])) if n > 1 else float("nan")
    return float(np.mean([v[0] for v in values])), std, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--nights", type=int, default=4)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--objectives", default=",".join(SELF_SUPERVISED))
    parser.add_argument("--pseudo-kinds", type=int, default=None,
                        help="[train] pseudo_kinds for every run (default: the config's; 0: the task alone)")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (resumable); default: a temp folder")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="unlabelled-round0-"))
    print(f"first {args.nights} nights, mean ± std over {args.trials} trials; MCC: interesting classes, averaged")
    print(f"{'scenario':<20} {'objective':<12} {'found':>11} {'first find':>11} {'MCC mean':>12} "
          f"{'held-out':>18} {'CPU s':>9}")
    for path in args.configs:
        base = load_config(path)
        interesting = [c for c in dict.fromkeys([*base.survey.nightly, *base.survey.late])
                       if c not in base.survey.initial and c not in base.experiment.uninteresting]
        for objective in args.objectives.split(","):
            cfg = dataclasses.replace(
                base,
                survey=dataclasses.replace(base.survey, unlabelled=True, nights=args.nights),
                train=dataclasses.replace(base.train, self_supervised=objective, pseudo_kinds=(
                    base.train.pseudo_kinds if args.pseudo_kinds is None else args.pseudo_kinds)),
            ).validate()
            rows = run_experiment(cfg, out / f"{path.stem}-{objective}", trials=args.trials, methods=["ahunt"], jobs=1)
            s = hunt_summary(rows)["ahunt"]
            found, first, cpu = s["interesting_found_total"], s["first_find_night"], s["cpu_seconds"]
            mcc = interesting_mean(s, "mean_mcc", interesting)
            held = interesting_mean(s, "mean_mcc_heldout", interesting)
            t = args.trials
            print(f"{path.stem:<20} {objective:<12} {format_mean_std(*found, 1, t):>11} {format_mean_std(*first, 1, t):>11} "
                  f"{format_mean_std(*mcc, 2, t):>12} {format_mean_std(*held, 2, t):>18} {cpu[0]:9.0f}", flush=True)


if __name__ == "__main__":
    main()
