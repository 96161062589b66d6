"""One AHUNT round: score -> choose questions -> ask the oracle -> record -> retrain.

The same functions serve a person at the terminal, a scripted answers file and the
ground-truth oracle of the demo and experiments, so simulations exercise the production path.
Every step is resumable: questions are stored when chosen, answers when given, and a model
only becomes current when its checkpoint is completely written.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from ahunt.config import Config
from ahunt.errors import AhuntWarning, WorkspaceError
from ahunt.hunt.oracle import Defer, Label, Oracle, Question, Quit, Skip, Undo
from ahunt.hunt.query import (Pick, choose_from_candidates, choose_questions, live_interest, picked_by, random_count,
                              spread_columns)
from ahunt.hunt.ranking import class_scores, neighbour_classes, score_name
from ahunt.learn.model import HuntNet, ModelArgs
from ahunt.learn.pretrain import train_unlabelled
from ahunt.learn.scoring import RoundScores, score_store
from ahunt.learn.train import cpu_state, load_checkpoint, resolve_device, save_checkpoint, score, train_model
from ahunt.progress import Track, no_progress
from ahunt.store.answer_log import RESERVE, QuestionRow
from ahunt.store.workspace import Workspace

__all__ = [
    "model_args", "train_initial", "prepare_questions", "ask", "retrain", "AskResult", "round_seed",
    "round_to_hunt", "night_source", "run_session", "summarise_round", "SessionSummary", "score_round",
    "Contamination", "night_contamination", "pile_sample",
]


def round_seed(seed: int, r: int) -> int:
    """A distinct, reproducible seed per round."""
    return int(np.random.SeedSequence([seed, r]).generate_state(1)[0])


def model_args(cfg: Config, n_classes: int) -> ModelArgs:
    """The round-0 network's shape, as the config's ``[model]``, ``[train] loss`` and
    ``[score] views`` say."""
    return ModelArgs(
        n_classes=n_classes,
        image_size=cfg.model.image_size,
        channels=cfg.model.channels,
        latent_dim=cfg.model.latent_dim,
        width=cfg.model.width,
        head="isomax" if cfg.train.loss == "isomax" else "linear",
        views=cfg.scoring_views,
        crop=cfg.model.crop,
    )


def train_initial(ws: Workspace, *, track: Track = no_progress) -> list[float]:
    """Train the round-0 model on the known classes (the reserve output has no examples yet)."""
    cfg = ws.config
    images, labels, _ = ws.labelled_view()
    if images.shape[1] != cfg.model.channels or images.shape[2] != cfg.model.image_size:
        raise WorkspaceError(
            f"stored images are {images.shape[1:]} but the config expects "
            f"({cfg.model.channels}, {cfg.model.image_size}, {cfg.model.image_size})"
        )
    args = model_args(cfg, len(ws.classes()))
    seed = round_seed(cfg.seed, 0)
    import torch

    torch.manual_seed(seed)
    model = HuntNet(args)
    device = resolve_device(cfg.device)
    meta: dict = {}
    if started_without_labels(ws):
        # one known class (a hunt started from unlabelled images): nothing for cross-entropy to tell apart
        kinds = None
        if cfg.train.pseudo_kinds:
            kinds, meta = _pseudo_kinds(model, images, cfg.train.pseudo_kinds, seed=seed)
        losses = train_unlabelled(model, images, labels, cfg.train, seed=seed, device=device, track=track,
                                  kinds=kinds)
        if kinds is not None:
            from ahunt.learn.kinds import KINDS_HEAD

            meta[KINDS_HEAD] = cpu_state(kinds[2])
    else:
        losses = train_model(
            model, images, labels, cfg.train, epochs=cfg.train.epochs_initial, seed=seed,
            device=device, track=track, description="training round 0",
        )
    save_checkpoint(ws.checkpoint_path(0), model, {"round": 0, "classes": ws.class_names(), "losses": losses, **meta})
    return losses


def _pseudo_kinds(model: HuntNet, pile, k: int, *, seed: int) -> tuple[tuple, dict]:
    """The pile of a hunt started without labels (round 0, the labelled set's rows in the
    store's order), its ``k`` pseudo-kinds (``ahunt/learn/kinds.py``) and a new kinds head; and
    the kinds, as the checkpoints keep them.  The pile is read a block at a time, never whole."""
    import torch

    from ahunt.hunt.novelty import BLOCK, pixel_features
    from ahunt.learn.kinds import KINDS, kinds_head, pseudo_kinds

    features = np.concatenate([pixel_features(pile[s:s + BLOCK], model.args.crop) for s in range(0, len(pile), BLOCK)])
    kinds = pseudo_kinds(features, k, seed=seed)
    head = kinds_head(model, int(kinds.max()) + 1)
    return (pile, kinds, head), {KINDS: torch.from_numpy(kinds.astype(np.int16))}


def prepare_questions(ws: Workspace, r: int, *, track: Track = no_progress, chooser=None) -> list[QuestionRow]:
    """The questions of round ``r``: chosen and stored on first call, read back afterwards.

    ``chooser`` replaces the configured strategy (baselines such as isolation forests): a
    callable ``(images, latents, exclude, n, rng) -> list[Pick]`` with a ``name``.
    """
    stored = ws.log.questions(r)
    if stored:
        return stored
    if r < 1 or r >= ws.store.n_rounds():
        raise WorkspaceError(f"round {r} has no unlabelled batch; ingest a night first")
    version = ws.current_version()
    if version is None or version < r - 1:
        raise WorkspaceError(
            f"round {r} needs the model trained through round {r - 1}, but the current model is "
            f"from round {version}; run `ahunt train {ws.root}` first"
        )
    model, version = ws.load_model(r - 1)
    cfg = ws.config
    meta = ws.store.load_round(r, images=False)
    asked = ws.log.asked_ids()
    exclude = [i for i, oid in enumerate(meta.ids) if oid in asked]
    rng = np.random.default_rng(round_seed(cfg.seed, r))
    if chooser is None:
        picks = _strategy_picks(ws, r, model, version, exclude, rng, track)
        strategy = cfg.hunt.strategy
    else:
        device = resolve_device(cfg.device)
        if getattr(chooser, "needs_pixels", True):  # baselines that look at the pixels need the whole night
            images = ws.store.load_round(r).images
            _, latents = score(model, images, device=device, track=track, description=f"scoring round {r}")
        else:  # latents only, streamed from the store (float32: the forest splits on them)
            images = None
            latents = _score_here(ws, r, model, track, latent_dtype=np.float32).latents
        picks, strategy = chooser(images, latents, exclude, cfg.hunt.questions, rng), chooser.name
    spread = cfg.hunt.spread if chooser is None else 0  # a baseline's chooser never spreads
    rows = [
        QuestionRow(r, k, str(meta.ids[p.index]), p.index, picked_by(strategy, spread, p.interest), p.interest,
                    p.score, version)
        for k, p in enumerate(picks)
    ]
    ws.log.add_questions(rows)
    return rows


def _strategy_picks(ws: Workspace, r: int, model: HuntNet, version: int, exclude: list[int],
                    rng: np.random.Generator, track: Track) -> list[Pick]:
    """The configured strategy's questions for round ``r``, scored here or on a Dask cluster."""
    cfg = ws.config
    names = ws.class_names()[: model.n_classes]
    retired = {c.name for c in ws.classes() if c.retired}  # no labels left: no questions either
    weights = {k: w for k, w in cfg.hunt.interest_for(r).items() if k not in retired}
    options = dict(strategy=cfg.hunt.strategy, rng=rng, exclude=exclude,
                   diversity_pool=cfg.hunt.diversity_pool, random_share=cfg.hunt.random_share,
                   members_first=cfg.hunt.members_first, spread=cfg.hunt.spread)
    interest = live_interest(weights, names)
    use_novelty = cfg.hunt.reserve_score == "novelty" and RESERVE in interest
    few = neighbour_classes(ws, r, interest)
    if not cfg.score.dask_scheduler or use_novelty or few:
        s = round_scores(ws, r, model, version, track=track)
        probs = s.probs
        if use_novelty or few:  # the columns that rank by distances, not probabilities (ahunt/hunt/ranking.py)
            with ws.store.lazy_images(r) as images:
                ranked = class_scores(ws, r, model, probs, s.latents, images,
                                      ([RESERVE] if use_novelty else []) + few, few=few)
            probs = np.array(probs, dtype=np.float32, copy=True)
            for name, column in ranked.items():
                probs[:, names.index(name)] = column
        return choose_questions(probs, s.latents, names, weights, cfg.hunt.questions, **options)
    from ahunt.hunt.distributed import candidates_dask, connect

    columns = [names.index(c) for c in interest]
    n_strategy = cfg.hunt.questions - random_count(cfg.hunt.questions, cfg.hunt.random_share)
    with connect(cfg.score.dask_scheduler) as client:
        cand = candidates_dask(client, ws.store, r, model, columns=columns, n=n_strategy,
                               strategy=cfg.hunt.strategy, diversity_pool=cfg.hunt.diversity_pool,
                               exclude=exclude, chunk=cfg.score.dask_chunk, spread=cfg.hunt.spread,
                               spread_columns=spread_columns(names, interest), device=cfg.device,
                               batch_size=cfg.score.batch_size, compile=cfg.score.compile)
    return choose_from_candidates(cand.index, cand.probs, cand.latents, names, weights, cfg.hunt.questions,
                                  n_objects=ws.store.round_size(r), **options)


def question_ranks(ws: Workspace, r: int, questions: list[QuestionRow], model: HuntNet,
                   version: int) -> list[tuple[int | None, str | None]]:
    """Each question's rank among the night's objects by the score it was chosen by (1 = the
    highest), and that score's name (``ahunt/hunt/ranking.py``), as when it was chosen: the
    round's scores under that model and the labels given before tonight.  (None, None) for the
    random share."""
    s = round_scores(ws, r, model, version)
    names = ws.class_names()[: model.n_classes]
    asked = {q.interest for q in questions if q.interest in names}
    tonight = {q.object_id for q in questions}
    few = neighbour_classes(ws, r, sorted(asked), leave_out=tonight)
    with ws.store.lazy_images(r) as images:
        by_interest = class_scores(ws, r, model, s.probs, s.latents, images, sorted(asked), leave_out=tonight,
                                   few=few)
    return [(int(np.sum(by_interest[q.interest] > q.score + 1e-6)) + 1, score_name(ws, q.interest, few))
            if q.interest in by_interest else (None, None) for q in questions]


def reserve_scores(ws: Workspace, r: int, model: HuntNet, probs: np.ndarray, latents: np.ndarray,
                   images) -> np.ndarray:
    """The reserve's score for every object of round ``r``: the novelty score, or the reserve
    output's probability when the config asks for the paper's."""
    return class_scores(ws, r, model, probs, latents, images, [RESERVE])[RESERVE]


def _score_here(ws: Workspace, r: int, model: HuntNet, track: Track, latent_dtype=np.float16) -> RoundScores:
    cfg = ws.config.score
    return score_store(ws.store, r, model, device=resolve_device(ws.config.device), workers=cfg.workers,
                       batch_size=cfg.batch_size or None, compile=cfg.compile, track=track,
                       description=f"scoring round {r}", latent_dtype=latent_dtype)


def round_scores(ws: Workspace, r: int, model: HuntNet, version: int, *, track: Track = no_progress) -> RoundScores:
    """Every object's probabilities and float16 latents under model ``version``: from the
    workspace's score cache when that model scored the round before, else computed here or on
    the Dask scheduler the config names, then cached (``scores.h5``)."""
    model_id = ws.model_id(version)
    cached = ws.scores.load(r, model_id)
    if cached is not None:
        return RoundScores(*cached)
    cfg = ws.config
    if not cfg.score.dask_scheduler:
        scores = _score_here(ws, r, model, track)
    else:
        from ahunt.hunt.distributed import connect, score_round_dask

        with connect(cfg.score.dask_scheduler) as client:
            scores = score_round_dask(client, ws.store, r, model, chunk=cfg.score.dask_chunk, device=cfg.device,
                                      batch_size=cfg.score.batch_size, compile=cfg.score.compile)
    ws.scores.save(r, model_id, scores.probs, scores.latents)
    return scores


@dataclass(frozen=True)
class AskResult:
    complete: bool  # every question of the round has a standing answer
    answered: int
    total: int


def ask(ws: Workspace, r: int, oracle: Oracle, *, with_images: bool = True, neighbours: int = 0) -> AskResult:
    """Ask the round's pending questions in order; each answer is committed as it is given.

    Undo withdraws the newest standing answer (as a retraction row) and asks that question
    again; Quit returns with everything so far kept.  With ``neighbours`` > 0 each question
    carries that many nearest labelled objects in the model's latent space.  An oracle with
    ``batch_commits = True`` (a script, whose answers can be given again) has its answers
    committed together (``AnswerLog.batch``); a person's answers are committed one by one.
    """
    questions = ws.log.questions(r)
    if not questions:
        raise WorkspaceError(f"round {r} has no questions yet")
    cfg = ws.config
    version = questions[0].model_version
    model, _ = ws.load_model(version)
    idx = [q.object_index for q in questions]
    images = ws.store.load_images(r, idx)
    device = resolve_device(cfg.device)
    probs, q_latents = score(model, images, device=device)
    near = _nearest_labelled(ws, model, q_latents, neighbours, device) if neighbours else [()] * len(questions)
    meta = ws.store.load_round(r, images=False)
    # The screen says why it asks: each question's rank among the night (not needed by scripts).
    ranks = question_ranks(ws, r, questions, model, version) if with_images else [(None, None)] * len(questions)
    with ws.log.batch() if getattr(oracle, "batch_commits", False) else nullcontext():
        return _ask_each(ws, r, oracle, questions, probs, images if with_images else None, meta, near, version,
                         ranks)


def _ask_each(ws: Workspace, r: int, oracle: Oracle, questions: list[QuestionRow], probs: np.ndarray,
              images: np.ndarray | None, meta, near: list, version: int,
              ranks: list[tuple[int | None, str | None]]) -> AskResult:
    """The loop of ``ask``.  What is answered is tracked here as answers are recorded (read
    from the log again only after an undo), so a night of 1,000 questions costs 1,000 answers."""
    def standing_now() -> tuple[set[str], int]:
        ids = {a.object_id for a in ws.log.standing_answers(r)}
        return ids, sum(q.object_id in ids for q in questions)

    deferred: set[str] = set()
    n_objects = ws.store.round_size(r)
    standing, answered = standing_now()
    classes = ws.classes()
    k = 0  # every question before k is answered or deferred
    while True:
        while k < len(questions) and (questions[k].object_id in standing or questions[k].object_id in deferred):
            k += 1
        if k == len(questions):
            return AskResult(answered == len(questions), answered, len(questions))
        q = questions[k]
        names = [c.name for c in classes][: probs.shape[1]]
        question = Question(
            round=r, position=q.position, total=len(questions), answered=answered,
            object_id=q.object_id, object_index=q.object_index, strategy=q.strategy,
            interest=q.interest, probs=dict(zip(names, map(float, probs[k]))),
            image=images[k] if images is not None else None,
            ra=float(meta.ra[q.object_index]) if meta.ra is not None else None,
            dec=float(meta.dec[q.object_index]) if meta.dec is not None else None,
            neighbours=near[k], score=q.score, rank=ranks[k][0], score_name=ranks[k][1], n_objects=n_objects,
        )
        answer = oracle(question, classes)
        if isinstance(answer, Quit):
            return AskResult(False, answered, len(questions))
        if isinstance(answer, Defer):
            deferred.add(q.object_id)
            continue
        if isinstance(answer, Undo):
            ws.log.retract_last(r, oracle=oracle.name)
            standing, answered = standing_now()
            k = 0
        elif isinstance(answer, Skip):
            ws.log.record(round=r, object_id=q.object_id, kind="skip", strategy=q.strategy,
                          model_version=version, oracle=oracle.name)
            standing.add(q.object_id)
            answered += 1
        elif isinstance(answer, Label):
            ws.log.record(round=r, object_id=q.object_id, kind="label", class_name=answer.name,
                          new_class=answer.new, class_kind="known" if answer.normal else "anomaly",
                          strategy=q.strategy, model_version=version,
                          oracle=oracle.name)
            standing.add(q.object_id)
            answered += 1
            if answer.new:
                classes = ws.classes()
        else:
            raise TypeError(f"oracle returned {answer!r}, not an answer")


def _nearest_labelled(ws: Workspace, model: HuntNet, q_latents: np.ndarray, k: int, device) -> list[tuple]:
    """For each question, its ``k`` nearest labelled objects as (id, class name, image)."""
    images, labels, ids = ws.labelled_set()
    _, latents = score(model, images, device=device)
    names = ws.class_names()
    d2 = ((q_latents[:, None, :] - latents[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return [tuple((ids[j], names[labels[j]], images[j]) for j in row) for row in order]


def retrain(ws: Workspace, r: int, *, track: Track = no_progress, head_only: bool = False) -> list[float]:
    """Retrain the whole network on every labelled object so far; the result is model ``r``.

    Starts from the model of round ``r - 1`` (warm start keeps what was learnt) and grows its
    head for classes created since.  ``head_only`` freezes everything but the last layer (the
    static transfer-learning baseline).
    """
    cfg = ws.config
    previous = ws.current_version()
    if previous is None:
        raise WorkspaceError(f"{ws.root}: round 0 is not trained yet")
    if previous >= r:
        raise WorkspaceError(f"round {r} is already trained (current model: round {previous})")
    import torch

    model, meta = load_checkpoint(ws.checkpoint_path(previous))
    _warn_if_the_shape_was_edited(ws, model)
    classes = ws.classes()
    if len(classes) > model.n_classes:
        model.grow_head(len(classes) - model.n_classes, generator=torch.Generator().manual_seed(round_seed(cfg.seed, r)))
    retired = [c.idx for c in classes if c.retired]
    revived = [i for i in meta.get("retired", []) if i not in retired and i < len(classes)]
    model.reset_outputs(revived, generator=torch.Generator().manual_seed(round_seed(cfg.seed, r) + 1))
    images, labels, _ = ws.labelled_view()
    left_out = 0
    if cfg.train.pile_lookalikes == "leave-out" and not head_only and started_without_labels(ws):
        images, labels, left_out = _without_pile_lookalikes(ws, r, model, images, labels)
    seed = round_seed(cfg.seed, r)
    kinds = None if head_only else _pile_kinds(ws, model, meta, seed=seed)
    if (cfg.train.semi_supervised != "none" or kinds is not None) and not head_only:
        from ahunt.learn.semi import train_semi

        method = cfg.train.semi_supervised
        unlabelled = unlabelled_sample(ws, r, cfg.train.unlabelled_sample, seed=seed) if method != "none" else None
        said = " (semi-supervised)" if method != "none" else " (with the pile's kinds)"
        losses = train_semi(model, images, labels, unlabelled, cfg.train, method=method, kinds=kinds,
                            epochs=cfg.train.epochs, seed=seed, device=resolve_device(cfg.device), track=track,
                            description=f"retraining round {r}{said}")
    else:
        losses = train_model(
            model, images, labels, cfg.train, epochs=cfg.train.epochs, seed=seed,
            device=resolve_device(cfg.device), track=track, description=f"retraining round {r}",
            trainable=(lambda m: m.head.parameters()) if head_only else None,
        )
    model.silence_outputs(retired)  # a class merged away or undone leaves the head
    kept = {}
    if kinds is not None:
        from ahunt.learn.kinds import KINDS, KINDS_HEAD

        kept = {KINDS: meta[KINDS], KINDS_HEAD: cpu_state(kinds[2])}
    save_checkpoint(ws.checkpoint_path(r), model, {"round": r, "classes": [c.name for c in classes],
                                                   "retired": retired, "losses": losses,
                                                   "pile_left_out": left_out, **kept})
    return losses


def started_without_labels(ws: Workspace) -> bool:
    """Whether round 0 is a pile of one known class (``normal`` in a hunt started without
    labels): what round 0 learns self-supervised, and what every retrain learns as that class."""
    return sum(c.kind == "known" and c.created_round == 0 for c in ws.classes()) == 1


def _without_pile_lookalikes(ws: Workspace, r: int, model: HuntNet, images, labels: np.ndarray):
    """The labelled set without the pile objects that, under the network of the night before,
    look more like an answered object of a class of interest than like any other answer
    (``ahunt/hunt/pile.py``); and how many were left out.  The pile is round 0, the set's
    first rows."""
    from ahunt.hunt.pile import lookalikes
    from ahunt.store.labelled import LabelledImages

    n_pile = ws.store.round_size(0)
    names = ws.class_names()
    interest = set(ws.classes_of_interest(r)) - {RESERVE}
    flags = np.array([names[i] in interest for i in labels[n_pile:]], dtype=bool)
    if not flags.any() or flags.all():
        return images, labels, 0  # nothing to weigh: no need to score the pile
    _, latents = score(model, images, device=resolve_device(ws.config.device), description="weighing the pile")
    keep = np.ones(len(labels), dtype=bool)
    keep[:n_pile] = ~lookalikes(latents[:n_pile], latents[n_pile:], flags)
    return LabelledImages(images.store, images.rows[keep]), labels[keep], int((~keep).sum())


def _pile_kinds(ws: Workspace, model: HuntNet, meta: dict, *, seed: int):
    """(images, kinds, head) of a sample of the pile, for a hunt whose round 0 learnt its
    pseudo-kinds (the checkpoint says so); None for every other hunt, and once ``[train]
    pseudo_kinds`` is set to 0 (how many kinds there are was fixed at round 0).  At most
    ``[train] unlabelled_sample`` objects, the same share of each kind, are read."""
    from ahunt.learn.kinds import KINDS, KINDS_HEAD, kinds_head

    if KINDS not in meta or not ws.config.train.pseudo_kinds:
        return None
    kinds = meta[KINDS].numpy().astype(np.int64)
    head = kinds_head(model, int(kinds.max()) + 1, meta[KINDS_HEAD])
    return (*pile_sample(ws, kinds, seed=seed), head)


def pile_sample(ws: Workspace, kinds: np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(images, kinds) of at most ``[train] unlabelled_sample`` pile objects, the same share of
    each of its pseudo-``kinds``: what one night's training reads from the pile."""
    from ahunt.learn.kinds import kinds_sample

    rows = kinds_sample(kinds, ws.config.train.unlabelled_sample, seed=seed)
    return ws.store.load_images(0, rows), kinds[rows]


# Settings of the network's shape: round 0 fixes them, and every later network inherits them.
_SHAPE_SETTINGS = ("crop", "latent_dim", "width")


def _warn_if_the_shape_was_edited(ws: Workspace, model: HuntNet) -> None:
    """One line when config.toml's [model] shape differs from the network's: an edit there
    after round 0 changes nothing, and the astronomer who made it should know."""
    edited = [(k, getattr(ws.config.model, k), getattr(model.args, k)) for k in _SHAPE_SETTINGS
              if getattr(ws.config.model, k) != getattr(model.args, k)]
    if edited:
        said = ", ".join(f"{k} = {now} (the network has {kept})" for k, now, kept in edited)
        warnings.warn(f"{ws.root / 'config.toml'}: [model] {said}: the network's shape is set when round 0 "
                      "is trained and kept by every retrain; a new hunt (ahunt init) takes the new value",
                      AhuntWarning, stacklevel=3)


def unlabelled_sample(ws: Workspace, r: int, size: int, *, seed: int) -> np.ndarray:
    """Images of a uniform sample of at most ``size`` objects of nights 1 to ``r``, read row by
    row from the store: the semi-supervised retrain costs the same for any size of night."""
    sizes = np.array([ws.store.round_size(k) for k in range(1, r + 1)], dtype=np.int64)
    total = int(sizes.sum())
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(total, size=min(size, total), replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    parts = []
    for k in range(len(sizes)):
        rows = picked[(picked >= starts[k]) & (picked < starts[k + 1])] - starts[k]
        if len(rows):
            parts.append(ws.store.load_images(k + 1, rows))
    return np.concatenate(parts)


def round_to_hunt(ws: Workspace) -> int:
    """The oldest round whose model is not trained yet (nights are hunted in order)."""
    version = ws.current_version()
    if version is None:
        raise WorkspaceError(f"{ws.root}: round 0 is not trained yet; run `ahunt train {ws.root}`")
    r = version + 1
    if r >= ws.store.n_rounds():
        raise WorkspaceError(f"every night is hunted (last: round {version}); {_after_last_night(ws)}")
    return r


def night_source(ws: Workspace) -> str | None:
    """What `ahunt ingest` takes for the hunt's next night: "--simulated" for a simulated hunt,
    "PATH" otherwise, and None when a simulated hunt has used up its survey (ingest would fail)."""
    from ahunt.sources.simulated import is_simulated_hunt

    if not is_simulated_hunt(ws.store):
        return "PATH"
    return "--simulated" if ws.store.n_rounds() <= ws.config.survey.nights else None


def _after_last_night(ws: Workspace) -> str:
    """What to do when every ingested night is hunted: ingest another, or take the results away."""
    source = night_source(ws)
    if source is not None:
        return f"add the next with `ahunt ingest {ws.root} {source}`"
    nights = ws.config.survey.nights
    return (f"the simulated survey's {nights} nights are all ingested: take the results away with "
            f"`ahunt export {ws.root}` or `ahunt report {ws.root}` (more nights: raise [survey] nights in "
            f"{ws.root / 'config.toml'}, then `ahunt ingest {ws.root} --simulated`)")


MIN_RANDOM_ANSWERS = 2  # below this, no estimate is shown: "too few random answers yet"


@dataclass(frozen=True)
class Contamination:
    """The night's estimated anomalous fraction (Horvitz-Thompson, top picks + random share),
    with a 95 % interval that is honest for a few random answers (Clopper-Pearson on the share)."""

    estimate: float  # NaN while fewer than MIN_RANDOM_ANSWERS random questions are answered
    se: float
    random_questions: int  # answered questions of the random share behind the estimate
    random_asked: int = 0  # questions of the random share this night
    low: float = float("nan")
    high: float = float("nan")

    @property
    def too_few(self) -> bool:
        return self.random_questions < min(MIN_RANDOM_ANSWERS, max(self.random_asked, 1))


def night_contamination(ws: Workspace, r: int) -> Contamination | None:
    """Estimate the anomalous fraction of round ``r`` from its answers, or None without a random
    share; with too few random answers yet, only the counts (``Contamination.too_few``).

    The strategy's own picks are counted exactly; the uniform random share stands for the rest
    of the night.  An answer with an anomaly class counts as anomalous; a skipped strategy pick
    counts as not anomalous, and skipped random picks are left out of the sample.
    """
    from ahunt.hunt.contamination import mixed_design_fraction
    from ahunt.hunt.query import RANDOM_SHARE

    questions = ws.log.questions(r)
    kind_of = {c.idx: c.kind for c in ws.classes()}
    answers = {a.object_id: a for a in ws.log.standing_answers(r)}

    def anomalous(q) -> bool | None:
        a = answers.get(q.object_id)
        if a is None or a.kind == "skip":
            return None
        return kind_of.get(a.class_idx) == "anomaly"

    from ahunt.hunt.contamination import mixed_design_interval

    top = [anomalous(q) for q in questions if q.interest != RANDOM_SHARE]
    asked = [q for q in questions if q.interest == RANDOM_SHARE]
    if all(q.strategy == "random" for q in questions) and questions:
        top, asked = [], questions
    if not asked:
        return None
    rand = [x for x in (anomalous(q) for q in asked) if x is not None]
    if len(rand) < min(MIN_RANDOM_ANSWERS, len(asked)):
        nan = float("nan")
        return Contamination(nan, nan, len(rand), len(asked))
    # skipped random picks are taken as missing at random: the answered ones are the sample
    top = [bool(x) for x in top]
    estimate, se = mixed_design_fraction(top, rand, ws.store.round_size(r))
    low, high = mixed_design_interval(top, rand, ws.store.round_size(r))
    return Contamination(estimate, se, len(rand), len(asked), low, high)


@dataclass(frozen=True)
class SessionSummary:
    round: int
    complete: bool
    answered: int
    total: int
    labels: dict[str, int]  # class name -> standing labels this round
    skipped: int
    new_classes: list[str]
    retrained: bool
    model_version: int | None
    contamination: Contamination | None = None
    pile_left_out: int = 0  # pile objects the retrain left out of `normal` ([train] pile_lookalikes)


def run_session(ws: Workspace, oracle: Oracle, *, retrain_when_complete: bool = True,
                track: Track = no_progress, with_images: bool = True, neighbours: int = 0) -> SessionSummary:
    """Choose (or resume) the questions of the next night, ask them, retrain once all are answered."""
    r = round_to_hunt(ws)
    prepare_questions(ws, r, track=track)
    result = ask(ws, r, oracle, with_images=with_images, neighbours=neighbours)
    retrained = False
    if result.complete and retrain_when_complete:
        retrain(ws, r, track=track)
        retrained = True
    return summarise_round(ws, r, complete=result.complete, retrained=retrained)


def summarise_round(ws: Workspace, r: int, *, complete: bool, retrained: bool) -> SessionSummary:
    classes = ws.classes()
    name_of = {c.idx: c.name for c in classes}
    standing = ws.log.standing_answers(r)
    labels: dict[str, int] = {}
    for a in standing:
        if a.kind == "label":
            labels[name_of[a.class_idx]] = labels.get(name_of[a.class_idx], 0) + 1
    return SessionSummary(
        round=r, complete=complete, answered=len(standing), total=len(ws.log.questions(r)), labels=labels,
        skipped=sum(a.kind == "skip" for a in standing),
        new_classes=[c.name + (" (normal)" if c.kind == "known" else "") for c in classes
                     if c.created_round == r and not c.retired],
        retrained=retrained, model_version=ws.current_version(), contamination=night_contamination(ws, r),
        pile_left_out=pile_left_out(ws, r) if retrained else 0,
    )


def pile_left_out(ws: Workspace, r: int) -> int:
    """How many pile objects the retrain of round ``r`` left out of ``normal`` (``ahunt/hunt/pile.py``)."""
    path = ws.checkpoint_path(r)
    return int(load_checkpoint(path)[1].get("pile_left_out", 0)) if path.exists() else 0


def score_round(ws: Workspace, r: int, *, version: int | None = None,
                track: Track = no_progress) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """(probs, latents, class names, model version) for every object of round ``r``.

    Uses the current model unless ``version`` names another; class names are in output order.
    """
    model, version = ws.load_model(version)
    scores = round_scores(ws, r, model, version, track=track)
    probs, latents = scores.probs, scores.latents
    return probs, latents, ws.class_names()[: model.n_classes], version
