"""Streams drawn from labelled pools: the schedule's needs, and your own labelled data."""

from __future__ import annotations

import pytest

from ahunt.config import SurveyConfig
from ahunt.errors import ConfigError
from ahunt.sources.simulated import round_kinds
from ahunt.sources.streams import SampledStream, schedule_needs


def _survey(**changes) -> SurveyConfig:
    base = dict(source="mnist5k", seed=1, nights=4, initial={"0": 6, "1": 5}, nightly={"0": 2, "1": 2, "2": 1},
                late_from_night=3, late={"3": 2, "2": 1})
    return SurveyConfig(**{**base, **changes})


def test_schedule_needs_is_what_the_rounds_draw():
    cfg = _survey()
    drawn = {c: sum(round_kinds(cfg, r).count(c) for r in range(cfg.nights + 1)) for c in "0123"}
    needs = schedule_needs(cfg)
    assert {c: n for c, (n, _) in needs.items()} == drawn == {"0": 14, "1": 13, "2": 6, "3": 4}
    assert needs["2"][1] == "nightly 1 x 4 nights + late 1 x 2 nights"
    assert schedule_needs(_survey(late_from_night=9))["3"][0] == 0  # the late classes never come


def test_anomalies_hidden_in_round_0_are_drawn_after_its_kinds_and_counted():
    cfg = _survey(unlabelled=True, hidden={"2": 2})
    r0 = round_kinds(cfg, 0)
    assert r0[:11] == round_kinds(_survey(), 0) and r0[11:] == ["2", "2"]  # the same pile, then the hidden
    assert schedule_needs(cfg)["2"] == (8, "hidden 2 + nightly 1 x 4 nights + late 1 x 2 nights")


def test_every_short_class_is_named_up_front():
    import numpy as np

    labels = np.array(["0"] * 14 + ["1"] * 10 + ["2"] * 6 + ["3"] * 1, dtype=object)
    with pytest.raises(ConfigError) as info:
        SampledStream(_survey(), labels, read=None, name="pool")
    message = str(info.value)
    assert "class '1' needs 13 (initial 5 + nightly 2 x 4 nights), has 10" in message
    assert "class '3' needs 4 (late 2 x 2 nights), has 1" in message
    assert "'0'" not in message and "'2'" not in message  # enough of those
    exact = SampledStream(_survey(), np.array(["0"] * 14 + ["1"] * 13 + ["2"] * 6 + ["3"] * 4, dtype=object),
                          read=None, name="pool")
    assert sorted(np.concatenate(exact.indices).tolist()) == list(range(37))  # every image, once


# -- your own labelled data ----------------------------------------------------------------
def _png_classes(root, counts: dict[str, int], size: int = 12):
    """A folder with one subfolder of grey PNGs per class; each class has its own brightness."""
    import matplotlib.image as mpimg
    import numpy as np

    rng = np.random.default_rng(0)
    for k, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = np.clip(0.2 * k + 0.3 * rng.random((size, size)), 0, 1)
            mpimg.imsave(root / name / f"{name}-{i:03d}.png", img, cmap="gray", vmin=0, vmax=1)
    return root


