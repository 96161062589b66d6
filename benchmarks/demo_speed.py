"""Speed of the demo's parts on this machine; prints numbers, asserts nothing.

    python benchmarks/demo_speed.py            # the demo config (64 px)

Measures: simulation rate, round-0 training, one retrain + score round (the nightly cost),
and scoring throughput at 64x64 px in inference mode.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ahunt.config import Config
from ahunt.hunt.oracle import TruthOracle
from ahunt.hunt.session import ask, prepare_questions, retrain, train_initial
from ahunt.learn.model import HuntNet, ModelArgs
from ahunt.learn.scoring import default_batch_size
from ahunt.learn.train import resolve_device, score
from ahunt.sources.galaxy_sim import draw_objects
from ahunt.sources.simulated import SimulatedSurvey
from ahunt.store.workspace import Workspace


def main() -> None:
    config = Config()
    device = resolve_device(config.device)
    print(f"device: {device}, torch threads: {torch.get_num_threads()}, torch {torch.__version__}")

    t = time.perf_counter()
    draw_objects(["elliptical", "spiral", "edge-on", "merger", "lens", "artefact"] * 50, image_size=64, seed=1)
    dt = time.perf_counter() - t
    print(f"simulation: {300 / dt:,.0f} images/s ({1000 * dt / 300:.2f} ms per 64x64 object)")

    with tempfile.TemporaryDirectory() as tmp:
        survey = SimulatedSurvey(config.survey, image_size=64, cache_dir=Path(tmp) / "cache")
        t = time.perf_counter()
        survey.ensure()
        print(f"simulate + cache the whole demo survey ({sum(survey.ensure().round_size(r) for r in range(survey.n_rounds))} images): "
              f"{time.perf_counter() - t:.1f} s")
        ws = Workspace.create(Path(tmp) / "ws", config, survey.load(0), known=list(config.survey.initial))
        t = time.perf_counter()
        train_initial(ws)
        print(f"round-0 training ({config.train.epochs_initial} epochs): {time.perf_counter() - t:.1f} s")
        for night in (1, 2):
            data = survey.load(night)
            r = ws.store.add_round(data)
            t = time.perf_counter()
            prepare_questions(ws, r)
            ask(ws, r, TruthOracle(dict(zip(data.ids, data.truth))), with_images=False)
            retrain(ws, r)
            print(f"night {night}: score + questions + retrain ({config.train.epochs} epochs): "
                  f"{time.perf_counter() - t:.1f} s")

    model = HuntNet(ModelArgs(n_classes=5, image_size=64))
    images = np.random.default_rng(0).random((8192, 1, 64, 64), dtype=np.float32)
    score(model, images[:512], device=device)  # warm-up
    t = time.perf_counter()
    score(model, images, device=device)
    dt = time.perf_counter() - t
    print(f"scoring at 64x64: {len(images) / dt:,.0f} images/s in memory (ahunt.learn.train.score: BatchNorm folded, "
          f"batch {default_batch_size(device)}; a whole night from the store: benchmarks/score_scale.py)")

    import io

    from rich.console import Console

    from ahunt.hunt.terminal_image import HalfBlockImage

    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=120)
    console.print(HalfBlockImage(images[0, 0], width=56))  # warm-up
    t = time.perf_counter()
    for i in range(20):
        console.print(HalfBlockImage(images[i, 0], width=56))
    print(f"terminal image (64x64 -> 56 cells, truecolor): {(time.perf_counter() - t) / 20 * 1000:.1f} ms per render")


if __name__ == "__main__":
    main()
