"""`ahunt experiment`: every method, K trials, one tidy CSV, a summary table and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ahunt.cli._app import app, err, handle_errors, out
from ahunt.config import METHODS, load_config
from ahunt.errors import AhuntError


@app.command()
@handle_errors
def experiment(
    config_path: Path = typer.Argument(..., help="TOML config: the data stream ([survey]), methods and trials ([experiment])."),
    trials: Optional[int] = typer.Option(None, "--trials", "-k", min=1, help="Trials (seeds) per method; default from the config."),
    methods: Optional[str] = typer.Option(None, help=f"Comma-separated methods; default from the config. Known: {', '.join(METHODS)}."),
    jobs: Optional[int] = typer.Option(None, min=1, help="Parallel worker processes (capped at the CPU count)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder; default runs/experiment-<config name>. Rerunning resumes it."),
    cache_dir: Optional[Path] = typer.Option(None, help="Where simulated surveys are cached; default ~/.cache/ahunt."),
    keep_workspaces: bool = typer.Option(False, help="Keep each task's workspace (large) instead of deleting it."),
) -> None:
    """Compare AHUNT with the baselines on the same stream, seeds and question budget.

    Writes results.csv (trial, method, round, metric, value), summary.csv (final-round mean and
    std per method, AUC included) and plots of MCC and true candidates per round.  Finished
    trials are not rerun.

    Example: ahunt experiment configs/experiment-sim.toml --trials 3
    """
    from ahunt.experiment import run_experiment, summarise, totals
    from ahunt.plots import plot_experiment

    config = load_config(config_path)
    chosen = [m.strip() for m in methods.split(",")] if methods else None
    if chosen:
        bad = [m for m in chosen if m not in METHODS]
        if bad:
            raise AhuntError(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(METHODS)}")
    out_dir = out_dir or Path("runs") / f"experiment-{config_path.stem}"

    def done(method: str, trial: int, skipped: bool) -> None:
        err.print(f"{'already done' if skipped else 'finished'}: {escape(method)}, trial {trial}")

    with err.status("running the experiment (one line per finished task)…"):
        rows = run_experiment(config, out_dir, trials=trials, methods=chosen, jobs=jobs, cache_dir=cache_dir,
                              keep_workspaces=keep_workspaces, on_done=done)
    summary = summarise(rows)
    metrics = sorted({m for by in summary.values() for m in by})
    anomaly_classes = sorted({m.split(":", 1)[1] for m in metrics if ":" in m})
    # the anomaly class the user weights most is the one whose finds the table counts
    weights = {c: config.hunt.interest.get(c, 0.0) for c in anomaly_classes}
    focus = max(anomaly_classes, key=lambda c: weights[c]) if anomaly_classes else None
    found = totals(rows, f"true_candidates:{focus}")
    n_trials = max(r["trial"] for r in rows) + 1
    table = Table(title=f"{escape(config_path.name)}: final round, mean ± std over {n_trials} trials", title_justify="left",
                  title_style="bold", show_edge=False)
    table.add_column("method", no_wrap=True)
    for c in anomaly_classes:
        table.add_column(f"MCC {escape(c)}", justify="right", no_wrap=True)
    table.add_column(f"{escape(str(focus))} found", justify="right", no_wrap=True)
    with open(out_dir / "summary.csv", "w", encoding="utf-8") as fh:
        fh.write("method,metric,mean,std,trials\n")
        for method, by in summary.items():
            for metric, (mean, std, n) in by.items():
                fh.write(f"{method},{metric},{mean:.4f},{std:.4f},{n}\n")
    for method, by in summary.items():
        cells = []
        for c in anomaly_classes:
            mean, std, _ = by.get(f"mcc:{c}", (float("nan"), float("nan"), 0))
            cells.append(f"{mean:.2f} ± {std:.2f}")
        table.add_row(escape(method), *cells, f"{found[method][0]:.1f} ± {found[method][1]:.1f}")
    out.print(table)
    for c in anomaly_classes:
        for kind in ("mcc", "true_candidates"):
            plot_experiment(rows, f"{kind}:{c}", out_dir / f"{kind}-{c}.png", title=f"{config_path.stem}: {kind.replace('_', ' ')} for {c}")
    out.print(f"Results in [bold]{escape(str(out_dir))}[/]: results.csv, summary.csv and one plot per metric.", soft_wrap=True)
