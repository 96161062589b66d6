"""The nightly workflow: `ahunt init`, `ingest`, `hunt`, `label`, `train`."""

from __future__ import annotations

import dataclasses
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ahunt.cli._app import DaskOption, app, err, handle_errors, open_workspace, out, progress_bars, waiting_line
from ahunt.config import Config, load_config
from ahunt.errors import AhuntError
from ahunt.store.workspace import Workspace

ORACLES = ("terminal", "truth")
NEW_HUNT_EPOCHS = 12  # nightly retrain of a hunt on your own data started without --config


def _config(config_path: Optional[Path], image_size: Optional[int], channels: Optional[int],
            crop: Optional[int] = None) -> Config:
    config = load_config(config_path) if config_path else Config()
    model = {k: v for k, v in (("image_size", image_size), ("channels", channels), ("crop", crop)) if v is not None}
    if model:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **model))
    return config.validate()


@app.command()
@handle_errors
def init(
    workspace: Path = typer.Argument(..., help="New folder for the hunt."),
    known: Optional[Path] = typer.Option(None, "--known", "-k", help="Labelled round-0 data: a folder with one subfolder per class, or a .npz/.h5 file with 'images' and 'labels'."),
    unlabelled: Optional[Path] = typer.Option(None, "--unlabelled", "-u", help="Start without labels: unlabelled images in any format ingest reads; they become the one known class 'normal'."),
    simulated: bool = typer.Option(False, "--simulated", help="Use round 0 of the embedded simulated survey instead (without its labels when the config sets [survey] unlabelled = true)."),
    config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML config (default: built-in, as configs/demo.toml)."),
    image_size: Optional[int] = typer.Option(None, help="Model input size in pixels (images are resized to it)."),
    channels: Optional[int] = typer.Option(None, help="1 (grey) or 3 (colour); images are converted to it."),
    crop: Optional[int] = typer.Option(None, help="The network looks at the central CROP x CROP pixels of each cutout (0: all of it), for cutouts much larger than their objects; the whole cutout is still stored and shown."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Use only these known classes, comma-separated names (Galaxy10: indices or names), e.g. 6,8."),
) -> None:
    """Start a hunt from labelled images of the known classes, or from unlabelled images, and
    train the round-0 model.

    --known: a class-per-subfolder folder (PNG/JPEG/FITS), a catalogue, Galaxy10 or .npz/.h5.
    --unlabelled: a flat folder, a FITS file, a catalogue or .npz/.npy/.h5, as for ingest: round 0
    learns from the images alone and the hunt starts with one known class, 'normal'.
    Without either, the config's data.path is used.  Unreadable files are skipped and listed.

    Example: ahunt init my-hunt --unlabelled cutouts/first-nights/
    """
    from ahunt.cli.data import print_skipped
    from ahunt.hunt.session import train_initial
    from ahunt.learn.pretrain import ROTATION_CHANCE, at_chance
    from ahunt.sources.files import read_labelled, stream_batch
    from ahunt.sources.streams import make_stream
    from ahunt.store.answer_log import NORMAL, RESERVE

    config = _config(config_path, image_size, channels, crop)
    if known is None and unlabelled is None and not simulated and config.data.path:
        known = Path(config.data.path)
    if sum([simulated, known is not None, unlabelled is not None]) != 1:
        raise AhuntError("give exactly one of --known PATH, --unlabelled PATH or --simulated (or set [data] path "
                         "in the config)")
    if classes is not None and known is None:
        raise AhuntError("--classes applies to --known data only")
    skipped: list = []
    source = known
    if unlabelled is not None:
        initial = None  # streamed into the store below, a piece at a time: a pile may be large
        names, source = [NORMAL, RESERVE], unlabelled
    elif simulated:
        with progress_bars() as track:
            # make_stream: a labelled round 0 leaves out any anomalies [survey.hidden] puts in it;
            # with [survey] unlabelled = true, round 0 is one pile called 'normal', hidden ones included
            survey = make_stream(config.survey, image_size=config.model.image_size)
            initial = survey.load(0, track=track)
        names = [*survey.known, RESERVE]
    else:
        with progress_bars() as track:
            initial, skipped = read_labelled(known, image_size=config.model.image_size, channels=config.model.channels,
                                             report=True, data_config=config.data, classes=classes, track=track)
        names = [*dict.fromkeys(initial.labels.tolist()), RESERVE]
    if not simulated and config_path is None:
        # The built-in weights name the demo's classes; a new hunt starts by looking for anything new.
        # A small labelled set would get only a few optimizer steps per epoch: ask for enough.
        # A survey night has thousands of cutouts and few answers: the first answered anomalies
        # need 12 epochs a night, as in the survey-proportion configs (docs/benchmarks.md, "Nightly
        # epochs at survey proportions"); the suite's small nights find as many with 6.
        config = dataclasses.replace(
            config,
            hunt=dataclasses.replace(config.hunt, interest={RESERVE: 1.0}),
            train=dataclasses.replace(config.train, min_epoch_size=1024, epochs=NEW_HUNT_EPOCHS),
        )
    if config_path is None:
        # Two of ten questions uniformly random, so every night's anomalous fraction can be
        # estimated without bias (the demo keeps the paper's pure strategies: random_share 0).
        config = dataclasses.replace(config, hunt=dataclasses.replace(config.hunt, random_share=0.2))
    # Weights may wait for classes not found yet (the shipped configs and Galaxy10 name the
    # anomalies they hunt for), but a class the hunt has from round 0 on must have one.
    if not any(config.hunt.interest.get(n, 0) > 0 for n in names):
        raise AhuntError(f"no interest weight > 0 for a class the hunt starts with ({', '.join(names)}), so the "
                         f"first night would have no question to ask; give one a weight, e.g. {RESERVE} = 1.0")
    known_names = list(survey.known) if simulated else [NORMAL] if unlabelled is not None else None
    started_unlabelled = unlabelled is not None or (simulated and config.survey.unlabelled)
    # Built in a temporary sibling folder, renamed into place once round 0 is trained: a full
    # disk or Ctrl-C leaves no half-built workspace behind.
    with progress_bars() as track:
        pile = None
        if unlabelled is not None:
            pile = stream_batch(unlabelled, image_size=config.model.image_size, channels=config.model.channels,
                                data_config=config.data, track=track)
            skipped = pile.skipped  # fills up as the pieces are read
        try:
            with (_nothing_kept(unlabelled, "no hunt was created") if pile is not None else nullcontext()), \
                    Workspace.building(workspace, config, initial if pile is None else _as_normal(pile.pieces),
                                       known=known_names, origin="simulated" if simulated else "file") as ws, ws.lock():
                n_initial = ws.store.round_size(0)
                losses = train_initial(ws, track=track)
        except KeyboardInterrupt:  # the half-built folder is gone: say that, not the nightly line
            err.print("\n[yellow]Interrupted.[/] No hunt was created.", soft_wrap=True)
            raise typer.Exit(130) from None
    if started_unlabelled:
        what = f"{n_initial} unlabelled images, all of the known class '{NORMAL}'"
    else:
        counts = {}
        for label in initial.labels.tolist():
            counts[label] = counts.get(label, 0) + 1
        what = f"{n_initial} labelled images: " + ", ".join(f"{escape(k)} {v}" for k, v in counts.items())
    out.print(f"Created hunt [bold]{escape(str(workspace))}[/] with {what}; plus the '{RESERVE}' class for anything new.")
    print_skipped(skipped, source)
    if started_unlabelled:
        kinds = (f", then {config.train.pseudo_kinds} pseudo-kinds of the pile's pixels"
                 if config.train.pseudo_kinds else "")
        out.print(f"Round-0 model learnt from the images alone ({config.train.self_supervised} task, final loss "
                  f"{losses[-1]:.3f}{kinds}). When a question shows a kind of normal object worth telling apart, "
                  "press k to name it as a normal kind.")
        if at_chance(config.train.self_supervised, losses):
            learnt = ("so the encoder learnt from the pseudo-kinds alone" if config.train.pseudo_kinds else
                      f"so round 0 learnt nothing from it; a hunt whose config sets {escape('[train]')} pseudo_kinds = 8 "
                      "learns the pile's kinds (docs/without-labels.md)")
            out.print(f"The rotation task stayed at chance (a guess scores {ROTATION_CHANCE:.3f}): these cutouts have "
                      f"no preferred orientation, {learnt}.")
    else:
        out.print(f"Round-0 model trained (final loss {losses[-1]:.3f}).")
    line = waiting_line(config.hunt.interest, ws.live_class_names())
    if line:
        out.print(line, soft_wrap=True, markup=False)
    source = "--simulated" if simulated else "NIGHT_PATH"
    out.print(f"Next: [bold]ahunt ingest {escape(str(workspace))} {source}[/], then [bold]ahunt hunt {escape(str(workspace))}[/].")


@contextmanager
def _nothing_kept(path: Path, said: str):
    """A streamed file's bad piece as one line: what the reader said (it names the file), or the
    store's complaint with the file's name, and ``said`` (what was not kept)."""
    from ahunt.errors import InputError, StoreError

    try:
        yield
    except InputError as exc:  # a subclass of StoreError: caught first
        raise InputError(f"{exc}; {said}") from None
    except StoreError as exc:
        raise StoreError(f"{path}: {exc}; {said}") from None


def _as_normal(pieces):
    """A pile's pieces as round 0 of a hunt started without labels: every object 'normal'."""
    import numpy as np

    from ahunt.store.answer_log import NORMAL

    for piece in pieces:
        piece.truth = None  # labels that came with the files say nothing to a hunt started without them
        piece.labels = np.full(len(piece), NORMAL, dtype=object)
        yield piece


@app.command()
@handle_errors
def ingest(
    workspace: Path = typer.Argument(..., help="The hunt's folder."),
    path: Optional[Path] = typer.Argument(None, help="The night's images: a flat folder of PNG/JPEG/FITS, a FITS file, a .csv/.ecsv catalogue, or a .npz/.npy/.h5 file."),
    simulated: bool = typer.Option(False, "--simulated", help="Add the next night of the embedded simulated survey."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Labelled input only: keep objects of these classes (comma-separated; Galaxy10: indices or names)."),
) -> None:
    """Add a night's unlabelled batch as the next round.  Nothing is stored if it fails.

    Unreadable files of a folder or catalogue are skipped and listed.
    Labels given with the data are kept as true classes (for --oracle truth), never trained on.

    Example: ahunt ingest my-hunt cutouts/2026-11-22/
    """
    from ahunt.cli.data import print_skipped
    from ahunt.sources.files import stream_batch
    from ahunt.sources.simulated import SimulatedSurvey

    ws = Workspace.open(workspace)
    if simulated == (path is not None):
        raise AhuntError("give exactly one of PATH or --simulated")
    if simulated and classes is not None:
        raise AhuntError("--classes applies to labelled files, not to --simulated")
    cfg = ws.config
    with ws.lock():
        r = ws.store.n_rounds()
        if simulated:
            survey = SimulatedSurvey(cfg.survey, image_size=cfg.model.image_size)
            if r >= survey.n_rounds:
                raise AhuntError(f"the simulated survey has {cfg.survey.nights} nights, all ingested; take the results "
                                 f"away with `ahunt export {workspace}` or `ahunt report {workspace}`, or raise "
                                 f"[survey] nights in {workspace}/config.toml to simulate more")
            with progress_bars() as track:
                data = survey.load(r, track=track)
            r, n = ws.store.add_round(data), len(data)
            source = f"simulated night {r}"
        else:
            # Streamed: read, resized and written a piece at a time, so a night of any size fits
            # in memory; the round appears only when its last piece is written.
            with progress_bars() as track:
                stream = stream_batch(path, image_size=cfg.model.image_size, channels=cfg.model.channels,
                                      data_config=cfg.data, classes=classes, track=track)
                with _nothing_kept(path, "nothing was stored"):
                    r, n = ws.store.add_round_pieces(stream.pieces)
            source = str(path)
    out.print(f"Round {r}: {n} objects from {escape(source)}.")
    if not simulated:
        print_skipped(stream.skipped, path)
    out.print(f"Next: [bold]ahunt hunt {escape(str(workspace))}[/]")


def _oracle(ws: Workspace, oracle: str, answers: Optional[Path], keys_from_stdin: bool, images: Optional[str] = None):
    from ahunt.hunt.oracle import AnswersFileOracle, TruthOracle
    from ahunt.hunt.session import round_to_hunt, started_without_labels
    from ahunt.sources.simulated import is_simulated_hunt
    from ahunt.sources.streams import truth_answers
    from ahunt.hunt.terminal_image import choose_graphics
    from ahunt.hunt.terminal_oracle import StreamKeys, TerminalKeys, TerminalOracle

    if answers is not None:
        chosen = AnswersFileOracle.from_csv(answers)
        chosen.check(ws.classes())  # a bad file is refused before the night's questions are even chosen
        return chosen
    if oracle == "truth":
        r = round_to_hunt(ws)
        data = ws.store.load_round(r, images=False)
        if data.truth is None:
            raise AhuntError(f"round {r} has no true labels, so --oracle truth cannot answer; answer in the terminal or with --answers")
        # A simulated hunt started from a pile: the simulated astronomer calls every round-0 kind
        # 'normal', as one would who has not named them (as in ahunt demo --unlabelled).
        pile = started_without_labels(ws) and is_simulated_hunt(ws.store)
        return TruthOracle(truth_answers(data, ws.config.survey.initial if pile else ()))
    if oracle != "terminal":
        raise AhuntError(f"unknown oracle {oracle!r}; choose one of {', '.join(ORACLES)}")
    keys = StreamKeys(sys.stdin, out) if keys_from_stdin else TerminalKeys(out)
    # Asked once, before the first screen (half blocks if the terminal does not answer in time).
    graphics = choose_graphics(images or ws.config.terminal.images)
    return TerminalOracle(out, keys, graphics=graphics)


def _summary_table(s) -> Table:
    table = Table(title=f"round {s.round}", title_justify="left", title_style="bold", show_edge=False)
    table.add_column("answered")
    table.add_column("labels")
    table.add_column("skipped", justify="right")
    table.add_column("new classes")
    table.add_column("model")
    model = f"retrained: round {s.model_version}" if s.retrained else f"round {s.model_version} (not retrained)"
    if s.pile_left_out:  # the pile's lookalikes of answered anomalies ([train] pile_lookalikes)
        model += f", {s.pile_left_out} pile object{'s' if s.pile_left_out != 1 else ''} left out of normal"
    table.add_row(f"{s.answered} of {s.total}", escape(", ".join(f"{k} {v}" for k, v in s.labels.items())) or "-",
                  str(s.skipped), escape(", ".join(s.new_classes)) or "-", model)
    return table


def _contamination_line(s, random_share: float) -> str:
    c = s.contamination
    if c is None:
        if random_share > 0:
            return "Anomalous fraction of the night: no estimate (this night's questions had no random share)."
        return ("Anomalous fraction of the night: no estimate (set [hunt] random_share > 0 in the hunt's "
                "config.toml to mix in random questions).")
    if c.too_few:
        return (f"Anomalous fraction of the night: too few random answers yet ({c.random_questions} of "
                f"{c.random_asked}) for an estimate.")
    n = c.random_questions
    return (f"Anomalous fraction of the night ≈ {c.estimate:.1%} (95% interval {c.low:.1%} to {c.high:.1%}: "
            f"the strategy's picks counted exactly, {n} uniformly random answer{'s' if n != 1 else ''} "
            "standing for the rest).")


def _session(workspace: Path, oracle: str, answers: Optional[Path], neighbours: int, keys_from_stdin: bool,
             must_exist: bool, dask_scheduler: Optional[str] = None, images: Optional[str] = None) -> None:
    from ahunt.hunt.terminal_image import PROTOCOLS
    from ahunt.hunt.terminal_oracle import terminal_restored

    if images is not None and images not in PROTOCOLS:
        raise AhuntError(f"--images {images!r}: choose one of {', '.join(PROTOCOLS)}")
    with terminal_restored():
        _run_session(workspace, oracle, answers, neighbours, keys_from_stdin, must_exist, dask_scheduler, images)


def _run_session(workspace: Path, oracle: str, answers: Optional[Path], neighbours: int, keys_from_stdin: bool,
                 must_exist: bool, dask_scheduler: Optional[str], images: Optional[str]) -> None:
    from ahunt.hunt.session import prepare_questions, retrain, round_to_hunt, run_session, summarise_round

    ws = open_workspace(workspace, dask_scheduler)
    with ws.lock():
        r = round_to_hunt(ws)
        if must_exist and not ws.log.questions(r):
            raise AhuntError(f"round {r} has no labelling session yet; start it with `ahunt hunt {workspace}`")
        chosen = _oracle(ws, oracle, answers, keys_from_stdin, images)
        if not ws.log.questions(r):  # scoring a large night takes a while: show it, then clear it
            if ws.config.score.dask_scheduler:
                with err.status(f"scoring round {r} on {ws.config.score.dask_scheduler}", spinner="dots"):
                    prepare_questions(ws, r)
            else:
                with progress_bars() as track:
                    prepare_questions(ws, r, track=track)
        try:
            summary = run_session(ws, chosen, retrain_when_complete=False, neighbours=neighbours)
        except KeyboardInterrupt:
            err.print("\nInterrupted: every answer given so far is saved. Resume with "
                      f"[bold]ahunt label {escape(str(workspace))}[/].")
            raise typer.Exit(130) from None
        if summary.complete:
            # Progress bars only now: while a person answers, the screen is theirs.
            with progress_bars() as track:
                retrain(ws, r, track=track)
            summary = summarise_round(ws, r, complete=True, retrained=True)
    out.print(_summary_table(summary))
    out.print(_contamination_line(summary, ws.config.hunt.random_share), soft_wrap=True, markup=False)
    line = waiting_line(ws.config.hunt.interest_for(summary.round), ws.live_class_names())
    if line:
        out.print(line, soft_wrap=True, markup=False)
    if not summary.complete:
        out.print(f"{summary.total - summary.answered} questions left; resume with [bold]ahunt label {escape(str(workspace))}[/] "
                  f"(or retrain now with [bold]ahunt train {escape(str(workspace))}[/]).")
    else:
        out.print(next_night_line(ws, workspace, lead="Next night:"), soft_wrap=True)


def next_night_line(ws: Workspace, workspace: Path, *, lead: str = "Next: add a night with") -> str:
    """The next step after a night: hunt the next one if it is ingested already, else ingest
    another, or, when a simulated hunt has used up its survey, take the results away (ingest
    --simulated would fail)."""
    from ahunt.hunt.session import night_source

    w = escape(str(workspace))
    version = ws.current_version()
    if version is not None and version + 1 < ws.store.n_rounds():
        return f"Next: round {version + 1} is waiting; run [bold]ahunt hunt {w}[/]."
    source = night_source(ws)
    if source is None:
        return (f"Every night of the simulated survey is ingested ({ws.config.survey.nights} nights). Next: take the "
                f"results away with [bold]ahunt export {w}[/] or [bold]ahunt report {w}[/] (more nights: raise "
                f"{escape('[survey]')} nights in {w}/config.toml, then [bold]ahunt ingest {w} --simulated[/]).")
    return f"{lead} [bold]ahunt ingest {w} {source}[/]."


# hunt and label take the same options
OracleOption = Annotated[str, typer.Option(
    help="Who answers: terminal (you, one key per answer) or truth (true labels stored with simulated data).")]
AnswersOption = Annotated[Optional[Path], typer.Option(
    help="CSV with columns id,label answering the questions (label 'skip' skips; an unknown name creates that class; questions not in the file stay pending).")]
NeighboursOption = Annotated[int, typer.Option(
    min=0, max=8, help="Show this many nearest labelled objects (in latent space) beside each question.")]
StdinKeysOption = Annotated[bool, typer.Option(
    "--keys-from-stdin", hidden=True, help="Read keystrokes from standard input even when it is not a terminal (for testing).")]
ImagesOption = Annotated[Optional[str], typer.Option(
    "--images", metavar="PROTOCOL",
    help="How the terminal draws each image: auto asks it (kitty, then sixel; else half blocks), or force "
         "kitty, sixel, iterm (pixels), blocks (half-block characters) or none. Default: [terminal] images "
         "in the hunt's config.toml, auto.")]
WorkspaceArgument = Annotated[Path, typer.Argument(help="The hunt's folder.")]


@app.command()
@handle_errors
def hunt(
    workspace: WorkspaceArgument,
    oracle: OracleOption = "terminal",
    answers: AnswersOption = None,
    neighbours: NeighboursOption = 0,
    keys_from_stdin: StdinKeysOption = False,
    dask_scheduler: DaskOption = None,
    images: ImagesOption = None,
) -> None:
    """The nightly command: score the new night, ask its questions, retrain on the answers.

    Questions are chosen with the configured strategy and interest weights (see `ahunt interest`)
    and stored before the first is shown; each answer is saved the moment it is given.

    A night of 10^5+ cutouts is read from the store in blocks (memory does not grow with it);
    `--dask-scheduler` scores it on a cluster instead.

    Example: ahunt hunt my-hunt --neighbours 4
    """
    _session(workspace, oracle, answers, neighbours, keys_from_stdin, must_exist=False, dask_scheduler=dask_scheduler, images=images)


@app.command()
@handle_errors
def label(
    workspace: WorkspaceArgument,
    oracle: OracleOption = "terminal",
    answers: AnswersOption = None,
    neighbours: NeighboursOption = 0,
    keys_from_stdin: StdinKeysOption = False,
    dask_scheduler: DaskOption = None,
    images: ImagesOption = None,
) -> None:
    """Resume an unfinished labelling session at its first unanswered question; retrain when done.

    Example: ahunt label my-hunt --answers answers.csv
    """
    _session(workspace, oracle, answers, neighbours, keys_from_stdin, must_exist=True, dask_scheduler=dask_scheduler, images=images)


@app.command()
@handle_errors
def train(workspace: Path = typer.Argument(..., help="The hunt's folder.")) -> None:
    """Retrain now on every answer so far (normally `hunt` does this when a session completes).

    Trains round 0 if it is not trained yet; otherwise the next round, with whatever answers it
    has.  If training fails or is interrupted, the previous model stays current.

    Example: ahunt train my-hunt
    """
    from ahunt.hunt.session import pile_left_out, retrain, round_to_hunt, train_initial

    ws = Workspace.open(workspace)
    with ws.lock(), progress_bars() as track:
        if ws.current_version() is None:
            train_initial(ws, track=track)
            out.print("Round-0 model trained.")
            return
        r = round_to_hunt(ws)
        questions = ws.log.questions(r)
        answered = len(ws.log.standing_answers(r))
        retrain(ws, r, track=track)
    note = f" ({len(questions) - answered} of its {len(questions)} questions unanswered)" if answered < len(questions) else ""
    left = pile_left_out(ws, r)
    if left:
        note += f"; {left} pile object{'s' if left != 1 else ''} that look like answered anomalies left out of normal"
    out.print(f"Model retrained for round {r}{note}.")

