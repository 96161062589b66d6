"""Data in and out: `ahunt export`, and the skipped-files table that `init` and `ingest` print."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import typer
from rich.markup import escape
from rich.table import Table

from ahunt.cli._app import DaskOption, app, handle_errors, open_workspace, out, progress_bars
from ahunt.errors import AhuntError


def _short(path: str, base: Path | None) -> str:
    if base is None:
        return path
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path


def skipped_table(skipped: Sequence[tuple[str, str]], *, base: Path | None = None, limit: int = 50) -> Table:
    """The files an input reader skipped, and why (at most ``limit`` rows, then a count).

    Paths under ``base`` (the folder read, or a catalogue's folder) are shown relative to it.
    """
    where = f" (paths relative to {escape(str(base))})" if base is not None else ""
    table = Table(title=f"skipped {len(skipped)}{where}", title_justify="left", title_style="bold yellow",
                  show_edge=False)
    table.add_column("file", overflow="fold", ratio=2)
    table.add_column("reason", overflow="fold", ratio=3)
    for f, reason in skipped[:limit]:
        table.add_row(escape(str(_short(f, base))), escape(reason))
    if len(skipped) > limit:
        table.add_row(f"... and {len(skipped) - limit} more", "")
    return table


def print_skipped(skipped: Sequence[tuple[str, str]], source: Path | None = None) -> None:
    """Print the skipped table when anything was skipped; ``source`` is the input read."""
    if skipped:
        base = None if source is None else (Path(source) if Path(source).is_dir() else Path(source).parent)
        out.print(skipped_table(skipped, base=base))


@app.command()
@handle_errors
def export(
    workspace: Path = typer.Argument(..., help="The hunt's folder."),
    output: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: WORKSPACE/candidates_roundNNNN.ecsv)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="ecsv, fits, votable or csv (default: from the --out extension, else ecsv)."),
    top: Optional[int] = typer.Option(None, "--top", min=1, help="Keep the top K objects of each class of interest."),
    round_: Optional[int] = typer.Option(None, "--round", "-r", min=0, help="Export this round (default: the newest)."),
    all_rounds: bool = typer.Option(False, "--all-rounds", help="Export every round, round 0 included."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the output file if it exists."),
    contact_sheet: Optional[Path] = typer.Option(None, "--contact-sheet", help="Also write a PNG of the top candidates' thumbnails with ids, for sharing."),
    dask_scheduler: DaskOption = None,
) -> None:
    """Write a candidate catalogue of a round, scored by the current model.

    Columns: id, ra, dec (deg), round, `p_CLASS` (one per class), predicted, label, `novelty` (the reserve's score),
    `rank_CLASS` (one per class of interest), rank, ranked_by.
    Each class of interest (interest weight above 0) is ranked by the score its questions use:
    the reserve by `novelty`, another class by its `p_CLASS`.

    Example: ahunt export my-hunt --top 20 --out mergers.fits --contact-sheet mergers.png
    """
    from ahunt.outputs.export import export_candidates

    if round_ is not None and all_rounds:
        raise AhuntError("give at most one of --round N and --all-rounds")
    ws = open_workspace(workspace, dask_scheduler)
    rounds = list(range(ws.store.n_rounds())) if all_rounds else ([round_] if round_ is not None else None)
    with progress_bars() as track:
        path, table = export_candidates(ws, output, fmt=fmt, rounds=rounds, top=top, overwrite=overwrite, track=track)
    rounds_text = table.meta["ROUNDS"]
    out.print(f"Wrote {len(table)} objects (round{'s' if ',' in rounds_text else ''} {rounds_text}, "
              f"model of round {table.meta['MODELRND']}) to [bold]{escape(str(path))}[/].")
    if "rank" in table.colnames and len(table):
        preview = Table(title="best candidates", title_justify="left", title_style="bold", show_edge=False)
        for col in ("rank", "ranked_by", "id", "round", "predicted", "label"):
            preview.add_column(col)
        preview.add_column("score", justify="right")
        from ahunt.outputs.export import score_column

        # the score each rank comes from (RANKBY): the reserve's novelty, another class's p_<class>
        by_class = dict(item.split("=", 1) for item in table.meta.get("SCOREBY", "").split(", ") if "=" in item)
        for row in table[:10]:
            col = by_class.get(str(row["ranked_by"]), score_column(str(row["ranked_by"])))
            p = f"{float(row[col]):.3f}" if col in table.colnames else "-"
            preview.add_row(*(escape(str(row[c])) for c in ("rank", "ranked_by", "id", "round", "predicted")),
                            escape(str(row["label"])) or "-", p)
        out.print(preview)
    if contact_sheet is not None:
        from ahunt.outputs.contact_sheet import write_contact_sheet

        if contact_sheet.exists() and not overwrite:
            raise AhuntError(f"{contact_sheet}: exists; add --overwrite to replace it")
        sheet_round = None if all_rounds else round_
        write_contact_sheet(ws, contact_sheet, round=sheet_round, top=min(top or 8, 12))
        out.print(f"Wrote the contact sheet [bold]{escape(str(contact_sheet))}[/].")
