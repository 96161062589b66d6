"""Shared fixtures: tiny seeded configs and workspaces built from the simulator."""

from __future__ import annotations

import dataclasses

import pytest

from ahunt.config import Config, HuntConfig, ModelConfig, SurveyConfig, TrainConfig


def tiny_config(**hunt) -> Config:
    """A survey small enough to simulate and train in seconds at 32 px."""
    return Config(
        seed=3,
        device="cpu",
        model=ModelConfig(image_size=32, width=8),
        train=TrainConfig(epochs_initial=2, epochs=1, batch_size=32, epoch_size=128),
        hunt=dataclasses.replace(HuntConfig(), questions=6, **hunt),
        survey=SurveyConfig(
            seed=5,
            nights=3,
            initial={"elliptical": 40, "spiral": 30, "edge-on": 30},
            nightly={"elliptical": 12, "spiral": 10, "edge-on": 8, "merger": 4, "artefact": 2},
            late_from_night=3,
            late={"lens": 3},
        ),
    ).validate()


def tiny_unlabelled_config(pseudo_kinds: int) -> Config:
    """The tiny survey started without labels, with ``pseudo_kinds`` kinds of its pile."""
    cfg = tiny_config()
    return dataclasses.replace(cfg, survey=dataclasses.replace(cfg.survey, unlabelled=True),
                               train=dataclasses.replace(cfg.train, pseudo_kinds=pseudo_kinds)).validate()


def trained_round_0(root, sim_cache, cfg: Config | None = None):
    """(stream, workspace) of ``cfg``'s simulated survey (the tiny one by default), round 0 trained."""
    from ahunt.hunt.session import train_initial
    from ahunt.sources.streams import make_stream
    from ahunt.store.workspace import Workspace

    cfg = cfg or tiny_config()
    stream = make_stream(cfg.survey, image_size=cfg.model.image_size, cache_dir=sim_cache)
    ws = Workspace.create(root, cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    return stream, ws


@pytest.fixture
def config() -> Config:
    return tiny_config()


@pytest.fixture(scope="session")
def sim_cache(tmp_path_factory):
    """One simulation cache for the whole test run."""
    return tmp_path_factory.mktemp("sim-cache")


@pytest.fixture
def no_cpp_compiler(monkeypatch):
    """torch.compile fails on first use, as Inductor does on a machine without a C++ compiler."""
    import torch

    def failing_compile(net, **kwargs):
        def compiled(x):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")
        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)


def seeded_part(rows: list[dict]) -> str:
    """An experiment's rows without what no two runs share (CPU seconds), NaN-safe to compare."""
    return repr([r for r in rows if r["metric"] != "cpu_seconds"])
