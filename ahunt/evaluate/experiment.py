"""Experiments: every method on the same data streams, seeds and question budget, K trials.

Each (trial, method) pair is one task.  It runs the production session loop with the truth
oracle and writes its rows to ``parts/<method>-trial<k>.csv`` atomically, so an interrupted
experiment resumes where it stopped: finished tasks are not rerun.  The folder keeps the config
its tasks ran with (``config.toml``) and refuses to resume under another, which would mix two
experiments' rows in one table.  ``results.csv`` is the tidy
union (trial, method, round, metric, value); metrics are ``mcc:<class>``, ``auc:<class>`` and
``true_candidates:<class>`` for every anomaly class, and ``anomalies_found``.  Methods whose
questions carry selection probabilities (``aloe``), and every method when ``[hunt]
random_share`` is above 0, add ``contamination_estimate`` and
``contamination_se`` (the importance-weighted anomalous fraction of the night) and
``contamination_true`` (the fraction of the night outside the round-0 classes).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import os
import shutil
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

import numpy as np

from ahunt.config import Config, dump_config
from ahunt.errors import ConfigError
from ahunt.evaluate.catalogue import catalogue_metrics
from ahunt.evaluate.demo import ANY, class_rankings, round_report, validate_stream_interest
from ahunt.hunt.oracle import TruthOracle
from ahunt.hunt.session import ask, night_contamination, prepare_questions, retrain, round_seed, train_initial
from ahunt.learn.train import load_checkpoint, resolve_device, save_checkpoint
from ahunt.methods.baselines import METHOD_SPECS, IForestChooser, make_detector
from ahunt.methods.peers import ActiveForestPeer
from ahunt.sources.streams import make_stream, oracle_truth
from ahunt.store.folder_lock import folder_lock
from ahunt.store.workspace import Workspace

__all__ = ["trial_config", "run_task", "run_experiment", "read_results", "hunt_summary", "mean_std", "format_mean_std", "FIELDS"]

FIELDS = ["trial", "method", "round", "metric", "value"]
_PIXEL_ONLY = ("iforest-raw", "aad-raw", "pineforest-raw")
_PARTS = "parts"  # the folder of an experiment's finished tasks, one CSV of rows each


def trial_config(config: Config, trial: int, method: str) -> Config:
    """Trial k shifts both the training seed and the survey's seed: a new draw of the data."""
    spec = METHOD_SPECS[method]
    hunt = config.hunt if spec.strategy is None else dataclasses.replace(config.hunt, strategy=spec.strategy)
    if spec.reserve_score is not None:
        hunt = dataclasses.replace(hunt, reserve_score=spec.reserve_score)
    survey = dataclasses.replace(config.survey, seed=config.survey.seed + trial,
                                 unlabelled=config.survey.unlabelled and not spec.labelled_start)
    train = config.train if spec.loss is None else dataclasses.replace(config.train, loss=spec.loss)
    if spec.semi_supervised is not None:
        train = dataclasses.replace(train, semi_supervised=spec.semi_supervised)
    return dataclasses.replace(config, seed=config.seed + trial, hunt=hunt, survey=survey, train=train)


def _copy_model(ws: Workspace, r: int) -> None:
    """Methods that never retrain carry the previous model forward as model ``r``."""
    model, meta = load_checkpoint(ws.checkpoint_path(r - 1))
    save_checkpoint(ws.checkpoint_path(r), model, {**meta, "round": r})


