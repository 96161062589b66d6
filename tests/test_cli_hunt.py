"""The nightly workflow through the real commands (CliRunner), checked through the library."""

import csv
import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.config import ScoreConfig, dump_config
from ahunt.store.workspace import Workspace
from conftest import tiny_config

runner = CliRunner()


def invoke(*args, input=None):
    result = runner.invoke(app, [str(a) for a in args], input=input)
    return result


@pytest.fixture
def hunt_ws(tmp_path, sim_cache, monkeypatch):
    """A simulated hunt with round 0 trained and night 1 ingested."""
    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    config = tmp_path / "tiny.toml"
    config.write_text(dump_config(tiny_config()))
    ws = tmp_path / "ws"
    result = invoke("init", ws, "--simulated", "--config", config)
    assert result.exit_code == 0, result.output
    result = invoke("ingest", ws, "--simulated")
    assert result.exit_code == 0, result.output
    assert "Round 1" in result.output
    return ws


def standing(ws, r=1):
    return [(a.object_id, a.kind) for a in Workspace.open(ws).log.standing_answers(r)]


def test_keystrokes_answer_new_class_skip_undo_quit_then_resume(hunt_ws):
    # 1 = elliptical; n + name = new class; s = skip; u = undo the skip; 2 = spiral; q = quit
    result = invoke("hunt", hunt_ws, "--keys-from-stdin", input="1 n\nmerger\n s u 2 q")
    assert result.exit_code == 0, result.output
    assert "question 1 of 6" in result.output and "3 of 6" in result.output
    ws = Workspace.open(hunt_ws)
    q = [x.object_id for x in ws.log.questions(1)]
    assert standing(hunt_ws) == [(q[0], "label"), (q[1], "label"), (q[2], "label")]
    names = ws.class_names()
    assert names[-1] == "merger"
    labels = ws.log.current_labels()
    assert [names[labels[i].class_idx] for i in q[:3]] == ["elliptical", "merger", "spiral"]
    kinds = [row[3] for row in ws.log.history()]
    assert kinds == ["label", "label", "skip", "retract", "label"]
    assert ws.current_version() == 0  # not retrained: the session is unfinished
    assert "3 questions left" in result.output

    status = invoke("status", hunt_ws)
    assert "Pending: 3 questions of round 1" in status.output

    # resume: the same list, from the first unanswered question; completes and retrains
    result = invoke("label", hunt_ws, "--keys-from-stdin", input="3 s 4")
    assert result.exit_code == 0, result.output
    assert "question 4 of 6" in result.output
    assert [o for o, _ in standing(hunt_ws)] == q
    assert Workspace.open(hunt_ws).current_version() == 1
    assert "retrained: round 1" in result.output


def test_unknown_key_and_nothing_to_undo(hunt_ws):
    result = invoke("hunt", hunt_ws, "--keys-from-stdin", input="u x q")
    assert "Nothing to undo" in result.output
    assert "Key 'x' does nothing" in result.output
    assert standing(hunt_ws) == []


def test_not_a_terminal_without_answers_is_an_error_not_a_hang(hunt_ws):
    result = invoke("hunt", hunt_ws, input="")
    assert result.exit_code == 2
    assert "not a terminal" in result.output and "--answers" in result.output


