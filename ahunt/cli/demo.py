"""`ahunt demo`: a whole simulated hunt answered by the ground truth."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ahunt.cli._app import _with_overrides, app, handle_errors, out, progress_bars
from ahunt.config import STRATEGIES, Config, load_config
from ahunt.errors import AhuntError


def _round_table(report) -> Table:
    asked = escape(", ".join(f"{k} {v}" for k, v in report.questions.items()))
    table = Table(
        title=f"night {report.round}: questions {asked}; anomalies found {report.anomalies_found}",
        title_justify="left", title_style="bold", show_edge=False, pad_edge=False,
    )
    for col in ("anomaly class", "in night", "asked for it", "true candidates", "MCC", "AUC"):
        table.add_column(col, justify="left" if col == "anomaly class" else "right")
    for c in report.classes:
        name = c.name if c.own_class else f"{c.name} (not found yet: reserve scored)"
        table.add_row(escape(name), str(c.n_true), str(c.questions), str(c.true_candidates), f"{c.mcc:.2f}", f"{c.auc:.2f}")
    return table


@app.command()
@handle_errors
def demo(
    config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML config; default: the built-in demo (configs/demo.toml)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder; default: runs/demo-TIME (the date and time it starts)."),
    strategy: Optional[str] = typer.Option(None, help=f"Question strategy: {', '.join(STRATEGIES)}."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the config)."),
    device: Optional[str] = typer.Option(None, help="auto (GPU if present), cpu or cuda."),
    cache_dir: Optional[Path] = typer.Option(None, help="Where simulated surveys are cached; default ~/.cache/ahunt."),
    unlabelled: bool = typer.Option(False, "--unlabelled", help="Start without labels: round 0's images are one class, 'normal', learnt self-supervised."),
) -> None:
    """Run a whole hunt on the embedded simulated survey, answered by the ground truth.

    Prints one table per night and writes metrics.csv, mcc.png and the workspace to the
    output folder.

    Example: ahunt demo --unlabelled --out runs/demo-unlabelled
    """
    from ahunt.evaluate.demo import run_demo, summarise_hunt

    config = load_config(config_path) if config_path else Config()
    config = _with_overrides(config, strategy=strategy, seed=seed, device=device)
    if unlabelled:
        config = dataclasses.replace(config, survey=dataclasses.replace(config.survey, unlabelled=True)).validate()
    out_dir = out_dir or Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    if out_dir.exists() and any(out_dir.iterdir()):
        raise AhuntError(f"{out_dir}: output folder exists and is not empty; choose another with --out")
    started = datetime.now()
    with progress_bars() as track:
        reports = run_demo(config, out_dir, cache_dir=cache_dir, track=track, on_round=lambda r: out.print(_round_table(r)))
    seconds = (datetime.now() - started).total_seconds()
    start = ", started without labels" if config.survey.unlabelled else ""
    table = Table(title=f"AHUNT demo, strategy '{config.hunt.strategy}'{start}, {len(reports)} nights ({seconds:.0f} s)",
                  title_justify="left", title_style="bold", show_edge=False)
    for col in ("anomaly class", "final MCC", "MCC, last 5 nights (mean)", "found", "in survey"):
        table.add_column(col, justify="left" if col == "anomaly class" else "right")
    for row in summarise_hunt(reports):
        table.add_row(escape(row["class"]), f"{row['final_mcc']:.2f}", f"{row['mean_mcc_last_5']:.2f}", str(row["found"]),
                      str(row["in_survey"]))
    out.print()
    out.print(table)
    out.print(f"Results written to [bold]{escape(str(out_dir))}[/] (metrics.csv, mcc.png, workspace/).", soft_wrap=True)
