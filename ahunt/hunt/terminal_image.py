"""Galaxy cutouts drawn in the terminal, for labelling over SSH.

Two ways to draw.  Terminals with a graphics protocol (kitty's, sixel, iTerm2's inline
images: kitty, WezTerm, Ghostty, Konsole, iTerm2, VS Code, Windows Terminal, foot, xterm
``-ti vt340``) get the cutout's own pixels, in colour, at its native resolution
(:class:`GraphicsImage`); :func:`detect_graphics` asks the terminal which it speaks and gives
half blocks when it does not answer within a short timeout.  Everything else gets half blocks
(:class:`HalfBlockImage`):

Each character cell shows two vertical pixels with the upper half block U+2580 ('▀'): its
foreground colour is the upper pixel and its background colour the lower one.  Terminal cells
are about twice as tall as they are wide, so two pixels per cell gives roughly square pixels
and a round galaxy stays round.

Colours go through :class:`rich.style.Style`, so Rich itself downgrades truecolor to 256 or
16 colours to suit each console.  When the console has no colour at all (output piped to a
file, ``NO_COLOR``), the image is drawn as a plain greyscale character ramp instead, so the
shape is still visible in a log.
"""

from __future__ import annotations

import base64
import io
import os
import re
import select
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from rich.color import Color
from rich.columns import Columns
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import ControlType, Segment
from rich.style import Style
from rich.text import Text

__all__ = [
    "RAMP",
    "PROTOCOLS",
    "display_stretch",
    "display_pixels",
    "Graphics",
    "detect_graphics",
    "choose_graphics",
    "terminal_image",
    "GraphicsImage",
    "HalfBlockImage",
    "image_strip",
]

#: Characters from empty to dense, used when the console cannot show colour.
RAMP = " .:-=+*#%@"

_HALF_BLOCK = "\u2580"


# -- stretch -------------------------------------------------------------------------------
def _as_hwc(image: np.ndarray) -> np.ndarray:
    """Bring any supported layout to float64 ``(H, W, 3)``; grey becomes equal RGB."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 2:
        grey = arr
    elif arr.ndim == 3:
        # The store keeps (C, H, W); image libraries give (H, W, 3).  A leading axis of 1 or 3
        # with a larger trailing axis is channels-first; a trailing 3 otherwise is channels-last.
        if arr.shape[-1] == 3 and arr.shape[0] not in (1, 3):
            return arr
        if arr.shape[0] == 3:
            return np.moveaxis(arr, 0, -1)
        if arr.shape[0] == 1:
            grey = arr[0]
        elif arr.shape[-1] == 1:
            grey = arr[..., 0]
        else:
            # Any other band count (e.g. g, r, i, z): show the band mean as grey rather than
            # invent a colour mapping.
            grey = arr.mean(axis=0)
    else:
        raise ValueError(f"image must be (H, W), (C, H, W) or (H, W, 3); got shape {arr.shape}")
    return np.repeat(grey[:, :, None], 3, axis=2)


def display_stretch(
    image: np.ndarray,
    *,
    low: float = 1.0,
    high: float = 99.5,
    softening: float = 0.1,
) -> np.ndarray:
    """Stretch an image to RGB in ``[0, 1]`` for display.

    An asinh stretch over a robust interval: the `low` percentile is subtracted as sky, the
    result is scaled so the `high` percentile maps to 1, then
    ``arcsinh(x / softening) / arcsinh(1 / softening)`` lifts faint outskirts without
    saturating the core.  One interval is used for all channels so colours keep their ratios.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)``, ``(C, H, W)`` or ``(H, W, 3)`` array.  One channel is shown as grey; three
        as RGB; any other channel count as the grey mean of the bands.
    low, high : float
        Percentiles (0-100) of the finite pixels taken as black and as white.
    softening : float
        Asinh softening, as a fraction of the interval.  Small values brighten faint light;
        use ~1 or more for images that are already stretched, to stay nearly linear.

    Returns
    -------
    numpy.ndarray
        float64 ``(H, W, 3)`` in ``[0, 1]``.  NaN/inf pixels are 0 (black); a constant or
        all-non-finite image gives all zeros.

    Raises
    ------
    ValueError
        If the shape is not one of the above or `softening` is not positive.
    """
    if not (np.isfinite(softening) and softening > 0):
        raise ValueError(f"softening must be a positive finite number, got {softening!r}")
    rgb = _as_hwc(image)
    finite = np.isfinite(rgb)
    out = np.zeros_like(rgb)
    if not finite.any():
        return out
    lo, hi = np.percentile(rgb[finite], [low, high])
    span = hi - lo
    if not span > 0:
        # A constant image carries nothing to show; dividing by zero would give NaN.
        return out
    x = np.clip((np.where(finite, rgb, lo) - lo) / span, 0.0, None)
    out = np.arcsinh(x / softening) / np.arcsinh(1.0 / softening)
    out[~finite] = 0.0
    return np.clip(out, 0.0, 1.0)


# -- resampling ----------------------------------------------------------------------------
def _axis_weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` matrix mapping an axis of ``n_in`` pixels to ``n_out``.

    Shrinking averages by overlapping area, so every input pixel counts and a faint
    companion does not vanish between samples; growing picks the nearest pixel, which keeps
    edges sharp instead of blurring a tiny thumbnail.
    """
    if n_out >= n_in:
        idx = np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(int), n_in - 1)
        w = np.zeros((n_out, n_in))
        w[np.arange(n_out), idx] = 1.0
        return w
    scale = n_in / n_out
    start = np.arange(n_out)[:, None] * scale
    stop = start + scale
    j = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(stop, j + 1) - np.maximum(start, j), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _resample(rgb: np.ndarray, width: int) -> np.ndarray:
    """Resample ``(H, W, 3)`` to ``width`` columns and the even row count keeping aspect."""
    h, w = rgb.shape[:2]
    # Two pixel rows per cell, so the row count must be even; at least one cell tall.
    rows = max(2, 2 * int(round(h * width / w / 2.0)))
    wy = _axis_weights(h, rows)
    wx = _axis_weights(w, width)
    # Two matrix products (rows first, then columns per row) rather than one 3-operand
    # einsum, which numpy would evaluate as a slow nested loop.
    return np.matmul(wx, np.tensordot(wy, rgb, axes=(1, 0)))