def run_task(config: Config, method: str, trial: int, workdir: Path, cache_dir: Path | None = None,
             keep_workspace: bool = False) -> list[dict]:
    """Run one method for one trial; returns tidy rows."""
    cpu_start = time.process_time()  # every thread of this process: training and scoring included
    cfg = trial_config(config, trial, method)
    spec = METHOD_SPECS[method]
    stream = make_stream(cfg.survey, image_size=cfg.model.image_size, channels=cfg.model.channels, cache_dir=cache_dir,
                         data_config=cfg.data)
    root = Path(workdir) / f"{method}-trial{trial}"
    if root.exists():
        shutil.rmtree(root)  # an unfinished earlier attempt
    ws = Workspace.create(root, cfg, stream.load(0), known=stream.known)
    train_initial(ws)
    # CPU seconds are what the method costs: evaluation (round_report) is left out, and so is
    # the round-0 network for the methods that never look at it (raw pixels).
    overhead = time.process_time() - cpu_start if method in _PIXEL_ONLY else 0.0
    device = resolve_device(cfg.device)
    forest = IForestChooser(spec.iforest_space, seed=cfg.seed, crop=cfg.model.crop) if spec.iforest_space else None
    detector = make_detector(spec.detector, ws, device=device) if spec.detector else None
    chooser = detector if detector is not None else forest
    # The truth's classes are for the evaluation alone; the methods learn what is interesting
    # from the answers and the config (`[experiment] uninteresting`), as a user would tell them.
    interesting = [c for c in stream.anomalies if c not in cfg.experiment.uninteresting]
    peer = ActiveForestPeer(method, ws, seed=cfg.seed, uninteresting=cfg.experiment.uninteresting) if spec.peer else None
    # The catalogue pool: drawn once per trial, never a night, never asked (evaluate/catalogue.py).
    pool = stream.pool(cfg.experiment.catalogue_pool) if cfg.experiment.catalogue_pool else None
    rows = []
    for night in range(1, stream.n_rounds):
        data = stream.load(night)
        r = ws.store.add_round(data)
        oracle = TruthOracle(oracle_truth(stream, data))
        if detector is not None:
            detector.start_round(ws, r)
        scores, single = None, None  # a binary method's scores tonight, and its scorer for any images
        if peer is not None:
            scores = peer.run_night(ws, r, oracle, cfg.hunt.questions, seed=round_seed(cfg.seed, r))
        else:
            if forest is not None:  # the forest grows on every object seen so far
                if r == 1:
                    forest.see(ws.store.load_round(0).images)
                night_images = ws.store.load_round(r).images
                forest.see(night_images)
                forest.grow(ws.load_model(r - 1)[0], seed=round_seed(cfg.seed, r), device=device)
            prepare_questions(ws, r, chooser=chooser)
            ask(ws, r, oracle, with_images=False)
        if spec.retrain == "none":
            _copy_model(ws, r)
        else:
            retrain(ws, r, head_only=spec.retrain == "head")
        if detector is not None:  # (a peer's scores came with its night; it has no detector or chooser)
            detector.learn(ws, r)
            scores, single = detector.scores(ws.store.load_round(r).images), detector.scores
        elif peer is not None:
            single = peer.scores
        elif forest is not None:
            model, _ = ws.load_model(r)
            if spec.retrain != "none":  # tonight's retrain moved the latent space: regrow the forest in it
                forest.grow(model, seed=round_seed(cfg.seed, r), device=device)
            single = functools.partial(forest.image_scores, model, device=device)
            scores = single(night_images)
        t = time.process_time()
        report = round_report(ws, r, anomaly_names=stream.anomalies, scores=scores, any_interesting=interesting)
        base = {"trial": trial, "method": method, "round": r}
        if pool is not None:
            rows += _catalogue_rows(base, ws, r, pool, stream.anomalies, interesting, single)
        overhead += time.process_time() - t
        rows.append({**base, "metric": "anomalies_found", "value": report.anomalies_found})
        rows.append({**base, "metric": "interesting_found",
                     "value": sum(c.true_candidates for c in report.classes if c.name in interesting)})
        # the ideal hunt: every question an interesting anomaly while the night has any left
        rows.append({**base, "metric": "ideal_found",
                     "value": min(cfg.hunt.questions, int(np.isin(data.truth, interesting).sum()))})
        for c in report.classes:
            rows += [
                {**base, "metric": f"mcc:{c.name}", "value": c.mcc},
                {**base, "metric": f"auc:{c.name}", "value": c.auc},
                {**base, "metric": f"mcc_heldout:{c.name}", "value": c.mcc_heldout},
                {**base, "metric": f"auc_heldout:{c.name}", "value": c.auc_heldout},
                {**base, "metric": f"true_candidates:{c.name}", "value": c.true_candidates},
            ]
        if detector is not None:
            estimate = detector.contamination(ws, r)
        else:  # the session's own estimate, available when the config asks a random share
            night = night_contamination(ws, r)
            estimate = (night.estimate, night.se) if night is not None and not night.too_few else None
        if estimate is not None:
            true = float(np.mean(np.isin(data.truth, list(stream.anomalies))))
            rows += [
                {**base, "metric": "contamination_estimate", "value": estimate[0]},
                {**base, "metric": "contamination_se", "value": estimate[1]},
                {**base, "metric": "contamination_true", "value": true},
            ]
    rows.append({"trial": trial, "method": method, "round": stream.n_rounds - 1, "metric": "cpu_seconds",
                 "value": time.process_time() - cpu_start - overhead})
    if not keep_workspace:
        shutil.rmtree(root)  # a workspace per task would fill the disk; the rows are what count
    return rows


