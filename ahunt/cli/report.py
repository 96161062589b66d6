"""Pictures of the hunt: `ahunt umap` and `ahunt report`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ahunt.cli._app import DaskOption, app, err, handle_errors, open_workspace, out
from ahunt.errors import AhuntError


@app.command()
@handle_errors
def umap(
    workspace: Path = typer.Argument(..., help="The hunt's folder."),
    round: Optional[int] = typer.Option(None, "--round", "-r", help="Round to map (default: the newest)."),
    all_rounds: bool = typer.Option(False, "--all-rounds", help="One panel per round, aligned (AlignedUMAP) so clusters keep their places."),
    out_path: Optional[Path] = typer.Option(None, "--out", "-o", help="Figure file: .png, .pdf or .svg (default: WORKSPACE/figures/umap_round_NNNN.png or umap_all_rounds.png)."),
    thumbnails: bool = typer.Option(False, "--thumbnails", help="Draw image thumbnails at the points (every point up to 200 points, else the asked ones)."),
    truth: bool = typer.Option(False, "--truth", help="Colour by true class (simulated data only)."),
    max_points: Optional[int] = typer.Option(None, "--max-points", help="Points per map, seeded subsample (default 1500; 800 per round with --all-rounds)."),
    dask_scheduler: DaskOption = None,
) -> None:
    """Map the model's latent space in 2-D with UMAP: classes, the round's objects, questions, anomalies.

    The latent space of round N is the model trained at the end of round N (the current model while N is not trained yet). Maps are cached in WORKSPACE/cache and recomputed only when the model changes; the first map of a run compiles UMAP with numba (tens of seconds).

    Example: ahunt umap my-hunt --round 3 --out round3.pdf
    """
    from ahunt.outputs.latent_plots import write_umap

    if all_rounds and round is not None:
        raise AhuntError("give either --round N or --all-rounds, not both")
    ws = open_workspace(workspace, dask_scheduler)
    if out_path is None:
        folder = workspace / "figures"
        if all_rounds:
            out_path = folder / "umap_all_rounds.png"
        else:
            r = ws.store.n_rounds() - 1 if round is None else round
            out_path = folder / f"umap_round_{r:04d}.png"
    points = max_points if max_points is not None else (800 if all_rounds else 1500)
    with err.status("reading the workspace", spinner="dots") as status:
        result = write_umap(ws, out_path, round=round, all_rounds=all_rounds, truth=truth, thumbnails=thumbnails,
                            max_points=points, notify=lambda message: status.update(message))
    views = result.views
    n = sum(len(v) for v in views)
    rounds = f"rounds {views[0].round}-{views[-1].round}" if len(views) > 1 else f"round {views[0].round}"
    source = "from the cache" if result.cached else f"cached in {escape(str(workspace / 'cache'))}"
    out.print(f"Wrote [bold]{escape(str(result.path))}[/] ({rounds}, {n} points; UMAP {source}).", highlight=False, soft_wrap=True)
    if result.note:
        err.print(f"note: {escape(result.note)}", highlight=False)


@app.command()
@handle_errors
def report(
    workspace: Path = typer.Argument(..., help="The hunt's folder."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the report (default: WORKSPACE/report)."),
    dask_scheduler: DaskOption = None,
) -> None:
    """Write a report folder: per-round numbers and figures, the latent space, top candidates, index.html.

    The page is static (no server, nothing from the network): open index.html in a browser, or zip the folder to share it. MCC per round needs true labels, so it appears for simulated data only.

    Example: ahunt report my-hunt --out my-hunt-report/
    """
    from ahunt.outputs.report import write_report

    ws = open_workspace(workspace, dask_scheduler)
    with err.status("writing the report", spinner="dots") as status:
        result = write_report(ws, out_dir, notify=lambda message: status.update(message))
    for note in result.notes:
        err.print(f"note: {escape(note)}", highlight=False)
    out.print(f"Wrote [bold]{escape(str(result.index))}[/] with {len(result.figures)} figures.", highlight=False, soft_wrap=True)
