"""`ahunt experiment`: every method, K trials, one tidy CSV, a summary table and plots."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
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
    unlabelled: bool = typer.Option(False, "--unlabelled", help="Start every method without labels: round 0 is one class, 'normal' (method ahunt-labelled keeps them)."),
) -> None:
    """Compare AHUNT with the baselines on the same stream, seeds and question budget.

    Writes results.csv (trial, method, round, metric, value), summary.csv (per method, mean and
    std over trials of: anomalies found over the hunt, the night of the first find, MCC averaged
    over nights, final and held-out MCC, CPU seconds) and plots per round.  Finished trials are
    not rerun.

    Example: ahunt experiment configs/experiment-sim.toml --trials 3
    """
    from ahunt.evaluate.experiment import hunt_summary, run_experiment
    from ahunt.outputs.plots import plot_experiment

    config = load_config(config_path)
    if unlabelled:
        config = dataclasses.replace(config, survey=dataclasses.replace(config.survey, unlabelled=True)).validate()
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
    summary = hunt_summary(rows)
    anomaly_classes = sorted({m.split(":", 1)[1] for by in summary.values() for m in by if m.startswith("final_mcc:")})
    interesting = [c for c in anomaly_classes if c not in config.experiment.uninteresting]
    # the MCC columns follow the anomaly class the user weights most
    weights = {c: max([config.hunt.interest.get(c, 0.0), *(w.get(c, 0.0) for w in config.hunt.interest_schedule.values())])
               for c in interesting}
    focus = max(interesting, key=lambda c: weights[c]) if interesting else None
    n_trials = max(r["trial"] for r in rows) + 1
    n_nights = max(r["round"] for r in rows)
    start = " (started without labels)" if config.survey.unlabelled else ""
    table = Table(title=f"{escape(config_path.name)}{start}: {n_nights} nights, mean ± std over {n_trials} trials; "
                        f"MCC for {escape(str(focus))}", title_justify="left", title_style="bold", show_edge=False)
    columns = ["method", "found", "first find", "MCC, mean", "MCC, final", "held-out MCC", "CPU s"]
    for k, name in enumerate(columns):
        table.add_column(escape(name), justify="left" if k == 0 else "right", no_wrap=True)
    with open(out_dir / "summary.csv", "w", encoding="utf-8") as fh:
        fh.write("method,metric,mean,std,trials\n")
        for method, by in summary.items():
            for metric, (mean, std, n) in by.items():
                fh.write(f"{method},{metric},{mean:.4f},{std:.4f},{n}\n")

    def cell(by: dict, metric: str, digits: int = 2) -> str:
        mean, std, _ = by.get(metric, (float("nan"), float("nan"), 0))
        return f"{mean:.{digits}f} ± {std:.{digits}f}"

    for method, by in summary.items():
        table.add_row(escape(method), cell(by, "interesting_found_total", 1), cell(by, "first_find_night", 1),
                      cell(by, f"mean_mcc:{focus}"), cell(by, f"final_mcc:{focus}"),
                      cell(by, f"mean_mcc_heldout:{focus}"), cell(by, "cpu_seconds", 0))
    # Not a terminal (a file, a pipe): wide enough for every column rather than 80 and cut cells.
    (out if out.is_terminal else Console(width=max(out.width, 140))).print(table)
    out.print(f"found: questions answered with an interesting anomaly class ({escape(', '.join(interesting))}), "
              f"over all nights; first find: the night of the first (never = {n_nights + 1}); held-out: on each "
              "night's objects that were never asked, averaged over the nights where some of the class was left; "
              "CPU s: CPU seconds of one trial, evaluation left out.",
              soft_wrap=True)
    for c in anomaly_classes:
        for kind in ("mcc", "true_candidates"):
            plot_experiment(rows, f"{kind}:{c}", out_dir / f"{kind}-{c}.png", title=f"{config_path.stem}: {kind.replace('_', ' ')} for {c}")
    out.print(f"Results in [bold]{escape(str(out_dir))}[/]: results.csv, summary.csv and one plot per metric.", soft_wrap=True)
