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