def _digits_npz(path, *, scale: float = 16.0, dtype=None):
    """scikit-learn's 8x8 digits (1,797 images, 0-16) as a .npz of images and labels."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images / scale
    np.savez(path, images=images.astype(dtype) if dtype else images, labels=digits.target)
    return path


def _labelled(path, **changes) -> SurveyConfig:
    base = dict(source="labelled", path=str(path), seed=2, nights=2, initial={"0": 20, "1": 20},
                nightly={"0": 6, "1": 6, "7": 2}, late_from_night=2, late={"3": 1})
    cfg = SurveyConfig(**{**base, **changes})
    cfg.validate()
    return cfg


def test_labelled_source_needs_a_path_and_leaves_class_names_to_the_data():
    with pytest.raises(ConfigError, match="survey.path = '': labelled needs the path of your labelled data"):
        SurveyConfig(source="labelled", initial={"spiral": 3}).validate()
    SurveyConfig(source="labelled", path="x.npz", initial={"anything": 3}, nightly={"else": 1}, late={}).validate()


def test_galaxy10_class_names_are_checked_by_its_reader_not_by_the_config(tmp_path):
    from ahunt.sources.streams import make_stream

    cfg = SurveyConfig(source="galaxy10", path=str(tmp_path / "none.h5"), initial={"Round Smooth": 3},
                       nightly={"Merging": 1, "unicorn": 1}, late={})
    cfg.validate()  # the config holds no Galaxy10 class list: only the Galaxy10 reader does
    with pytest.raises(ConfigError, match="survey.nightly.unicorn = 'unicorn': unknown galaxy10 class; choose from "):
        make_stream(cfg, image_size=16)


def test_labelled_folder_of_pngs_is_a_stream_named_by_its_folders(tmp_path):
    import numpy as np

    from ahunt.sources.streams import make_stream

    root = _png_classes(tmp_path / "known", {"spiral": 12, "elliptical": 10, "ring galaxy": 3})
    cfg = _labelled(root, initial={"spiral": 6, "elliptical": 4}, nightly={"spiral": 3, "elliptical": 3, "ring galaxy": 1},
                    late={})
    stream = make_stream(cfg, image_size=16)
    assert stream.known == ["spiral", "elliptical"] and stream.anomalies == ["ring galaxy"]
    rounds = [stream.load(r) for r in range(stream.n_rounds)]
    assert sorted(rounds[0].labels.tolist()) == ["elliptical"] * 4 + ["spiral"] * 6
    assert all(r.labels is None and r.truth.tolist().count("ring galaxy") == 1 for r in rounds[1:])
    ids = np.concatenate([r.ids for r in rounds]).tolist()
    assert len(set(ids)) == len(ids) and all(i.split("/")[0] in ("spiral", "elliptical", "ring galaxy") for i in ids)
    for r in rounds:  # the images are the files' own, class by class
        assert r.images.shape[1:] == (1, 16, 16)
        for truth, image in zip(r.truth, r.images):
            k = ["spiral", "elliptical", "ring galaxy"].index(truth)
            assert 0.2 * k - 0.02 <= image.mean() <= 0.2 * k + 0.32
    again = make_stream(cfg, image_size=16)
    assert [r.tolist() for r in again.indices] == [r.tolist() for r in stream.indices]


def test_labelled_npz_of_scikit_learn_digits(tmp_path):
    from ahunt.sources.streams import make_stream

    cfg = _labelled(_digits_npz(tmp_path / "digits.npz"))
    stream = make_stream(cfg, image_size=8)
    assert stream.known == ["0", "1"] and stream.anomalies == ["7", "3"]
    night2 = stream.load(2)
    assert sorted(night2.truth.tolist()) == ["0"] * 6 + ["1"] * 6 + ["3", "7", "7"]
    assert 0 <= night2.images.min() and night2.images.max() <= 1 and night2.images.max() > 0.9
    assert night2.ids[0].startswith("digits-")


def test_labelled_h5_with_uint8_images_and_string_labels(tmp_path):
    import h5py
    import numpy as np

    from ahunt.sources.streams import make_stream

    rng = np.random.default_rng(3)
    labels = np.array([b"spiral"] * 10 + [b"merger"] * 4)
    with h5py.File(tmp_path / "own.h5", "w") as f:
        f["images"] = rng.integers(0, 256, (14, 10, 10, 3), dtype=np.uint8)
        f["labels"] = labels
    stream = make_stream(_labelled(tmp_path / "own.h5", initial={"spiral": 6}, nightly={"spiral": 2, "merger": 2},
                                   late={}), image_size=8, channels=3)
    night = stream.load(1)
    assert sorted(night.truth.tolist()) == ["merger", "merger", "spiral", "spiral"]
    assert night.images.shape == (4, 3, 8, 8) and 0 <= night.images.min() and night.images.max() <= 1


def test_labelled_draws_are_the_same_in_every_process(tmp_path):
    """Class names are strings: a draw that followed set order would change with the hash seed."""
    import os
    import subprocess
    import sys

    root = _png_classes(tmp_path / "known", {"spiral": 8, "elliptical": 8, "merger": 4, "lens": 3})
    cfg = _labelled(root, initial={"spiral": 3, "elliptical": 3}, nightly={"spiral": 2, "elliptical": 2, "merger": 2},
                    late={"lens": 3})
    code = ("import sys; from ahunt.config import SurveyConfig; from ahunt.sources.streams import make_stream;"
            f"s = make_stream(SurveyConfig(**{cfg.__dict__!r}), image_size=8);"
            "print([s.load(r).ids.tolist() for r in range(s.n_rounds)])")
    outputs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] and "lens/" in outputs[0]


def test_labelled_class_not_in_the_data_names_key_class_and_the_data_classes(tmp_path):
    from ahunt.sources.streams import make_stream

    cfg = _labelled(_digits_npz(tmp_path / "digits.npz"), nightly={"0": 6, "1": 6, "seven": 2}, late={"three": 1})
    with pytest.raises(ConfigError) as info:
        make_stream(cfg, image_size=8)
    assert str(info.value) == (f"survey.nightly.seven, survey.late.three: classes 'seven', 'three' are not in "
                               f"{tmp_path / 'digits.npz'}; its classes are: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9")


def test_labelled_shortfall_is_named_with_the_path(tmp_path):
    from ahunt.sources.streams import make_stream

    root = _png_classes(tmp_path / "known", {"a": 5, "b": 5, "c": 1})
    cfg = _labelled(root, initial={"a": 4, "b": 2}, nightly={"a": 1, "b": 1, "c": 1}, late={})
    with pytest.raises(ConfigError, match=rf"{root} has too few .*: class 'a' needs 6 .*, has 5; class 'c' needs 2 "):
        make_stream(cfg, image_size=8)


@pytest.mark.parametrize("scale, dtype, words", [
    (1.0, None, ["from 0 to 16", "already scaled to [0, 1]", "FITS", "divide it by its maximum"]),
    (1.0, "int64", ["below 1/255", "uint8"]),
])
def test_labelled_pixels_outside_0_1_are_refused_with_the_fix(tmp_path, scale, dtype, words):
    from ahunt.errors import AhuntError
    from ahunt.sources.streams import make_stream

    cfg = _labelled(_digits_npz(tmp_path / "raw.npz", scale=scale, dtype=dtype))
    with pytest.raises(AhuntError) as info:
        make_stream(cfg, image_size=8)
    assert str(info.value).startswith((f"survey.path = '{tmp_path / 'raw.npz'}'", f"survey.path: {tmp_path / 'raw.npz'}"))
    for word in words:
        assert word in str(info.value)


def test_labelled_unreadable_path_names_the_config_key(tmp_path):
    from ahunt.errors import AhuntError
    from ahunt.sources.streams import make_stream

    with pytest.raises(AhuntError, match="survey.path: .*nope.npz: no such file or folder"):
        make_stream(_labelled(tmp_path / "nope.npz"), image_size=8)


def _digits_config(tmp_path):
    """tests/conftest.py's tiny run on a labelled stream of scikit-learn digits: 2 nights."""
    import dataclasses

    from ahunt.config import ExperimentConfig, ModelConfig, dump_config
    from conftest import tiny_config

    base = tiny_config()
    digits = _digits_npz(tmp_path / "digits.npz")
    config = dataclasses.replace(
        base, model=ModelConfig(image_size=16, width=8),
        hunt=dataclasses.replace(base.hunt, questions=4, interest={"reserve": 0.5, "7": 0.5}),
        survey=_labelled(digits, initial={"0": 30, "1": 30}, nightly={"0": 10, "1": 10, "7": 3}, late={}),
        experiment=ExperimentConfig(trials=1, jobs=1, methods=("ahunt", "random")),
    ).validate()
    path = tmp_path / "digits.toml"
    path.write_text(dump_config(config))
    return path


