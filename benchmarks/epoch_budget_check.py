"""Did the epoch budget change what a hunt finds?  Before/after on the discovery suite.

    python benchmarks/epoch_budget_check.py                  # mnist5k and galaxy-close, 3 trials
    python benchmarks/epoch_budget_check.py configs/mnist5k.toml --trials 3 --out runs/epoch-budget

"After" is each config as it is (``[train] epoch_size`` samples per epoch, the same share per
class); "before" is a copy that differs only by ``epoch_size = 0`` (the old rule: every class
up-sampled to the largest, the epoch grows with the hunt).  Both run through ``ahunt
experiment``'s library on the same streams and seeds, resumably, under ``--out``
(``after-<name>``, ``before-<name>``, the copies in ``epoch0/``).  Per method and metric it
prints mean ± std over the trials (n: how many trials define it, when fewer) and the
difference; "yes" when the difference is at most sqrt(std_before² + std_after²): inside the noise.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

from ahunt.config import load_config
from ahunt.evaluate.experiment import format_mean_std, hunt_summary, run_experiment

ROOT = Path(__file__).resolve().parent.parent
METRICS = [("found", "interesting_found_total", 1), ("first find", "first_find_night", 1),
           ("MCC, mean", "mean_mcc:{}", 2), ("MCC, final", "final_mcc:{}", 2),
           ("held-out MCC", "mean_mcc_heldout:{}", 2), ("CPU s", "cpu_seconds", 0)]


def epoch0_copy(path: Path, folder: Path) -> Path:
    """The config's text with its ``epoch_size`` line set to 0, nothing else changed."""
    text, n = re.subn(r"(?m)^epoch_size\s*=\s*\d+", "epoch_size = 0", path.read_text(encoding="utf-8"))
    if n != 1:
        sys.exit(f"{path}: expected one 'epoch_size = N' line under [train], found {n}")
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / path.name
    copy.write_text(text, encoding="utf-8")
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", type=Path,
                        default=[ROOT / "configs" / "mnist5k.toml", ROOT / "configs" / "galaxy-close.toml"])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--methods", default="ahunt,ahunt-reserve-probability")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes; default from the config")
    parser.add_argument("--out", type=Path, default=Path("runs/epoch-budget"))
    args = parser.parse_args()
    methods = args.methods.split(",")
    for path in args.configs:
        name = path.stem
        after_cfg = load_config(path)
        before_cfg = load_config(epoch0_copy(path, args.out / "epoch0"))
        summaries = {}
        for label, cfg in (("after", after_cfg), ("before", before_cfg)):
            rows = run_experiment(cfg, args.out / f"{label}-{name}", trials=args.trials, methods=methods, jobs=args.jobs,
                                  on_done=lambda m, t, skipped, label=label: print(
                                      f"  {name} {label}: {m}, trial {t} {'(already done)' if skipped else 'done'}",
                                      file=sys.stderr, flush=True))
            summaries[label] = hunt_summary(rows)
        interesting = [c for c in after_cfg.survey.nightly if c not in after_cfg.survey.initial
                       and c not in after_cfg.experiment.uninteresting]
        focus = max(interesting, key=lambda c: after_cfg.hunt.interest.get(c, 0.0))
        print(f"\n{name}: {after_cfg.survey.nights} nights, mean ± std over {args.trials} trials; MCC for {focus}; "
              f"before: epoch_size 0, after: epoch_size {after_cfg.train.epoch_size}")
        print(f"{'method':<26} {'metric':<13} {'before':>18} {'after':>18} {'after-before':>13}  inside noise")
        for method in methods:
            for title, metric, digits in METRICS:
                key = metric.format(focus)
                (mb, sb, nb), (ma, sa, na) = (summaries[s][method][key] for s in ("before", "after"))
                cells = [format_mean_std(m, s, n, digits, args.trials) for m, s, n in ((mb, sb, nb), (ma, sa, na))]
                diff = ma - mb
                if title == "CPU s":
                    noise = "-"
                elif min(nb, na) < 2:  # held out: defined only on trials that left some of the class unasked
                    noise = "too few trials"
                else:
                    noise = "yes" if abs(diff) <= math.hypot(sa, sb) + 1e-9 else "no"
                print(f"{method:<26} {title:<13} {cells[0]:>18} {cells[1]:>18} {diff:>+13.{digits}f}  {noise}")


if __name__ == "__main__":
    main()
