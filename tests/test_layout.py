"""The package's layout: one folder per step of the data's path, each step importing only the
steps below it, and no import circle."""

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


def test_the_old_import_paths_are_gone():
    """Modules live in their step's folder only: no shim answers an old flat path."""
    assert not (PACKAGE / "_moved.py").exists()
    for old in ("ahunt.session", "ahunt.contact_sheet", "ahunt.labels", "ahunt.train"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)
    assert not any(type(f).__module__.startswith("ahunt") for f in sys.meta_path)


def test_no_import_circle():
    """No two modules import each other, directly or round a longer circle, at module level or
    inside a function: each module can be read after the ones it imports."""
    graph: dict[str, set[str]] = {}
    names = {module for module, _ in _modules()}
    for module, path in _modules():
        graph[module] = {t for t, _ in _imports(path) if t in names and t != module}
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            cycle = trail[trail.index(node):] + [node]
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, trail + [node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])


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
