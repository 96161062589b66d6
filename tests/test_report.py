"""The report folder and the contact sheet; `ahunt umap` and `ahunt report` on the command line."""

import re
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pytest
from typer.testing import CliRunner

from ahunt.cli import app
from ahunt.errors import WorkspaceError
from ahunt.outputs import embedding
from ahunt.outputs.contact_sheet import classes_of_interest, sheet_dpi, to_display, write_contact_sheet
from ahunt.outputs.report import write_report
from test_embedding import copy_of, fake_fit, tiny_hunt

PNG = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


@pytest.fixture(autouse=True)
def quick_umap(monkeypatch):
    """Real UMAP runs in test_latent_plots; here a seeded stand-in keeps the tests fast."""
    calls = []
    monkeypatch.setattr(embedding, "_fit_umap", fake_fit(calls))
    return calls


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, sim_cache):
    return tiny_hunt(tmp_path_factory.mktemp("rep") / "ws", sim_cache, nights=2, pending=False)


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href")]


def check_page(folder):
    page = (folder / "index.html").read_text()
    assert not re.search(r"https?://", page), "the page must not load anything from the network"
    parser = Links()
    parser.feed(page)
    assert parser.refs
    for ref in parser.refs:
        assert not ref.startswith("/") and (folder / ref).is_file(), ref
        if ref.endswith(".png"):
            assert (folder / ref).read_bytes()[:8] == PNG
            assert min(mpimg.imread(folder / ref).shape[:2]) > 200
    return page, set(parser.refs)


def test_report_of_a_simulated_hunt(simulated, tmp_path):
    ws = copy_of(simulated, tmp_path)
    report = write_report(ws)
    assert report.folder == ws.root / "report"
    page, refs = check_page(report.folder)
    assert {"mcc.png", "questions.png", "classes.png", "umap.png", "candidates.png"} <= refs
    assert "merger MCC" in page or "artefact MCC" in page  # per-round numbers from the truth
    assert page.count("<tr>") == 1 + ws.store.n_rounds()
    assert mpimg.imread(report.folder / "questions.png").shape[:2] == (408, 984)  # 8.2 x 3.4 in at 120 dpi
    # a second report reuses the cached map
    assert (ws.root / "cache" / "umap_round_0002_v0002.npz").exists()


def test_report_without_truth_shows_anomaly_labels(tmp_path, sim_cache, quick_umap):
    ws = tiny_hunt(tmp_path / "ws", sim_cache, nights=1, pending=True, truth=False)
    report = write_report(ws, tmp_path / "out")
    page, refs = check_page(tmp_path / "out")
    assert "mcc.png" not in refs and "anomaly_labels.png" in refs
    assert "MCC needs" in page and "MCC" not in "".join(re.findall(r"<th>.*?</th>", page))
    assert any("MCC needs" in n for n in report.notes)
    assert len(quick_umap) == 1
    write_report(ws, tmp_path / "out")
    assert len(quick_umap) == 1  # the map of the newest round came from the cache


def test_contact_sheet(simulated, tmp_path):
    rows = classes_of_interest(simulated)
    assert "reserve" in rows and all(simulated.config.hunt.interest.get(c, 0) > 0 for c in rows)
    path = write_contact_sheet(simulated, tmp_path / "sheet.png", top=3)
    assert path.read_bytes()[:8] == PNG
    h, w = mpimg.imread(path).shape[:2]
    assert abs(w - (1.5 + 3 * 1.25) * 110) <= 1 and abs(h - (0.75 + len(rows) * 1.67) * 110) <= 1
    own = write_contact_sheet(simulated, tmp_path / "sheet.pdf", round=1, top=2, classes=["spiral", "edge-on"])
    assert own.read_bytes()[:5] == b"%PDF-"
    rgb = to_display(np.full((3, 5, 5), 1.4, np.float32))  # stored images reach ~1.5: clipped
    assert rgb.shape == (5, 5, 3) and rgb.max() == 1.0 and to_display(np.zeros((1, 5, 5))).shape == (5, 5)
    with pytest.raises(WorkspaceError, match="no class named 'comet'"):
        write_contact_sheet(simulated, tmp_path / "x.png", classes=["comet"])
    with pytest.raises(WorkspaceError, match="round 7 does not exist"):
        write_contact_sheet(simulated, tmp_path / "x.png", round=7)


def test_contact_sheet_thumbnails_are_at_least_pixel_for_pixel():
    assert sheet_dpi(32) == sheet_dpi(0) == 110  # small cutouts: the usual sheet
    for side in (128, 256, 424):
        assert sheet_dpi(side) * 1.15 >= side and (sheet_dpi(side) - 1) * 1.15 < side


def test_command_line(simulated, tmp_path):
    ws = copy_of(simulated, tmp_path)
    result = runner.invoke(app, ["umap", str(ws.root), "--round", "1", "--out", str(tmp_path / "r1.svg")])
    assert result.exit_code == 0, result.output
    assert "r1.svg" in result.output and (tmp_path / "r1.svg").read_text().lstrip().startswith("<?xml")
    result = runner.invoke(app, ["umap", str(ws.root), "--truth"])
    assert result.exit_code == 0, result.output
    assert (ws.root / "figures" / "umap_round_0002.png").read_bytes()[:8] == PNG
    result = runner.invoke(app, ["umap", str(ws.root), "--round", "1", "--all-rounds"])
    assert result.exit_code == 2 and "not both" in result.output
    result = runner.invoke(app, ["umap", str(ws.root), "--out", str(tmp_path / "x.gif")])
    assert result.exit_code == 2 and "unknown figure format" in result.output
    result = runner.invoke(app, ["report", str(ws.root), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output
    check_page(tmp_path / "rep")
