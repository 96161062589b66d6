"""The labelling screen: why it asks, the legend at 80 columns, acknowledgements, key reading
and the terminal put back as it was."""

from __future__ import annotations

import io
import os
import signal
import sys
import termios
import threading
import time
import tty

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text

from ahunt.hunt.oracle import Label, Question, Skip, Undo
from ahunt.hunt.query import RANDOM_SHARE
from ahunt.hunt.terminal_image import Graphics
from ahunt.hunt.terminal_oracle import StreamKeys, TerminalKeys, TerminalOracle, legend_keys, terminal_restored
from ahunt.store.answer_log import ClassInfo

CLASSES = [ClassInfo(i, n, k, 0) for i, (n, k) in enumerate([
    ("elliptical", "known"), ("spiral", "known"), ("edge-on", "known"), ("reserve", "reserve"),
    ("merger", "anomaly"), ("lens", "anomaly"), ("artefact", "anomaly"),
])]
PROBS = {"elliptical": 0.6, "spiral": 0.2, "edge-on": 0.15, "reserve": 0.03, "merger": 0.02}


def question(**changes) -> Question:
    fields = dict(round=2, position=0, total=10, answered=0, object_id="obj-000123", object_index=5,
                  strategy="anomaly", interest="reserve", probs=PROBS, ra=150.1, dec=2.2,
                  image=np.random.default_rng(0).random((3, 64, 64)), score=0.93, rank=1, n_objects=150)
    fields.update(changes)
    return Question(**fields)


def screen_text(q: Question, width: int = 80, graphics: Graphics | None = None) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    oracle = TerminalOracle(console, StreamKeys(io.StringIO(""), console), graphics=graphics, clear=False)
    console.print(oracle.screen(q, legend_keys(CLASSES)))
    return console.file.getvalue().split("\n")


def answer(keys: str, q: Question | None = None) -> tuple[object, str]:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    oracle = TerminalOracle(console, StreamKeys(io.StringIO(keys), console), clear=False)
    got = oracle(q or question(answered=1), CLASSES)
    return got, Text.from_ansi(console.file.getvalue()).plain


# -- why it asks -------------------------------------------------------------------------------
def test_a_reserve_question_shows_its_novelty_score_and_rank():
    text = "\n".join(screen_text(question()))
    assert "for the reserve: anything new" in text
    assert "novelty score 0.93 · rank 1 of 150" in text
    assert "reserve 0.03" in text  # the model line shows the reserve, though not in the top three


def test_without_a_rank_the_score_alone():
    text = "\n".join(screen_text(question(rank=None)))
    assert "novelty score 0.93" in text and "rank" not in text


def test_other_questions_say_their_strategy_and_class():
    text = "\n".join(screen_text(question(interest="merger", strategy="uncertainty"), width=120))
    assert "uncertainty sampling for class 'merger'" in text and "novelty" not in text
    assert "merger 0.02" in text
    text = "\n".join(screen_text(question(interest=RANDOM_SHARE, strategy="anomaly"), width=120))
    assert "at random" in text and "novelty" not in text


def test_a_class_ranked_by_its_members_neighbours_shows_that_score_and_rank():
    q = question(interest="merger", score=0.64, rank=2, score_name="neighbours")
    text = "\n".join(screen_text(q, width=120))
    assert "anomaly sampling for class 'merger'" in text
    assert "members score 0.64 · rank 2 of 150" in text and "novelty" not in text
    assert "RA 150.10000  Dec +2.20000" in "\n".join(screen_text(q, width=80))  # no wider label column
    assert "merger 0.02" in text  # the model's own probability stays on the model line
    plain = "\n".join(screen_text(question(interest="merger", score_name="p_merger"), width=120))
    assert "members" not in plain and "score 0.93" not in plain


def test_a_spread_pick_says_so_and_shows_its_rank_by_the_class_probability():
    q = question(interest="merger", strategy="spread", score=0.81, rank=37, score_name="p_merger", n_objects=100000)
    text = "\n".join(screen_text(q, width=120))
    assert "spread sampling for class 'merger'" in text
    assert "spread  score 0.81 · rank 37 of 100000" in text and "novelty" not in text
    assert "RA 150.10000  Dec +2.20000" in "\n".join(screen_text(q, width=80))  # no wider label column


# -- the legend --------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [80, 120])
def test_legend_keeps_each_key_with_its_word_in_aligned_columns(width):
    lines = screen_text(question(), width=width)
    assert all(len(line) <= width for line in lines)
    words = {"1": "elliptical", "2": "spiral", "3": "edge-on", "4": "merger", "5": "lens", "6": "artefact",
             "n": "new class", "k": "normal kind", "s": "skip", "u": "undo", "q": "quit"}
    for key, word in words.items():
        assert sum(f" {key}   {word}" in line or f" {key}  {word}" in line for line in lines) == 1, (key, lines)
    start = next(i for i, line in enumerate(lines) if "elliptical" in line and " 1 " in line)
    legend = lines[start:start + 5]
    # badges of one column start at the same place on every line
    columns = [{m for m in range(len(line)) if line[m:m + 3] in {f" {k} " for k in words} and line[m + 3:m + 4] == " "}
               for line in legend]
    first = sorted(columns[0])
    assert len(first) >= 2
    for cols in columns[1:]:
        assert set(sorted(cols)) <= set(first) or not cols


