"""Old import paths, kept working after the modules moved into the subpackages of each step.

``ahunt.session`` is now ``ahunt.hunt.session``, ``ahunt.contact_sheet`` is
``ahunt.outputs.contact_sheet``, and so on (``MOVED``).  Code written against the old paths
keeps working without a file per old name: a finder on ``sys.meta_path`` answers an old name
with the module of its new one, the very same object, so
``sys.modules["ahunt.session"] is sys.modules["ahunt.hunt.session"]`` and patching a name through
either path patches the one module.  Nothing is imported before an old name is asked for.

(The old module ``ahunt.store`` is the package ``ahunt.store`` now; that package's ``__init__``
hands out the old module's names.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

__all__ = ["MOVED", "install"]

# old module -> the module it became
MOVED: dict[str, str] = {
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


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module name and loads it as the module of its new name."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec) -> ModuleType:
        module = importlib.import_module(MOVED[spec.name])
        # The import system sets __spec__ on the module it is handed; keep the real one.
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state  # already executed under its new name


_FINDER = _OldPaths()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once).  First, because it answers only the old
    names, and an old name must not find a file left over from an older version of ahunt (an
    editable install of another checkout, say)."""
    if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
        sys.meta_path.insert(0, _FINDER)
