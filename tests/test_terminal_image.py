"""Terminal images: the stretch, the half-block layout, colour downgrades, the text fallback,
the pixel protocols (kitty, sixel, iTerm2) and asking the terminal which it speaks."""

from __future__ import annotations

import base64
import io
import os
import re
import termios
import threading

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text

from PIL import Image

from ahunt.hunt.terminal_image import (
    DEFAULT_CELL, RAMP, Graphics, GraphicsImage, HalfBlockImage, choose_graphics, detect_graphics, display_pixels,
    display_stretch, image_strip, query_terminal, terminal_image,
)

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


# -- pixel protocols ---------------------------------------------------------------------------
def two_colour(h: int = 40, w: int = 60) -> np.ndarray:
    """(3, H, W) R, G, B: a red left half and a blue right half on a faint sky."""
    img = np.full((3, h, w), 0.05)
    img[0, :, : w // 2] = 1.0
    img[2, :, w // 2:] = 1.0
    return img


def drawn(renderable, width: int = 100) -> str:
    console = colour_console()
    console.width = width
    console.print(renderable)
    return console.file.getvalue()


def kitty_png(out: str) -> Image.Image:
    """The image a kitty escape carries: the payloads of its chunks, joined, as a PNG."""
    chunks = re.findall(r"\x1b_G([^;\x1b]*);([^\x1b]*)\x1b\\", out)
    assert chunks and "a=T" in chunks[0][0] and "f=100" in chunks[0][0]
    return Image.open(io.BytesIO(base64.standard_b64decode("".join(p for _, p in chunks))))


@pytest.mark.parametrize("protocol, start", [
    ("kitty", r"\x1b_G"),                 # kitty graphics: APC ESC _ G
    ("sixel", r"\x1bP[0-9;]*q"),          # sixel: DCS ESC P ... q
    ("iterm", r"\x1b\]1337;File="),       # iTerm2: OSC 1337
])
def test_each_forced_protocol_emits_its_own_escape(protocol, start):
    out = drawn(terminal_image(two_colour(), choose_graphics(protocol), width=56))
    assert re.search(start, out)
    others = {"kitty": r"\x1b_G", "sixel": r"\x1bP[0-9;]*q", "iterm": r"\x1b\]1337"}
    assert not any(re.search(pattern, out) for p, pattern in others.items() if p != protocol)
    assert "\u2580" not in out


def test_blocks_and_none_emit_no_pixel_escape():
    blocks = drawn(terminal_image(two_colour(), choose_graphics("blocks"), width=20))
    assert "\u2580" in blocks and not re.search(r"\x1b(_G|P|\]1337)", blocks)
    off = drawn(terminal_image(two_colour(), choose_graphics("none"), width=20))
    assert "(images off)" in Text.from_ansi(off).plain and "\u2580" not in off
    with pytest.raises(ValueError):
        choose_graphics("png")


def test_kitty_and_iterm_send_the_cutout_at_its_true_size_and_colours():
    img = two_colour(40, 60)
    expected = display_pixels(img, softening=1.0)
    assert expected[0, 0, 0] > 200 and expected[0, 0, 2] < 50 and expected[0, -1, 2] > 200  # red | blue
    kitty = kitty_png(drawn(GraphicsImage(img, Graphics("kitty"), softening=1.0, min_pixels=0)))
    assert kitty.size == (60, 40)
    assert np.array_equal(np.asarray(kitty.convert("RGB")), expected)
    out = drawn(GraphicsImage(img, Graphics("iterm"), softening=1.0, min_pixels=0))
    header, payload = re.search(r"\x1b\]1337;File=([^:]*):([^\x07]*)\x07", out).groups()
    assert "width=60px" in header and "height=40px" in header
    iterm = Image.open(io.BytesIO(base64.standard_b64decode(payload)))
    assert np.array_equal(np.asarray(iterm.convert("RGB")), expected)


def test_sixel_sends_the_cutout_at_its_true_size_and_colours():
    out = drawn(GraphicsImage(two_colour(40, 60), Graphics("sixel"), softening=1.0, min_pixels=0))
    sixel = re.search(r"\x1bP[0-9;]*q(.*?)\x1b\\", out, re.S).group(1)
    assert re.match(r'"1;1;60;40', sixel)  # raster attributes: aspect 1:1, 60 x 40 pixels
    palette = {tuple(map(int, c)) for c in re.findall(r"#\d+;2;(\d+);(\d+);(\d+)", sixel)}  # RGB in percent
    assert any(r > 80 and b < 20 for r, g, b in palette) and any(b > 80 and r < 20 for r, g, b in palette)
    # every colour defined before the first pixel (xterm misdraws registers defined mid-image)
    definitions = re.match(r'"[0-9;]+((?:#\d+;2;\d+;\d+;\d+)+)', sixel)
    assert definitions and len(re.findall("#", definitions.group(1))) == len(palette)
    assert not re.search(r"#\d+;", sixel[definitions.end():])


def test_small_cutouts_are_enlarged_by_a_whole_factor_and_large_ones_fit_the_room():
    small = GraphicsImage(two_colour(16, 16), Graphics("kitty"), min_pixels=64)
    px = small.pixels()
    assert px.shape == (64, 64, 3)
    assert np.array_equal(px[::4, ::4], small.rgb) and np.array_equal(px[3::4, 3::4], small.rgb)  # 4x4 squares
    big = GraphicsImage(two_colour(256, 256), Graphics("kitty", (10, 20)), max_cells=10)
    assert big.pixels().shape == (100, 100, 3) and big.cells() == (10, 5)
    native = GraphicsImage(two_colour(256, 256), Graphics("sixel", (10, 20)))
    assert native.pixels().shape == (256, 256, 3) and native.cells() == (26, 13)


def test_pixels_reserve_their_cells_and_draw_at_their_top_left():
    image = GraphicsImage(two_colour(40, 60), Graphics("sixel", (10, 20)), min_pixels=0, title="obj-1")
    assert colour_console().measure(image).maximum == 6
    out = drawn(image)
    lines = Text.from_ansi(out).plain.split("\n")
    assert lines[0].startswith("obj-1")
    # two reserved rows; from the end of the last, back 6 columns and up 1 row, then the image
    assert re.search(r"\n {6}\x1b7\x1b\[6D\x1b\[1A\x1bP", out)


def test_pixels_into_a_file_fall_back_to_text():
    console = Console(file=io.StringIO(), color_system=None, width=100)
    console.print(GraphicsImage(two_colour(), Graphics("kitty"), min_pixels=0))
    out = console.file.getvalue()
    assert not _ANSI.search(out) and "\x1b" not in out and out.strip()


def test_image_strip_follows_the_protocol():
    out = drawn(image_strip([galaxy(32, seed=i) for i in range(3)], ["a", "b", "c"], width=8,
                            graphics=Graphics("sixel")))
    assert len(re.findall(r"\x1bP[0-9;]*q", out)) == 3 and "\u2580" not in out


def test_kitty_clears_its_images_between_screens():
    assert Graphics("kitty").clear_sequence().startswith("\x1b_Ga=d")
    assert Graphics("sixel").clear_sequence() == "" and Graphics("blocks").clear_sequence() == ""


# -- asking the terminal ---------------------------------------------------------------------
@pytest.fixture
def pty():
    """A pseudo-terminal: (master, slave).  Nothing answers on the master unless a test does."""
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def answering(answer: str):
    def query(request, *, fd_in, fd_out, timeout):
        assert "\x1b_G" in request and request.endswith("\x1b[c")  # kitty's query, then DA1
        return answer
    return query


@pytest.mark.parametrize("answer, protocol", [
    ("\x1b_Gi=31;OK\x1b\\\x1b[?62;22c", "kitty"),
    ("\x1b[?63;1;2;4;6;9;15;22c", "sixel"),          # xterm -ti vt340
    ("\x1b[?62;22c", "blocks"),                       # a terminal without graphics
    ("", "blocks"),                                   # no answer in time (tmux, SSH, old terminals)
])
def test_detection_reads_the_answers(pty, answer, protocol):
    _, slave = pty
    assert detect_graphics(fd_in=slave, fd_out=slave, env={}, query=answering(answer)).protocol == protocol


def test_detection_takes_the_cell_size_the_terminal_gives(pty):
    _, slave = pty  # a fresh pty has no pixel size, so it comes from the answer to CSI 16 t
    g = detect_graphics(fd_in=slave, fd_out=slave, env={}, query=answering("\x1b[6;16;8t\x1b[?62;4c"))
    assert g == Graphics("sixel", (8, 16))
    assert detect_graphics(fd_in=slave, fd_out=slave, env={}, query=answering("\x1b[?62;4c")).cell == DEFAULT_CELL


def test_a_terminal_that_does_not_answer_gets_half_blocks_and_its_settings_back(pty):
    _, slave = pty
    before = termios.tcgetattr(slave)
    assert detect_graphics(fd_in=slave, fd_out=slave, env={}, timeout=0.05) == Graphics("blocks")
    assert termios.tcgetattr(slave) == before


def test_a_real_answer_through_a_pty_is_read_until_da1(pty):
    master, slave = pty

    def terminal():  # a sixel terminal: reads the queries, answers DA1 only
        asked = b""
        while not asked.endswith(b"\x1b[c"):
            asked += os.read(master, 1024)
        os.write(master, b"\x1b[?63;4c")

    t = threading.Thread(target=terminal, daemon=True)
    t.start()
    assert query_terminal("\x1b_Gi=31;AAAA\x1b\\\x1b[c", fd_in=slave, fd_out=slave, timeout=30) == "\x1b[?63;4c"
    t.join()


def test_no_terminal_no_question():
    def query(*a, **k):
        raise AssertionError("asked a terminal that is not there")
    r, w = os.pipe()
    try:
        assert detect_graphics(fd_in=r, fd_out=w, env={}, query=query) == Graphics("blocks")
    finally:
        os.close(r)
        os.close(w)


def test_iterm2_is_known_by_its_variables_outside_tmux(pty):
    _, slave = pty
    silent = answering("")
    assert detect_graphics(fd_in=slave, fd_out=slave, env={"LC_TERMINAL": "iTerm2"}, query=silent).protocol == "iterm"
    inside_tmux = {"LC_TERMINAL": "iTerm2", "TMUX": "/tmp/tmux-0/default,1,0"}
    assert detect_graphics(fd_in=slave, fd_out=slave, env=inside_tmux, query=silent).protocol == "blocks"
    assert detect_graphics(fd_in=slave, fd_out=slave, env={"TERM": "dumb"}, query=silent).protocol == "blocks"


def test_the_pinned_textual_image_still_has_the_sixel_encoder_ahunt_uses():
    """ahunt imports textual-image's encoder function, which is not public API: the version is
    pinned in pyproject.toml, and this fails first if a release moves or changes it."""
    from importlib.metadata import version

    from PIL import Image as PILImage
    from textual_image._sixel import image_to_sixels

    major, minor = (int(x) for x in version("textual-image").split(".")[:2])
    assert (major, minor) == (0, 12), "update the pin in pyproject.toml only after checking sixel_sequence"
    data = image_to_sixels(PILImage.fromarray(np.zeros((6, 4, 3), np.uint8), "RGB"))
    assert data.startswith("\x1bP") and data.endswith("\x1b\\")