def test_eighty_columns_shrink_the_half_blocks_to_keep_the_text_beside():
    lines = screen_text(question(), width=80)
    row = next(line for line in lines if "obj-000123" in line)
    assert row.index("obj-000123") < 60  # beside the image, not under it
    assert len(lines) < 24


# -- acknowledgements --------------------------------------------------------------------------
@pytest.mark.parametrize("keys, expected, ack", [
    ("2", Label("spiral"), "recorded: spiral"),
    ("s", Skip(), "skipped"),
    ("u", Undo(), "undone"),
    ("n\nblue-nugget\n", Label("blue-nugget", new=True), "recorded: blue-nugget (new class)"),
])
def test_each_answer_gets_a_one_line_acknowledgement(keys, expected, ack):
    got, printed = answer(keys)
    assert got == expected
    assert ack in printed.splitlines()[-1]


def test_the_acknowledgement_stays_on_top_of_the_next_screen_when_clearing():
    console = Console(file=io.StringIO(), width=100, color_system=None)
    oracle = TerminalOracle(console, StreamKeys(io.StringIO("1 2"), console), clear=True)
    oracle(question(), CLASSES)
    console.file.truncate(0)
    console.file.seek(0)
    oracle(question(position=1, answered=1), CLASSES)
    assert "recorded: elliptical" in console.file.getvalue()


def test_kitty_images_of_the_last_screen_are_deleted_before_the_next():
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system="truecolor")
    oracle = TerminalOracle(console, StreamKeys(io.StringIO("1"), console), clear=True, graphics=Graphics("kitty"))
    oracle(question(), CLASSES)
    out = console.file.getvalue()
    assert out.index("\x1b_Ga=d") < out.index("\x1b[2J") < out.index("\x1b_Ga=T")


# -- keys and the terminal ---------------------------------------------------------------------
@pytest.fixture
def pty_stdin(monkeypatch):
    master, slave = os.openpty()
    stdin = os.fdopen(slave, "r", closefd=False)
    monkeypatch.setattr(sys, "stdin", stdin)
    yield master, slave
    os.close(master)
    os.close(slave)


def typed_in_raw_mode(master: int, slave: int, data: bytes) -> threading.Thread:
    """Type `data` once the key reader has put the terminal in raw mode (switching modes
    discards what was typed before)."""
    def type_it():
        while termios.tcgetattr(slave)[3] & termios.ICANON:
            time.sleep(0.001)
        os.write(master, data)
    t = threading.Thread(target=type_it, daemon=True)
    t.start()
    return t


def test_escape_sequences_are_not_taken_for_answers(pty_stdin):
    master, slave = pty_stdin
    keys = TerminalKeys(Console(file=io.StringIO()))
    before = termios.tcgetattr(slave)
    for data, key in ((b"\x1b[?63;4c", ""),  # a terminal's late answer to the image-protocol query
                      (b"\x1b[A", ""),  # an arrow key
                      (b"2", "2")):
        typed_in_raw_mode(master, slave, data)
        assert keys.key() == key
        assert termios.tcgetattr(slave) == before


def test_terminal_restored_on_sigterm(pty_stdin):
    _, slave = pty_stdin
    before = termios.tcgetattr(slave)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        with terminal_restored(slave):
            tty.setraw(slave)
            os.kill(os.getpid(), signal.SIGTERM)
    assert stop.value.code == 128 + signal.SIGTERM
    assert termios.tcgetattr(slave) == before
    assert signal.getsignal(signal.SIGTERM) == handler


def test_terminal_restored_on_an_exception_and_a_no_op_without_a_terminal(pty_stdin):
    _, slave = pty_stdin
    before = termios.tcgetattr(slave)
    with pytest.raises(RuntimeError):
        with terminal_restored(slave):
            tty.setcbreak(slave)
            raise RuntimeError("boom")
    assert termios.tcgetattr(slave) == before
    r, w = os.pipe()
    try:
        with terminal_restored(r):
            pass
    finally:
        os.close(r)
        os.close(w)


def test_unknown_coordinates_are_left_out_not_shown_as_nan():
    with_coordinates = "\n".join(screen_text(question()))
    assert "RA 150.10000" in with_coordinates
    without = "\n".join(screen_text(question(ra=float("nan"), dec=float("nan"))))
    assert "nan" not in without and "RA" not in without and "round 2" in without
