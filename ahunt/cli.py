"""The ``ahunt`` command line: parse options, call one library function, render with Rich.

Library errors (``AhuntError``) become a red message and exit code 2 here, in one place.
Progress bars go to stderr so stdout stays clean for results.
"""

from __future__ import annotations

import dataclasses
import functools
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ahunt.config import STRATEGIES, Config, load_config
from ahunt.errors import AhuntError

app = typer.Typer(
    help="Hunt for interesting anomalies in survey images with active learning (AHUNT).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from ahunt import __version__

        out.print(f"ahunt {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Hunt for interesting anomalies in survey images with active learning (AHUNT).

    Start with `ahunt demo`, which needs no data: it hunts through a simulated galaxy survey.
    """


def handle_errors(func):
    """Turn library errors into one clear line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AhuntError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def progress_bars() -> Iterator:
    """A ``track(iterable, description, total)`` hook that draws transient bars on stderr."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:

        def track(iterable, description: str = "", total: int | None = None):
            task = progress.add_task(description, total=total)
            try:
                for item in iterable:
                    yield item
                    progress.advance(task)
            finally:
                progress.remove_task(task)

        yield track


def _with_overrides(config: Config, **changes) -> Config:
    hunt = {k: v for k, v in changes.items() if k in ("strategy",) and v is not None}
    top = {k: v for k, v in changes.items() if k in ("seed", "device") and v is not None}
    if hunt:
        config = dataclasses.replace(config, hunt=dataclasses.replace(config.hunt, **hunt))
    return dataclasses.replace(config, **top).validate()


def _round_table(report) -> Table:
    table = Table(title=f"night {report.round}", title_justify="left", show_edge=False)
    table.add_column("questions (class of interest)")
    table.add_column("anomalies found", justify="right")
    for col in ("class", "in round", "true candidates", "MCC", "AUC"):
        table.add_column(col, justify="right" if col != "class" else "left")
    asked = ", ".join(f"{k} {v}" for k, v in report.questions.items())
    for i, c in enumerate(report.classes):
        where = "" if c.own_class else " (reserve)"
        table.add_row(
            asked if i == 0 else "", str(report.anomalies_found) if i == 0 else "",
            c.name + where, str(c.n_true), str(c.true_candidates), f"{c.mcc:.2f}", f"{c.auc:.2f}",
        )
    return table


@app.command()
@handle_errors
def demo(
    config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML config; default: the built-in demo (configs/demo.toml)."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder; default: runs/demo-<time>."),
    strategy: Optional[str] = typer.Option(None, help=f"Question strategy: {', '.join(STRATEGIES)}."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the config)."),
    device: Optional[str] = typer.Option(None, help="auto (GPU if present), cpu or cuda."),
    cache_dir: Optional[Path] = typer.Option(None, help="Where simulated surveys are cached; default ~/.cache/ahunt."),
) -> None:
    """Run a whole hunt on the embedded simulated survey, answered by the ground truth.

    Prints one table per night and writes metrics.csv, mcc.png and the workspace to the
    output folder.

    Example: ahunt demo --strategy uncertainty --out runs/demo-uncertainty
    """
    from ahunt.demo import run_demo

    config = load_config(config_path) if config_path else Config()
    config = _with_overrides(config, strategy=strategy, seed=seed, device=device)
    out_dir = out_dir or Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    if out_dir.exists() and any(out_dir.iterdir()):
        raise AhuntError(f"{out_dir}: output folder exists and is not empty; choose another with --out")
    started = datetime.now()
    with progress_bars() as track:
        reports = run_demo(config, out_dir, cache_dir=cache_dir, track=track, on_round=lambda r: out.print(_round_table(r)))
    seconds = (datetime.now() - started).total_seconds()
    final = reports[-1]
    summary = ", ".join(f"{c.name} MCC {c.mcc:.2f}" for c in final.classes)
    found = sum(r.anomalies_found for r in reports)
    out.print(f"\n[bold]Final night {final.round}[/]: {summary}; {found} anomalies found in {len(reports)} nights "
              f"with strategy '{config.hunt.strategy}' ({seconds:.0f} s).")
    out.print(f"Results written to [bold]{out_dir}[/] (metrics.csv, mcc.png, workspace/).")


def main() -> None:  # pragma: no cover
    app()
