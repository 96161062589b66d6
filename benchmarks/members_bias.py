"""Are a hunt's labelled members of a class like the class as the survey holds it?

    ahunt experiment CONFIG --methods ahunt --keep-workspaces --out DIR
    python benchmarks/members_bias.py DIR --class merger

(or a folder of ``benchmarks/variants.py --keep-workspaces``).  For each kept workspace
``DIR/work/<method>-trial<k>`` of a simulated experiment, under the experiment's own config
(``DIR/config.toml``), it takes the
class's labelled members (what the questions found), the class's objects on the last night
(what the survey holds) and the experiment's catalogue pool (the trial's own draw) and prints:

- ``members``: how many objects carry the class's label;
- ``S/N``: the median signal-to-noise of the members and of the night's objects of the class,
  and the share of the night's that are fainter than the members' median (0.5: the members are
  as bright as the class); the S/N of a cutout is the mean of its brightest 5 % of pixels above
  the border's median, over the border's robust standard deviation (the border: 4 pixels on
  each side);
- ``pool``: the catalogue's precision at k for the class under the last model (as ``ahunt
  experiment`` ranks it) and the pool ranks (from 0) of the class's objects;

and draws ``members-<method>-trial<k>.png`` in DIR: the first 16 members, the pool's objects of the class
and the pool's top 10 by the class's score.  On big nights a class's questions can lock onto one
corner of it (its faintest members, say): the catalogue then ranks the rest of the class low.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ahunt.config import load_config  # noqa: E402
from ahunt.evaluate.catalogue import catalogue_metrics  # noqa: E402
from ahunt.evaluate.demo import class_rankings  # noqa: E402
from ahunt.evaluate.experiment import trial_config  # noqa: E402
from ahunt.sources.streams import make_stream  # noqa: E402
from ahunt.store.workspace import Workspace  # noqa: E402

BORDER = 4


def signal_to_noise(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> each cutout's brightest 5 % of pixels above the border's median, in units
    of the border's robust standard deviation (first band)."""
    x = np.asarray(images, dtype=np.float64)[:, 0]
    border = np.concatenate([x[:, :BORDER].reshape(len(x), -1), x[:, -BORDER:].reshape(len(x), -1)], axis=1)
    sky = np.median(border, axis=1)
    sd = 1.4826 * np.median(np.abs(border - sky[:, None]), axis=1)
    flat = np.sort(x.reshape(len(x), -1), axis=1)
    top = flat[:, -max(1, flat.shape[1] // 20):].mean(axis=1)
    return (top - sky) / np.maximum(sd, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder of `ahunt experiment --keep-workspaces --out`")
    parser.add_argument("--class", dest="name", default="merger")
    parser.add_argument("--pool", type=int, default=0, help="catalogue pool size (default: the config's)")
    args = parser.parse_args()
    config = load_config(args.out / "config.toml")
    for root in sorted((args.out / "work").glob("*-trial*")):
        method, trial = re.fullmatch(r"(.+)-trial(\d+)", root.name).groups()
        cfg = trial_config(config, int(trial), method)
        stream = make_stream(cfg.survey, image_size=cfg.model.image_size, channels=cfg.model.channels,
                             data_config=cfg.data)
        ws = Workspace.open(root)
        names = ws.class_names()
        if args.name not in names:
            print(f"{root.name}: no {args.name} class yet")
            continue
        images, labels, _ = ws.labelled_view()
        members = np.asarray(images[np.flatnonzero(labels == names.index(args.name))], dtype=np.float32)
        night = stream.load(stream.n_rounds - 1)
        of_class = night.images[night.truth == args.name]
        pool = stream.pool(args.pool or cfg.experiment.catalogue_pool)
        in_pool = pool.truth == args.name
        model, version = ws.load_model()
        score = class_rankings(ws, version, model, pool.images, [args.name])[args.name]
        order = np.argsort(-score, kind="stable")
        ranks = np.flatnonzero(in_pool[order]).tolist()
        sn_members, sn_night = signal_to_noise(members), signal_to_noise(of_class)
        fainter = float(np.mean(sn_night < np.median(sn_members)))
        precision = catalogue_metrics(score, in_pool)["precision_at_k"]
        print(f"{root.name}: members {len(members)}; S/N members {np.median(sn_members):.1f}, "
              f"last night's {args.name} {np.median(sn_night):.1f} ({fainter:.2f} of them fainter than the "
              f"members' median); pool precision at k {precision:.2f}, ranks {ranks}")
        rows = [(f"labelled members of {args.name}", members[:16]), (f"{args.name} in the pool", pool.images[in_pool][:16]),
                (f"the pool's top 10 for {args.name}", pool.images[order[:10]])]
        fig, axes = plt.subplots(3, 16, figsize=(16, 3.6))
        for i, (title, shown) in enumerate(rows):
            for j in range(16):
                axes[i, j].axis("off")
                if j < len(shown):
                    axes[i, j].imshow(np.asarray(shown[j])[0], cmap="gray")
            axes[i, 0].set_title(title, fontsize=9, loc="left")
        fig.tight_layout()
        fig.savefig(args.out / f"members-{root.name}.png", dpi=64)
        plt.close(fig)


if __name__ == "__main__":
    main()