def test_experiment_and_demo_on_a_labelled_stream_through_the_cli(tmp_path):
    import csv

    from typer.testing import CliRunner

    from ahunt.cli import app
    from ahunt.evaluate.experiment import read_results
    from ahunt.store.workspace import Workspace

    config_path = _digits_config(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["experiment", str(config_path), "--out", str(tmp_path / "exp")])
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "exp" / "results.csv")
    assert {r["method"] for r in rows} == {"ahunt", "random"} and {r["round"] for r in rows} == {1, 2}
    assert {"mcc:7", "true_candidates:7"} <= {r["metric"] for r in rows}

    result = runner.invoke(app, ["demo", "--config", str(config_path), "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    metrics = list(csv.DictReader(open(tmp_path / "demo" / "metrics.csv")))
    assert [(r["round"], r["anomaly_class"], r["n_in_round"]) for r in metrics] == [("1", "7", "3"), ("2", "7", "3")]
    ws = Workspace.open(tmp_path / "demo" / "workspace")
    assert ws.class_names()[:2] == ["0", "1"] and ws.store.n_rounds() == 3


def test_cli_says_which_class_the_data_lacks(tmp_path):
    from typer.testing import CliRunner

    from ahunt.cli import app

    config_path = _digits_config(tmp_path)
    config_path.write_text(config_path.read_text().replace('"7" = ', '"seven" = '))
    result = CliRunner().invoke(app, ["experiment", str(config_path), "--out", str(tmp_path / "exp")])
    assert result.exit_code == 2
    assert "survey.nightly.seven: class 'seven' is not in" in result.output and "0, 1, 2, 3" in result.output
    assert not (tmp_path / "exp" / "results.csv").exists()


def test_the_guide_example_config_reads_its_digits(tmp_path, monkeypatch):
    """docs/experiments.md, "Your own labelled data": its digits.toml, on the digits.npz its command writes."""
    import re
    from pathlib import Path

    from ahunt.config import load_config
    from ahunt.sources.streams import make_stream

    page = (Path(__file__).resolve().parents[1] / "docs" / "experiments.md").read_text(encoding="utf-8")
    section = page[page.index("## Your own labelled data"):]
    command = re.search(r'python -c "(.*)"', section).group(1)
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(command, {})  # writes digits.npz
    (tmp_path / "digits.toml").write_text(toml)
    config = load_config(tmp_path / "digits.toml")
    stream = make_stream(config.survey, image_size=config.model.image_size)
    assert config.survey.source == "labelled" and stream.anomalies == ["7"] and len(stream.load(0)) == 200