@lru_cache(maxsize=8192)
def _cell_style(system: object, r1: int, g1: int, b1: int, r2: int, g2: int, b2: int) -> Style:
    """One Style per colour pair; neighbouring sky cells repeat pairs a lot.

    The console's colour system is part of the key because a Style remembers the ANSI codes
    of the first colour system it was rendered for: sharing one between a truecolor and a
    256-colour console would send truecolor codes to both.
    """
    return Style(color=Color.from_rgb(r1, g1, b1), bgcolor=Color.from_rgb(r2, g2, b2))


# -- graphics protocols --------------------------------------------------------------------
#: ``--images`` / ``[terminal] images``: ask the terminal (``auto``) or force one way to draw.
PROTOCOLS = ("auto", "kitty", "sixel", "iterm", "blocks", "none")

#: Pixels per character cell when the terminal does not say: a VT340's, as xterm emulates it.
DEFAULT_CELL = (10, 20)

#: A cutout smaller than this (longest side, pixels) is enlarged by a whole factor, so a 64 px
#: simulation is not a stamp in a corner; larger cutouts are shown pixel for pixel.
MIN_PIXELS = 192

#: How long :func:`detect_graphics` waits for the terminal's answers, in seconds.  A terminal
#: answers in milliseconds (the reply to DA1 ends the wait at once); over SSH a round trip
#: is one network latency.  Silence means half blocks.
DETECT_TIMEOUT = 0.5

# Asked in one write; terminals answer in order, and every VT100-compatible one answers DA1
# (primary device attributes), so its reply marks the end of the answers: a kitty-graphics
# terminal replies OK to the query image before it, and a sixel terminal lists 4 in it.
_KITTY_QUERY = "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
_CELL_QUERY = "\x1b[16t"  # xterm: the cell size in pixels, answered as ESC [ 6 ; height ; width t
_DA1 = "\x1b[c"
_DA1_ANSWER = re.compile(r"\x1b\[\?([\d;]*)c")
_KITTY_OK = re.compile(r"\x1b_Gi=31;OK\x1b\\")
_CELL_ANSWER = re.compile(r"\x1b\[6;(\d+);(\d+)t")

# Rich passes a control segment through untouched and counts it as zero cells wide.
_CONTROL = [(ControlType.CURSOR_FORWARD, 0)]


