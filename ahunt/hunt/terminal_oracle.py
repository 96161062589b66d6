"""The person at the terminal as an oracle: one screen per question, one key per answer.

Keys: digits pick an existing class (legend on screen), ``n`` makes a new anomaly class, ``k``
a new normal kind (boring, like the round-0 classes), ``s`` skips, ``u`` undoes the last answer, ``q`` quits.  Answers are committed by the session
loop before the next screen is drawn, so closing the terminal loses nothing already answered.

The screen says why it asks (a reserve question: its novelty score and rank in the night; a
class ranked by its members' neighbours: that score and rank) and acknowledges each answer in
one line.  The terminal is put back as it was on every exit Python can catch
(:func:`terminal_restored`); only ``kill -9`` can leave it in raw mode (type ``reset``).
"""

from __future__ import annotations

import math

import os
import signal
import sys
from contextlib import contextmanager
from typing import IO, Iterator, Sequence

from rich.columns import Columns
from rich.console import Console, Group
from rich.control import Control
from rich.panel import Panel
from rich.segment import ControlType, Segment
from rich.table import Table
from rich.text import Text

from ahunt.errors import AhuntError
from ahunt.hunt.oracle import Answer, Label, Question, Quit, Skip, Undo
from ahunt.hunt.query import RANDOM_SHARE
from ahunt.hunt.terminal_image import Graphics, image_strip, terminal_image
from ahunt.store.answer_log import RESERVE, ClassInfo

__all__ = ["KeyReader", "TerminalKeys", "StreamKeys", "TerminalOracle", "legend_keys", "terminal_restored",
           "acknowledgement"]

_DIGITS = "1234567890"


class KeyReader:
    """Where keystrokes come from."""

    def key(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def line(self, prompt: str) -> str:  # pragma: no cover - interface
        raise NotImplementedError


class TerminalKeys(KeyReader):
    """Single keypresses from a real terminal (raw mode, restored after every key)."""

    def __init__(self, console: Console):
        if not sys.stdin.isatty():
            raise AhuntError(
                "standard input is not a terminal, so nobody can answer questions; "
                "use --answers FILE.csv (columns id,label) or --oracle truth for scripts"
            )
        self.console = console

    def key(self) -> str:
        import termios
        import tty

        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setraw(fd)
            # One read takes a whole escape sequence (an arrow key, or a terminal's late answer
            # to the image-protocol query), so none of its characters is taken for an answer.
            got = os.read(fd, 1024).decode(errors="ignore")
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
        ch = "" if got.startswith("\x1b") else got[:1]
        if ch == "\x03":  # Ctrl-C in raw mode arrives as a character
            raise KeyboardInterrupt
        if ch == "\x04":  # Ctrl-D: like q
            return "q"
        return ch

    def line(self, prompt: str) -> str:
        return self.console.input(prompt)


class StreamKeys(KeyReader):
    """Keystrokes from a stream (tests and `--keys-from-stdin`); whitespace between keys is ignored."""

    def __init__(self, stream: IO[str], console: Console):
        self.stream, self.console = stream, console

    def key(self) -> str:
        while True:
            ch = self.stream.read(1)
            if ch == "":
                return "q"  # end of input: stop, keeping every answer
            if not ch.isspace():
                return ch

    def line(self, prompt: str) -> str:
        self.console.print(prompt, end="")
        # the key that asked for a line may be followed by the end of its own line: skip that
        text = self.stream.readline()
        return (text if text.strip() else self.stream.readline()).strip()


@contextmanager
def terminal_restored(fd: int | None = None) -> Iterator[None]:
    """Put the terminal back as it was on every exit Python can catch.

    Saves the terminal's settings, and for the duration turns SIGTERM and SIGHUP (a closed SSH
    connection) into :class:`SystemExit`, so ``finally`` blocks run and the settings are
    restored, whatever mode (raw, cbreak) a key read or a query had set.  SIGKILL cannot be
    caught: after ``kill -9`` type ``reset``.  Does nothing when `fd` (default: standard input)
    is not a terminal.
    """
    import termios

    try:
        fd = sys.stdin.fileno() if fd is None else fd
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    except (AttributeError, OSError, ValueError, termios.error):
        saved = None
    if saved is None:
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, stop)
    except ValueError:  # not the main thread: signals cannot be handled here; restore on return only
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        try:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
        except termios.error:  # the terminal is gone (SIGHUP): nothing to restore
            pass


