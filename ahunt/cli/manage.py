"""Looking after a hunt: `ahunt interest`, `classes`, `status`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ahunt.cli._app import app, handle_errors, out, waiting_line
from ahunt.errors import AhuntError
from ahunt.store.workspace import Workspace


def _parse_weights(pairs: List[str]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise AhuntError(f"{pair!r}: write interest weights as CLASS=WEIGHT, e.g. reserve=0.8 merger=0.2")
        try:
            weights[name] = float(value)
        except ValueError:
            raise AhuntError(f"{pair!r}: weight {value!r} is not a number") from None
    return weights


def _label_counts(ws: Workspace) -> dict[str, int]:
    return {name: r0 + answered for name, (r0, answered) in ws.label_counts().items()}


@app.command()
@handle_errors
def interest(
    workspace: Path = typer.Argument(..., help="The hunt's folder."),
    weights: Optional[List[str]] = typer.Argument(None, help="New weights as CLASS=WEIGHT; classes left out get 0."),
) -> None:
    """Show or set interest weights: how the night's questions are shared among classes.

    The reserve class stands for anything not seen yet.  Every class with a weight above 0 gets
    at least one question a night.

    Example: ahunt interest my-hunt reserve=0.8 merger=0.2
    """
    from ahunt.hunt.query import moving_shares, split_quota, validate_interest

    ws = Workspace.open(workspace)
    cfg = ws.config
    if weights:
        from ahunt.store.names import find_name

        names = ws.live_class_names()
        # 'Merger=0.5' sets the weight of 'merger': names match ignoring case, as answers do
        new = {find_name(k, names) or k: w for k, w in _parse_weights(weights).items()}
        validate_interest(new, names)
        with ws.lock():
            ws.save_config(dataclasses.replace(cfg, hunt=dataclasses.replace(cfg.hunt, interest=new)))
        cfg = ws.config
    names = ws.live_class_names()
    live = {k: v for k, v in cfg.hunt.interest.items() if k in names}
    quota = split_quota(live, cfg.hunt.questions) if any(v > 0 for v in live.values()) else {}
    table = Table(title=f"interest weights ({cfg.hunt.questions} questions a night, strategy '{escape(cfg.hunt.strategy)}')",
                  title_justify="left", show_edge=False)
    table.add_column("class")
    table.add_column("weight", justify="right")
    table.add_column("questions a night", justify="right")
    for name in names:
        w = cfg.hunt.interest.get(name, 0.0)
        table.add_row(escape(name), f"{w:g}", str(quota.get(name, 0)))
    out.print(table)
    if cfg.hunt.strategy == "anomaly" and cfg.hunt.members_first and len(moving_shares(quota)) > 1:
        out.print("A class's share is at most the objects the network calls its own tonight; the rest goes to the "
                  "other named classes (the reserve keeps its share).", soft_wrap=True)
    line = waiting_line(cfg.hunt.interest, names)
    if line:
        out.print(escape(line), soft_wrap=True)


def _move_weight(ws: Workspace, source: str, target: str) -> str:
    """A merged class's interest weight goes to its target, unless the target has its own."""
    weights = dict(ws.config.hunt.interest)
    if source not in weights:
        return ""
    w = weights.pop(source)
    note = f" Its interest weight {w:g} was dropped ({target!r} keeps its {weights[target]:g})."
    if target not in weights:
        weights[target], note = w, f" Its interest weight {w:g} now belongs to {target!r}."
    ws.save_config(dataclasses.replace(ws.config, hunt=dataclasses.replace(ws.config.hunt, interest=weights)))
    return note