@dataclass(frozen=True)
class Graphics:
    """How this terminal draws images.

    ``protocol``: ``kitty``, ``sixel``, ``iterm`` (pixels), ``blocks`` (half blocks) or
    ``none`` (no image).  ``cell``: a character cell's (width, height) in pixels, used to
    reserve the cells an image covers.
    """

    protocol: str = "blocks"
    cell: tuple[int, int] = DEFAULT_CELL

    @property
    def pixels(self) -> bool:
        """Whether images are drawn with the terminal's own pixels."""
        return self.protocol in ("kitty", "sixel", "iterm")

    def clear_sequence(self) -> str:
        """What to write before a new screen so the last screen's images go too.

        Clearing the screen erases sixel and iTerm2 images with the text; kitty keeps its
        placements until they are deleted.
        """
        return "\x1b_Ga=d,q=2\x1b\\" if self.protocol == "kitty" else ""


def query_terminal(request: str, *, fd_in: int, fd_out: int, timeout: float = DETECT_TIMEOUT) -> str:
    """Write `request` to the terminal and return what it answers.

    Reads until the terminal's reply to DA1 (``ESC [ ? ... c``) has arrived or `timeout`
    seconds have passed, whichever is first, so a terminal that answers nothing costs at most
    `timeout` and never hangs.  The terminal is in cbreak mode meanwhile (answers are not
    echoed; Ctrl-C still interrupts) and is restored on every way out.
    """
    import termios
    import time
    import tty

    saved = termios.tcgetattr(fd_in)
    answer = ""
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)
        os.write(fd_out, request.encode("ascii"))
        deadline = time.monotonic() + timeout
        while not _DA1_ANSWER.search(answer):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            chunk = os.read(fd_in, 1024)
            if not chunk:
                break
            answer += chunk.decode("latin-1")
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    return answer


def _window_cell(fd: int) -> tuple[int, int] | None:
    """The cell size from the kernel's window size (TIOCGWINSZ), where the terminal fills it in."""
    import fcntl
    import struct
    import termios

    try:
        rows, cols, xpix, ypix = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    if rows and cols and xpix >= cols and ypix >= rows:
        return xpix // cols, ypix // rows
    return None


def _tty_fds(fd_in: int | None, fd_out: int | None) -> tuple[int, int] | None:
    try:
        fd_in = sys.stdin.fileno() if fd_in is None else fd_in
        fd_out = sys.stdout.fileno() if fd_out is None else fd_out
    except (AttributeError, OSError, ValueError):  # replaced or closed streams (tests, daemons)
        return None
    return (fd_in, fd_out) if os.isatty(fd_in) and os.isatty(fd_out) else None


def detect_graphics(
    *,
    fd_in: int | None = None,
    fd_out: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DETECT_TIMEOUT,
    query: Callable[..., str] = query_terminal,
) -> Graphics:
    """Ask the terminal how it can draw images; half blocks unless it answers in time.

    Kitty's graphics protocol when the terminal accepts kitty's query image, else sixel when
    its device attributes list sixel graphics (4), else half blocks.  iTerm2 is known by the
    variables it sets (``TERM_PROGRAM``, or ``LC_TERMINAL``, which SSH passes on), outside
    tmux.  Inside tmux the answers are tmux's own: sixel when tmux was built with it, else
    half blocks.  Without a terminal on both stdin and stdout nothing is asked.

    Parameters
    ----------
    fd_in, fd_out : int, optional
        The terminal's file descriptors (default: standard input and output).
    env : mapping, optional
        Environment variables (default ``os.environ``).
    timeout : float
        Seconds to wait for the answers.
    query : callable
        :func:`query_terminal`, or a stand-in for tests.
    """
    env = os.environ if env is None else env
    fds = _tty_fds(fd_in, fd_out)
    if fds is None or env.get("TERM") == "dumb":
        return Graphics("blocks")
    fd_in, fd_out = fds
    cell = _window_cell(fd_out)
    if "TMUX" not in env and (env.get("TERM_PROGRAM") == "iTerm.app" or env.get("LC_TERMINAL") == "iTerm2"):
        return Graphics("iterm", cell or DEFAULT_CELL)
    sys.stdout.flush()  # what Python still buffers must reach the terminal before the query
    try:
        answer = query(_KITTY_QUERY + _CELL_QUERY + _DA1, fd_in=fd_in, fd_out=fd_out, timeout=timeout)
    except OSError:
        return Graphics("blocks")
    if cell is None and (m := _CELL_ANSWER.search(answer)) and int(m.group(1)) and int(m.group(2)):
        cell = int(m.group(2)), int(m.group(1))
    da1 = _DA1_ANSWER.search(answer)
    if _KITTY_OK.search(answer):
        protocol = "kitty"
    elif da1 and "4" in da1.group(1).split(";"):
        protocol = "sixel"
    else:
        protocol = "blocks"
    return Graphics(protocol, cell or DEFAULT_CELL)