def _catalogue_rows(base: dict, ws: Workspace, r: int, pool, anomalies: list[str], interesting: list[str],
                    single) -> list[dict]:
    """Rows ``catalogue_<metric>:<class>`` for the pool as ranked after night ``r``, per anomaly
    class the pool holds and for ``any`` interesting class; ``single`` scores a binary method's
    objects (None: a class-based method, ranked by class with ``class_rankings``)."""
    targets = [c for c in anomalies if (pool.truth == c).any()] + ([ANY] if interesting else [])
    if single is not None:
        s = single(pool.images)
        ranking = {name: s for name in targets}
    else:
        model, _ = ws.load_model(r)
        ranking = class_rankings(ws, r, model, pool.images, targets, any_interesting=interesting)
    rows = []
    for name in targets:
        is_class = np.isin(pool.truth, interesting) if name == ANY else pool.truth == name
        for metric, value in catalogue_metrics(ranking[name], is_class).items():
            rows.append({**base, "metric": f"catalogue_{metric}:{name}", "value": value})
    return rows


def _task_entry(args) -> tuple[str, int, list[dict]]:
    config, method, trial, workdir, cache_dir, keep, threads = args
    import torch

    torch.set_num_threads(threads)
    return method, trial, run_task(config, method, trial, workdir, cache_dir, keep)


