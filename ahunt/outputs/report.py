"""A hunt's report: one folder of figures and a static ``index.html`` that shows them.

The page needs no server and nothing from the network: figures sit next to it and are
referenced by relative path, and the style is inline.  Copy or zip the folder to share it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from ahunt.errors import AhuntError
from ahunt.evaluate.demo import round_report
from ahunt.outputs.contact_sheet import classes_of_interest, write_contact_sheet
from ahunt.outputs.plots import class_styles, plot_class_counts, plot_round_bars, plot_rounds
from ahunt.store.atomic import write_bytes_atomic
from ahunt.store.workspace import Workspace

__all__ = ["write_report", "Report", "has_truth", "round_table"]

Notify = Callable[[str], None]


@dataclass
class Report:
    folder: Path
    index: Path
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def has_truth(ws: Workspace) -> bool:
    """True when every unlabelled round stores true classes (simulated data)."""
    n = ws.store.n_rounds()
    return n > 1 and all(ws.store.load_round(r, images=False).truth is not None for r in range(1, n))


def round_table(ws: Workspace, truth_reports: dict | None = None) -> tuple[list[str], list[list[str]]]:
    """Per-round numbers: header and rows of strings."""
    classes = ws.classes()
    kind = {c.idx: c.kind for c in classes}
    trained = set(ws.trained_rounds())
    from ahunt.hunt.session import night_contamination

    header = ["round", "objects", "model", "questions", "labels", "skipped", "anomaly labels", "new classes",
              "anomalous fraction (est.)"]
    anomaly_names: list[str] = []
    if truth_reports:
        for rep in truth_reports.values():
            for c in rep.classes:
                if c.name not in anomaly_names:
                    anomaly_names.append(c.name)
        header += [f"{n} MCC" for n in anomaly_names] + ["true anomalies asked"]
    rows = []
    for r in range(ws.store.n_rounds()):
        standing = ws.log.standing_answers(r) if r else []
        questions = ws.log.questions(r) if r else []
        labels = [a for a in standing if a.kind == "label"]
        row = [
            str(r), str(ws.store.round_size(r)), "trained" if r in trained else "-",
            str(len(questions)) if r else "labelled", str(len(labels)) if r else "-",
            str(sum(a.kind == "skip" for a in standing)) if r else "-",
            str(sum(kind.get(a.class_idx) == "anomaly" for a in labels)) if r else "-",
            ", ".join(c.name for c in classes if c.kind == "anomaly" and c.created_round == r) or "",
        ]
        estimate = night_contamination(ws, r) if r else None
        if estimate is None:
            row.append("-")
        elif estimate.too_few:
            row.append(f"too few random answers ({estimate.random_questions} of {estimate.random_asked})")
        else:
            row.append(f"{estimate.estimate:.1%} ({estimate.low:.1%} to {estimate.high:.1%})")
        if truth_reports:
            rep = truth_reports.get(r)
            by = {c.name: c for c in rep.classes} if rep else {}
            row += [f"{by[n].mcc:.2f}" if n in by else "" for n in anomaly_names]
            row.append(str(rep.anomalies_found) if rep else "")
        rows.append(row)
    return header, rows


def _figure_counts(ws: Workspace):
    """(questions per round per interest, anomaly labels per round per class, labelled per class)."""
    names = ws.class_names()
    kinds = {c.idx: c.kind for c in ws.classes()}
    questions: dict[int, dict[str, int]] = {}
    for q in ws.log.questions():
        per = questions.setdefault(q.round, {})
        per[q.interest] = per.get(q.interest, 0) + 1
    anomalies: dict[int, dict[str, int]] = {}
    for a in ws.log.current_labels().values():
        if a.kind == "label" and kinds[a.class_idx] == "anomaly":
            per = anomalies.setdefault(a.round, {})
            per[names[a.class_idx]] = per.get(names[a.class_idx], 0) + 1
    return questions, anomalies, ws.label_counts()


def write_report(ws: Workspace, out: str | Path | None = None, *, notify: Notify = lambda message: None,
                 umap_max_points: int = 1500) -> Report:
    """Write the report folder (default ``WORKSPACE/report``) and return what it holds."""
    from ahunt.outputs.latent_plots import write_umap

    folder = Path(out) if out is not None else ws.root / "report"
    if folder.exists() and not folder.is_dir():
        raise AhuntError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    report = Report(folder, folder / "index.html")
    styles = class_styles(ws.classes())
    n_rounds = ws.store.n_rounds()
    hunted = list(range(1, n_rounds))
    truth = has_truth(ws)
    truth_reports: dict = {}

    # 1. how well the model isolates each anomaly class (needs true labels), or what was found
    if truth:
        trained = [r for r in ws.trained_rounds() if r >= 1]
        for r in trained:
            notify(f"measuring round {r} against the true classes")
            truth_reports[r] = round_report(ws, r)
        if trained:
            report.figures["mcc"] = plot_rounds(list(truth_reports.values()), folder / "mcc.png",
                                                title="MCC and true candidates per round (simulated truth)")
    questions, anomalies, counts = _figure_counts(ws)
    notify("drawing the per-round figures")
    if not truth:
        report.figures["anomalies"] = plot_round_bars(
            anomalies, folder / "anomaly_labels.png", rounds=hunted, styles=styles, ylabel="anomaly labels",
            legend_title="anomaly class", title="Anomalies labelled per round",
            note="no anomaly labelled yet" if not anomalies else "")
        report.notes.append("MCC needs the true class of every object (simulated data); this hunt has only "
                        "your answers, so the report shows the anomalies you labelled per round instead.")
    from ahunt.hunt.query import RANDOM_SHARE
    from ahunt.outputs.plots import RANDOM_SHARE_COLOUR

    report.figures["questions"] = plot_round_bars(
        questions, folder / "questions.png", rounds=hunted,
        styles={**styles, RANDOM_SHARE: (RANDOM_SHARE_COLOUR, "s", "random")}, ylabel="questions",
        legend_title="asked for class", title="Questions per class of interest per round",
        note="no questions asked yet" if not questions else "")
    report.figures["classes"] = plot_class_counts(counts, folder / "classes.png", styles=styles)

    # 2. the latent space of the newest round, and the top candidates
    if ws.current_version() is not None:
        result = write_umap(ws, folder / "umap.png", max_points=umap_max_points, notify=notify)
        report.figures["umap"] = result.path
        if classes_of_interest(ws):
            notify("drawing the contact sheet")
            report.figures["candidates"] = write_contact_sheet(ws, folder / "candidates.png")
        else:
            report.notes.append("No class has an interest weight above 0, so there is no contact sheet.")
    else:
        report.notes.append("No trained model yet: no latent-space map or candidates.")
    header, rows = round_table(ws, truth_reports if truth else None)
    write_bytes_atomic(report.index, _html(ws, report, header, rows, truth).encode("utf-8"))
    return report


_CAPTIONS = {
    "mcc": ("How well the model isolates each anomaly class",
            "After each night's retrain: MCC of the top-k rule (k = that night's true count; needs the simulation's "
            "true classes), and how many of the night's questions truly were that class."),
    "anomalies": ("Anomalies labelled per round", "Your answers that named an anomaly class, per night."),
    "questions": ("Questions per class of interest", "How each night's questions were shared among the classes "
                  "of interest (the interest weights)."),
    "classes": ("Labelled objects per class",
                "Round-0 labels plus standing answers: what the next retrain learns from."),
    "umap": ("The latent space of the newest round", "A 2-D UMAP of the model's latent space: labelled objects "
             "in their class colour, the round's other objects lighter by predicted class, questions ringed, "
             "anomalies as stars."),
    "candidates": ("Top candidates", "Per class of interest, the newest round's objects the current model "
                   "scores highest for it."),
}


def _html(ws: Workspace, report: Report, header: list[str], rows: list[list[str]], truth: bool) -> str:
    e = html.escape
    classes = ws.classes()
    version = ws.current_version()
    summary = (f"{ws.store.n_rounds() - 1} nights after round 0; classes: "
               + ", ".join(f"{c.name} ({c.kind})" if c.kind != "known" else c.name for c in classes)
               + f"; current model: round {version}; strategy '{ws.config.hunt.strategy}', "
               f"{ws.config.hunt.questions} questions a night.")
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ahunt report: {e(ws.root.name)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1150px;margin:1.5em auto;padding:0 1em;color:#222}"
        "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:0.9em}"
        "td,th{padding:0.25em 0.6em;border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}"
        "td:first-child,th:first-child{text-align:left}.note{color:#555}figure{margin:1.5em 0}"
        "figcaption{color:#555;margin-bottom:0.4em}</style></head><body>",
        f"<h1>Hunt <code>{e(ws.root.name)}</code></h1>",
        f"<p>{e(summary)}</p>",
    ]
    for note in report.notes:
        parts.append(f'<p class="note">{e(note)}</p>')
    parts.append("<h2>Round by round</h2><table><thead><tr>"
                 + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    parts.append("</tbody></table>")
    parts.append('<p class="note">Anomalous fraction: importance-weighted estimate of the share of the night in '
                 'anomaly classes; the strategy\'s picks count exactly and the uniformly random share of the '
                 'questions ([hunt] random_share) stands for the rest, so the estimate is unbiased; in '
                 'brackets a 95 % interval (Clopper-Pearson on the random answers, honest for a few of them); '
                 '"-" where a night had no random share.</p>')
    if truth:
        parts.append('<p class="note">MCC per anomaly class from the model trained at the end of each round '
                     "(true classes of the simulation); before a class exists, the reserve's probability "
                     "stands in for it.</p>")
    for key in ("mcc", "anomalies", "questions", "classes", "umap", "candidates"):
        path = report.figures.get(key)
        if path is None:
            continue
        title, caption = _CAPTIONS[key]
        rel = path.relative_to(report.folder).as_posix()
        parts.append(f'<figure><h2>{e(title)}</h2><figcaption>{e(caption)}</figcaption>'
                     f'<a href="{e(rel)}"><img src="{e(rel)}" alt="{e(title)}"></a></figure>')
    parts.append(f'<p class="note">Written by ahunt report from {e(str(ws.root.resolve()))}.</p></body></html>')
    return "\n".join(parts) + "\n"