def choose_graphics(choice: str = "auto", **detect) -> Graphics:
    """The :class:`Graphics` for a ``--images`` choice: detected for ``auto``, else as forced.

    Keyword arguments go to :func:`detect_graphics`.  A forced protocol still takes the cell
    size from the terminal when it gives one.
    """
    if choice not in PROTOCOLS:
        raise ValueError(f"unknown image protocol {choice!r}; choose one of {', '.join(PROTOCOLS)}")
    if choice == "auto":
        return detect_graphics(**detect)
    cell = None
    if choice in ("kitty", "sixel", "iterm"):
        fds = _tty_fds(detect.get("fd_in"), detect.get("fd_out"))
        cell = _window_cell(fds[1]) if fds else None
    return Graphics(choice, cell or DEFAULT_CELL)


def display_pixels(image: np.ndarray, *, softening: float = 0.1) -> np.ndarray:
    """The cutout as shown: uint8 ``(H, W, 3)`` at its own size, from :func:`display_stretch`."""
    return np.clip(np.rint(display_stretch(image, softening=softening) * 255.0), 0, 255).astype(np.uint8)


def _png(px: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(px, "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def kitty_sequence(px: np.ndarray) -> str:
    """Kitty graphics protocol: the PNG sent in 4096-byte chunks and shown at the cursor, at its
    own pixel size, without moving the cursor (``C=1``) or asking for a reply (``q=2``)."""
    data = base64.standard_b64encode(_png(px)).decode("ascii")
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    parts = []
    for i, chunk in enumerate(chunks):
        more = int(i < len(chunks) - 1)
        keys = f"a=T,f=100,t=d,C=1,q=2,m={more}" if i == 0 else f"m={more}"
        parts.append(f"\x1b_G{keys};{chunk}\x1b\\")
    return "".join(parts)


def iterm_sequence(px: np.ndarray) -> str:
    """iTerm2's inline image (OSC 1337): the PNG at its own pixel size."""
    png = _png(px)
    h, w = px.shape[:2]
    return (f"\x1b]1337;File=inline=1;size={len(png)};width={w}px;height={h}px;preserveAspectRatio=1:"
            f"{base64.standard_b64encode(png).decode('ascii')}\x07")


_SIXEL_HEAD = re.compile(r'\x1bP[0-9;]*q("[0-9;]*)?')
_SIXEL_COLOUR = re.compile(r"(#\d+);2;\d+;\d+;\d+")  # after a register, ';' only ever starts its definition


def sixel_sequence(px: np.ndarray) -> str:
    """Sixel (a DCS string ``ESC P ... q ... ESC \\``), encoded by textual-image.

    textual-image defines each colour register where it is first used; xterm (379) draws such
    an image with black specks where the later-defined colours are, and its first band tinted.
    So the definitions are moved to the start, after the raster attributes, where libsixel
    and ImageMagick put them; the pixels are untouched.
    """
    from PIL import Image
    # textual-image's encoder; its renderables are not used because they resample to the cell
    # grid they measure themselves, and importing them probes the terminal a second time.
    from textual_image._sixel import image_to_sixels

    data = image_to_sixels(Image.fromarray(px, "RGB"))
    head = _SIXEL_HEAD.match(data)
    definitions = "".join(m.group(0) for m in _SIXEL_COLOUR.finditer(data, head.end()))
    return head.group(0) + definitions + _SIXEL_COLOUR.sub(r"\1", data[head.end():])


_SEQUENCES = {"kitty": kitty_sequence, "sixel": sixel_sequence, "iterm": iterm_sequence}


class GraphicsImage:
    """An image drawn with the terminal's own pixels (kitty, sixel or iTerm2), as a Rich renderable.

    The cutout is shown pixel for pixel, in colour; one smaller than `min_pixels` is enlarged
    by a whole factor (each pixel a sharp square); one wider than the room it gets is
    shrunk by area averaging.  The renderable reserves the cells the image covers with spaces,
    then goes back to their top-left corner and draws the image there, so it can stand in a
    table beside text like any other renderable.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)``, ``(C, H, W)`` or ``(H, W, 3)`` array of raw values, stretched with
        :func:`display_stretch`.
    graphics : Graphics
        The protocol and the cell size in pixels.
    max_cells : int, optional
        The most cells wide it may be (besides the console's width).
    title : str, optional
        One line above the image, cut to its width with an ellipsis.
    softening : float
        Passed to :func:`display_stretch`.
    min_pixels : int
        Enlarge cutouts whose longest side is below this.
    """

    def __init__(
        self,
        image: np.ndarray,
        graphics: Graphics,
        *,
        max_cells: int | None = None,
        title: str | None = None,
        softening: float = 0.1,
        min_pixels: int = MIN_PIXELS,
    ) -> None:
        if graphics.protocol not in _SEQUENCES:
            raise ValueError(f"{graphics.protocol!r} does not draw pixels; use one of {', '.join(_SEQUENCES)}")
        self.graphics, self.max_cells, self.title = graphics, max_cells, title
        self._image, self._softening = image, softening
        self.rgb = display_pixels(image, softening=softening)
        h, w = self.rgb.shape[:2]
        self.scale = max(1, -(-int(min_pixels) // max(h, w)))  # whole factor: each pixel a square

    def pixels(self, max_cells: int | None = None) -> np.ndarray:
        """The uint8 ``(h, w, 3)`` image sent, fitted to `max_cells` columns."""
        h, w = self.rgb.shape[:2]
        width, height = w * self.scale, h * self.scale
        room = self.max_cells if max_cells is None else max_cells
        if room is not None and width > room * self.graphics.cell[0]:
            from PIL import Image

            width = max(1, room * self.graphics.cell[0])
            height = max(1, int(round(h * width / w)))
            return np.asarray(Image.fromarray(self.rgb, "RGB").resize((width, height), Image.Resampling.BOX))
        if self.scale == 1:
            return self.rgb
        return np.repeat(np.repeat(self.rgb, self.scale, axis=0), self.scale, axis=1)

    def cells(self, max_cells: int | None = None) -> tuple[int, int]:
        """(columns, rows) of character cells the image covers."""
        h, w = self.pixels(max_cells).shape[:2]
        cw, ch = self.graphics.cell
        return -(-w // cw), -(-h // ch)

    def _room(self, options: ConsoleOptions) -> int:
        return options.max_width if self.max_cells is None else min(self.max_cells, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        cols, _ = self.cells(self._room(options))
        return Measurement(cols, cols)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        room = self._room(options)
        px = self.pixels(room)
        cols, rows = self.cells(room)
        if not console.is_terminal:
            # Rich drops escape sequences on the way to a file or pipe: draw what a log can keep.
            yield from HalfBlockImage(self._image, cols, title=self.title, softening=self._softening).__rich_console__(
                console, options)
            return
        if self.title is not None:
            title = Text(self.title, style="bold", no_wrap=True)
            title.truncate(cols, overflow="ellipsis", pad=True)
            yield from title.render(console)
            yield Segment.line()
        blank = Segment(" " * cols)
        for _ in range(rows - 1):
            yield blank
            yield Segment.line()
        yield blank
        # From the end of the last reserved line back to the first one's start, draw, come back.
        move = f"\x1b[{cols}D" + (f"\x1b[{rows - 1}A" if rows > 1 else "")
        draw = _SEQUENCES[self.graphics.protocol](px)
        yield Segment("\x1b7" + move + draw + "\x1b8", control=_CONTROL)
        yield Segment.line()


def terminal_image(
    image: np.ndarray | None,
    graphics: Graphics,
    *,
    width: int,
    title: str | None = None,
    softening: float = 0.1,
    min_pixels: int = MIN_PIXELS,
) -> RenderableType:
    """The image drawn as `graphics` says: pixels, half blocks `width` cells wide, or a note.

    With pixels, `width` is the most cells wide the image may be.
    """
    if image is None:
        return Text("(no image)")
    if graphics.protocol == "none":
        return Text("(images off)", style="dim")
    if graphics.pixels:
        return GraphicsImage(image, graphics, max_cells=width, title=title, softening=softening,
                             min_pixels=min_pixels)
    return HalfBlockImage(image, width, title=title, softening=softening)


# -- renderables ---------------------------------------------------------------------------
class HalfBlockImage:
    """An image drawn with half blocks, ``width`` cells wide, as a Rich renderable.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)``, ``(C, H, W)`` or ``(H, W, 3)`` array of raw values; it is stretched with
        :func:`display_stretch` (use `softening` to tune it).
    width : int
        Width in cells (= pixel columns).  The height is ``rows / 2`` cells, where ``rows`` is
        the even pixel-row count closest to keeping the aspect ratio.  If the console offers
        less room than `width` the image shrinks to fit rather than wrap into garbage.
    title : str, optional
        One line above the image (e.g. the object id), cut to the width with an ellipsis.
    softening : float
        Passed to :func:`display_stretch`.
    """

    def __init__(
        self,
        image: np.ndarray,
        width: int = 56,
        title: str | None = None,
        *,
        softening: float = 0.1,
    ) -> None:
        if int(width) < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.width = int(width)
        self.title = title
        # Stretch once; renders only resample, which is what changes with the console width.
        self._rgb = display_stretch(image, softening=softening)
        self._pixels: dict[int, np.ndarray] = {}

    def pixels(self, width: int | None = None) -> np.ndarray:
        """The resampled ``(rows, width, 3)`` uint8 image that is drawn."""
        width = self.width if width is None else width
        if width not in self._pixels:
            px = _resample(self._rgb, width)
            self._pixels[width] = np.clip(np.rint(px * 255.0), 0, 255).astype(np.uint8)
        return self._pixels[width]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cells = max(1, min(self.width, options.max_width))
        if self.title is not None:
            title = Text(self.title, style="bold", no_wrap=True)
            title.truncate(cells, overflow="ellipsis", pad=True)
            yield from title.render(console)
            yield Segment.line()
        px = self.pixels(cells)
        # NO_COLOR keeps a colour system but strips colours, which would leave solid blocks.
        if console.color_system is None or console.no_color:
            yield from self._render_ramp(px)
        else:
            yield from self._render_blocks(px, console.color_system)

    @staticmethod
    def _render_blocks(px: np.ndarray, system: object) -> Iterable[Segment]:
        line = Segment.line()
        for top, bottom in zip(px[0::2].tolist(), px[1::2].tolist()):
            segments = []
            run_style, run_len = None, 0
            for upper, lower in zip(top, bottom):
                style = _cell_style(system, *upper, *lower)
                # Merge runs of equal cells (dark sky) so Rich emits fewer escape sequences.
                if style is run_style:
                    run_len += 1
                    continue
                if run_len:
                    segments.append(Segment(_HALF_BLOCK * run_len, run_style))
                run_style, run_len = style, 1
            segments.append(Segment(_HALF_BLOCK * run_len, run_style))
            yield from segments
            yield line

    @staticmethod
    def _render_ramp(px: np.ndarray) -> Iterable[Segment]:
        # Luminance of each pixel, then the mean of the cell's two pixels picks the character.
        lum = px.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722]) / 255.0
        cell = 0.5 * (lum[0::2] + lum[1::2])
        idx = np.minimum((cell * len(RAMP)).astype(int), len(RAMP) - 1)
        chars = np.array(list(RAMP))[idx]
        for row in chars:
            yield Segment("".join(row))
            yield Segment.line()


def image_strip(
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    *,
    width: int = 16,
    softening: float = 0.1,
    graphics: Graphics | None = None,
) -> RenderableType:
    """A row of small thumbnails, each with a caption under it.

    Meant for e.g. the nearest labelled neighbours of a candidate with their class names.
    The row wraps onto further lines when the terminal is too narrow for all thumbnails.

    Parameters
    ----------
    images : sequence of numpy.ndarray
        Images in any layout :func:`display_stretch` accepts.
    captions : sequence of str
        One caption per image, cut to `width` with an ellipsis.
    width : int
        Width of each thumbnail in cells.
    softening : float
        Passed to :func:`display_stretch`.
    graphics : Graphics, optional
        How to draw them (default: half blocks), as :func:`terminal_image`.

    Returns
    -------
    rich.console.RenderableType
        A :class:`rich.columns.Columns`, or an empty ``Text('')`` for no images.

    Raises
    ------
    ValueError
        If `images` and `captions` differ in length.
    """
    if len(images) != len(captions):
        raise ValueError(f"got {len(images)} images but {len(captions)} captions")
    if len(images) == 0:
        return Text("")
    cells = []
    for image, caption in zip(images, captions):
        label = Text(str(caption), no_wrap=True, justify="center")
        label.truncate(width, overflow="ellipsis")
        thumb = terminal_image(image, graphics or Graphics("blocks"), width=width, softening=softening, min_pixels=0)
        cells.append(Group(thumb, label))
    return Columns(cells, padding=(0, 1))
