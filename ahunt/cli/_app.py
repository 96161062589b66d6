"""Shared pieces of the command line: the Typer app, consoles, error handling, progress bars."""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ahunt.config import Config
from ahunt.errors import AhuntError, AhuntWarning, ConfigError

app = typer.Typer(
    help="Hunt for interesting anomalies in survey images with active learning (AHUNT).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # re-flows docstring paragraphs to the terminal width
    pretty_exceptions_show_locals=False,  # locals can be whole image arrays
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from ahunt import __version__

        out.print(f"ahunt {__version__}")
        raise typer.Exit()


_plain_showwarning = warnings.showwarning
_shown: set[str] = set()  # our warnings already printed by this command


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings as one line on stderr, like errors, each once per command (a night of
    many files warns about each file; readers that silence astropy's warnings reset Python's own
    once-per-place memory); everyone else's unchanged."""
    if issubclass(category, AhuntWarning):
        text = str(message)
        if text in _shown:
            return
        _shown.add(text)
        err.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)
    else:
        _plain_showwarning(message, category, filename, lineno, file, line)


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """Hunt for interesting anomalies in survey images with active learning (AHUNT).

    Start with `ahunt demo`, which needs no data: it hunts through a simulated galaxy survey.
    """
    _shown.clear()
    warnings.showwarning = _show_warning


def handle_errors(func):
    """Turn library errors into one clear line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except AhuntError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # paths must stay whole
            raise typer.Exit(2) from None
        except (OSError, sqlite3.Error, RuntimeError) as exc:
            # A full or read-only disk reached from a path the library does not wrap (a figure, a
            # cache): one line that says so, not a traceback.  Anything else is a bug: re-raised.
            from ahunt.store.atomic import disk_problem

            problem = disk_problem(exc)
            if problem is None:
                raise
            where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
            err.print(f"[bold red]error:[/] cannot write{escape(where)}: {escape(problem)}; files already "
                      "complete are kept", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            # Every write is atomic (answers, rounds, checkpoints), so an interrupt leaves the last
            # complete state: say so instead of a traceback.
            err.print("\n[yellow]Interrupted.[/] Answers already given are saved; a retrain or ingest that "
                      "was under way left the previous state as it was.", soft_wrap=True)
            raise typer.Exit(130) from None

    return wrapper


@contextmanager
def progress_bars() -> Iterator:
    """A ``track(iterable, description, total)`` hook that draws transient bars on stderr; when
    stderr is not a terminal (a log file, a pipe) it draws nothing, not even a blank line."""
    if not err.is_terminal:
        yield lambda iterable, description="", total=None: iterable
        return
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




def waiting_line(weights, live_names) -> str | None:
    """One line naming the interest weights that wait for a class not found yet (with a
    "did you mean" where the name is close to a class), or None when every weight has its class."""
    from ahunt.store.names import waiting_weights

    waiting = waiting_weights([k for k, w in weights.items() if w > 0], live_names)
    if not waiting:
        return None
    parts = [repr(name) + (f" (did you mean {close!r}?)" if close else "") for name, close in waiting]
    return ("Interest weights waiting for a class not found yet (they get no questions until an answer "
            "creates it): " + ", ".join(parts) + ".")


# Commands that score whole rounds can send the work to a Dask cluster for this run only.
DaskOption = Annotated[Optional[str], typer.Option(
    "--dask-scheduler", metavar="ADDRESS",
    help="Score on this dask.distributed scheduler (e.g. tcp://10.0.0.5:8786) instead of here; "
         "overrides [score] dask_scheduler. Needs pip install 'ahunt[dask]' and the workspace on a "
         "file system the workers can read.")]


def open_workspace(path: Path, dask_scheduler: Optional[str] = None):
    """Open a workspace; ``--dask-scheduler`` changes its config in memory, not on disk."""
    from ahunt.store.workspace import Workspace

    ws = Workspace.open(path)
    if dask_scheduler is not None:
        score = dataclasses.replace(ws.config.score, dask_scheduler=dask_scheduler)
        try:
            ws.config = dataclasses.replace(ws.config, score=score).validate()
        except ConfigError:  # the workspace's config was valid: only the address can be wrong
            raise AhuntError(f"--dask-scheduler {dask_scheduler!r} is not a Dask scheduler address; "
                             "give e.g. tcp://10.0.0.5:8786") from None
    return ws