def _write_rows(rows: list[dict], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def read_results(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [
            {**row, "trial": int(row["trial"]), "round": int(row["round"]), "value": float(row["value"])}
            for row in csv.DictReader(fh)
        ]


# How much of an experiment to run, not what it measures: a folder grows by more trials or methods.
_HOW_MUCH = ("experiment.trials", "experiment.jobs", "experiment.methods")


def _settings(toml_text: str) -> dict[str, object]:
    """A config's TOML as ``{"section.key": value}``, nested tables flattened."""
    flat: dict[str, object] = {}

    def walk(prefix: str, table: dict) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(f"{prefix}{key}.", value)
            else:
                flat[prefix + key] = value
    walk("", tomllib.loads(toml_text))
    return flat


def same_config(config: Config, out_dir: Path) -> None:
    """Keep ``out_dir/config.toml`` the config its tasks ran with; ConfigError if ``config``
    differs from it in anything but how many trials, methods and jobs, since resuming would
    mix rows of two experiments.  A new folder takes this config; one that holds finished tasks
    but no config (written by an older ahunt) is refused too, since what those tasks measured
    cannot be checked.  A setting missing from the file (added to ahunt since) counts as that
    setting's default."""
    path = Path(out_dir) / "config.toml"
    ours = dump_config(config)
    if not path.exists():
        if any((path.parent / _PARTS).glob("*.csv")):
            raise ConfigError(f"{out_dir} holds finished tasks but no config.toml, so what they measured "
                              "cannot be checked and resuming could mix two experiments: give --out a new "
                              f"folder, delete this one, or write the config they ran with to {path}")
        path.write_text(ours, encoding="utf-8")
        return
    try:
        theirs = _settings(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read as the config of this experiment ({exc}); "
                          "give --out a new folder, or delete this one") from None
    mine = _settings(ours)
    # A setting added to ahunt after that run was written is missing from its file: it ran as
    # the setting's default does.
    defaults = _settings(dump_config(Config()))
    for key in mine.keys() - theirs.keys():
        if key in defaults:
            theirs[key] = defaults[key]
    differ = sorted(k for k in theirs.keys() | mine.keys()
                    if k not in _HOW_MUCH and theirs.get(k, "(unset)") != mine.get(k, "(unset)"))
    if differ:
        shown = "; ".join(f"{k} = {theirs.get(k, '(unset)')!r} there, {mine.get(k, '(unset)')!r} now"
                          for k in differ[:3])
        more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
        raise ConfigError(f"{out_dir} holds an experiment run with another config ({shown}{more}); "
                          "resuming would mix the two: give --out a new folder, or delete this one")


def run_experiment(
    config: Config,
    out_dir: Path,
    *,
    trials: int | None = None,
    methods: list[str] | None = None,
    jobs: int | None = None,
    cache_dir: Path | None = None,
    keep_workspaces: bool = False,
    on_done: Callable[[str, int, bool], None] = lambda method, trial, skipped: None,
) -> list[dict]:
    """Run every (trial, method) not finished yet; returns all rows, also in results.csv."""
    validate_stream_interest(config)
    trials = trials or config.experiment.trials
    methods = list(methods or config.experiment.methods)
    jobs = max(1, min(jobs or config.experiment.jobs, os.cpu_count() or 1))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One process per folder: a second one would remove the first one's unfinished workspaces
    # (run_task starts each task afresh) and mix their parts.
    with folder_lock(out_dir, writes="the experiment's folder"):
        return _run_unfinished(config, out_dir, trials, methods, jobs, cache_dir, keep_workspaces, on_done)


def _run_unfinished(config: Config, out_dir: Path, trials: int, methods: list[str], jobs: int,
                    cache_dir: Path | None, keep_workspaces: bool,
                    on_done: Callable[[str, int, bool], None]) -> list[dict]:
    """``run_experiment`` in its locked folder: the tasks not finished yet, then results.csv."""
    parts = out_dir / _PARTS
    same_config(config, out_dir)
    parts.mkdir(exist_ok=True)
    todo = []
    for trial in range(trials):
        for method in methods:
            if (parts / f"{method}-trial{trial}.csv").exists():
                on_done(method, trial, True)
            else:
                todo.append((method, trial))
    _prepare_streams(config, sorted({t for _, t in todo}), methods[0], jobs, cache_dir)
    # The cores shared out among the workers; OMP_NUM_THREADS, when set, caps each one (on a
    # busy machine a thread waiting for a core burns CPU seconds that are not the method's).
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = max(1, min(threads, int(os.environ["OMP_NUM_THREADS"])))
    tasks = [(config, m, t, out_dir / "work", cache_dir, keep_workspaces, threads) for m, t in todo]
    if jobs == 1:
        for task in tasks:
            method, trial, rows = _task_entry(task)
            _write_rows(rows, parts / f"{method}-trial{trial}.csv")
            on_done(method, trial, False)
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_task_entry, task) for task in tasks]
            for future in as_completed(futures):
                method, trial, rows = future.result()
                _write_rows(rows, parts / f"{method}-trial{trial}.csv")
                on_done(method, trial, False)
    rows = []
    for trial in range(trials):
        for method in methods:
            rows += read_results(parts / f"{method}-trial{trial}.csv")
    _write_rows(rows, out_dir / "results.csv")
    return rows


