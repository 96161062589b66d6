"""Does round 0's self-supervised task learn anything on a scenario's pile?

    python benchmarks/round0_task_loss.py configs/survey-sim32.toml configs/survey-mnist.toml

For each config, round 0's images are taken without their labels (``[survey] unlabelled =
true``, the pile of a hunt started without labels), and a fresh network learns the task of
``[train] self_supervised`` (``--objective`` to choose another) for ``[train] epochs_initial``
epochs, as ``ahunt init --unlabelled`` does before its pseudo-kinds.  It prints the task's loss
after each epoch.  The rotation task guesses at ln 4 = 1.386: a loss that stays there means the
pile has no preferred orientation and the task taught the encoder nothing (``at_chance``).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from ahunt.config import SELF_SUPERVISED, load_config
from ahunt.hunt.session import model_args
from ahunt.learn.model import HuntNet
from ahunt.learn.pretrain import ROTATION_CHANCE, at_chance, pretrain_encoder
from ahunt.sources.streams import make_stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--objective", choices=SELF_SUPERVISED, default=None,
                        help="the task (default: each config's [train] self_supervised)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for path in args.configs:
        cfg = load_config(path)
        cfg = dataclasses.replace(cfg, survey=dataclasses.replace(cfg.survey, unlabelled=True))
        objective = args.objective or cfg.train.self_supervised
        pile = make_stream(cfg.survey, image_size=cfg.model.image_size, channels=cfg.model.channels).load(0).images
        torch.manual_seed(cfg.seed)
        model = HuntNet(model_args(cfg, n_classes=1))  # the network `ahunt init` builds for a pile
        losses = pretrain_encoder(model, pile, cfg.train, objective=objective, epochs=cfg.train.epochs_initial,
                                  seed=cfg.seed, device=torch.device("cpu"))
        chance = f"; a guess: {ROTATION_CHANCE:.3f}" if objective == "rotation" else ""
        verdict = " (at chance)" if at_chance(objective, losses) else ""
        print(f"{path.stem}: {len(pile)} pile images, {objective} task, loss by epoch "
              f"{' '.join(f'{x:.3f}' for x in losses)}{chance}{verdict}")


if __name__ == "__main__":
    main()
