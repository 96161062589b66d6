"""The command line, through typer's CliRunner; results are checked through the library."""

import csv

import pytest
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.config import dump_config
from ahunt.store.workspace import Workspace
from conftest import tiny_config

runner = CliRunner()


def test_every_command_has_help_with_an_example():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        help_result = runner.invoke(app, [name, "--help"])
        assert help_result.exit_code == 0, name
        assert "Example" in help_result.output, f"{name} --help has no example"


def test_demo_runs_and_writes_outputs(tmp_path, sim_cache):
    config_path = tmp_path / "tiny.toml"
    config_path.write_text(dump_config(tiny_config()))
    out = tmp_path / "out"
    result = runner.invoke(app, ["demo", "--config", str(config_path), "--out", str(out), "--cache-dir", str(sim_cache)])
    assert result.exit_code == 0, result.output
    assert "night 3" in result.output and str(out) in result.output
    assert "last 5 nights" in result.output
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert {r["anomaly_class"] for r in rows} >= {"merger", "artefact"}
    assert [int(r["round"]) for r in rows if r["anomaly_class"] == "merger"] == [1, 2, 3]
    assert (out / "mcc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ws = Workspace.open(out / "workspace")
    assert ws.trained_rounds() == [0, 1, 2, 3]
    # refuses to overwrite a previous run
    again = runner.invoke(app, ["demo", "--config", str(config_path), "--out", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["--strategy", "loudest"], ["hunt.strategy", "loudest"]),
        (["--device", "tpu"], ["device", "tpu"]),
        (["--config", "/nonexistent.toml"], ["not found"]),
    ],
)
def test_demo_bad_input_is_a_clear_error(tmp_path, args, words):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    for word in words:
        assert word in result.output
    assert not (tmp_path / "o").exists()


def test_demo_rejects_weight_for_a_class_the_survey_never_has(tmp_path):
    config_path = tmp_path / "c.toml"
    config_path.write_text('[hunt.interest]\nreserve = 0.5\nunicorn = 0.5\n')
    result = runner.invoke(app, ["demo", "--config", str(config_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "unknown class 'unicorn'" in result.output


def test_no_help_text_loses_a_placeholder_to_markdown():
    """The help is rendered as Markdown, which drops anything that looks like an HTML tag:
    `p_<class>` printed as "p_", `runs/demo-<time>` as "runs/demo-".  Placeholders are written
    in capitals (p_CLASS) instead."""
    import re

    import typer

    from ahunt.cli import app

    group = typer.main.get_command(app)
    tag = re.compile(r"<[A-Za-z][^<>]*>")
    for name, command in group.commands.items():
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            assert not tag.search(text), f"ahunt {name}: {tag.search(text).group()} vanishes from --help"


def test_progress_bars_write_nothing_when_stderr_is_not_a_terminal(monkeypatch):
    """A redirected stderr (a log file) gets no blank lines from the transient bars."""
    import io

    from rich.console import Console

    import ahunt.cli._app as app_module

    log = io.StringIO()
    monkeypatch.setattr(app_module, "err", Console(file=log))
    with app_module.progress_bars() as track:
        assert list(track(range(3), "training", 3)) == [0, 1, 2]
    assert log.getvalue() == ""