def test_answers_file_and_truth_oracle(hunt_ws, tmp_path):
    # questions are chosen and stored by the first hunt, then answered from a file
    invoke("hunt", hunt_ws, "--keys-from-stdin", input="q")
    ws = Workspace.open(hunt_ws)
    q = [x.object_id for x in ws.log.questions(1)]
    answers = tmp_path / "answers.csv"
    with open(answers, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "label"])
        # q[1] is left out: it stays pending while the later answers are still recorded
        w.writerows([[q[0], "spiral"], [q[2], "skip"], [q[3], "ring galaxy"]])
    result = invoke("label", hunt_ws, "--answers", answers)
    assert result.exit_code == 0, result.output
    assert [(o, k) for o, k in standing(hunt_ws)] == [(q[0], "label"), (q[2], "skip"), (q[3], "label")]
    assert "3 questions left" in result.output
    assert "ring galaxy" in Workspace.open(hunt_ws).class_names()
    result = invoke("label", hunt_ws, "--oracle", "truth")
    assert result.exit_code == 0, result.output
    assert len(standing(hunt_ws)) == 6 and Workspace.open(hunt_ws).current_version() == 1
    assert "Next night: ahunt ingest" in result.output and "--simulated" in result.output  # not PATH
    # the next night is not ingested yet
    result = invoke("hunt", hunt_ws, "--oracle", "truth")
    assert result.exit_code == 2 and "ahunt ingest" in result.output


