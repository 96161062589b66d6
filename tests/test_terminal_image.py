"""Terminal images: the stretch, the half-block layout, colour downgrades and the text fallback."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text

from ahunt.terminal_image import RAMP, HalfBlockImage, display_stretch, image_strip

_ANSI = re.compile(r"\x1b\[")


def galaxy(size: int = 64, seed: int = 0) -> np.ndarray:
    """A round Gaussian blob in the centre plus a little sky noise."""
    y, x = np.mgrid[:size, :size]
    c = (size - 1) / 2
    blob = 1000.0 * np.exp(-((x - c) ** 2 + (y - c) ** 2) / (2 * (size / 8) ** 2))
    return blob + np.random.default_rng(seed).normal(0.0, 5.0, (size, size))


def colour_console(system: str = "truecolor") -> Console:
    return Console(file=io.StringIO(), force_terminal=True, color_system=system, width=100)


def plain_lines(out: str) -> list[str]:
    return Text.from_ansi(out).plain.split("\n")[:-1]


# -- display_stretch -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape", [(20, 30), (1, 20, 30), (3, 20, 30), (20, 30, 3), (5, 20, 30), (20, 30, 1)]
)
def test_stretch_shapes_and_range(shape):
    img = np.random.default_rng(1).normal(size=shape) * 100
    out = display_stretch(img)
    assert out.shape == (20, 30, 3)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.isfinite(out).all()


def test_stretch_grey_is_equal_rgb():
    out = display_stretch(galaxy(16))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_stretch_non_finite_pixels_are_black():
    img = galaxy(16)
    img[8, 8] = np.nan  # the brightest place: would be near 1 otherwise
    img[0, 0] = np.inf
    img[0, 1] = -np.inf
    out = display_stretch(img)
    assert np.isfinite(out).all()
    assert (out[8, 8] == 0).all() and (out[0, 0] == 0).all() and (out[0, 1] == 0).all()
    assert out[7, 7, 0] > 0.5


def test_stretch_degenerate_images_give_zeros():
    assert not display_stretch(np.full((8, 8), 3.0)).any()
    assert not display_stretch(np.full((8, 8), np.nan)).any()


def test_stretch_is_monotonic():
    img = np.linspace(0.0, 100.0, 64).reshape(8, 8)
    out = display_stretch(img)[..., 0].ravel()
    assert (np.diff(out) >= 0).all()
    assert out[-1] > out[len(out) // 2] > out[0]


def test_stretch_rejects_bad_input():
    with pytest.raises(ValueError):
        display_stretch(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError):
        display_stretch(np.zeros((4, 4)), softening=0.0)


# -- HalfBlockImage ----------------------------------------------------------------------------
@pytest.mark.parametrize("title", [None, "obj-00042"])
def test_truecolor_layout(title):
    console = colour_console()
    console.print(HalfBlockImage(galaxy(), width=56, title=title))
    out = console.file.getvalue()
    assert "38;2;" in out and "48;2;" in out
    lines = plain_lines(out)
    image_lines = lines[1:] if title else lines
    assert len(image_lines) == 28  # 64x64 at 56 wide -> 56 pixel rows -> 28 cells
    assert all(line == "\u2580" * 56 for line in image_lines)
    if title:
        assert lines[0].rstrip() == title and len(lines[0]) == 56


def test_aspect_is_kept_and_rows_are_even():
    console = colour_console()
    console.print(HalfBlockImage(np.random.default_rng(0).normal(size=(30, 60)), width=20))
    lines = plain_lines(console.file.getvalue())
    assert len(lines) == 5 and all(len(line) == 20 for line in lines)  # 10 pixel rows


def test_upscaling_small_image():
    console = colour_console()
    console.print(HalfBlockImage(galaxy(8), width=16))
    lines = plain_lines(console.file.getvalue())
    assert len(lines) == 8 and all(len(line) == 16 for line in lines)


def test_title_is_truncated_to_width():
    console = colour_console()
    console.print(HalfBlockImage(galaxy(16), width=10, title="a-very-long-object-identifier"))
    first = plain_lines(console.file.getvalue())[0]
    assert len(first) == 10 and first.endswith("\u2026")


def test_measure_is_fixed_width():
    console = colour_console()
    m = console.measure(HalfBlockImage(galaxy(16), width=24))
    assert (m.minimum, m.maximum) == (24, 24)


def test_256_colour_downgrade():
    # Render truecolor first: cached styles must not leak truecolor codes to this console.
    colour_console().print(HalfBlockImage(galaxy(), width=32))
    console = colour_console("256")
    console.print(HalfBlockImage(galaxy(), width=32))
    out = console.file.getvalue()
    assert "38;5;" in out and "48;5;" in out and "38;2;" not in out
    assert "\u2580" in out


def test_16_colour_downgrade():
    console = colour_console("standard")
    console.print(HalfBlockImage(galaxy(), width=32))
    out = console.file.getvalue()
    assert "38;5;" not in out and "38;2;" not in out and "\u2580" in out
    assert re.search(r"\x1b\[(3[0-7]|9[0-7]);(4[0-7]|10[0-7])m", out)


def test_narrow_console_shrinks_instead_of_wrapping():
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=20)
    console.print(HalfBlockImage(galaxy(), width=56))
    lines = plain_lines(console.file.getvalue())
    assert len(lines) == 10 and all(len(line) == 20 for line in lines)


def _ramp_levels(lines: list[str]) -> np.ndarray:
    return np.array([[RAMP.index(ch) for ch in line] for line in lines])


def test_plain_console_draws_a_ramp():
    console = Console(file=io.StringIO(), color_system=None, width=100)
    console.print(HalfBlockImage(galaxy(), width=56))
    out = console.file.getvalue()
    assert not _ANSI.search(out) and "\u2580" not in out
    lines = out.split("\n")[:-1]
    assert len(lines) == 28 and all(len(line) == 56 for line in lines)
    levels = _ramp_levels(lines)
    centre = levels[12:16, 26:30].mean()
    corners = np.concatenate([levels[:3, :3], levels[:3, -3:], levels[-3:, :3], levels[-3:, -3:]])
    assert centre > corners.mean() + 5


def test_no_color_terminal_uses_ramp():
    # NO_COLOR keeps a colour system but strips colours; blocks would all look the same.
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      no_color=True, width=100)
    console.print(HalfBlockImage(galaxy(), width=30))
    out = console.file.getvalue()
    assert "\u2580" not in out and "38;2;" not in out


# -- image_strip -------------------------------------------------------------------------------
def test_image_strip_captions():
    console = colour_console()
    captions = ["elliptical", "spiral", "edge-on", "lens"]
    images = [galaxy(32, seed=i) for i in range(4)]
    console.print(image_strip(images, captions, width=16))
    plain = Text.from_ansi(console.file.getvalue()).plain
    for caption in captions:
        assert caption in plain
    assert "\u2580" in plain


def test_image_strip_long_caption_and_empty():
    console = Console(file=io.StringIO(), color_system=None, width=100)
    console.print(image_strip([galaxy(16)], ["a-class-name-far-too-long"], width=8))
    last = console.file.getvalue().split("\n")[-2]
    assert last.strip().endswith("\u2026") and len(last.rstrip()) <= 8
    empty = image_strip([], [])
    assert isinstance(empty, Text) and empty.plain == ""
    with pytest.raises(ValueError):
        image_strip([galaxy(16)], [])
