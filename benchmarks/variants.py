"""One method under variants of a config: what a setting is worth, on identical streams.

    python benchmarks/variants.py configs/survey-sim32.toml configs/experiment-sim.toml --trials 6 \\
        --variant "shipped" --variant "one view: score.views=1" --variant "6 epochs: train.epochs=6"

Each variant is ``NAME`` (the config as it is) or ``NAME: section.key=value, ...``.  Every
(config, variant) runs ``ahunt experiment`` for one method (``--method``, default ``ahunt``) with
the same trials, so the same seeds and survey draws: only the setting differs.  Results go to
``--out`` (default ``runs/variants``), one folder per config and variant; rerunning resumes.
The table has what a user feels (``docs/experiments.md``): interesting anomalies found and their
share of the ideal, the night of the first find, the catalogue pool after the last night
(precision at k, recall in the top 1 %, AP; AP averaged over the nights), the held-out MCC for any
interesting class, averaged over the nights, and CPU seconds per trial.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ahunt.config import config_from_dict, dump_config, load_config
from ahunt.evaluate.experiment import format_mean_std, hunt_summary, run_experiment

COLUMNS = [  # (header, summary key, digits)
    ("found", "interesting_found_total", 1),
    ("of ideal", "found_share", 2),
    ("first find", "first_find_night", 1),
    ("precision at k", "final_catalogue_precision_at_k:any", 2),
    ("recall, top 1 %", "final_catalogue_recall_top1pct:any", 2),
    ("AP", "final_catalogue_ap:any", 2),
    ("AP, mean", "mean_catalogue_ap:any", 2),
    ("held-out MCC", "mean_mcc_heldout:any", 2),
    ("CPU s", "cpu_seconds", 0),
]


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """``"name: a.b=1, c.d=x"`` -> ("name", {"a.b": 1, "c.d": "x"}); values are TOML."""
    name, _, settings = text.partition(":")
    changes: dict[str, object] = {}
    for item in filter(None, (s.strip() for s in settings.split(","))):
        key, eq, value = item.partition("=")
        if not eq or "." not in key:
            raise SystemExit(f"variant {text!r}: {item!r} is not section.key=value")
        try:
            changes[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            changes[key.strip()] = value.strip()  # a bare word: a string
    return name.strip(), changes


def variant_config(path: Path, changes: dict[str, object]):
    data = tomllib.loads(dump_config(load_config(path)))  # plain TOML values (lists, not tuples)
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        node = data
        for part in section.split("."):
            node = node.setdefault(part, {})
        node[name] = value
    return config_from_dict(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--variant", action="append", required=True, help="NAME or NAME: section.key=value, ...")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--method", default="ahunt")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("runs/variants"))
    parser.add_argument("--keep-workspaces", action="store_true",
                        help="keep each trial's workspace (large), e.g. for benchmarks/members_bias.py")
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variant]
    console = Console(width=200)  # the whole table, also when printed to a file
    for path in args.configs:
        table = Table(title=f"{path.name}: {args.method}, mean ± std over {args.trials} trials", title_justify="left")
        table.add_column("variant")
        for header, _, _ in COLUMNS:
            table.add_column(header, justify="right")
        for name, changes in variants:
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "shipped"
            rows = run_experiment(variant_config(path, changes), args.out / path.stem / slug, trials=args.trials,
                                  methods=[args.method], jobs=args.jobs, keep_workspaces=args.keep_workspaces)
            summary = hunt_summary(rows)[args.method]
            table.add_row(name, *(format_mean_std(*summary.get(key, (float("nan"),) * 2 + (0,)), digits, args.trials)
                                  for _, key, digits in COLUMNS))
        console.print(table)


if __name__ == "__main__":
    main()
