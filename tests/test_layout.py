"""The package's layout: one folder per step of the data's path, each step importing only the
steps below it, and every old import path still working."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ahunt"

# The steps, in the data's order: ingest -> store -> train and score -> ask and record ->
# the methods compared -> hunts measured -> what is shown -> the command line.  The top level
# (config, errors, progress) is read by every step.
STEPS = ["sources", "store", "learn", "hunt", "methods", "evaluate", "outputs", "cli"]

# Every module that moved into a step's folder, by its old name.
OLD_PATHS = {
    "ahunt.stretch": "ahunt.sources.stretch",
    "ahunt.labels": "ahunt.store.answer_log",
    "ahunt.labelled": "ahunt.store.labelled",
    "ahunt.workspace": "ahunt.store.workspace",
    "ahunt.atomic": "ahunt.store.atomic",
    "ahunt.names": "ahunt.store.names",
    "ahunt.model": "ahunt.learn.model",
    "ahunt.train": "ahunt.learn.train",
    "ahunt.scoring": "ahunt.learn.scoring",
    "ahunt.pretrain": "ahunt.learn.pretrain",
    "ahunt.query": "ahunt.hunt.query",
    "ahunt.novelty": "ahunt.hunt.novelty",
    "ahunt.oracle": "ahunt.hunt.oracle",
    "ahunt.terminal_oracle": "ahunt.hunt.terminal_oracle",
    "ahunt.terminal_image": "ahunt.hunt.terminal_image",
    "ahunt.session": "ahunt.hunt.session",
    "ahunt.contamination": "ahunt.hunt.contamination",
    "ahunt.distributed": "ahunt.hunt.distributed",
    "ahunt.baselines": "ahunt.methods.baselines",
    "ahunt.aloe": "ahunt.methods.aloe",
    "ahunt.ae_active": "ahunt.methods.ae_active",
    "ahunt.peers": "ahunt.methods.peers",
    "ahunt.demo": "ahunt.evaluate.demo",
    "ahunt.experiment": "ahunt.evaluate.experiment",
    "ahunt.metrics": "ahunt.evaluate.metrics",
    "ahunt.export": "ahunt.outputs.export",
    "ahunt.contact_sheet": "ahunt.outputs.contact_sheet",
    "ahunt.embedding": "ahunt.outputs.embedding",
    "ahunt.latent_plots": "ahunt.outputs.latent_plots",
    "ahunt.plots": "ahunt.outputs.plots",
    "ahunt.report": "ahunt.outputs.report",
}

# Where a lower step needs a higher one, it imports it inside the one function that needs it.
# These are all of them (module, imported module), each with its reason.
CALLS_UP = {
    # validating a config checks the simulator's class names (galaxy_sim imports nothing of ahunt)
    ("ahunt.config", "ahunt.sources.galaxy_sim"),
    # the simulated survey is cached as an image store
    ("ahunt.sources.simulated", "ahunt.store.images"),
    # Workspace.load_model reads a checkpoint
    ("ahunt.store.workspace", "ahunt.learn.train"),
    # run_demo ends with its figure
    ("ahunt.evaluate.demo", "ahunt.outputs.plots"),
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _step(module: str) -> int:
    """0 for the top level, then 1 + the index of the module's folder in STEPS."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in STEPS:
        return 1 + STEPS.index(parts[1])
    return 1 + STEPS.index("cli") if module == "ahunt.__main__" else 0


def _imports(path: Path):
    """(imported ahunt module, inside a function) for every import; ``if TYPE_CHECKING`` skipped."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def visit(node, in_function):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ahunt"):
            for alias in node.names:  # `from ahunt.store import images` imports ahunt.store.images
                sub = f"{node.module}.{alias.name}"
                yield (sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() else node.module), in_function
        elif isinstance(node, ast.Import):
            yield from ((a.name, in_function) for a in node.names if a.name.startswith("ahunt"))
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inside)

    yield from visit(tree, False)


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_every_old_path_imports_the_module_of_its_new_path(old):
    new = OLD_PATHS[old]
    assert importlib.import_module(old) is importlib.import_module(new)
    assert sys.modules[old] is sys.modules[new]
    assert sys.modules[new].__spec__.name == new  # the module keeps its own name and spec


def test_old_paths_are_the_ones_the_package_answers():
    from ahunt._moved import MOVED

    assert MOVED == OLD_PATHS
    assert not any((PACKAGE / f"{old.split('.', 1)[1]}.py").exists() for old in OLD_PATHS)


def test_the_readme_import_and_the_old_store_module_still_work():
    from ahunt.contact_sheet import write_contact_sheet
    from ahunt.outputs.contact_sheet import write_contact_sheet as new
    from ahunt.session import run_session
    from ahunt.store import IdIndex, ImageBlocks, LazyImages, RoundData, RoundWriter, ScoreStore, Store
    import ahunt.labels
    import ahunt.store.images as images

    assert write_contact_sheet is new and callable(run_session) and ahunt.labels.AnswerLog
    assert (Store, RoundData, ScoreStore, IdIndex, LazyImages, ImageBlocks, RoundWriter) == (
        images.Store, images.RoundData, images.ScoreStore, images.IdIndex, images.LazyImages,
        images.ImageBlocks, images.RoundWriter)


def test_no_step_imports_a_higher_one_except_inside_a_function():
    upward = set()
    for module, path in _modules():
        for target, in_function in _imports(path):
            if _step(target) > _step(module):
                assert in_function, f"{module} imports {target}, a later step, at module level"
                upward.add((module, target))
    assert upward == CALLS_UP


def test_each_folder_says_in_one_line_what_happens_there():
    folders = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert folders == sorted(STEPS)
    for name in folders:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
        first, _, rest = (doc or "").partition("\n")
        assert first.endswith(".") and (not rest or rest.startswith("\n")), name  # one line, then any detail


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_python_m_ahunt_help(args):
    run = subprocess.run([sys.executable, "-m", "ahunt", *args], cwd=ROOT, env={**os.environ, "COLUMNS": "100"},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Usage" in run.stdout
