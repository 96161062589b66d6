"""A long simulated hunt: does a night cost the same on night 40 as on night 5?

    python benchmarks/long_hunt.py --nights 40 --questions 1000       # issue #14's targets
    python benchmarks/long_hunt.py --nights 0 --answers 1000 --ids 10000000   # recording, ingest

The demo's config (64 px, anomaly strategy) with ``--questions`` a night, answered by the truth
oracle through the production loop (``session.ask``, so answers are committed in batches).
Each night has ``--night-size`` objects (default 2 x questions) drawn in the demo survey's
class mix from a pool of the demo survey's simulated images (simulated once and cached), each
turned by a random multiple of 90 degrees, perhaps flipped, with a little noise and a new id:
simulating every object would cost more than the hunt.

Per night it prints the labelled count, the training epoch's size, the CPU seconds (this
process, every thread) of ingest, scoring and choosing the questions, asking (and recording
the answers) and retraining, the wall seconds of asking, and the peak RSS of the night.  It
ends with the ratios of issue #14's targets: retraining on the last night over night 5, and
peak memory on the last night minus night 5.

``--answers N`` times recording N scripted answers in one batch (and 100 committed one by one,
as the terminal does).  ``--ids N`` adds the ingest target: 1,000 64 x 64 PNGs ingested (``ahunt ingest``'s path:
``stream_batch`` + ``Store.add_round_pieces``) into an empty store and into one holding N ids
(a fresh process each, CPU seconds and peak RSS), and the one-time cost of indexing N ids.
Everything goes under the system temp dir (``--tmpdir``) and is removed afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Start a new peak-RSS (VmHWM) measurement (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


class NightMaker:
    """Nights in the demo survey's class mix, drawn from a pool of its simulated images."""

    def __init__(self, config, night_size: int, cache_dir: Path | None, seed: int = 0):
        from ahunt.sources.simulated import SimulatedSurvey

        survey = SimulatedSurvey(config.survey, image_size=config.model.image_size, cache_dir=cache_dir)
        rounds = [survey.load(r) for r in range(survey.n_rounds)]
        self.round0 = rounds[0]
        self.images = np.concatenate([r.images for r in rounds[1:]])
        self.truth = np.concatenate([r.truth for r in rounds[1:]]).astype(str)
        mix = dict(config.survey.nightly)
        for name, n in config.survey.late.items():
            mix[name] = mix.get(name, 0) + n
        total = sum(mix.values())
        self.counts = {name: max(1, round(night_size * n / total)) for name, n in mix.items()}
        self.rng = np.random.default_rng(seed)

    def night(self, r: int):
        from ahunt.store.images import RoundData

        picks = np.concatenate([self.rng.choice(np.flatnonzero(self.truth == name), size=n)
                                for name, n in self.counts.items()])
        self.rng.shuffle(picks)
        images = np.rot90(self.images[picks], k=int(self.rng.integers(4)), axes=(2, 3))
        if self.rng.random() < 0.5:
            images = images[..., ::-1]
        images = images + self.rng.normal(0, 0.01, images.shape).astype(np.float32)
        ids = np.array([f"n{r:03d}-{i:06d}" for i in range(len(picks))], dtype=object)
        return RoundData(images=np.ascontiguousarray(images, dtype=np.float32), ids=ids,
                         truth=self.truth[picks].astype(object))


