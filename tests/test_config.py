import dataclasses
from pathlib import Path

import pytest

from ahunt.config import Config, config_from_dict, dump_config, load_config
from ahunt.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_demo_config_file_equals_builtin_defaults():
    assert load_config(ROOT / "configs" / "demo.toml") == Config()


@pytest.mark.parametrize("text", ["", "\n  \n", "# only a comment\n"])
def test_an_empty_file_is_refused(tmp_path, text):
    path = tmp_path / "empty.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="empty.toml: the config file is empty"):
        load_config(path)
    path.write_text("seed = 0\n")  # one setting is enough: the rest are the defaults
    assert load_config(path) == Config()


def test_dump_round_trips(tmp_path):
    cfg = dataclasses.replace(Config(), seed=9)
    path = tmp_path / "c.toml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    "text, words",
    [
        ('[hunt]\nstrategy = "loudest"', ["hunt.strategy", "loudest", "uncertainty"]),
        ("[hunt.interest]\nreserve = 0\nmerger = 0", ["sum", "positive"]),
        ("[hunt.interest]\nreserve = -1", ["reserve", ">= 0"]),
        ("[train]\nepochz = 3", ["unknown key", "epochz"]),
        ("[model]\nimage_size = 'big'", ["image_size", "integer"]),
        ("[hunt\nstrategy = 1", ["not valid TOML"]),
        ('device = "tpu"', ["device", "cpu"]),
        ("[survey.nightly]\nunicorn = 3", ["unicorn", "unknown simulated class"]),
        ('[score]\ndask_scheduler = "tcp//10.0.0.5:8786"', ["score.dask_scheduler", "tcp//10.0.0.5:8786"]),
        ('[score]\ndask_scheduler = "tcp://host:port"', ["score.dask_scheduler", "scheduler address"]),
        ('[score]\ndask_scheduler = "tcp://host"', ["score.dask_scheduler", "scheduler address"]),
        ("[train]\nepoch_size = 10", ["train.epoch_size", "batch_size (64)"]),
        ("[train]\nepoch_size = -1", ["train.epoch_size", "0"]),
        ("[score]\nviews = 3", ["score.views", "1, 2, 4 or 8"]),
        ("[hunt]\nmembers_first = 1", ["hunt.members_first", "true or false"]),
        ("[hunt]\nfew_members = -1", ["hunt.few_members", "whole number >= 0"]),
        ("[hunt]\nfew_members = 2.5", ["hunt.few_members", "integer"]),
        ("[hunt]\nspread = -1", ["hunt.spread", "whole number >= 0"]),
    ],
)
def test_bad_config_names_file_and_reason(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/ahunt.toml")


def test_section_must_be_table():
    with pytest.raises(ConfigError, match="must be a table"):
        config_from_dict({"hunt": 3})


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_its_weights_name_its_classes(path, tmp_path):
    from ahunt.evaluate.demo import validate_stream_interest

    config = load_config(path)
    validate_stream_interest(config)
    dumped = tmp_path / "roundtrip.toml"
    dumped.write_text(dump_config(config))
    assert load_config(dumped) == config


@pytest.mark.parametrize("address", ["", "tcp://10.0.0.5:8786", "tls://sched.cluster.org:8786", "10.0.0.5:8786",
                                     "tcp://[::1]:8786", "localhost:8786"])
def test_plausible_dask_addresses_pass(address):
    assert config_from_dict({"score": {"dask_scheduler": address}}).score.dask_scheduler == address


def test_terminal_images_choices(tmp_path):
    from ahunt.config import IMAGE_PROTOCOLS

    for choice in IMAGE_PROTOCOLS:
        path = tmp_path / f"{choice}.toml"
        path.write_text(f'[terminal]\nimages = "{choice}"\n')
        assert load_config(path).terminal.images == choice
    path = tmp_path / "bad.toml"
    path.write_text('[terminal]\nimages = "png"\n')
    with pytest.raises(ConfigError, match="terminal.images"):
        load_config(path)


@pytest.mark.parametrize("text, views", [("", 4), ("[train]\nrotation = 15.0", 1),
                                         ("[train]\nrotation = 15.0\n[score]\nviews = 8", 8),
                                         ("[score]\nviews = 1", 1)])
def test_scoring_views_follow_what_training_taught_the_network_to_ignore(tmp_path, text, views):
    path = tmp_path / "c.toml"
    path.write_text("seed = 0\n" + text)
    assert load_config(path).scoring_views == views