@app.command()
@handle_errors
def classes(
    workspace: Path = typer.Argument(..., help="The hunt's folder."),
    rename: Optional[List[str]] = typer.Option(None, "--rename", help="OLD=NEW renames a class (answers keep pointing at it)."),
    merge: Optional[List[str]] = typer.Option(None, "--merge", help="A=B moves every answer of anomaly class A to B (the log keeps both); A leaves the network at the next retrain."),
    remove: Optional[List[str]] = typer.Option(None, "--remove", help="Remove an anomaly class that has no standing labels (e.g. after its answers were undone or merged)."),
    normal: Optional[List[str]] = typer.Option(None, "--normal", help="Make a class found by an answer a normal kind: boring, like the round-0 classes (the reserve looks away from it)."),
    anomaly: Optional[List[str]] = typer.Option(None, "--anomaly", help="Make a normal kind found by an answer an anomaly class again."),
) -> None:
    """List the classes with their labelled counts; rename, merge or remove one, or say whether
    a class found by an answer is a normal kind or an anomaly.

    Example: ahunt classes my-hunt --merge Spiral=spiral
    """
    ws = Workspace.open(workspace)
    for names, kind in ((normal, "known"), (anomaly, "anomaly")):
        for name in names or []:
            with ws.lock():
                hit, before = ws.log.set_kind(name.strip(), kind)
            what = "a normal kind: the reserve looks away from it" if kind == "known" else "an anomaly class"
            out.print(escape(f"{hit!r} is {what}" + (" (it was already)." if before == kind else ".")))
    for pair in merge or []:
        source, sep, target = (part.strip() for part in pair.partition("="))
        if not sep or not source or not target:
            raise AhuntError(f"{pair!r}: write a merge as A=B (A's answers move to B)")
        with ws.lock():
            source, target, moved = ws.log.merge_class(source, target)
            note = _move_weight(ws, source, target)
        out.print(escape(f"Merged {source!r} into {target!r}: {moved} answer{'s' if moved != 1 else ''} moved (the "
                         f"log keeps the originals); {source!r} leaves the network at the next retrain.{note}"))
    for name in remove or []:
        with ws.lock():
            c = ws.log.check_removable(name.strip())
        out.print(escape(f"Removed {c.name!r}: it has no labels, gets no questions, and leaves the network at the "
                         "next retrain. An answer naming it again would bring it back."))
    for pair in rename or []:
        old, sep, new = pair.partition("=")
        if not sep:
            raise AhuntError(f"{pair!r}: write a rename as OLD=NEW")
        with ws.lock():
            ws.log.rename_class(old.strip(), new.strip())
            weights = dict(ws.config.hunt.interest)
            if old.strip() in weights:  # the interest weight follows the class
                weights[new.strip()] = weights.pop(old.strip())
                ws.save_config(dataclasses.replace(ws.config, hunt=dataclasses.replace(ws.config.hunt, interest=weights)))
        out.print(f"Renamed {escape(repr(old.strip()))} to {escape(repr(new.strip()))}.")
    counts = _label_counts(ws)
    table = Table(show_edge=False)
    for col in ("key", "class", "kind", "found in round", "labelled"):  # kind 'known': normal (boring)
        table.add_column(col, justify="right" if col in ("labelled", "found in round") else "left")
    from ahunt.hunt.terminal_oracle import legend_keys

    key_of = {c.name: k for k, c in legend_keys(ws.classes()).items()}
    for c in ws.classes():
        if not c.retired:
            table.add_row(key_of.get(c.name, "-"), escape(c.name), c.kind, str(c.created_round), str(counts[c.name]))
    out.print(table)
    retired = [c.name for c in ws.classes() if c.retired]
    if retired:
        out.print("Retired (no labels left; an answer naming one brings it back): " + escape(", ".join(retired)) + ".")


@app.command()
@handle_errors
def status(workspace: Path = typer.Argument(..., help="The hunt's folder.")) -> None:
    """Rounds, labelled counts, classes, the current model and pending questions.

    Example: ahunt status my-hunt
    """
    ws = Workspace.open(workspace)
    version = ws.current_version()
    trained = set(ws.trained_rounds())
    table = Table(title=f"hunt {escape(str(workspace))}", title_justify="left", title_style="bold", show_edge=False)
    for col in ("round", "objects", "questions", "answered", "skipped", "model"):
        table.add_column(col, justify="right" if col != "model" else "left")
    pending_round = None
    for r in range(ws.store.n_rounds()):
        questions = ws.log.questions(r)
        standing = ws.log.standing_answers(r)
        if questions and len(standing) < len(questions) and pending_round is None:
            pending_round = r
        table.add_row(
            str(r), str(ws.store.round_size(r)), str(len(questions)) if r else "labelled",
            str(len(standing)) if r else "-", str(sum(a.kind == "skip" for a in standing)) if r else "-",
            "trained" if r in trained else "-",
        )
    out.print(table)
    counts = _label_counts(ws)
    out.print("Labelled: " + escape(", ".join(f"{k} {v}" for k, v in counts.items())))
    out.print(f"Current model: {'round ' + str(version) if version is not None else 'none (run ahunt train)'}; "
              f"strategy '{ws.config.hunt.strategy}', {ws.config.hunt.questions} questions a night.")
    line = waiting_line(ws.config.hunt.interest_for(ws.store.n_rounds() - 1), ws.live_class_names())
    if line:
        out.print(escape(line), soft_wrap=True)
    if pending_round is not None:
        left = len(ws.log.questions(pending_round)) - len(ws.log.standing_answers(pending_round))
        out.print(f"Pending: {left} questions of round {pending_round}; resume with [bold]ahunt label {escape(str(workspace))}[/].")
    elif version is not None and version + 1 < ws.store.n_rounds():
        out.print(f"Next: round {version + 1} is waiting; run [bold]ahunt hunt {escape(str(workspace))}[/].")
    else:
        from ahunt.cli.hunt import next_night_line

        out.print(next_night_line(ws, workspace), soft_wrap=True)
