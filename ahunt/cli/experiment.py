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


def _cell(by: dict, metric: str, digits: int, trials: int) -> str:
    """mean ± sample std; the std left out for one value, and (n=…) where fewer trials had one."""
    from ahunt.evaluate.experiment import format_mean_std

    mean, std, n = by.get(metric, (float("nan"), float("nan"), 0))
    return format_mean_std(mean, std, n, digits, trials)


def experiment_tables(summary: dict, *, name: str, nights: int, trials: int, focus: str | None,
                      pool: int) -> list[Table]:
    """The summary as the tables `ahunt experiment` prints: the questions, the nights' rankings
    and, with a catalogue pool, the catalogue."""
    from ahunt.methods.baselines import METHOD_SPECS

    def table(title: str, columns: list[str]) -> Table:
        t = Table(title=title, title_justify="left", title_style="bold", show_edge=False)
        for k, column in enumerate(columns):
            t.add_column(escape(column), justify="left" if k == 0 else "right", no_wrap=True)
        return t

    head = f"{name}: {nights} nights, mean ± std over {trials} trials"
    questions = table(f"{head}; the questions", ["method", "found", "of ideal", "first find", "CPU s"])
    ranking = table(f"{head}; each night's ranking: MCC for {escape(str(focus))}, and for any interesting class",
                    ["method", "MCC, mean", "MCC, final", "held-out MCC", "any: MCC, mean", "any: held-out MCC"])
    catalogue = table(f"{head}; the catalogue: the pool nobody is asked about, ranked after the last night, "
                      "for any interesting class", ["method", "precision at k", "recall, top 1 %", "AP", "AUROC",
                                               "AP, mean of nights"])
    for method, by in summary.items():
        def c(metric: str, digits: int = 2) -> str:
            return _cell(by, metric, digits, trials)

        mark = " †" if method in METHOD_SPECS and METHOD_SPECS[method].single_score else ""
        questions.add_row(escape(method), c("interesting_found_total", 1), c("found_share"),
                          c("first_find_night", 1), c("cpu_seconds", 0))
        ranking.add_row(escape(method) + mark, c(f"mean_mcc:{focus}"), c(f"final_mcc:{focus}"),
                        c(f"mean_mcc_heldout:{focus}"), c("mean_mcc:any"), c("mean_mcc_heldout:any"))
        catalogue.add_row(escape(method), c("final_catalogue_precision_at_k:any"),
                          c("final_catalogue_recall_top1pct:any"), c("final_catalogue_ap:any"),
                          c("final_catalogue_auroc:any"), c("mean_catalogue_ap:any"))
    return [questions, ranking] + ([catalogue] if pool else [])


@app.command()
@handle_errors
def experiment(
    config_path: Path = typer.Argument(..., help="TOML config: the data stream ([survey]), methods and trials ([experiment])."),
    trials: Optional[int] = typer.Option(None, "--trials", "-k", min=1, help="Trials (seeds) per method; default from the config."),
    methods: Optional[str] = typer.Option(None, help=f"Comma-separated methods; default from the config. Known: {', '.join(METHODS)}."),
    jobs: Optional[int] = typer.Option(None, min=1, help="Parallel worker processes (capped at the CPU count)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder; default runs/experiment-NAME (with --unlabelled, runs/experiment-NAME-unlabelled), NAME the config file's name without .toml. Rerunning resumes it; under another config it is refused."),
    cache_dir: Optional[Path] = typer.Option(None, help="Where simulated surveys are cached; default ~/.cache/ahunt."),
    keep_workspaces: bool = typer.Option(False, help="Keep each task's workspace (large) instead of deleting it."),
    unlabelled: bool = typer.Option(False, "--unlabelled", help="Start every method without labels: round 0 is one class, 'normal' (method ahunt-labelled keeps them)."),
) -> None:
    """Compare AHUNT with the baselines on the same stream, seeds and question budget.

    Writes results.csv (trial, method, round, metric, value), summary.csv (per method, mean,
    sample std and n over trials of: anomalies found over the hunt and as a share of the ideal,
    the night of the first find, MCC averaged over nights, final and held-out MCC per class and
    for any interesting class, the catalogue pool's precision at k, recall in the top 1 %, AP
    and AUROC, CPU seconds) and plots per round.  Finished trials are not rerun.

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
    # Started without labels is another experiment: its own folder, or it would resume the labelled one's tasks.
    out_dir = out_dir or Path("runs") / (f"experiment-{config_path.stem}" + ("-unlabelled" if config.survey.unlabelled else ""))

    def done(method: str, trial: int, skipped: bool) -> None:
        err.print(f"{'already done' if skipped else 'finished'}: {escape(method)}, trial {trial}")

    with err.status("running the experiment (one line per finished task)…"):
        rows = run_experiment(config, out_dir, trials=trials, methods=chosen, jobs=jobs, cache_dir=cache_dir,
                              keep_workspaces=keep_workspaces, on_done=done)
    summary = hunt_summary(rows)
    anomaly_classes = sorted({m.split(":", 1)[1] for by in summary.values() for m in by if m.startswith("final_mcc:")})
    interesting = [c for c in anomaly_classes if c not in config.experiment.uninteresting and c != "any"]
    # the MCC columns follow the anomaly class the user weights most
    weights = {c: max([config.hunt.interest.get(c, 0.0), *(w.get(c, 0.0) for w in config.hunt.interest_schedule.values())])
               for c in interesting}
    focus = max(interesting, key=lambda c: weights[c]) if interesting else None
    n_trials = max(r["trial"] for r in rows) + 1
    n_nights = max(r["round"] for r in rows)
    start = " (started without labels)" if config.survey.unlabelled else ""
    with open(out_dir / "summary.csv", "w", encoding="utf-8") as fh:
        fh.write("method,metric,mean,std,trials\n")
        for method, by in summary.items():
            for metric, (mean, std, n) in by.items():
                fh.write(f"{method},{metric},{mean:.4f},{std:.4f},{n}\n")
    wide = out if out.is_terminal else Console(width=max(out.width, 140))  # a file: no cut cells
    for table in experiment_tables(summary, name=f"{escape(config_path.name)}{start}", nights=n_nights,
                                   trials=n_trials, focus=focus, pool=config.experiment.catalogue_pool):
        wide.print(table)
        wide.print()
    from ahunt.methods.baselines import METHOD_SPECS

    single = [m for m in summary if METHOD_SPECS[m].single_score]
    out.print(f"found: questions answered with an interesting anomaly class ({escape(', '.join(interesting))}), "
              f"over all nights; of ideal: found / what a hunt whose every question finds one would find; "
              f"first find: the night of the first (never = {n_nights + 1}); MCC: the top-k rule on each night; "
              "held-out: on each night's objects that were never asked, averaged over the nights where some were "
              "left; any: every interesting class as one, ranked by each method's own anomaly score"
              + (f"; † a single anomaly score ({escape(', '.join(single))}): its per-class MCC ranks that one "
                 "score for every class" if single else "")
              + "; catalogue: the pool, never asked, ranked after the last night; CPU s: CPU seconds of one "
              f"trial, evaluation left out. Mean ± sample std over {n_trials} trials; (n=…) where fewer had a value.",
              soft_wrap=True)
    for c in anomaly_classes:
        for kind in ("mcc", "true_candidates"):
            plot_experiment(rows, f"{kind}:{c}", out_dir / f"{kind}-{c}.png", title=f"{config_path.stem}: {kind.replace('_', ' ')} for {c}")
    out.print(f"Results in [bold]{escape(str(out_dir))}[/]: results.csv, summary.csv and one plot per metric.", soft_wrap=True)