def hunt(args) -> None:
    import torch

    from ahunt.config import Config
    from ahunt.hunt.oracle import TruthOracle
    from ahunt.hunt.session import ask, prepare_questions, retrain, train_initial
    from ahunt.learn.train import balanced_indices
    from ahunt.store.workspace import Workspace

    config = Config(device="cpu")
    config = dataclasses.replace(
        config,
        hunt=dataclasses.replace(config.hunt, questions=args.questions),
        train=dataclasses.replace(config.train, **({} if args.epoch_size is None else {"epoch_size": args.epoch_size})),
        survey=dataclasses.replace(config.survey, nights=20),
    ).validate()
    maker = NightMaker(config, args.night_size or 2 * args.questions, args.cache_dir)
    print(f"torch threads: {torch.get_num_threads()}; {args.questions} questions a night, nights of "
          f"{sum(maker.counts.values())} objects, epoch_size {config.train.epoch_size}, "
          f"{config.train.epochs} epochs a night")
    root = Path(tempfile.mkdtemp(prefix="ahunt_long_hunt_", dir=args.tmpdir))
    rows = []
    try:
        ws = Workspace.create(root / "ws", config, maker.round0, known=list(config.survey.initial))
        train_initial(ws)
        header = (f"{'night':>5} {'labelled':>8} {'epoch':>6} {'ingest':>7} {'scoring':>8} {'asking':>7} "
                  f"{'retrain':>8} {'ask wall':>8} {'peak MB':>8}")
        print("CPU seconds per step; ask wall: seconds to ask and record the night's answers")
        print(header)
        for night in range(1, args.nights + 1):
            data = maker.night(night)
            _reset_peak()
            cpu = time.process_time()
            r = ws.store.add_round(data)
            t_ingest, cpu = time.process_time() - cpu, time.process_time()
            prepare_questions(ws, r)
            t_score, cpu = time.process_time() - cpu, time.process_time()
            wall = time.perf_counter()
            result = ask(ws, r, TruthOracle(dict(zip(data.ids.tolist(), data.truth.tolist()))), with_images=False)
            t_ask, wall, cpu = time.process_time() - cpu, time.perf_counter() - wall, time.process_time()
            assert result.complete
            retrain(ws, r)
            t_train = time.process_time() - cpu
            _, labels, _ = ws.labelled_view()
            epoch = len(balanced_indices(labels, np.random.default_rng(0), min_total=config.train.min_epoch_size,
                                         size=config.train.epoch_size))
            row = dict(night=night, labelled=len(labels), epoch=epoch, ingest=t_ingest, scoring=t_score,
                       asking=t_ask, retrain=t_train, ask_wall=wall, peak_mb=_rss_mb("VmHWM"))
            rows.append(row)
            print(f"{night:>5} {len(labels):>8,} {epoch:>6,} {t_ingest:>7.2f} {t_score:>8.2f} {t_ask:>7.2f} "
                  f"{t_train:>8.2f} {wall:>8.2f} {row['peak_mb']:>8,.0f}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = 5 if len(rows) >= 5 else 1
    first, last = rows[base - 1], rows[-1]
    print(f"retrain CPU, night {last['night']} / night {base}: {last['retrain'] / first['retrain']:.2f} "
          f"(target <= 1.25 at night 40 over night 5)")
    later = [x["retrain"] for x in rows[base - 1:]]
    if len(later) >= 3:
        slope = np.polyfit(np.arange(len(later)), later, 1)[0]
        print(f"retrain CPU trend from night {base}: {slope:+.3f} s per night ({100 * slope / np.mean(later):+.2f} % of the mean)")
    print(f"peak memory, night {last['night']} - night {base}: {last['peak_mb'] - first['peak_mb']:+,.0f} MB "
          f"(target within 200 MB)")
    print(f"asking + recording {args.questions} answers: {max(x['ask_wall'] for x in rows):.2f} s wall at most "
          f"(target: 1,000 in under 2 s)")


def ingest_worker(folder: str, store_path: str) -> dict:
    from ahunt.sources.files import stream_batch
    from ahunt.store.images import Store

    cpu = time.process_time()
    _, n = Store(store_path).add_round_pieces(stream_batch(folder, image_size=64, channels=1).pieces)
    return {"n": n, "cpu": time.process_time() - cpu, "peak_mb": _rss_mb("VmHWM")}


def fill_store(path: Path, n_ids: int, per_round: int = 1_000_000) -> float:
    """A store holding ``n_ids`` ids in rounds of ``per_round`` (their images are allocated but
    never written: HDF5 stores no chunk that was not written), then indexed; returns the CPU
    seconds of indexing."""
    import h5py

    from ahunt.store.images import RoundWriter, Store

    with h5py.File(path, "w") as f:
        for r, s in enumerate(range(0, n_ids, per_round)):
            n = min(per_round, n_ids - s)
            g = f.create_group(f"rounds/{r:04d}")
            g.create_dataset("images", shape=(n, 1, 64, 64), dtype=np.float32,
                             chunks=(RoundWriter.CHUNK, 1, 64, 64), compression="lzf")
            g.create_dataset("ids", data=np.array([f"old-{s + i:09d}" for i in range(n)], dtype=object),
                             dtype=h5py.string_dtype(encoding="utf-8"), chunks=(4096,))
    cpu = time.process_time()
    Store(path).locate(["old-000000000"])  # the first use indexes every round
    return time.process_time() - cpu


def ingest(args) -> None:
    from PIL import Image

    tmp = Path(tempfile.mkdtemp(prefix="ahunt_long_hunt_ingest_", dir=args.tmpdir))
    try:
        folder = tmp / "night"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(1000):
            Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(folder / f"new-{i:04d}.png")
        full = tmp / "full.h5"
        index_cpu = fill_store(full, args.ids)
        print(f"indexing {args.ids:,} stored ids (once per store made before the index): {index_cpu:.1f} CPU-s")
        results = {}
        for name, store in (("empty", tmp / "empty.h5"), (f"{args.ids:,} ids", full)):
            out = subprocess.run([sys.executable, __file__, "--ingest-worker", str(folder), str(store)],
                                 check=True, capture_output=True, text=True)
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"ingest 1,000 PNGs into a store with {name:>12}: {results[name]['cpu']:.2f} CPU-s, "
                  f"peak {results[name]['peak_mb']:,.0f} MB")
        empty, filled = results["empty"], results[f"{args.ids:,} ids"]
        print(f"ingest CPU, {args.ids:,} ids / empty: {filled['cpu'] / empty['cpu']:.2f} (target <= 1.25); "
              f"peak memory {filled['peak_mb'] - empty['peak_mb']:+,.0f} MB (target within 100 MB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def answers(n: int, tmpdir) -> None:
    """Recording ``n`` scripted answers in one batch, against one commit each (100 of them)."""
    from ahunt.store.answer_log import AnswerLog

    tmp = Path(tempfile.mkdtemp(prefix="ahunt_long_hunt_answers_", dir=tmpdir))
    try:
        log = AnswerLog(tmp / "answers.sqlite")
        log.create(["elliptical", "spiral", "edge-on"])
        names = ["elliptical", "spiral", "edge-on", "merger"]
        cpu, wall = time.process_time(), time.perf_counter()
        with log.batch():
            for i in range(n):
                name = names[i % 4]
                log.record(round=1, object_id=f"a{i}", kind="label", class_name=name, oracle="script",
                           new_class=name == "merger" and i == 3)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"record {n:,} scripted answers in a batch: {wall:.2f} s wall, {cpu:.2f} CPU-s (target: under 2 s)")
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(100):
            log.record(round=2, object_id=f"b{i}", kind="skip", oracle="terminal")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"record 100 answers one commit each (the terminal): {1000 * wall / 100:.1f} ms wall per answer")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=40)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--night-size", type=int, default=0, help="objects a night (default: 2 x questions)")
    parser.add_argument("--epoch-size", type=int, default=None, help="[train] epoch_size (default: the config's)")
    parser.add_argument("--ids", type=int, default=0, help="also measure ingest into a store of this many ids")
    parser.add_argument("--answers", type=int, default=0, help="also time recording this many scripted answers")
    parser.add_argument("--cache-dir", type=Path, default=None, help="simulation cache (default ~/.cache/ahunt)")
    parser.add_argument("--tmpdir", default=None)
    parser.add_argument("--ingest-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest_worker:
        print(json.dumps(ingest_worker(*args.ingest_worker)))
        return
    if args.answers:
        answers(args.answers, args.tmpdir)
    if args.ids:
        ingest(args)
    if args.nights:
        hunt(args)


if __name__ == "__main__":
    main()
