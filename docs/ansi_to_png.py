"""Turn a terminal capture (`tmux capture-pane -p -e`) into a PNG screenshot for the docs.

    python docs/ansi_to_png.py screen.ansi docs/question-screen.png

Each cell is drawn as a terminal would: half blocks as two coloured pixels-rows, text in a
monospace font on its background colour.
"""

import sys
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont
from rich.text import Text

CELL_W, CELL_H = 9, 18
DEFAULT_FG, DEFAULT_BG = (220, 220, 220), (18, 18, 18)


def render(lines: list[str]) -> Image.Image:
    font_path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"
    font = ImageFont.truetype(str(font_path), 14)
    width = max(len(Text.from_ansi(line).plain) for line in lines)
    img = Image.new("RGB", (width * CELL_W, len(lines) * CELL_H), DEFAULT_BG)
    draw = ImageDraw.Draw(img)
    for y, line in enumerate(lines):
        text = Text.from_ansi(line)
        styles = [None] * len(text.plain)
        for span in text.spans:
            for i in range(span.start, min(span.end, len(styles))):
                styles[i] = span.style
        for x, ch in enumerate(text.plain):
            style = styles[x]
            fg, bg = DEFAULT_FG, DEFAULT_BG
            if style is not None and not isinstance(style, str):
                if style.color is not None and not style.color.is_default:
                    fg = tuple(style.color.get_truecolor())
                if style.bgcolor is not None and not style.bgcolor.is_default:
                    bg = tuple(style.bgcolor.get_truecolor())
                if style.reverse:
                    fg, bg = bg, fg
            x0, y0 = x * CELL_W, y * CELL_H
            if ch == "\u2580":
                draw.rectangle([x0, y0, x0 + CELL_W - 1, y0 + CELL_H // 2 - 1], fill=fg)
                draw.rectangle([x0, y0 + CELL_H // 2, x0 + CELL_W - 1, y0 + CELL_H - 1], fill=bg)
            else:
                draw.rectangle([x0, y0, x0 + CELL_W - 1, y0 + CELL_H - 1], fill=bg)
                if ch.strip():
                    draw.text((x0, y0 + 1), ch, font=font, fill=fg)
    return img


if __name__ == "__main__":
    lines = Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()
    while lines and not Text.from_ansi(lines[-1]).plain.strip():
        lines.pop()
    render(lines).save(sys.argv[2])
