"""The person at the terminal as an oracle: one screen per question, one key per answer.

Keys: digits pick an existing class (legend on screen), ``n`` makes a new anomaly class,
``s`` skips, ``u`` undoes the last answer, ``q`` quits.  Answers are committed by the session
loop before the next screen is drawn, so closing the terminal loses nothing already answered.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Sequence

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ahunt.errors import AhuntError
from ahunt.labels import RESERVE, ClassInfo
from ahunt.oracle import Answer, Label, Question, Quit, Skip, Undo
from ahunt.query import RANDOM_SHARE
from ahunt.terminal_image import HalfBlockImage, image_strip

__all__ = ["KeyReader", "TerminalKeys", "StreamKeys", "TerminalOracle", "legend_keys"]

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
            ch = os.read(fd, 4).decode(errors="ignore")[:1]
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
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


def legend_keys(classes: Sequence[ClassInfo]) -> dict[str, ClassInfo]:
    """Digit key -> class, for every class a person can answer with (not the reserve)."""
    answerable = [c for c in classes if c.name != RESERVE and c.kind != "reserve" and not c.retired]
    return {k: c for k, c in zip(_DIGITS, answerable)}


class TerminalOracle:
    """Draws each question and reads the answer from ``keys``."""

    name = "terminal"

    def __init__(self, console: Console, keys: KeyReader, *, image_width: int = 56, clear: bool | None = None):
        self.console, self.keys, self.image_width = console, keys, image_width
        self.clear = console.is_terminal if clear is None else clear
        self.message = ""

    def __call__(self, question: Question, classes: Sequence[ClassInfo]) -> Answer:
        keymap = legend_keys(classes)
        if self.clear:
            self.console.clear()
        self.console.print(self.screen(question, keymap))
        if self.message:
            self.console.print(self.message, style="yellow")
            self.message = ""
        while True:
            key = self.keys.key().lower()
            if key in keymap:
                return Label(keymap[key].name)
            if key == "s":
                return Skip()
            if key == "u":
                if question.answered == 0:
                    self.console.print("Nothing to undo in this round.", style="yellow")
                    continue
                self.message = "Undid the last answer; it is asked again."
                return Undo()
            if key == "q":
                return Quit()
            if key == "n":
                answer = self._new_class(classes)
                if answer is not None:
                    return answer
                continue
            self.console.print(f"Key {key!r} does nothing here; see the legend.", style="yellow", highlight=False)

    def _new_class(self, classes: Sequence[ClassInfo]) -> Answer | None:
        from ahunt.names import check_new_name

        name = " ".join(self.keys.line("New anomaly class name (empty to cancel): ").split())
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
        return Label(name, new=True)

    def screen(self, q: Question, keymap: dict[str, ClassInfo]) -> Panel:
        info = Table.grid(padding=(0, 1))
        info.add_column(style="bold", no_wrap=True)
        info.add_column()
        info.add_row("object", Text(q.object_id))
        where = f"round {q.round}"
        if q.ra is not None and q.dec is not None:
            where += f"   RA {q.ra:.5f}  Dec {q.dec:+.5f}"
        info.add_row("where", where)
        if q.interest == RANDOM_SHARE:
            info.add_row("asked", Text("at random (the share that estimates the night's anomalous fraction)"))
        else:
            info.add_row("asked", Text(f"{q.strategy} sampling for class '{q.interest}'"))
        top = sorted(q.probs.items(), key=lambda kv: -kv[1])[:3]
        probs = Text()
        for name, p in top:
            probs.append(f"{name} ", style="bold" if name == q.interest else "")
            probs.append(f"{p:.2f}   ")
        info.add_row("model", probs)
        info.add_row("", "")
        legend = Text()
        for i, (key, c) in enumerate(keymap.items()):
            if i and i % 3 == 0:  # break lines ourselves, so a key never parts from its class name
                legend.append("\n")
            legend.append(f" {key} ", style="reverse")
            legend.append(f" {c.name}".ljust(14) + " ")
        info.add_row("classes", legend)
        keys = Text()
        for key, what in (("n", "new class"), ("s", "skip"), ("u", "undo"), ("q", "quit")):
            keys.append(f" {key} ", style="reverse")
            keys.append(f" {what}   ")
        info.add_row("keys", keys)
        body = Table.grid(padding=(0, 2))
        body.add_column()
        body.add_column()
        image = HalfBlockImage(q.image, width=self.image_width, softening=1.0) if q.image is not None else Text("(no image)")
        body.add_row(image, info)
        parts = [body]
        if q.neighbours:
            parts.append(Text("nearest labelled objects in latent space:", style="dim"))
            parts.append(image_strip([img for _, _, img in q.neighbours], [f"{c}" for _, c, _ in q.neighbours], width=14))
        title = f"ahunt · round {q.round} · question {q.position + 1} of {q.total} · {q.answered} answered"
        return Panel(Group(*parts), title=title, title_align="left", border_style="cyan")
