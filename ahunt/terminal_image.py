"""Galaxy cutouts drawn in the terminal, for labelling over SSH.

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

from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
from rich.color import Color
from rich.columns import Columns
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

__all__ = [
    "RAMP",
    "display_stretch",
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
        cells.append(Group(HalfBlockImage(image, width, softening=softening), label))
    return Columns(cells, padding=(0, 1))