def test_bad_answers_file(hunt_ws, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("object,answer\nx,y\n")
    result = invoke("hunt", hunt_ws, "--answers", bad)
    assert result.exit_code == 2 and "missing column" in result.output and str(bad) in result.output


def test_interest_and_classes(hunt_ws):
    result = invoke("interest", hunt_ws, "reserve=0.8", "spiral=0.2")
    assert result.exit_code == 0, result.output
    assert Workspace.open(hunt_ws).config.hunt.interest == {"reserve": 0.8, "spiral": 0.2}
    assert "at most the objects the network calls its own" not in result.output  # one named class: no moves
    for bad, words in ((["merger=1"], "unknown class 'merger'"), (["reserve=0"], "positive"),
                       (["reserve"], "CLASS=WEIGHT"), (["reserve=lots"], "not a number")):
        result = invoke("interest", hunt_ws, *bad)
        assert result.exit_code == 2 and words in result.output, result.output
    assert Workspace.open(hunt_ws).config.hunt.interest == {"reserve": 0.8, "spiral": 0.2}
    result = invoke("classes", hunt_ws, "--rename", "spiral=face-on spiral")
    assert result.exit_code == 0, result.output
    ws = Workspace.open(hunt_ws)
    assert "face-on spiral" in ws.class_names()
    assert ws.config.hunt.interest == {"reserve": 0.8, "face-on spiral": 0.2}
    result = invoke("classes", hunt_ws, "--rename", "nothing=x")
    assert result.exit_code == 2 and "no class named 'nothing'" in result.output
    two = invoke("interest", hunt_ws, "reserve=0.6", "face-on spiral=0.2", "elliptical=0.2")
    assert two.exit_code == 0, two.output
    assert "the rest goes to the other named classes" in " ".join(two.output.split())


def test_second_session_gets_a_clear_lock_error(hunt_ws):
    ws = Workspace.open(hunt_ws)
    with ws.lock():
        result = invoke("hunt", hunt_ws, "--oracle", "truth")
    assert result.exit_code == 2 and "in use by" in result.output
    assert ws.log.questions(1) == []


def test_init_and_ingest_from_files(tmp_path):
    from ahunt.hunt.session import night_source

    rng = np.random.default_rng(0)
    known = tmp_path / "known.npz"
    # ids that look like the simulator's: the hints must still name a file for the next night
    np.savez(known, images=rng.random((40, 20, 20), dtype=np.float32),
             labels=np.array(["a", "b"] * 20), ids=np.array([f"sim-00-{i:04d}" for i in range(40)]))
    config = tmp_path / "c.toml"
    config.write_text(dump_config(tiny_config(interest={"reserve": 1.0})))
    result = invoke("init", tmp_path / "ws", "--known", known, "--config", config)
    assert result.exit_code == 0, result.output
    assert "NIGHT_PATH" in result.output and "--simulated" not in result.output
    assert night_source(Workspace.open(tmp_path / "ws")) == "PATH"
    night = tmp_path / "night.npz"
    np.savez(night, images=rng.integers(0, 255, (7, 40, 40, 3), dtype=np.uint8))
    result = invoke("ingest", tmp_path / "ws", night)
    assert result.exit_code == 0, result.output
    ws = Workspace.open(tmp_path / "ws")
    assert ws.store.load_round(1).images.shape == (7, 1, 32, 32)
    # a failed ingest changes nothing
    result = invoke("ingest", tmp_path / "ws", tmp_path / "missing.npz")
    assert result.exit_code == 2 and "missing.npz" in result.output
    result = invoke("ingest", tmp_path / "ws", night)  # same ids again
    assert result.exit_code == 2 and "already in the store" in result.output
    assert ws.store.n_rounds() == 2


def test_init_on_your_own_data_sets_a_new_hunts_settings_and_a_config_keeps_its_own(tmp_path):
    rng = np.random.default_rng(0)
    known = tmp_path / "known.npz"
    np.savez(known, images=rng.random((40, 20, 20), dtype=np.float32), labels=np.array(["a", "b"] * 20))
    result = invoke("init", tmp_path / "ws", "--known", known, "--image-size", 16)
    assert result.exit_code == 0, result.output
    config = Workspace.open(tmp_path / "ws").config
    assert config.hunt.interest == {"reserve": 1.0} and config.hunt.random_share == 0.2
    assert config.train.epochs == 12 and config.train.min_epoch_size == 1024
    assert "epochs = 12" in (tmp_path / "ws" / "config.toml").read_text()
    own = tmp_path / "c.toml"
    own.write_text(dump_config(tiny_config(interest={"reserve": 1.0})))
    assert invoke("init", tmp_path / "ws2", "--known", known, "--config", own).exit_code == 0
    assert Workspace.open(tmp_path / "ws2").config.train.epochs == tiny_config().train.epochs != 12


def test_a_night_of_3_band_files_warns_once_about_the_grey_hunt(tmp_path):
    from astropy.io import fits

    rng = np.random.default_rng(0)
    known = tmp_path / "known.npz"
    np.savez(known, images=rng.random((40, 20, 20), dtype=np.float32), labels=np.array(["a", "b"] * 20))
    config = tmp_path / "c.toml"
    config.write_text(dump_config(tiny_config(interest={"reserve": 1.0})))
    assert invoke("init", tmp_path / "ws", "--known", known, "--config", config).exit_code == 0
    night = tmp_path / "night"
    night.mkdir()
    for i in range(3):
        fits.writeto(night / f"{i}.fits", rng.random((3, 24, 24)).astype(np.float32))
    result = invoke("ingest", tmp_path / "ws", night)
    assert result.exit_code == 0, result.output
    assert result.output.count("averaged to grey") == 1, result.output


def test_sigkill_mid_session_loses_no_answer(hunt_ws):
    """Kill a labelling process with SIGKILL after some answers; resume finds them all."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ahunt", "hunt", str(hunt_ws), "--keys-from-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    proc.stdin.write("1 2 s ")
    proc.stdin.flush()
    # wait until the fourth question is on screen: three answers are committed by then
    deadline = time.monotonic() + 120
    seen = ""
    while "question 4 of 6" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "question 4 of 6" in seen
    assert [k for _, k in standing(hunt_ws)] == ["label", "label", "skip"]
    result = invoke("label", hunt_ws, "--oracle", "truth")
    assert result.exit_code == 0, result.output
    assert [k for _, k in standing(hunt_ws)][:3] == ["label", "label", "skip"]
    assert len(standing(hunt_ws)) == 6


def test_images_option_and_config(hunt_ws):
    result = invoke("hunt", hunt_ws, "--keys-from-stdin", "--images", "png", input="q")
    assert result.exit_code != 0 and "--images 'png'" in result.output and "sixel" in result.output
    result = invoke("hunt", hunt_ws, "--keys-from-stdin", "--images", "none", input="q")
    assert result.exit_code == 0, result.output
    assert "(images off)" in result.output and "\u2580" not in result.output
    ws = Workspace.open(hunt_ws)
    (hunt_ws / "config.toml").write_text(dump_config(dataclasses.replace(
        ws.config, terminal=dataclasses.replace(ws.config.terminal, images="none"))))
    result = invoke("label", hunt_ws, "--keys-from-stdin", input="q")
    assert result.exit_code == 0, result.output
    assert "(images off)" in result.output
    result = invoke("label", hunt_ws, "--keys-from-stdin", "--images", "blocks", input="q")  # the option wins
    assert "(images off)" not in result.output


def test_in_a_silent_terminal_half_blocks_come_at_once_and_sigterm_restores_it(hunt_ws):
    """A pty that answers no query (like tmux without sixel, or a slow SSH link): the first
    question comes in half blocks, and SIGTERM mid-question leaves the terminal as it was."""
    import pty
    import select
    import termios

    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "50"}
    env.pop("TMUX", None)
    proc = subprocess.Popen([sys.executable, "-m", "ahunt", "hunt", str(hunt_ws)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    seen = b""
    try:
        while b"keys" not in seen or b"quit" not in seen:  # the first screen, drawn to its end
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            seen += os.read(master, 65536)
        assert b"question 1 of 6" in seen and "\u2580".encode() in seen
        assert b"\x1bP" not in seen  # no sixel: the terminal never said it could
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        after = termios.tcgetattr(slave)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    assert after[3] & termios.ECHO and after[3] & termios.ICANON  # cooked again, not raw
    assert after == before


def test_hunt_prints_the_nights_anomalous_fraction(tmp_path, sim_cache, monkeypatch):
    import dataclasses

    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    config = tiny_config()
    config = dataclasses.replace(config, hunt=dataclasses.replace(config.hunt, random_share=0.34))
    path = tmp_path / "c.toml"
    path.write_text(dump_config(config))
    ws = tmp_path / "ws"
    assert invoke("init", ws, "--simulated", "--config", path).exit_code == 0
    assert invoke("ingest", ws, "--simulated").exit_code == 0
    result = invoke("hunt", ws, "--oracle", "truth")
    assert result.exit_code == 0, result.output
    assert "Anomalous fraction of the night ≈" in result.output and "2 uniformly random answers" in result.output
    assert "95% interval" in result.output and "nan" not in result.output and "±" not in result.output
    assert (ws / "config.toml").read_text().count("random_share = 0.34") == 1
    from ahunt.outputs.report import round_table

    header, rows = round_table(Workspace.open(ws))
    column = header.index("anomalous fraction (est.)")
    assert rows[0][column] == "-" and rows[1][column].endswith("%)")


def test_too_few_random_answers_say_so_and_the_hint_only_without_a_random_share(tmp_path, sim_cache, monkeypatch):
    import dataclasses

    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    config = tiny_config()
    config = dataclasses.replace(config, hunt=dataclasses.replace(config.hunt, random_share=0.34))
    path = tmp_path / "c.toml"
    path.write_text(dump_config(config))
    ws = tmp_path / "ws"
    assert invoke("init", ws, "--simulated", "--config", path).exit_code == 0
    assert invoke("ingest", ws, "--simulated").exit_code == 0
    result = invoke("hunt", ws, "--keys-from-stdin", input="q")  # quit before any answer
    assert "too few random answers yet (0 of 2)" in result.output
    assert "random_share > 0" not in result.output

def test_hunt_without_random_share_says_how_to_get_an_estimate(hunt_ws):
    result = invoke("hunt", hunt_ws, "--oracle", "truth")
    assert result.exit_code == 0, result.output
    assert "no estimate" in result.output and "[hunt] random_share" in result.output


def test_interrupted_retrain_keeps_the_previous_model_and_says_so(hunt_ws, monkeypatch):
    import ahunt.hunt.session as session

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "train_model", interrupt)
    result = invoke("hunt", hunt_ws, "--oracle", "truth")
    assert result.exit_code == 130
    assert "Interrupted" in result.output and "previous state" in result.output
    ws = Workspace.open(hunt_ws)
    assert ws.current_version() == 0 and len(ws.log.standing_answers(1)) == 6
    monkeypatch.undo()
    result = invoke("train", hunt_ws)
    assert result.exit_code == 0 and Workspace.open(hunt_ws).current_version() == 1


def test_unreachable_dask_scheduler_is_a_clear_error_and_stores_nothing(hunt_ws):
    result = invoke("hunt", hunt_ws, "--oracle", "truth", "--dask-scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code != 0
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
    ws = Workspace.open(hunt_ws)
    assert ws.log.questions(1) == [] and ws.config.score.dask_scheduler == ""  # not written to the config
    result = invoke("export", hunt_ws, "--dask-scheduler", "scheduler-without-port")
    assert result.exit_code != 0 and "is not a Dask scheduler address" in " ".join(result.output.split())
    assert "--dask-scheduler 'scheduler-without-port'" in " ".join(result.output.split())


def test_a_failed_torch_compile_is_one_warning_line_and_the_hunt_goes_on(tmp_path, sim_cache, monkeypatch,
                                                                        no_cpp_compiler):
    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    config = tmp_path / "tiny.toml"
    config.write_text(dump_config(dataclasses.replace(tiny_config(), score=ScoreConfig(compile="always"))))
    ws = tmp_path / "ws"
    assert invoke("init", ws, "--simulated", "--config", config).exit_code == 0
    assert invoke("ingest", ws, "--simulated").exit_code == 0
    result = invoke("hunt", ws, "--keys-from-stdin", input="1 q")
    assert result.exit_code == 0, result.output
    assert "warning: torch.compile failed (RuntimeError: InvalidCxxCompiler: No working C++ compiler found)" in result.output
    assert "Traceback" not in result.output and "question 1 of 6" in result.output
    assert len(standing(ws)) == 1


def test_square_brackets_in_names_and_messages_are_printed_as_written(hunt_ws, tmp_path):
    # Rich reads "[...]" as markup; class names, paths and config sections must survive it.
    result = invoke("classes", hunt_ws, "--rename", "spiral=spiral [barred]")
    assert result.exit_code == 0, result.output
    assert "Renamed 'spiral' to 'spiral [barred]'" in result.output
    assert "spiral [barred]" in invoke("classes", hunt_ws).output
    assert "spiral [barred]" in invoke("interest", hunt_ws, "spiral [barred]=0.5").output
    bad = tmp_path / "bad [copy].toml"
    bad.write_text("score = 3\n")
    result = invoke("init", tmp_path / "ws2", "--simulated", "--config", bad)
    assert result.exit_code == 2
    assert "bad [copy].toml: [score] must be a table" in result.output


def test_typos_never_become_classes_and_a_typo_class_can_be_merged_away(hunt_ws, tmp_path):
    """Issue 15, item 1, at the terminal and with `ahunt classes`."""
    # n Spiral: the existing 'spiral'; n mergr -> a new class; n Merger? close to 'mergr': cancel (x);
    # n merger again, m: answer 'mergr'; n 7: a legend key, refused; then quit
    keys = "n\nSpiral\nn\nmergr\nn\nmerger\nx n\nmerger\nm n\n7\nq"
    result = invoke("hunt", hunt_ws, "--keys-from-stdin", input=keys)
    assert result.exit_code == 0, result.output
    assert "'merger' is close to the existing class 'mergr'" in result.output
    assert "'7' is a key of the legend" in result.output
    assert "'merger' (did you mean 'mergr'?)" in result.output  # the night's summary lists waiting weights
    ws = Workspace.open(hunt_ws)
    assert ws.class_names() == ["elliptical", "spiral", "edge-on", "reserve", "mergr"]
    names = ws.class_names()
    assert [names[a.class_idx] for a in ws.log.standing_answers(1)] == ["spiral", "mergr", "mergr"]
    # the default weights wait for 'merger': listed, with the close class
    status = invoke("status", hunt_ws)
    assert "waiting for a class not found yet" in status.output and "'merger' (did you mean 'mergr'?)" in status.output
    result = invoke("classes", hunt_ws, "--rename", "mergr=Spiral")
    assert result.exit_code == 2 and "--merge mergr=spiral" in result.output
    result = invoke("classes", hunt_ws, "--remove", "mergr")
    assert result.exit_code == 2 and "2 standing labels" in result.output
    result = invoke("classes", hunt_ws, "--merge", "MERGR=spiral")
    assert result.exit_code == 0, result.output
    assert "2 answers moved" in result.output and "Retired" in result.output
    ws = Workspace.open(hunt_ws)
    assert [names[a.class_idx] for a in ws.log.standing_answers(1)] == ["spiral"] * 3
    assert [r[3] for r in ws.log.history()] == ["label"] * 3 + ["retract", "label"] * 2
    result = invoke("classes", hunt_ws, "--remove", "mergr")
    assert result.exit_code == 0 and "Removed 'mergr'" in result.output


def test_answers_file_refuses_legend_digits_and_near_names(hunt_ws, tmp_path):
    invoke("hunt", hunt_ws, "--keys-from-stdin", input="q")
    q = [x.object_id for x in Workspace.open(hunt_ws).log.questions(1)]
    answers = tmp_path / "answers.csv"
    answers.write_text(f"id,label\n{q[0]},Spiral\n{q[1]},5\n{q[2]},edge on\n{q[3]},SKIP\n")
    result = invoke("label", hunt_ws, "--answers", answers)
    assert result.exit_code == 2
    assert "line 3: '5' is a key of the labelling screen" in result.output
    assert "line 4: 'edge on' would create a new class, but it is close to 'edge-on'" in result.output
    assert standing(hunt_ws) == []  # nothing of the file was recorded
    answers.write_text(f"id,label\n{q[0]},Spiral\n{q[1]},Merger\n{q[2]},merger\n{q[3]},SKIP\n")
    result = invoke("label", hunt_ws, "--answers", answers)
    assert result.exit_code == 0, result.output
    ws = Workspace.open(hunt_ws)
    names = ws.class_names()
    assert names == ["elliptical", "spiral", "edge-on", "reserve", "Merger"]
    assert [names[a.class_idx] if a.class_idx is not None else "skip" for a in ws.log.standing_answers(1)] == \
        ["spiral", "Merger", "Merger", "skip"]


def test_init_lets_weights_wait_for_classes_not_found_yet(tmp_path):
    """Issue 13: a config's weight for an anomaly class not found yet waits for it (and is
    listed, with a hint when it looks like a typo); a config with no weight for any class the
    hunt starts with is refused."""
    rng = np.random.default_rng(0)
    known = tmp_path / "known.npz"
    np.savez(known, images=rng.random((40, 20, 20), dtype=np.float32), labels=np.array(["3", "8"] * 20))
    config = tmp_path / "c.toml"
    text = dump_config(tiny_config())
    config.write_text(text.replace("merger = 0.5", '"5" = 0.3\nrezerve = 0.2'))
    result = invoke("init", tmp_path / "ws", "--known", known, "--config", config)
    assert result.exit_code == 0, result.output
    assert "waiting for a class not found yet" in result.output
    assert "'5'" in result.output and "'rezerve' (did you mean 'reserve'?)" in result.output
    result = invoke("interest", tmp_path / "ws")
    assert "'rezerve' (did you mean 'reserve'?)" in result.output
    config.write_text(text.replace("reserve = 0.5\nmerger = 0.5", "merger = 1.0"))
    result = invoke("init", tmp_path / "ws2", "--known", known, "--config", config)
    assert result.exit_code == 2 and "no interest weight > 0 for a class the hunt starts with" in result.output
    assert not (tmp_path / "ws2").exists()


def test_an_emptied_workspace_config_is_refused(hunt_ws):
    (hunt_ws / "config.toml").write_text("")
    for command in ("status", "ingest"):
        result = invoke(command, hunt_ws, *(["--simulated"] if command == "ingest" else []))
        assert result.exit_code == 2 and "config.toml: the config file is empty" in result.output
    (hunt_ws / "config.toml").write_text("\n")
    assert invoke("hunt", hunt_ws, "--oracle", "truth").exit_code == 2


def test_when_the_simulated_survey_is_used_up_the_hints_say_what_to_do_next(hunt_ws):
    """Not 'ahunt ingest --simulated', which would fail: the results, or more nights."""
    import tomllib

    nights = tomllib.loads((hunt_ws / "config.toml").read_text())["survey"]["nights"]
    for r in range(1, nights + 1):
        if r > 1:
            assert invoke("ingest", hunt_ws, "--simulated").exit_code == 0
        result = invoke("hunt", hunt_ws, "--oracle", "truth")
        assert result.exit_code == 0, result.output
    assert f"Every night of the simulated survey is ingested ({nights} nights)" in result.output
    status = invoke("status", hunt_ws)
    assert status.exit_code == 0 and "Next: add a night" not in status.output
    assert "Every night of the simulated survey is ingested" in status.output and f"ahunt export {hunt_ws}" in status.output
    assert "raise [survey] nights" in " ".join(status.output.split())  # the section's name is text, not markup
    refused = invoke("ingest", hunt_ws, "--simulated")
    assert refused.exit_code == 2 and "all ingested" in refused.output and "ahunt export" in refused.output
    again = " ".join(invoke("hunt", hunt_ws, "--oracle", "truth").output.split())  # no night left to hunt
    assert "every night is hunted" in again and f"ahunt export {hunt_ws}" in again and "PATH" not in again
    assert "raise [survey] nights" in again
    # raising [survey] nights, as the hint says, brings the next night
    config = (hunt_ws / "config.toml").read_text()
    (hunt_ws / "config.toml").write_text(config.replace(f"nights = {nights}", f"nights = {nights + 1}", 1))
    one_more = " ".join(invoke("hunt", hunt_ws, "--oracle", "truth").output.split())
    assert f"add the next with `ahunt ingest {hunt_ws} --simulated`" in one_more
    more = invoke("ingest", hunt_ws, "--simulated")
    assert more.exit_code == 0, more.output
    assert f"Round {nights + 1}" in more.output


def test_raw_float_fluxes_are_refused_with_the_fix_and_nothing_is_stored(hunt_ws, tmp_path):
    rng = np.random.default_rng(0)
    before = Workspace.open(hunt_ws).store.n_rounds()
    night = tmp_path / "fluxes.npy"
    np.save(night, (rng.normal(0, 3, (5, 32, 32)) + 40).astype(np.float32))  # sky ~0 +- 3, counts ~40
    night_h5 = tmp_path / "fluxes.h5"
    import h5py

    with h5py.File(night_h5, "w") as f:
        f["images"] = rng.normal(0, 0.1, (5, 32, 32)).astype(np.float32)  # negative sky
    for path in (night, night_h5):
        result = invoke("ingest", hunt_ws, path)
        assert result.exit_code == 2
        lines = [x for x in result.output.splitlines() if x.strip()]
        assert len(lines) == 1 and str(path) in lines[0] and "[0, 1]" in lines[0] and "FITS" in lines[0]
    assert Workspace.open(hunt_ws).store.n_rounds() == before
    ok = tmp_path / "stretched.npy"
    np.save(ok, rng.random((5, 32, 32)).astype(np.float32))
    assert invoke("ingest", hunt_ws, ok).exit_code == 0


def test_after_a_night_the_hint_names_the_next_night_already_ingested(hunt_ws):
    assert invoke("ingest", hunt_ws, "--simulated").exit_code == 0  # night 2 waits behind night 1
    result = invoke("hunt", hunt_ws, "--oracle", "truth")
    assert result.exit_code == 0, result.output
    assert "round 2 is waiting" in result.output and "ahunt ingest" not in result.output


def test_init_crop_sets_the_networks_field_and_a_crop_larger_than_the_cutout_is_refused(tmp_path, sim_cache,
                                                                                      monkeypatch):
    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    config = tmp_path / "tiny.toml"
    config.write_text(dump_config(tiny_config()))  # 32 px cutouts
    refused = invoke("init", tmp_path / "bad", "--simulated", "--config", config, "--crop", 48)
    assert refused.exit_code != 0
    assert "model.crop = 48: must be 0 (the whole cutout) or 8..32" in refused.output
    assert not (tmp_path / "bad").exists()
    result = invoke("init", tmp_path / "ws", "--simulated", "--config", config, "--crop", 16)
    assert result.exit_code == 0, result.output
    ws = Workspace.open(tmp_path / "ws")
    assert ws.config.model.crop == 16 and ws.load_model(0)[0].args.crop == 16
    assert ws.store.load_round(0).images.shape[-1] == 32  # the whole cutout is stored


def test_init_simulated_starts_labelled_without_the_pile_s_hidden_anomalies(tmp_path, sim_cache, monkeypatch):
    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    cfg = tiny_config()
    config = tmp_path / "hidden.toml"
    survey = dataclasses.replace(cfg.survey, unlabelled=True, hidden={"merger": 2})
    config.write_text(dump_config(dataclasses.replace(cfg, survey=survey)))
    config.write_text(dump_config(dataclasses.replace(cfg, survey=dataclasses.replace(survey, unlabelled=False))))
    assert invoke("init", tmp_path / "ws", "--simulated", "--config", config).exit_code == 0
    truth = Workspace.open(tmp_path / "ws").store.load_round(0, images=False).truth
    assert len(truth) == 100 and "merger" not in set(truth)


def test_init_simulated_with_unlabelled_true_starts_from_the_pile_and_the_truth_calls_its_kinds_normal(
        tmp_path, sim_cache, monkeypatch):
    monkeypatch.setenv("AHUNT_CACHE_DIR", str(sim_cache))
    cfg = tiny_config()
    survey = dataclasses.replace(cfg.survey, unlabelled=True, hidden={"merger": 2})
    config = tmp_path / "pile.toml"
    config.write_text(dump_config(dataclasses.replace(cfg, survey=survey, train=dataclasses.replace(
        cfg.train, pseudo_kinds=2))))
    result = invoke("init", tmp_path / "ws", "--simulated", "--config", config)
    assert result.exit_code == 0, result.output
    assert "102 unlabelled images, all of the known class 'normal'" in result.output
    assert "learnt from the images alone" in result.output and "--simulated" in result.output
    # simulated galaxies lie at every angle: telling quarter turns apart cannot be learnt, and init says so
    assert "The rotation task stayed at chance" in result.output and "pseudo-kinds alone" in result.output
    ws = Workspace.open(tmp_path / "ws")
    assert ws.class_names() == ["normal", "reserve"]
    r0 = ws.store.load_round(0, images=False)
    assert set(r0.labels) == {"normal"} and (r0.truth == "merger").sum() == 2  # hidden in the pile
    assert invoke("ingest", tmp_path / "ws", "--simulated").exit_code == 0
    result = invoke("hunt", tmp_path / "ws", "--oracle", "truth")
    assert result.exit_code == 0, result.output
    ws = Workspace.open(tmp_path / "ws")
    night = ws.store.load_round(1, images=False)
    truth = dict(zip(night.ids.tolist(), night.truth.tolist()))
    answers = ws.log.standing_answers(1)
    names = ws.class_names()
    for a in answers:  # round-0 kinds are answered 'normal'; anomalies by their own names
        kind = truth[a.object_id]
        assert names[a.class_idx] == ("normal" if kind in cfg.survey.initial else kind)
    assert "elliptical" not in names and len(answers) == 6