def _prepare_streams(config: Config, trials: list[int], method: str, jobs: int, cache_dir: Path | None) -> None:
    """Simulate each trial's survey once, before any task starts, rather than in several workers
    at the same time; on more than one core, the trials side by side (a survey of 100,000
    galaxies a night takes GalSim tens of CPU minutes)."""
    work = [(config, trial, method, cache_dir) for trial in trials]
    if jobs == 1 or len(work) < 2:
        for item in work:
            _prepare_stream(item)
        return
    import multiprocessing

    with ProcessPoolExecutor(max_workers=min(jobs, len(work)), mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(_prepare_stream, item) for item in work]):
            future.result()


def _prepare_stream(item: tuple[Config, int, str, Path | None]) -> None:
    """One trial's survey, into the cache (a worker's entry point)."""
    config, trial, method, cache_dir = item
    cfg = trial_config(config, trial, method)
    make_stream(cfg.survey, image_size=cfg.model.image_size, channels=cfg.model.channels, cache_dir=cache_dir,
                data_config=cfg.data).ensure()


_COUNTS = ("anomalies_found", "interesting_found", "ideal_found", "true_candidates")  # per night: summed over the hunt


def _per_trial(series: dict[str, list[tuple[int, float]]], last_round: int) -> dict[str, float]:
    """What a user feels over one hunt, from one trial's per-round metrics."""
    out: dict[str, float] = {}
    for metric, points in series.items():
        values = [v for _, v in sorted(points)]
        kind, _, cls = metric.partition(":")
        suffix = f":{cls}" if cls else ""
        if kind in _COUNTS:
            name = "found_total" if kind == "true_candidates" else f"{kind}_total"
            out[name + suffix] = float(np.sum(values))
        elif kind == "cpu_seconds":
            out["cpu_seconds"] = values[-1]
        else:
            out[f"final_{kind}{suffix}"] = values[-1]
            if kind.startswith(("mcc", "auc", "catalogue_")):
                defined = [v for v in values if not np.isnan(v)]
                out[f"mean_{kind}{suffix}"] = float(np.mean(defined)) if defined else float("nan")
    if out.get("ideal_found_total"):
        out["found_share"] = out["interesting_found_total"] / out["ideal_found_total"]
    finds = sorted(r for r, v in series.get("interesting_found", []) if v > 0)
    out["first_find_night"] = float(finds[0]) if finds else float(last_round + 1)  # never: one past the end
    return out


def hunt_summary(rows: list[dict]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Per method, mean and std over trials of: anomalies found over the whole hunt
    (``interesting_found_total``, ``found_total:<class>``, ``anomalies_found_total``, all
    cumulative; ``ideal_found_total`` for a hunt whose every question finds one while the night
    has any left, and ``found_share``, the share of it found), the night of the first interesting find (``first_find_night``; a hunt that
    never finds one counts as one night past the end), MCC and AUC averaged over all nights
    (``mean_mcc:<class>``, ``mean_mcc_heldout:<class>``), on the last night
    (``final_mcc:<class>``, ``final_mcc_heldout:<class>``, ...) and ``cpu_seconds``."""
    last_round = max(r["round"] for r in rows)
    series: dict[tuple[str, int], dict[str, list[tuple[int, float]]]] = {}
    for r in rows:
        series.setdefault((r["method"], r["trial"]), {}).setdefault(r["metric"], []).append((r["round"], r["value"]))
    by_method: dict[str, dict[str, list[float]]] = {}
    for (method, _), metrics in series.items():
        for name, value in _per_trial(metrics, last_round).items():
            by_method.setdefault(method, {}).setdefault(name, []).append(value)
    return {method: {m: mean_std(v) for m, v in sorted(by_metric.items())} for method, by_metric in by_method.items()}


def format_mean_std(mean: float, std: float, n: int, digits: int, trials: int) -> str:
    """``mean ± std``; the std left out for one value, ``(n=…)`` where fewer trials than
    ``trials`` had a value, and ``–`` where none had."""
    if n == 0:
        return "–"
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if n > 1 else "")
    return text + (f" (n={n})" if n < trials else "")


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, n) over the trials where the value is defined.

    n is below the number of trials where a value is NaN (e.g. held out on a night whose every
    anomaly was asked); the std is NaN for n = 1, never a misleading 0.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)