def acknowledgement(answer: Answer) -> str:
    """One line saying what an answer did: "recorded: spiral", "skipped", "undone"."""
    if isinstance(answer, Label):
        return f"recorded: {answer.name}" + ((" (new normal kind)" if answer.normal else " (new class)") if answer.new else "")
    if isinstance(answer, Skip):
        return "skipped"
    if isinstance(answer, Undo):
        return "undone: the last answer is withdrawn and asked again"
    return ""


def legend_keys(classes: Sequence[ClassInfo]) -> dict[str, ClassInfo]:
    """Digit key -> class, for every class a person can answer with (not the reserve)."""
    answerable = [c for c in classes if c.name != RESERVE and c.kind != "reserve" and not c.retired]
    return {k: c for k, c in zip(_DIGITS, answerable)}


class TerminalOracle:
    """Draws each question and reads the answer from ``keys``.

    ``graphics`` says how images are drawn (:func:`ahunt.hunt.terminal_image.choose_graphics`);
    ``image_width`` is the image's width in cells with half blocks, and the most it may take
    with pixels.
    """

    name = "terminal"

    def __init__(self, console: Console, keys: KeyReader, *, image_width: int = 56, clear: bool | None = None,
                 graphics: Graphics | None = None):
        self.console, self.keys, self.image_width = console, keys, image_width
        self.clear = console.is_terminal if clear is None else clear
        self.graphics = graphics or Graphics("blocks")
        self.message = ""

    def __call__(self, question: Question, classes: Sequence[ClassInfo]) -> Answer:
        keymap = legend_keys(classes)
        if self.clear:
            if self.graphics.clear_sequence():
                erase = Control()  # rich has no code for kitty's: a control segment carrying it
                erase.segment = Segment(self.graphics.clear_sequence(), None, [(ControlType.CURSOR_FORWARD, 0)])
                self.console.control(erase)
            self.console.clear()
        self.console.print(self.screen(question, keymap))
        if self.message:
            self.console.print(self.message, style="green", highlight=False, markup=False)
            self.message = ""
        answer = self._answer(question, classes, keymap)
        ack = acknowledgement(answer)
        if ack:
            # Shown now, and again under the next screen when clearing wipes this one.
            self.console.print(ack, style="green", highlight=False, markup=False)
            if self.clear:
                self.message = ack
        return answer

    def _answer(self, question: Question, classes: Sequence[ClassInfo], keymap: dict[str, ClassInfo]) -> Answer:
        while True:
            key = self.keys.key().lower()
            if not key:  # an escape sequence (arrow key, late terminal answer): no answer
                continue
            if key in keymap:
                return Label(keymap[key].name)
            if key == "s":
                return Skip()
            if key == "u":
                if question.answered == 0:
                    self.console.print("Nothing to undo in this round.", style="yellow")
                    continue
                return Undo()
            if key == "q":
                return Quit()
            if key in ("n", "k"):
                answer = self._new_class(classes, normal=key == "k")
                if answer is not None:
                    return answer
                continue
            self.console.print(f"Key {key!r} does nothing here; see the legend.", style="yellow", highlight=False)

    def _new_class(self, classes: Sequence[ClassInfo], *, normal: bool = False) -> Answer | None:
        from ahunt.store.names import check_new_name

        what = "New normal kind (boring, like 'normal')" if normal else "New anomaly class"
        name = " ".join(self.keys.line(f"{what} name (empty to cancel): ").split())
        if not name:
            return None
        if name.lower() in ("skip", RESERVE):
            self.console.print(f"{name!r} is reserved; choose another name.", style="yellow")
            return None
        existing, near, problem = check_new_name(name, classes)
        if problem:
            self.console.print(problem, style="yellow", highlight=False)
            return None
        if existing is not None:
            return Label(existing)  # typed an existing class (any case): label with it rather than fail
        if near is not None:
            self.console.print(f"{name!r} is close to the existing class {near!r}: press y to create {name!r} "
                               f"anyway, m to answer {near!r}, any other key to cancel.", style="yellow", highlight=False)
            key = self.keys.key().lower()
            if key == "m":
                return Label(near)
            if key != "y":
                return None
        return Label(name, new=True, normal=normal)

    def screen(self, q: Question, keymap: dict[str, ClassInfo]) -> Panel:
        info = Table.grid(padding=(0, 1))
        info.add_column(style="bold", no_wrap=True)
        info.add_column()
        info.add_row("object", Text(q.object_id))
        where = f"round {q.round}"
        if q.ra is not None and q.dec is not None and math.isfinite(q.ra) and math.isfinite(q.dec):
            where += f"   RA {q.ra:.5f}  Dec {q.dec:+.5f}"  # (files without coordinates: NaN, not shown)
        info.add_row("where", where)
        info.add_row("asked", self._why(q))
        # A score other than the model's probability (shown below): the reserve's novelty, or the
        # neighbours score of a class with few members (ahunt/hunt/ranking.py), labelled "members"
        # to be as short as the other labels: a wider label column wraps lines at 80 columns.
        # A spread pick (`[hunt] spread`) is often not the class's likeliest: its rank says so.
        label = ("novelty" if q.interest == RESERVE else "members" if q.score_name == "neighbours"
                 else "spread" if q.strategy == "spread" else None)
        if label is not None and q.score is not None:
            line = f"score {q.score:.2f}"
            if q.rank is not None:
                line += f" · rank {q.rank}" + (f" of {q.n_objects}" if q.n_objects is not None else "")
            info.add_row(label, Text(line, style="bold"))
        info.add_row("model", self._model_line(q))
        info.add_row("", "")
        classes = [(key, c.name) for key, c in keymap.items()]
        keys = [("n", "new class"), ("k", "normal kind"), ("s", "skip"), ("u", "undo"), ("q", "quit")]
        cell = max(len(word) for _, word in classes + keys) + 4  # one width: both legends align
        info.add_row("classes", _badges(classes, cell))
        info.add_row("keys", _badges(keys, cell))
        side = self.console.width - 4 - 2 - _INFO_WIDTH  # room beside the text, inside the panel
        image = terminal_image(q.image, self.graphics, width=self.image_width, softening=1.0)
        if self.console.measure(image).maximum > side >= _MIN_IMAGE:  # e.g. 80 columns: shrink it
            image = terminal_image(q.image, self.graphics, width=side, softening=1.0)
        if self.console.measure(image).maximum <= side:
            body = Table.grid(padding=(0, 2))
            body.add_column()
            body.add_column()
            body.add_row(image, info)
        else:  # too narrow for both side by side (e.g. 80 columns): the text under the image
            body = Group(image, Text(""), info)
        parts = [body]
        if q.neighbours:
            parts.append(Text("nearest labelled objects in latent space:", style="dim"))
            parts.append(image_strip([img for _, _, img in q.neighbours], [f"{c}" for _, c, _ in q.neighbours],
                                     width=14, graphics=self.graphics))
        title = f"ahunt · round {q.round} · question {q.position + 1} of {q.total} · {q.answered} answered"
        return Panel(Group(*parts), title=title, title_align="left", border_style="cyan")

    @staticmethod
    def _why(q: Question) -> Text:
        if q.interest == RANDOM_SHARE:
            return Text("at random (the share that estimates the night's anomalous fraction)")
        if q.interest == RESERVE:
            return Text("for the reserve: anything new")
        return Text(f"{q.strategy} sampling for class '{q.interest}'")

    @staticmethod
    def _model_line(q: Question) -> Columns:
        """The three most probable classes, and the class that asked when it is not among them."""
        ranked = sorted(q.probs.items(), key=lambda kv: -kv[1])
        shown = ranked[:3] + [kv for kv in ranked[3:] if kv[0] == q.interest]
        cells = []
        for name, p in shown:
            cell = Text(no_wrap=True, overflow="ellipsis")
            cell.append(name, style="bold" if name == q.interest else "")
            cell.append(f" {p:.2f}")
            cells.append(cell)
        return Columns(cells, padding=(0, 3))


# The text beside the image needs this many cells; an image is shrunk to make room down to
# _MIN_IMAGE cells wide, and below that the text goes under it.
_INFO_WIDTH = 46
_MIN_IMAGE = 24


def _badges(entries: Sequence[tuple[str, str]], width: int) -> Columns:
    """Key badges with their words, `width` cells each, in aligned columns that never part a
    key from its word."""
    cells = []
    for key, word in entries:
        cell = Text(no_wrap=True, overflow="ellipsis")
        cell.append(f" {key} ", style="reverse")
        cell.append(f" {word}")
        cell.pad_right(width - cell.cell_len)
        cells.append(cell)
    return Columns(cells, padding=(0, 2), equal=True)
